"""Fixtures the test modules share."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hvload.cli import main


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
