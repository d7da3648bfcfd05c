"""Deprecated alias of :mod:`hvload.measure.hypervisors` (moved there; this path works for one release)."""

from ._compat import alias

alias("hypervisors")
