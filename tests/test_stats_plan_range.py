"""``hvload plan``'s range of rounds holds what direct simulation needs (SYNTHETIC campaigns).

Twenty pilots of one noise model (``stats_synthetic.py``, ``mild``; 10 rounds x 5
levels) plan a 2-level design (so the Friedman gate, which needs 3 levels, plays no
part) for a 2 % median change; the rounds that reach 80 % power are found by analysing
200 campaigns of the same model at each of several sizes with
:func:`hvload.stats.analyze` (the verdict the user reads). The stated range should
contain them for at least 16 of the 20 pilots. Seeds were fixed before the results
were seen.
"""

from __future__ import annotations

import numpy as np
from stats_synthetic import synthetic_campaign

from hvload.stats import AnalysisConfig, analyze, plan

LEVELS = ("0%", "100%")
EFFECT = 0.02
SAMPLES = 200
FAST = AnalysisConfig(n_sim=0, n_permutations=199, n_bootstrap=0)
GRID = (12, 16, 20, 24, 28, 34, 40, 48)


def _power(rounds: int, seed: int, n: int = 200) -> float:
    rng = np.random.default_rng([seed, rounds])
    hits = 0
    for _ in range(n):
        frame = synthetic_campaign(rng, model="mild", levels=LEVELS, n_rounds=rounds,
                                   n_samples=SAMPLES, shift=[1.0, 1.0 + EFFECT])  # fmt: skip
        hits += analyze(frame, FAST).comparison("0%", "100%").verdict == "slower"
    return hits / n


def _rounds_for_80_percent() -> float:
    """Rounds at which the directly simulated power crosses 0.8 (linear between sizes)."""
    power = [_power(r, 5300) for r in GRID]
    print("SYNTHETIC mild, 2 levels, +2 %: direct power", dict(zip(GRID, power, strict=True)))
    for i in range(len(GRID) - 1):
        (r0, r1), (p0, p1) = GRID[i : i + 2], power[i : i + 2]
        if p0 < 0.8 <= p1:
            return r0 + (0.8 - p0) / (p1 - p0) * (r1 - r0)
    raise AssertionError(f"power never crosses 0.8 on {GRID}: {power}")


def test_plan_range_contains_the_rounds_direct_simulation_needs() -> None:
    truth = _rounds_for_80_percent()
    inside = 0
    rows = []
    for seed in range(20):
        pilot = synthetic_campaign(5400 + seed, model="mild", n_rounds=10, n_samples=SAMPLES)
        result = plan(pilot, EFFECT, n_levels=2, n_sim=500, config=FAST)
        low, high = result.rounds_range
        assert low is not None and high is not None and low <= high
        ok = low <= truth <= high
        inside += ok
        rows.append((result.rounds, low, high, ok))
    print(f"rounds for 80 % power by direct simulation: {truth:.1f}; plans "
          f"(recommended, range low, high, contains): {rows}")  # fmt: skip
    assert inside >= 16, (inside, truth, rows)
