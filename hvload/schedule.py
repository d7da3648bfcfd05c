"""Deprecated alias of :mod:`hvload.workload.schedule` (moved there; this path works for one release)."""

from ._compat import alias

alias("schedule")
