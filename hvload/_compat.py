"""Old module paths, kept working for one release after the package restructuring.

Each old top-level module (``hvload.executor``, ``hvload.remote``, ...) is a thin alias:
importing it warns once with a :class:`DeprecationWarning` naming the new path and then
*is* the new module (the same object in ``sys.modules``), so attributes, private names
and monkeypatching behave exactly as before.
"""

from __future__ import annotations

import importlib
import sys
import warnings

#: old module (under hvload) -> its new home; the single list the aliases and the tests use.
MOVED = {
    "executor": "measure.executor",
    "cpu": "measure.cpu",
    "hypervisors": "measure.hypervisors",
    "noise": "measure.noise",
    "machine": "measure.machine",
    "schedule": "workload.schedule",
    "loadgen": "workload.generator",
    "remote": "workload.remote",
    "cluster": "datasets.cluster",
    "comparison": "datasets.compare",
    "plots_compare": "plots.compare",
    "tlfs": "survey.tlfs",
    "catalog": "survey.catalog",
    "judgments": "survey.judgments",
    "profiles": "survey.profiles",
    "dashboard": "widgets.dashboard",
}


def alias(old: str) -> None:
    """Make ``hvload.<old>`` the module it moved to, with a DeprecationWarning."""
    new = MOVED[old]
    warnings.warn(
        f"hvload.{old} moved to hvload.{new}; the old path works for one release only",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[f"hvload.{old}"] = importlib.import_module(f"hvload.{new}")
