"""Deprecated alias of :mod:`hvload.plots.compare` (moved there; this path works for one release)."""

from ._compat import alias

alias("plots_compare")
