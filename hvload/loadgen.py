"""Deprecated alias of :mod:`hvload.workload.generator` (moved there; this path works for one release)."""

from ._compat import alias

alias("loadgen")
