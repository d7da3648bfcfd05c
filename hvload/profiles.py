"""Deprecated alias of :mod:`hvload.survey.profiles` (moved there; this path works for one release)."""

from ._compat import alias

alias("profiles")
