"""Deprecated alias of :mod:`hvload.measure.noise` (moved there; this path works for one release)."""

from ._compat import alias

alias("noise")
