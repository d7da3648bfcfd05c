"""Deprecated alias of :mod:`hvload.measure.executor` (moved there; this path works for one release)."""

from ._compat import alias

alias("executor")
