"""The test suite's markers and requirements, defined once (imported by the test modules).

Markers (registered in pyproject.toml, applied by tests/conftest.py):

- ``hardware``: measures real trap instructions on this machine; skipped where nothing
  can be measured (not x86_64).
- ``slow``: more than a few seconds (simulations, subprocesses, clusters, notebooks).
- ``browser``: drives Chromium (tests/test_browser.py).

The fast subset, a minute or two: ``pytest -m "not slow and not browser"``; without
measuring anything: ``pytest -m "not slow and not browser and not hardware"``.
"""

from __future__ import annotations

import os

import pytest

from hvload.measure import _exec

#: Whether this build can issue traps at all (x86_64).
MEASURES = bool(_exec.SUPPORTED)

#: Measures real traps: marked ``hardware`` and skipped where nothing can be measured.
needs_x86 = pytest.mark.hardware
#: Needs a second CPU for load (probe and load on different CPUs).
needs_two = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")

#: Test modules that are slow as a whole.
SLOW_MODULES = frozenset({
    "test_browser", "test_notebooks", "test_remote", "test_faults", "test_stats_validation",
    "test_compare", "test_datasets", "test_campaign", "test_controls", "test_policy",
    "test_memory",
})  # fmt: skip
#: Test modules that drive a browser.
BROWSER_MODULES = frozenset({"test_browser"})
#: Test modules whose every test measures real traps.
HARDWARE_MODULES = frozenset({"test_executor", "test_campaign", "test_controls"})
