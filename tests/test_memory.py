"""Peak memory of ``hvload run`` and ``hvload report`` does not grow with the campaign.

Each command runs as the only child of a small wrapper process, whose
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` is then that command's peak RSS. A
run keeps no block once it is on disk, merges the parts into the file one at a time
and summarises the campaign block by block from the file (issue 24): a short and a
long campaign of the same design peak alike. Before that, each sample held about 245
bytes until the end, so the long run here peaked some 250 MB above the short one.
benchmarks/bench_memory.py measures the default design at 10, 40 and 160 rounds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from markers import needs_two, needs_x86

from hvload import stats
from hvload.report import CampaignReport, plan
from hvload.report._streamed import streamed
from hvload.stats.table import block_table
from hvload.store import StoredCampaign, load, read_footer

MB = 2**20
#: The children run from the repository root, so that they import this checkout.
ROOT = Path(__file__).resolve().parents[1]

# One child: the wrapper's RUSAGE_CHILDREN peak is the command's (Linux: KiB).
_WRAP = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024, file=sys.stderr); "
    "sys.exit(rc)"
)


def _peak(*argv: str) -> tuple[int, str]:
    """Run ``argv``: its peak RSS in bytes and its stdout; fails the test if it fails."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAP, *argv],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stderr.strip().splitlines()[-1]), done.stdout


def _run(path: Path, rounds: int) -> int:
    # 2 levels x 3 probes x 5,010 samples: 30,060 samples a round.
    peak, out = _peak(
        sys.executable, "-m", "hvload", "run", "--probe", "cpuid", "--levels", "0,100",
        "--samples", "5000", "--warmup", "10", "--probe-rate", "0", "--seed", "7",
        "--rounds", str(rounds), "--no-progress", "-o", str(path),
    )  # fmt: skip
    assert f"campaign written to {path}" in out
    return peak


@needs_x86
@needs_two
def test_run_and_report_peak_memory_does_not_grow_with_the_campaign(tmp_path: Path) -> None:
    short, long = tmp_path / "short.parquet", tmp_path / "long.parquet"
    short_peak = _run(short, 3)
    long_peak = _run(long, 40)
    _, rows, n = read_footer(long)
    assert len(rows) == 80
    assert n >= 80 * 15_030  # the main probe and the controls: at least 1.2 M samples
    # 37 rounds more, 1.1 M samples: about 270 MB more when the run held every sample.
    assert long_peak - short_peak < 60 * MB, (short_peak / MB, long_peak / MB)
    assert long_peak < 450 * MB, long_peak / MB

    # The report reads the file block by block: barely more than loading its modules.
    base, _ = _peak(sys.executable, "-c", "import hvload.cli, hvload.report, hvload.store")
    report_peak, out = _peak(sys.executable, "-m", "hvload", "report", str(long), "--json")
    assert json.loads(out)["design"]["n_samples"] == 40 * 2 * 5010
    # Holding the campaign (28 MB lean) and analysing it whole cost about 190 MB more.
    assert report_peak - base < 100 * MB, (base / MB, report_peak / MB)


@pytest.mark.parametrize(
    "options",
    [{}, {"exclude": ("outlier",)}, {"exclude": ()}, {"metric": "response"},
     {"exclude": ("warmup", "migrated", "outlier")}],
)  # fmt: skip
def test_block_by_block_analysis_is_the_loaded_one(options: dict[str, object]) -> None:
    """The report of a campaign left in its file (read block by block, every probe) is
    the report of the loaded campaign, to the last bit, for each way to leave samples out."""
    path = ROOT / "data" / "amd-epyc-2vcpu-controls.parquet"
    config = stats.DEFAULT.replace(**options)
    in_file = StoredCampaign.verified(path)
    streamed = CampaignReport.build(in_file, config)
    loaded = CampaignReport.build(load(path), config)
    assert json.dumps(streamed.to_dict()) == json.dumps(loaded.to_dict())
    assert streamed.to_text() == loaded.to_text()
    assert not in_file.loaded, "the samples stayed in the file"
    assert plan(in_file, 0.02).to_dict() == plan(load(path), 0.02).to_dict()


def test_block_by_block_analysis_keeps_each_blocks_upper_part_only() -> None:
    """The level p99's interval and changes need of each block only its samples above
    the level's floor (counted by value): a small share of the 4 bytes a sample that
    holding every block sorted cost (12 MB here, 50 MB at 160 default rounds)."""
    path = ROOT / "data" / "amd-epyc-2vcpu-controls.parquet"
    in_file = StoredCampaign.verified(path)
    camp = streamed(in_file, lambda c: c)
    for probe in ("hypercall/vmmcall", "null", "syscall/getppid"):
        bt = block_table(camp, stats.DEFAULT.replace(probe=probe))
        assert bt.floors is not None and bt.upper_counts is not None
        assert bt.n_analysed is not None and bt.n_analysed > 900_000
        held = bt.seg.values.nbytes + bt.upper_counts.nbytes
        # Under a quarter of the 4 bytes a sample (0.1 to 0.4 B here).
        assert held < bt.n_analysed, (probe, held, bt.n_analysed)
    assert not in_file.loaded
