"""Deprecated alias of :mod:`hvload.measure.cpu` (moved there; this path works for one release)."""

from ._compat import alias

alias("cpu")
