"""Deprecated alias of :mod:`hvload.datasets.compare` (moved there; this path works for one release)."""

from ._compat import alias

alias("comparison")
