"""Fixtures the test modules share."""

from __future__ import annotations

import os

# One BLAS thread per test process, set before anything imports numpy. The statistics
# multiply many small matrices; OpenBLAS's threads spin on each of those products and
# took 3-4x the CPU of one thread (tail_comparisons on a 12-round campaign: 0.30-0.36 s
# against 0.085 s), which on CI's 2 vCPUs starved the test beside it (pytest -n 2).
# Subprocesses (hvload run, the notebooks' kernels) inherit it. The user's own setting wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import signal
import warnings
from collections.abc import Callable, Iterator

import pytest
from markers import (
    BROWSER_MODULES,
    HARDWARE_MODULES,
    MEASURES,
    SLOW_MODULES,
    TIMING_MODULES,
    TIMING_TESTS,
)

from hvload.cli import main


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Apply the markers of tests/markers.py: by module (``timing`` by module or by test),
    and ``hardware`` as a skip where this build cannot measure."""
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if item.module else ""
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
        if module in BROWSER_MODULES:
            item.add_marker(pytest.mark.browser)
        if module in HARDWARE_MODULES:
            item.add_marker(pytest.mark.hardware)
        name = getattr(item, "originalname", item.name)
        if module in TIMING_MODULES or f"{module}::{name}" in TIMING_TESTS:
            item.add_marker(pytest.mark.timing)
        if item.get_closest_marker("hardware") and not MEASURES:
            item.add_marker(pytest.mark.skip(reason="measuring needs x86_64"))


@pytest.fixture(autouse=True)
def _sigint_as_python_leaves_it(request: pytest.FixtureRequest) -> Iterator[None]:
    """Each test starts with Python's own SIGINT handler and SIGINT unblocked.

    Tests of Ctrl-C (tests/test_executor.py, the fault tests) rely on it; a full CI run
    on a loaded machine once saw two of them miss their SIGINT although each passes
    alone. Whatever left the signal handled or blocked is named in a warning, and the
    state is put back so the tests after it are not its victims.
    """
    handler = signal.getsignal(signal.SIGINT)
    if handler is not signal.default_int_handler:
        left = f"SIGINT handler {handler!r} left before {request.node.nodeid}; reset"
        warnings.warn(left, stacklevel=2)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []):
        warnings.warn(f"SIGINT left blocked before {request.node.nodeid}", stacklevel=2)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])
    yield


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``hvload ARGS`` in this process: (exit status, stdout, stderr)."""

    def call(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return call
