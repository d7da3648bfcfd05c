"""Coverage, false alarms, power and planning of hvload.stats on SYNTHETIC campaigns.

Every claim the package documents about its statistics (``hvload.stats`` module
notes, README "Statistics") is asserted here at the stated sizes, end to end
through :func:`hvload.stats.analyze`. The campaigns come from
``stats_synthetic.py``: three noise models calibrated against the real files in
``data/`` (``test_stats_models.py`` checks they are at least as noisy). Seeds are
fixed, so a run is reproducible; they were chosen before the results were seen.
The minimum-detectable-effect simulation is skipped (``n_sim=0``): no verdict or
interval depends on it; so is the level-p99 inference (``n_bootstrap=0``), which
``test_stats_tails.py`` validates on its own generator.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from stats_synthetic import DEFAULT_LEVELS, MODELS, synthetic_campaign, true_block_statistic

import hvload
from hvload.stats import AnalysisConfig, analyze, plan

DATA = Path(__file__).resolve().parents[1] / "data"
FAST = AnalysisConfig(n_sim=0, n_permutations=999, n_bootstrap=0)
SHIFT = 1.05
N_COVERAGE = 300
N_AA = 400


def _coverage_runs(model: str, seed: int, rounds: int = 12) -> dict[str, float]:
    truth = {on: true_block_statistic(model, q) for on, q in (("median", 0.5), ("p99", 0.99))}
    rng = np.random.default_rng(seed)
    hits: dict[str, int] = {}
    for _ in range(N_COVERAGE):
        frame = synthetic_campaign(rng, model=model, n_rounds=rounds, shift=[1, 1, 1, 1, SHIFT])
        result = analyze(frame, FAST)
        for on in ("median", "p99"):
            low, high = result.level("0%").confidence_interval(on)
            hits[f"level {on}"] = hits.get(f"level {on}", 0) + (low <= truth[on] <= high)
            changed = result.comparison("0%", "100%", on).confidence_interval()
            key = f"change {on}"
            hits[key] = hits.get(key, 0) + (changed.low <= SHIFT <= changed.high)
            null = result.comparison("0%", "25%", on).confidence_interval()
            key = f"no change {on}"
            hits[key] = hits.get(key, 0) + (null.low <= 1.0 <= null.high)
    return {k: v / N_COVERAGE for k, v in hits.items()}


@pytest.fixture(scope="module", params=list(MODELS))
def coverage(request: pytest.FixtureRequest) -> tuple[str, dict[str, float]]:
    model = request.param
    return model, _coverage_runs(model, seed=7100 + list(MODELS).index(model))


def test_intervals_cover_at_12_rounds(coverage: tuple[str, dict[str, float]]) -> None:
    model, rates = coverage
    print(f"SYNTHETIC {model}, 12 rounds, {N_COVERAGE} campaigns: coverage {rates}")
    assert len(rates) == 6
    for what, rate in rates.items():
        assert rate >= 0.93, (model, what, rate)


@pytest.fixture(scope="module", params=list(MODELS))
def aa(request: pytest.FixtureRequest) -> tuple[str, list]:
    model = request.param
    rng = np.random.default_rng(9100 + list(MODELS).index(model))
    runs = [analyze(synthetic_campaign(rng, model=model), FAST) for _ in range(N_AA)]
    return model, runs


def test_aa_false_alarms_at_most_5_percent(aa: tuple[str, list]) -> None:
    # A/A: every level has the same latency distribution, so any slower/faster
    # verdict in a campaign is a false alarm over the whole family.
    model, runs = aa
    alarms = sum(r.comparisons["verdict"].isin(["slower", "faster"]).any() for r in runs)
    print(f"SYNTHETIC A/A {model}: {alarms}/{len(runs)} campaigns with a false verdict")
    assert alarms / len(runs) <= 0.05


def test_aa_raw_pvalues_hold_their_level(aa: tuple[str, list]) -> None:
    _, runs = aa
    pvalues = np.concatenate([r.comparisons["pvalue"].to_numpy() for r in runs])
    assert np.isfinite(pvalues).all()
    # The exact signed-rank test on 12 rounds: at most alpha of null p-values below it.
    assert np.mean(pvalues < 0.05) <= 0.055


@pytest.mark.parametrize("rounds", [3, 5, 8])
def test_design_that_cannot_reach_alpha_says_not_enough_data(rounds: int) -> None:
    # A 20 % change that any design able to decide would find.
    frame = synthetic_campaign(rounds, model="mild", n_rounds=rounds, shift=[1, 1, 1, 1, 1.2])
    result = analyze(frame, FAST)
    assert (result.comparisons["verdict"] == "not enough data").all()
    assert not result.design["can_decide"] and result.design["rounds_needed"] == 10
    assert all("at least 10 rounds" in m for m in result.comparisons["message"])


def _verdicts_of_top_level(model: str, rounds: int, shift: float, seed: int, n: int) -> dict:
    rng = np.random.default_rng(seed)
    counts: dict[str, int] = {}
    for _ in range(n):
        frame = synthetic_campaign(rng, model=model, n_rounds=rounds, shift=[1, 1, 1, 1, shift])
        v = analyze(frame, FAST).comparison("0%", DEFAULT_LEVELS[-1]).verdict.value
        counts[v] = counts.get(v, 0) + 1
    return {k: c / n for k, c in counts.items()}


def test_five_percent_found_at_12_rounds_mild() -> None:
    rates = _verdicts_of_top_level("mild", 12, 1.05, seed=7301, n=150)
    print(f"SYNTHETIC mild, 12 rounds, +5 %: {rates}")
    assert rates.get("slower", 0) >= 0.80
    assert "faster" not in rates


def test_three_percent_found_at_the_default_design_mild() -> None:
    # hvload run's default: 5 levels x 40 rounds.
    rates = _verdicts_of_top_level("mild", 40, 1.03, seed=7302, n=100)
    print(f"SYNTHETIC mild, 40 rounds, +3 %: {rates}")
    assert rates.get("slower", 0) >= 0.80


def test_changes_below_the_threshold_are_rarely_called_slower() -> None:
    # A 0.5 % step against a 1 % practical threshold.
    rates = _verdicts_of_top_level("mild", 40, 1.005, seed=7303, n=100)
    print(f"SYNTHETIC mild, 40 rounds, +0.5 %: {rates}")
    assert rates.get("slower", 0) <= 0.05


def test_plan_for_the_intel_campaign_reaches_its_power() -> None:
    # hvload plan on the real Intel file, then the recommended design on the
    # Intel-like model: 6 levels (CPU counts), a 2 % change at the top one.
    camp = hvload.load(DATA / "intel-xeon-16vcpu-cpu-levels.parquet")
    result = plan(camp, 0.02)
    assert result.rounds is not None and 10 < result.rounds < 400
    levels = ("0", "1", "2", "4", "8", "15")
    rng = np.random.default_rng(7401)
    n, hits = 300, 0
    for _ in range(n):
        frame = synthetic_campaign(
            rng, model="heavy", levels=levels, n_rounds=result.rounds, n_samples=200, warmup=0,
            shift=[1, 1, 1, 1, 1, 1.02],
        )  # fmt: skip
        hits += analyze(frame, FAST).comparison("0", "15").verdict == "slower"
    print(
        f"plan on the Intel campaign: {result.rounds} rounds; SYNTHETIC heavy model at that "
        f"size: 2 % found in {hits}/{n}"
    )
    assert hits / n >= 0.80
    assert math.isfinite(result.duration_s)
