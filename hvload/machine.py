"""Deprecated alias of :mod:`hvload.measure.machine` (moved there; this path works for one release)."""

from ._compat import alias

alias("machine")
