"""Deprecated alias of :mod:`hvload.workload.schedule`.

The module moved there; this path works for one release, with a DeprecationWarning.
"""

from ._compat import alias

alias("schedule")
