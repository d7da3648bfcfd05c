"""Sequential campaigns (``hvload run --until decided``) against fixed designs.

Prints, for SYNTHETIC quick-sized campaigns (3 levels) of ``tests/tails_synthetic.py``'s
``mild`` model, what ``tests/test_sequential_validation.py`` asserts, at more settings:
the share of A/A campaigns with any false ``slower``/``faster`` at some look, and for a
+5 % change per level step the share decided ``slower``, the rounds the sequential
campaigns stopped at (median and mean), and the power of fixed designs of 8 to 16
rounds on the same draws (every block-median comparison ``slower``, alpha not split).
The campaigns go block by block through :class:`hvload.campaign.Sequential`, as in
``hvload run``. Nothing here was measured on a machine.

Run::

    .venv/bin/python benchmarks/bench_sequential.py [--campaigns 100] [--looks 3]
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from test_sequential_validation import STEPPED, _fixed_power, _sequential

from hvload.stats import AnalysisConfig
from hvload.stats.sequential import plan_looks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--campaigns", type=int, default=100)
    parser.add_argument("--looks", type=int, default=3)
    parser.add_argument("--max-rounds", type=int, default=24)
    args = parser.parse_args()
    config = AnalysisConfig(n_permutations=999)
    looks = plan_looks(3, args.max_rounds, looks=args.looks)
    n = args.campaigns
    t0 = time.perf_counter()
    alarms = 0
    for seed in range(n):
        seen = _sequential(70_000 + seed, looks, config, 100)
        alarms += any(v in ("slower", "faster") for t in seen for v in t.verdicts.values())
    print(f"looks at {looks.rounds}, each at alpha {looks.alpha_per_look:.4g}")
    print(f"A/A: {alarms}/{n} campaigns with a false slower/faster at some look")
    seeds = [60_000 + s for s in range(n)]
    stopped, slower = [], 0
    for seed in seeds:
        last = _sequential(seed, looks, config, 200, STEPPED, until="decided-median")[-1]
        medians = [v for k, v in last.verdicts.items() if k.endswith(" median")]
        slower += last.decided and all(v == "slower" for v in medians)
        stopped.append(last.rounds)
    print(f"+5 % per step: {slower}/{n} decided slower; rounds at the stop: median "
          f"{np.median(stopped):g}, mean {np.mean(stopped):.1f} "
          f"(rounds: campaigns {dict(collections.Counter(stopped))})")  # fmt: skip
    for rounds in range(8, 17, 2):
        power = _fixed_power(seeds, rounds, config, args.max_rounds)
        print(f"fixed design, {rounds} rounds: {power:.0%}")
    print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
