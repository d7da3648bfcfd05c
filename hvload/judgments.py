"""Deprecated alias of :mod:`hvload.survey.judgments`.

The module moved there; this path works for one release, with a DeprecationWarning.
"""

from ._compat import alias

alias("judgments")
