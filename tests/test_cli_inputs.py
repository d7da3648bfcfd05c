"""What the analysis commands accept as input (issue 21, items 3 and 5).

A FIFO (or device, or socket) given to ``hvload report``, ``plan`` or ``compare`` is
refused in one line before anything opens it: opening a FIFO blocks until a writer comes,
so without the check the command hangs. And a fraction written as a bare number of 1 or
more (``--effect 2``: 200 %) is refused with the hint to write ``2%`` or ``0.02``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_synthetic import synthetic_file

from hvload.cli._values import fraction

ROOT = Path(__file__).resolve().parents[1]

# The command runs in a child whose heavy imports come first, so the 2 s it is given is
# the command's own time; the child's timeout ends it if it hangs on the FIFO.
_CHILD = """
import sys, time
import hvload.datasets.compare, hvload.report, hvload.store
from hvload.cli import main
t = time.monotonic()
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
sys.stderr.write(f"elapsed {time.monotonic() - t:.3f}\\n")
sys.exit(code)
"""


def _run_child(*argv: str) -> tuple[int, str, float]:
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, *argv], cwd=ROOT, capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"hvload {' '.join(argv)} hung (no answer in 60 s)")
    *lines, last = done.stderr.splitlines()
    return done.returncode, "\n".join(lines), float(last.split()[1])


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    return synthetic_file(root / "a.parquet", 31, n_rounds=3, n_samples=100, warmup=5)


@pytest.mark.parametrize("command", ["report", "plan", "compare"])
def test_a_fifo_is_refused_in_one_line(command: str, campaign: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.parquet"
    os.mkfifo(fifo)
    argv = [command, str(fifo)] + ([str(campaign)] if command == "compare" else [])
    status, err, elapsed = _run_child(*argv)
    assert status == 2 and elapsed < 2.0, (status, err, elapsed)
    want = f"{fifo}: is a FIFO, not a campaign file (a regular file)"
    assert err == f"hvload {command}: error: {want}"


def test_compare_refuses_a_fifo_inside_a_folder(campaign: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.parquet")
    status, err, elapsed = _run_child("compare", str(tmp_path), str(campaign))
    assert status == 2 and elapsed < 2.0 and len(err.splitlines()) == 1 and "is a FIFO" in err


@pytest.mark.parametrize("command", ["report", "plan", "compare"])
def test_a_device_is_refused(command: str, campaign: Path, cli) -> None:
    argv = [command, os.devnull] + ([str(campaign)] if command == "compare" else [])
    status, out, err = cli(*argv)
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert f"{os.devnull}: is a character device, not a campaign file" in err


@pytest.mark.parametrize(
    ("text", "value"),
    [("0.02", 0.02), ("2%", 0.02), (" 2 % ", 0.02), ("150%", 1.5), ("0", 0.0)],
)
def test_fractions_as_written(text: str, value: float) -> None:
    assert fraction(text, "--effect") == pytest.approx(value)


@pytest.mark.parametrize("text", ["1", "2", "1.5", "80", "-3"])
def test_a_bare_fraction_of_one_or_more_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"write 2% or 0\.02"):
        fraction(text, "--effect")


@pytest.mark.parametrize("option", ["--effect", "--power"])
def test_plan_refuses_a_bare_effect_of_one_or_more(option: str, campaign: Path, cli) -> None:
    status, out, err = cli("plan", str(campaign), option, "2")
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert f"{option}=2 would be 200 %" in err and "write 2% or 0.02" in err


def test_percent_is_accepted_wherever_a_fraction_is(campaign: Path, cli) -> None:
    other = synthetic_file(campaign.parent / "b.parquet", 32, n_rounds=3, n_samples=100, warmup=5)
    status, out, err = cli("compare", str(campaign), str(other), "--threshold", "2")
    assert status == 2 and "--threshold=2 would be 200 %" in err
    status, out, err = cli("compare", str(campaign), str(other), "--threshold", "2%",
                           "--alpha", "10%", "--json")  # fmt: skip
    assert status == 0, err
    settings = json.loads(out)["settings"]
    assert settings["threshold"] == pytest.approx(0.02)
    assert settings["alpha"] == pytest.approx(0.1)
