"""Calibration and power of the verdicts on SYNTHETIC campaigns (see stats_synthetic.py).

These run the real :func:`hvload.stats.analyze` verdict path end to end; only
the bootstrap CIs are skipped (``n_boot=0``) because no verdict depends on them.
"""

from __future__ import annotations

import numpy as np
import pytest
from stats_synthetic import DEFAULT_LEVELS, synthetic_campaign

from hvload.stats import analyze

N_CAMPAIGNS = 200


def _verdicts(shift: list[float] | None, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(N_CAMPAIGNS):
        frame = synthetic_campaign(rng, shift=shift)
        result = analyze(frame, n_boot=0, tsc_hz=3.0e9)
        out.append(result.comparisons)
    return out


@pytest.fixture(scope="module")
def aa_runs() -> list:
    return _verdicts(None, seed=20240501)


@pytest.fixture(scope="module")
def shifted_runs() -> list:
    return _verdicts([1.0, 1.0, 1.0, 1.0, 1.02], seed=20240502)


def test_aa_false_verdict_rate_at_most_7_percent(aa_runs: list) -> None:
    # A/A: every level has the same latency distribution, so any slower/faster
    # verdict in a campaign is a false alarm over the whole family.
    alarms = sum(c["verdict"].isin(["slower", "faster"]).any() for c in aa_runs)
    rate = alarms / len(aa_runs)
    print(f"SYNTHETIC A/A: {alarms}/{len(aa_runs)} campaigns with a false verdict ({rate:.3f})")
    assert rate <= 0.07


def test_aa_pvalues_are_not_degenerate(aa_runs: list) -> None:
    pvalues = np.concatenate([c["pvalue"].to_numpy() for c in aa_runs])
    assert np.isfinite(pvalues).all()
    # Under the null, raw p-values spread over (0, 1]; a rate far above alpha
    # would mean the block-level test is anti-conservative.
    assert np.mean(pvalues < 0.05) <= 0.07


def test_two_percent_shift_detected_at_default_design(shifted_runs: list) -> None:
    last = DEFAULT_LEVELS[-1]
    hits = 0
    for c in shifted_runs:
        row = c[(c["reference"] == "0%") & (c["level"] == last) & (c["on"] == "median")]
        hits += row["verdict"].item() == "slower"
    power = hits / len(shifted_runs)
    print(f"SYNTHETIC 2% shift: detected (slower) in {hits}/{len(shifted_runs)} ({power:.3f})")
    assert power >= 0.80


def test_shift_never_reported_in_wrong_direction(shifted_runs: list) -> None:
    # Only comparisons involving the shifted level have a true direction; the
    # others are nulls, whose rare false alarms the A/A test already bounds.
    last = DEFAULT_LEVELS[-1]
    for c in shifted_runs:
        involved = c[c["level"] == last]
        assert not (involved["verdict"] == "faster").any()
