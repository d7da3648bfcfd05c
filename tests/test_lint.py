"""The package's contracts, checked in the test run (so CI checks them): ruff (lint and
format), the layers and cycles of import-linter (pyproject.toml ``[tool.importlinter]``),
mypy on the package (``[tool.mypy]``), and no source file over 600 lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The most lines a hand-written source file of the package may hold (one concern each).
MAX_LINES = 600


def _tool(name: str) -> list[str]:
    exe = Path(sys.executable).with_name(name)
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return [found]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]])
def test_ruff(args: list[str]) -> None:
    out = _run(*_tool("ruff"), *args, "hvload", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout + out.stderr


def test_imports_keep_the_layers() -> None:
    """No module imports upwards, stats imports nothing else of hvload, no import cycle
    between the modules of a package, private modules stay inside their package."""
    out = _run(*_tool("lint-imports"), "--no-cache")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "broken" not in out.stdout.lower().replace("0 broken", ""), out.stdout


@pytest.mark.slow
def test_mypy_finds_no_error() -> None:
    out = _run(*_tool("mypy"))
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_source_file_is_too_long() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in sorted((ROOT / "hvload").rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"over {MAX_LINES} lines: {long}"
