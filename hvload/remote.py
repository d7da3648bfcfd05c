"""Deprecated alias of :mod:`hvload.workload.remote` (moved there; this path works for one release)."""

from ._compat import alias

alias("remote")
