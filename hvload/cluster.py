"""Deprecated alias of :mod:`hvload.datasets.cluster` (moved there; this path works for one release)."""

from ._compat import alias

alias("cluster")
