"""Coverage, false alarms and power of hvload.stats at more sizes than the tests run.

The tests (tests/test_stats_validation.py) assert the documented claims at 12 rounds;
this prints the same figures at 12 and 30 rounds with more campaigns, for the two
SYNTHETIC noise models of tests/stats_synthetic.py, and the false-alarm rate with and
without the Friedman gate. Nothing here was measured on a machine.

Run::

    .venv/bin/python benchmarks/bench_stats_validity.py [--campaigns 400]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stats_synthetic import MODELS, synthetic_campaign, true_block_statistic

from hvload.stats import AnalysisConfig, analyze

FAST = AnalysisConfig(n_sim=0, n_permutations=999)
SHIFTS = (1.0, 1.02, 1.05)


def _row(model: str, rounds: int, n: int, seed: int) -> dict[str, float]:
    truth = {on: true_block_statistic(model, q) for on, q in (("median", 0.5), ("p99", 0.99))}
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for _ in range(n):
        frame = synthetic_campaign(rng, model=model, n_rounds=rounds, shift=[1, 1, 1, 1, 1.05])
        result = analyze(frame, FAST)
        for on in ("median", "p99"):
            low, high = result.level("0%").confidence_interval(on)
            out[f"level {on}"] = out.get(f"level {on}", 0) + (low <= truth[on] <= high) / n
            ci = result.comparison("0%", "100%", on).confidence_interval()
            out[f"change {on}"] = out.get(f"change {on}", 0) + (ci.low <= 1.05 <= ci.high) / n
    return out


def _alarms(model: str, rounds: int, n: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    gated = plain = 0
    for _ in range(n):
        frame = synthetic_campaign(rng, model=model, n_rounds=rounds)
        for gate in (True, False):
            v = analyze(frame, FAST.replace(gate=gate)).comparisons["verdict"]
            hit = v.isin(["slower", "faster"]).any()
            gated += hit and gate
            plain += hit and not gate
    return gated / n, plain / n


def _power(model: str, rounds: int, shift: float, n: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n):
        frame = synthetic_campaign(rng, model=model, n_rounds=rounds, shift=[1, 1, 1, 1, shift])
        hits += analyze(frame, FAST).comparison("0%", "100%").verdict == "slower"
    return hits / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=400)
    args = parser.parse_args()
    n = args.campaigns
    t0 = time.perf_counter()
    print(f"SYNTHETIC, 5 levels x 500 samples per block, {n} campaigns per cell")
    print("coverage of 95 % intervals (level: typical block of 0 %; change: 100 % vs 0 %, +5 %)")
    for model in MODELS:
        for rounds in (12, 30):
            row = _row(model, rounds, n, seed=100 + rounds)
            cells = "  ".join(f"{k} {v:.3f}" for k, v in row.items())
            print(f"  {model:5s} {rounds:2d} rounds: {cells}")
    print("A/A campaigns with any slower/faster verdict (with / without the Friedman gate)")
    for model in MODELS:
        for rounds in (12, 30):
            gated, plain = _alarms(model, rounds, n, seed=200 + rounds)
            print(f"  {model:5s} {rounds:2d} rounds: {gated:.3f} / {plain:.3f}")
    print("power: share of campaigns calling a change at the top level 'slower'")
    for model in MODELS:
        for rounds in (12, 30):
            cells = "  ".join(
                f"+{100 * (s - 1):g}% {_power(model, rounds, s, n // 2, 300 + rounds):.3f}"
                for s in SHIFTS[1:]
            )
            print(f"  {model:5s} {rounds:2d} rounds: {cells}")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
