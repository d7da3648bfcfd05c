"""Fixtures the test modules share."""

from __future__ import annotations

from collections.abc import Callable

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
