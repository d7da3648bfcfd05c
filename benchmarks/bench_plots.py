"""Time every figure of hvload.plots on a real 1.23 M-sample campaign (Agg backend).

Each figure function must take at most 1 s for 10^6 samples (issue 6). For every entry
of :data:`hvload.plots.FIGURES` the benchmark prints the time of the call (the figure
built, every artist created) and of the call plus one full Agg render, each the best
of ``--repeat`` runs after one warm-up call. For reference it also times a naive
seaborn call that draws a 10^5-sample random subsample directly (about a twelfth of
the data), and prints how many times slower that is than hvload's figure on all of it.

Run::

    .venv/bin/python benchmarks/bench_plots.py [--file data/amd-epyc-2vcpu-default.parquet]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import hvload  # noqa: E402
from hvload import plots  # noqa: E402

LIMIT_S = 1.0
NAIVE_SAMPLES = 100_000


def _best(fn: Callable[[], plt.Axes], repeat: int, render: bool) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        ax = fn()
        if render:
            ax.figure.canvas.draw()
        best = min(best, time.perf_counter() - t0)
        plt.close(ax.figure)
    return best


def _naive_calls(sub: pd.DataFrame, tsc_hz: float) -> dict[str, Callable[[], plt.Axes]]:
    """Direct seaborn calls on raw samples, the approach hvload.plots avoids."""
    order = list(dict.fromkeys(sub.sort_values("level_index")["level"]))
    seconds = (sub["start"] - sub["start"].min()) / tsc_hz
    timed = sub.assign(seconds=seconds)

    def new() -> plt.Axes:
        return plt.subplots(figsize=(8, 5))[1]

    return {
        "ecdf": lambda: sns.ecdfplot(sub, x="cycles", hue="level", log_scale=True, ax=new()),
        "violin": lambda: sns.violinplot(
            sub, x="level", y="cycles", order=order, log_scale=True, ax=new()
        ),
        "boxen": lambda: sns.boxenplot(
            sub, x="level", y="cycles", order=order, log_scale=True, ax=new()
        ),
        "load_curve": lambda: sns.pointplot(
            sub, x="level", y="cycles", order=order, estimator="median", ax=new()
        ),
        "timeline": lambda: sns.scatterplot(
            timed, x="seconds", y="cycles", hue="level", s=2, linewidth=0, ax=new()
        ),
    }


def main() -> int:
    """Run the benchmark; exit status 1 if any figure exceeds the 1 s budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", default=str(ROOT / "data" / "amd-epyc-2vcpu-default.parquet"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-naive", action="store_true", help="skip the naive timings")
    args = parser.parse_args()

    campaign = hvload.load(args.file)
    n = len(campaign.samples)
    print(f"{Path(args.file).name}: {n:,} samples, {campaign.samples['level'].nunique()} levels")
    naive: dict[str, Callable[[], plt.Axes]] = {}
    if not args.no_naive:
        rng = np.random.default_rng(0)
        rows = np.sort(rng.choice(n, size=min(NAIVE_SAMPLES, n), replace=False))
        naive = _naive_calls(campaign.samples.iloc[rows], float(campaign.metadata["tsc_hz"]))

    ok = True
    header = f"{'figure':<11} {'call s':>7} {'+render s':>10}   naive seaborn on 10^5 samples"
    print(header)
    for name, fn in plots.FIGURES.items():
        call = lambda fn=fn: fn(campaign)  # noqa: E731
        plt.close(call().figure)
        call_s = _best(call, args.repeat, render=False)
        total_s = _best(call, args.repeat, render=True)
        ok &= total_s <= LIMIT_S
        line = f"{name:<11} {call_s:7.3f} {total_s:10.3f}"
        if name in naive:
            naive_s = _best(naive[name], 1, render=True)
            line += f"   {naive_s:7.3f} s (x{naive_s / total_s:.1f} of hvload's on all samples)"
        elif naive:
            line += "   (no direct seaborn equivalent)"
        print(line)
    print(f"budget {LIMIT_S:.0f} s per figure incl. render: {'met' if ok else 'EXCEEDED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
