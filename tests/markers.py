"""The test suite's markers and requirements, defined once (imported by the test modules).

Markers (registered in pyproject.toml, applied by tests/conftest.py):

- ``hardware``: measures real trap instructions on this machine; skipped where nothing
  can be measured (not x86_64).
- ``slow``: more than a few seconds (simulations, subprocesses, clusters, notebooks).
- ``browser``: drives Chromium (tests/test_browser.py).
- ``timing``: the outcome can depend on how busy the machine is (rates, durations,
  deadlines, delivered interrupts, context switches, latencies compared). Each such test
  asserts what hvload promises on a busy machine too (the rate recorded is the rate that
  ran, a shortfall is flagged ``load_ok = False`` with its reason and said, counters agree
  with what was recorded), never that the machine is idle. CI runs them a second time
  with a busy-loop process on every CPU: ``python tests/burner.py python -m pytest -m
  timing``.

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

#: Its outcome can depend on the machine's load (see the module's docstring); CI reruns
#: these under tests/burner.py.
timing = pytest.mark.timing

#: Test modules that are slow as a whole.
SLOW_MODULES = frozenset({
    "test_browser", "test_notebooks", "test_remote", "test_faults", "test_stats_validation",
    "test_compare", "test_datasets", "test_campaign", "test_controls", "test_policy",
    "test_browser_report", "test_stats_tails", "test_stats_plan_range", "test_memory",
    "test_sequential_validation", "test_sequential_run", "test_browser_live",
})  # fmt: skip
#: Test modules that drive a browser.
BROWSER_MODULES = frozenset({"test_browser", "test_browser_report", "test_browser_live"})
#: Test modules whose every test measures real traps.
HARDWARE_MODULES = frozenset(
    {"test_executor", "test_campaign", "test_controls", "test_browser_live"}
)
#: Test modules whose every test can depend on the machine's load (marked ``timing``).
#: (test_local_shortfall, test_cli_scheduler and test_signals_start depend on load too;
#: they passed a whole run under the burner and stay out of CI's burner pass for its time.)
TIMING_MODULES = frozenset({"test_controls", "test_kernel_campaign"})
#: Tests elsewhere whose outcome can depend on the machine's load (module::function, every
#: parametrization): time limits on the command line's refusals, a figure, a Stop button.
#: (tests/test_cli_fuzz.py limits the refusals' CPU time, which load does not change.)
TIMING_TESTS = frozenset({
    "test_cli_inputs::test_a_fifo_is_refused_in_one_line",
    "test_cli_inputs::test_compare_refuses_a_fifo_inside_a_folder",
    "test_plots::test_figure_of_a_million_samples_is_quick",
    "test_widgets::test_explorer_stop_keeps_the_finished_blocks",
})  # fmt: skip
