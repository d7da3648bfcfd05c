"""Deprecated alias of :mod:`hvload.survey.catalog` (moved there; this path works for one release)."""

from ._compat import alias

alias("catalog")
