"""Time hvload.stats.analyze on 10 levels x 20 rounds x 50,000 samples (10 M samples).

The data are SYNTHETIC (tests/stats_synthetic.py: AR(1) noise, block effects,
drift and spike bursts). Beside the analysis time the benchmark prints the
naive approach's time: the same pairwise comparisons done on pooled samples
(Mann-Whitney U per pair, Kruskal-Wallis as the omnibus), which is what the
block-level design replaces -- slower, and wrong for autocorrelated samples.

Run::

    .venv/bin/python benchmarks/bench_stats.py [--levels 10 --rounds 20 --samples 50000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stats_synthetic import synthetic_campaign

from hvload.stats import analyze
from hvload.stats.design import comparison_pairs

LIMIT_S = 5.0


def _naive(frame: pd.DataFrame, levels: list[str]) -> float:
    """Seconds for pooled-sample tests over the same pairs as the real analysis."""
    t0 = time.perf_counter()
    pooled = {lab: grp.to_numpy() for lab, grp in frame.groupby("level", sort=False)["cycles"]}
    stats.kruskal(*(pooled[lab] for lab in levels))
    for a, b, _ in comparison_pairs(len(levels)):
        stats.mannwhitneyu(pooled[levels[b]], pooled[levels[a]])
    return time.perf_counter() - t0


def main() -> int:
    """Run the benchmark; exit status 1 if the analysis exceeds the 5 s budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--n-sim", type=int, default=2000, help="power simulation draws")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive timing")
    args = parser.parse_args()

    levels = [f"{round(100 * i / max(args.levels - 1, 1))}%" for i in range(args.levels)]
    shift = np.linspace(1.0, 1.03, args.levels)
    t0 = time.perf_counter()
    frame = synthetic_campaign(
        12345, levels=levels, n_rounds=args.rounds, n_samples=args.samples, warmup=0, shift=shift
    )
    gen_s = time.perf_counter() - t0
    n = len(frame)
    print(
        f"SYNTHETIC campaign: {args.levels} levels x {args.rounds} rounds x "
        f"{args.samples:,} samples = {n:,} samples (generated in {gen_s:.1f} s)"
    )

    t0 = time.perf_counter()
    result = analyze(frame, tsc_hz=3.0e9, n_sim=args.n_sim, seed=1)
    analysis_s = time.perf_counter() - t0
    verdicts = result.comparisons["verdict"].value_counts().to_dict()
    print(
        f"hvload.stats.analyze (n_sim={args.n_sim}): {analysis_s:.2f} s "
        f"for {len(result.comparisons)} comparisons, verdicts {verdicts}"
    )
    if not args.no_naive:
        naive_s = _naive(frame, levels)
        print(
            f"naive pooled-sample tests (Kruskal-Wallis + {len(comparison_pairs(args.levels))} "
            f"Mann-Whitney U, no CIs): {naive_s:.2f} s"
        )
    ok = analysis_s <= LIMIT_S
    print(f"budget {LIMIT_S:.0f} s: {'met' if ok else 'EXCEEDED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
