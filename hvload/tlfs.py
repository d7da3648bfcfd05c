"""Deprecated alias of :mod:`hvload.survey.tlfs` (moved there; this path works for one release)."""

from ._compat import alias

alias("tlfs")
