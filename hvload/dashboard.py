"""Deprecated alias of :mod:`hvload.widgets.dashboard` (moved there; this path works for one release)."""

from ._compat import alias

alias("dashboard")
