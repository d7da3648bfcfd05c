"""Deprecated alias of :mod:`hvload.survey.judgments` (moved there; this path works for one release)."""

from ._compat import alias

alias("judgments")
