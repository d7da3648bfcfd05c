"""Peak memory against campaign length, and the share of a campaign's wall time spent measuring.

Runs, each in a child process of its own so that its peak RSS is its own
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` of a one-child wrapper):

* ``hvload run`` of the default design (5 levels, 200 + 5,000 samples per probe, the null
  and system-call controls: 78,000 samples a round) at 10, 40 and 160 rounds;
* ``hvload report`` of the longest campaign;
* ``hvload.load`` of the longest campaign, with the size of the frame it returns.

It prints each peak, the run's growth per round between the shortest and the longest
campaign, and for each run the share of its wall time the blocks spent measuring
(``probe_ns``, the time inside the measuring loops, over the command's wall time) and
spanned (``end_ns - start_ns``), then the targets of issue 24:

* run: peak grows by less than 1 MB per round, and stays under 500 MB at 160 rounds;
* ``hvload report``: under 300 MB;
* ``hvload.load``: at most twice the final frame plus 150 MB;
* the default campaign spends at least 95 % of its wall time measuring.

A 160-round campaign takes about four minutes on a 2-vCPU guest. Take the shared
measuring lock around it on a shared machine (``flock /work/tools/measure.lock``).

Usage: python benchmarks/bench_memory.py [--rounds 10,40,160] [--dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 1e6

# A wrapper with one child: its RUSAGE_CHILDREN peak is that child's peak (Linux: KiB).
_WRAP = (
    "import resource, subprocess, sys, time; t0 = time.time_ns(); "
    "rc = subprocess.run(sys.argv[1:]).returncode; t1 = time.time_ns(); "
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024; "
    "print(f'@@ {rc} {t0} {t1} {peak}', file=sys.stderr); sys.exit(rc)"
)
#: Wall-clock bounds (ns) of the last command peak_of ran, for the phases of a run.
LAST: dict[str, int] = {}

_LOAD = (
    "import sys, hvload; c = hvload.load(sys.argv[1]); "
    "print('@@frame', int(c.samples.memory_usage(deep=True).sum()), len(c.samples))"
)


def peak_of(argv: list[str]) -> tuple[float, int, str]:
    """Run ``argv`` as the only child of a wrapper: (wall s, peak RSS bytes, stdout)."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAP, *argv], capture_output=True, text=True, check=False
    )
    line = next((x for x in done.stderr.splitlines() if x.startswith("@@ ")), None)
    if line is None or done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{' '.join(argv)} failed (exit {done.returncode})")
    _, _, t0, t1, peak = line.split()
    LAST.update(start=int(t0), end=int(t1))
    return (int(t1) - int(t0)) / 1e9, int(peak), done.stdout


def phases(path: Path, start: int, end: int) -> dict[str, float]:
    """Where a run's wall time went (seconds), from its blocks' clock times (ns)."""
    from hvload.store import read_footer

    _, rows, _ = read_footer(path)
    first = min(r["start_ns"] for r in rows)
    last = max(r["end_ns"] for r in rows)
    probe = sum(r.get("probe_ns") or 0 for r in rows) / 1e9
    span = sum(r["end_ns"] - r["start_ns"] for r in rows) / 1e9
    return {
        "wall": (end - start) / 1e9,
        "measuring": probe,
        "in_blocks_not_measuring": span - probe,  # settle, load start/stop, noise reads
        "between_blocks": (last - first) / 1e9 - span,  # the block's rows, its part on disk
        "before_first_block": (first - start) / 1e9,  # start-up, calibration, saturation
        "after_last_block": (end - last) / 1e9,  # merge, verification, summary
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", default="10,40,160", help="campaign lengths, in rounds")
    ap.add_argument("--dir", default=None, help="where the campaign files go (default: a temp)")
    ap.add_argument("--keep", action="store_true", help="keep the campaign files")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    rounds = sorted(int(r) for r in args.rounds.split(","))
    folder = Path(args.dir or tempfile.mkdtemp(prefix="bench-memory-"))
    folder.mkdir(parents=True, exist_ok=True)
    hv = [sys.executable, "-m", "hvload"]
    out: dict = {"runs": []}
    try:
        print(f"{'command':<34}{'rounds':>7}{'wall s':>9}{'peak MB':>9}{'measuring':>11}"
              f"{'in blocks':>11}")  # fmt: skip
        files = {}
        for r in rounds:
            path = folder / f"run-{r}.parquet"
            path.unlink(missing_ok=True)
            wall, peak, _ = peak_of([*hv, "run", "--rounds", str(r), "--no-progress", "-o",
                                     str(path)])  # fmt: skip
            where = phases(path, LAST["start"], LAST["end"])
            probe = where["measuring"] / where["wall"]
            span = (where["measuring"] + where["in_blocks_not_measuring"]) / where["wall"]
            files[r] = path
            out["runs"].append({"rounds": r, "wall_s": wall, "peak_bytes": peak,
                                "measuring_share": probe, "block_share": span,
                                "phases_s": where})  # fmt: skip
            print(f"{'hvload run':<34}{r:>7}{wall:>9.1f}{peak / MB:>9.0f}{probe:>11.1%}"
                  f"{span:>11.1%}", flush=True)  # fmt: skip
        longest = files[rounds[-1]]
        wall, report_peak, _ = peak_of([*hv, "report", str(longest)])
        out["report"] = {"rounds": rounds[-1], "wall_s": wall, "peak_bytes": report_peak}
        print(f"{'hvload report':<34}{rounds[-1]:>7}{wall:>9.1f}{report_peak / MB:>9.0f}")
        wall, load_peak, text = peak_of([sys.executable, "-c", _LOAD, str(longest)])
        frame, n = (int(x) for x in text.split("@@frame")[1].split())
        out["load"] = {"rounds": rounds[-1], "wall_s": wall, "peak_bytes": load_peak,
                       "frame_bytes": frame, "samples": n}  # fmt: skip
        print(
            f"{'hvload.load':<34}{rounds[-1]:>7}{wall:>9.1f}{load_peak / MB:>9.0f}"
            f"   frame {frame / MB:.0f} MB, {n:,} samples, {frame / max(n, 1):.2f} B/sample"
        )

        runs = out["runs"]
        first, last = runs[0], runs[-1]
        growth = (last["peak_bytes"] - first["peak_bytes"]) / max(
            last["rounds"] - first["rounds"], 1
        )
        default = next((x for x in runs if x["rounds"] == 40), last)
        print("\nwhere the wall time of each run went (s):")
        names = list(runs[0]["phases_s"])
        print(f"{'rounds':>7}" + "".join(f"{n.replace('_', ' '):>{max(len(n), 8) + 2}}"
                                         for n in names))  # fmt: skip
        for x in runs:
            print(f"{x['rounds']:>7}" + "".join(f"{x['phases_s'][n]:>{max(len(n), 8) + 2}.2f}"
                                                for n in names))  # fmt: skip
        print("\ntargets (issue 24):")
        checks = [
            (f"run peak growth {growth / MB:.2f} MB/round "
             f"({first['rounds']} -> {last['rounds']} rounds)", growth < 1 * MB, "< 1 MB/round"),
            (f"run peak at {last['rounds']} rounds {last['peak_bytes'] / MB:.0f} MB",
             last["peak_bytes"] < 500 * MB, "< 500 MB"),
            (f"hvload report {report_peak / MB:.0f} MB", report_peak < 300 * MB, "< 300 MB"),
            (f"hvload.load {load_peak / MB:.0f} MB = {(load_peak - frame) / MB:.0f} MB over "
             f"the frame ({load_peak / max(frame, 1):.2f}x)", load_peak <= 2 * frame + 150 * MB,
             "<= 2 x frame + 150 MB"),
            (f"measuring {default['measuring_share']:.1%} of the wall time at "
             f"{default['rounds']} rounds (blocks span {default['block_share']:.1%})",
             default["measuring_share"] >= 0.95, ">= 95 %"),
        ]  # fmt: skip
        for text_, ok, target in checks:
            print(f"  {'ok  ' if ok else 'MISS'} {text_} (target {target})")
        out["targets_met"] = {t: bool(ok) for _, ok, t in checks}
        out["when"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if args.json:
            Path(args.json).write_text(json.dumps(out, indent=2))
    finally:
        if not args.keep and args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
