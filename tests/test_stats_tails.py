"""The level p99 and its comparisons, validated on a generator the methods were not built on.

The campaigns come from ``tails_synthetic.py`` (SYNTHETIC: two exit paths with bursty
slow states, block regimes, Pareto spikes, round effects, a TSC grid), not from
``stats_synthetic.py``, which the rest of the statistics tests use. The truth of each
estimand is a draw of 20 million samples from the same model. Seeds were fixed before
the results were seen. The functions called are the ones :func:`hvload.stats.analyze`
calls (the level interval, :func:`hvload.stats.intervals.median_interval` for the
typical block, :func:`hvload.stats.tails.tail_comparisons` for the verdicts).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from tails_synthetic import MODELS, campaign_frame, draw, truth

import hvload
from hvload.stats import AnalysisConfig, analyze
from hvload.stats._tailgrid import block_quantile, pooled_block_quantile, tail_grid
from hvload.stats.design import comparison_pairs
from hvload.stats.intervals import median_interval
from hvload.stats.table import block_table
from hvload.stats.tails import (
    LEVEL_Q999,
    BlockTail,
    level_change,
    level_p999_gap,
    level_quantile_interval,
    tail_comparisons,
)

DATA = Path(__file__).resolve().parents[1] / "data"
N_COVERAGE = 300
N_AA = 300
FAST = AnalysisConfig(n_sim=0, n_permutations=999, n_bootstrap=999)
# The verdict-rate tests read only verdicts and p-values: 499 swaps / resamples give
# p-values down to 0.002 (0.014 after Holm over 7) and halve their cost.
VERDICTS = AnalysisConfig(n_sim=0, n_permutations=499, n_bootstrap=499)
N_P999 = 100


@pytest.fixture(scope="module")
def truths() -> dict[str, dict[str, float]]:
    return {model: truth(model) for model in MODELS}


@pytest.mark.parametrize("rounds", [12, 30])
@pytest.mark.parametrize("model", list(MODELS))
def test_level_and_typical_block_intervals_cover(
    model: str, rounds: int, truths: dict[str, dict[str, float]]
) -> None:
    true = truths[model]
    rng = np.random.default_rng(2000 + rounds + 7 * list(MODELS).index(model))
    hits = {"level p99": 0, "typical-block median": 0, "typical-block p99": 0}
    width = []
    for _ in range(N_COVERAGE):
        x = draw(rng, rounds, 1, 500, MODELS[model])[:, 0, :]
        blocks = [np.sort(b) for b in x]
        low, high = level_quantile_interval(blocks, 0.95, n_boot=1999, rng=rng)
        hits["level p99"] += low <= true["level_p99"] <= high
        width.append(np.log(high / low))
        for name, q in (("median", 0.5), ("p99", 0.99)):
            _, lo, hi = median_interval(np.quantile(x, q, axis=1), 0.95)
            hits[f"typical-block {name}"] += lo <= true[f"block_{name}"] <= hi
    rates = {k: v / N_COVERAGE for k, v in hits.items()}
    print(
        f"SYNTHETIC {model}, {rounds} rounds, {N_COVERAGE} campaigns: coverage {rates}; "
        f"level p99 {true['level_p99']:.0f} vs typical-block p99 {true['block_p99']:.0f}; "
        f"median interval width {100 * float(np.median(width)):.1f}% (log)"
    )
    for what, rate in rates.items():
        assert rate >= 0.93, (model, rounds, what, rate)


@pytest.mark.parametrize(("model", "rounds"), [("mild", 12), ("heavy", 30)])
def test_level_p999_interval_where_it_is_given(
    model: str, rounds: int, truths: dict[str, dict[str, float]]
) -> None:
    # Blocks of 5,000 samples (the default), 5 expected beyond the p99.9 in each. Measured
    # before (150 campaigns, other seeds): without the spread rule the interval covered
    # the true p99.9 in 100 % / 94.7 % of mild campaigns (12 / 30 rounds) but on the
    # heavy model (5 % of blocks 40 % slow) in 97 % / 55 %; MAX_SPREAD was chosen on those
    # runs (mild keeps its p99.9 in 82 % / 92 %, heavy at 30 rounds in none), so this
    # checks it on fresh seeds: where it is given, it covers; where it would mislead, it
    # is withheld (a shown interval that misses in at most 5 % of campaigns).
    true = truths[model]["level_p999"]
    rng = np.random.default_rng(5100 + rounds)
    given = hits = 0
    for _ in range(N_P999):
        blocks = list(np.sort(draw(rng, rounds, 1, 5000, MODELS[model])[:, 0, :], axis=1))
        if level_p999_gap(blocks):
            continue
        given += 1
        low, high = level_quantile_interval(blocks, 0.95, q=LEVEL_Q999, n_boot=999, rng=rng)
        hits += low <= true <= high
    print(f"SYNTHETIC {model}, {rounds} rounds x 5,000: level p99.9 given in {given} of "
          f"{N_P999} campaigns, its interval covered the true p99.9 in {hits}")  # fmt: skip
    if model == "mild":
        assert given >= 0.7 * N_P999 and hits >= 0.93 * given
    else:
        assert given - hits <= 0.05 * N_P999


def _tail_verdicts(
    model: str, rounds: int, shift: float, seed: int, n: int
) -> tuple[float, float, np.ndarray]:
    """Share of campaigns with any slower/faster level-p99 verdict, share with the top
    level called slower against the baseline, and every raw p-value."""
    rng = np.random.default_rng(seed)
    pairs = comparison_pairs(5, 0)
    alarms = top = 0
    pvalues = []
    for _ in range(n):
        frame = campaign_frame(rng, model, n_rounds=rounds, n_samples=300,
                               shift=[1, 1, 1, 1, shift])  # fmt: skip
        table = block_table(frame, VERDICTS.replace(exclude=()))
        result = tail_comparisons(table, pairs, VERDICTS)
        alarms += any(c.verdict.is_difference for c in result)
        top += any(c.level == "100%" and c.reference == "0%" and c.verdict == "slower"
                   for c in result)  # fmt: skip
        pvalues += [c.pvalue for c in result]
    return alarms / n, top / n, np.asarray(pvalues)


@pytest.mark.parametrize("model", list(MODELS))
def test_level_p99_aa_false_alarms_at_most_5_percent(model: str) -> None:
    # The sign-flip test is exact when the two levels' blocks of a round are
    # exchangeable (A/A), and Holm keeps the family at alpha, so the true rate is at most
    # 5 %; 300 campaigns measure it to about +-1.3 points, so the count is checked
    # against that bound with a one-sided binomial test (it fails a true rate of 8 %
    # most of the time), and the raw p-values of the 2,100 comparisons must hold their
    # level.
    alarms, _, pvalues = _tail_verdicts(
        model, 12, 1.0, seed=3100 + list(MODELS).index(model), n=N_AA
    )
    raw = float(np.mean(pvalues < 0.05))
    print(f"SYNTHETIC A/A {model}, 12 rounds: level-p99 slower/faster in {alarms:.1%} of "
          f"{N_AA} campaigns; raw p < 0.05 in {raw:.1%} of {pvalues.size} comparisons")  # fmt: skip
    assert stats.binom.sf(round(alarms * N_AA) - 1, N_AA, 0.05) > 0.01
    assert raw <= 0.06


def test_level_p99_change_found_at_40_rounds_mild() -> None:
    # What the level p99 of this model lets a 40-round campaign find. Measured before
    # (other seeds): +5 % in 5 % of 100 campaigns, +20 % in 74 %, +25 % in 88 % and
    # +35 % in 98 % of 60; see the notes of hvload.stats.tails.
    _, found, _ = _tail_verdicts("mild", 40, 1.3, seed=3201, n=100)
    print(f"SYNTHETIC mild, 40 rounds, +30 % level p99: called slower in {found:.0%}")
    assert found >= 0.80


def test_report_json_names_both_p99(capsys: pytest.CaptureFixture[str]) -> None:
    from hvload.cli import main

    assert main(["report", str(DATA / "amd-epyc-2vcpu-default.parquet"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    level = out["levels"][0]
    for key in ("level_p99", "level_p99_ci_low", "level_p99_ci_high", "level_p99_ns",
                "block_p99", "block_p99_ci_low", "block_p99_ci_high"):  # fmt: skip
        assert key in level, key
    assert level["level_p99"] == level["p99"]
    assert level["level_p99_ci_low"] <= level["level_p99"] <= level["level_p99_ci_high"]
    for key in ("level_p999", "level_p999_ci_low", "level_p999_ci_high", "level_p999_ns",
                "level_p999_ci_low_ns", "level_p999_ci_high_ns", "level_p999_note"):  # fmt: skip
        assert key in level, key
    # Blocks of 20,000 samples hold 20 beyond the p99.9 in expectation, but on this
    # machine a few rounds hold most of them: no level p99.9, and the reason.
    assert level["level_p999"] is None and level["level_p999_ci_low"] is None
    assert "come from few rounds" in level["level_p999_note"]
    assert "p99.9" in out["methods"]["level_p999"]
    assert {c["on"] for c in out["tail_comparisons"]} == {"level_p99"}
    assert all(c["cles"] is None for c in out["comparisons"] if c["on"] == "p99")
    assert "level p99" in out["methods"]["level_p99"]
    assert "two-way" not in out["methods"]["noise"]


def test_text_labels_level_and_typical_block_p99() -> None:
    frame = campaign_frame(1, "mild", n_rounds=10, n_samples=200)
    text = analyze(frame, FAST).to_text()
    assert "Level p99 per level" in text and "typical-block p99" in text
    assert "Level p99 comparisons" in text


def test_level_p999_only_where_blocks_hold_enough_beyond_it() -> None:
    small = analyze(campaign_frame(3, "mild", n_rounds=8, n_samples=400), FAST)
    for s in small.level_summaries:
        assert np.isnan(s["level_p999"]) and np.isnan(s.confidence_interval("level_p999")[0])
        assert "0.4 expected beyond the p99.9" in s.level_p999_note
        assert s.to_dict()["level_p999"] is None and s["p99.9"] > s["p99"]
    assert "no level p99.9 for 0%, 25%, 50%, 75%, 100%: the smallest block" in small.to_text()
    # Slow samples spread evenly over blocks (no burst, no block-to-block share): the
    # samples beyond the p99.9 are near Poisson over rounds, CV about 0.45.
    even = {"share_conc": 1e5, "burst": 1.0, "levels": ("a", "b")}
    big = analyze(campaign_frame(4, "mild", n_rounds=12, n_samples=5000, **even), FAST)
    for s in big.level_summaries:
        low, high = s.confidence_interval("level_p999")
        assert s.level_p999_note == "" and low <= s["level_p999"] == s["p99.9"] <= high
    assert "no level p99.9" not in big.to_text()
    few = analyze(campaign_frame(5, "mild", n_rounds=4, n_samples=5000, **even), FAST)
    assert all("4 round(s)" in s.level_p999_note for s in few.level_summaries)


def test_too_few_rounds_give_no_level_interval() -> None:
    frame = campaign_frame(2, "mild", n_rounds=4, n_samples=200)
    result = analyze(frame, FAST)
    low, high = result.level("0%").confidence_interval("level_p99")
    assert np.isnan(low) and np.isnan(high)
    assert all(c.verdict == "not enough data" for c in result.tail_comparisons)


def test_level_p99_of_shipped_file_is_the_pooled_p99() -> None:
    result = hvload.analyze(hvload.load(DATA / "amd-epyc-2vcpu-aa-noload.parquet"), FAST)
    for s in result.level_summaries:
        assert s["level_p99"] == s["p99"]
        low, high = s.confidence_interval("level_p99")
        assert low <= s["level_p99"] <= high
        # 20 samples beyond the p99.9 per block in expectation, but a few rounds hold most
        # of them (CV 0.84-2.15 per level): withheld, with the reason.
        assert np.isnan(s["level_p999"]) and "come from few rounds" in s.level_p999_note


def _upper(block: np.ndarray, floor: float, counted: bool) -> BlockTail:
    """What the block-by-block engine keeps of a sorted block: from ``floor`` on, and from
    one position under its own p90 at the latest."""
    n = block.size
    start = min(int(np.searchsorted(block, floor, side="left")), int((n - 1) * 0.9) - 1)
    part = block[max(start, 0) :]
    if not counted:
        return BlockTail(n, part, floor)
    values, counts = np.unique(part, return_counts=True)
    return BlockTail(n, values, floor, counts)


@pytest.mark.parametrize("counted", [False, True])
def test_few_kept_samples_give_the_whole_blocks_results(counted: bool) -> None:
    # Two levels of 12 rounds on a TSC grid (many ties), the second slower in some rounds.
    rng = np.random.default_rng(2024)
    ref = [np.sort(2 * np.round(rng.lognormal(7.0, 0.25, 600))).astype(np.int32)
           for _ in range(12)]  # fmt: skip
    lvl = [np.sort(2 * np.round(rng.lognormal(7.0 + 0.2 * (r % 3), 0.3, 500))).astype(np.int32)
           for r in range(12)]  # fmt: skip
    # Floors as the engine sets them: no higher than any p90 of a level or p97 of a pair.
    floor = min(float(np.quantile(b, 0.9)) for b in ref + lvl)
    c_ref = [_upper(b, floor, counted) for b in ref]
    c_lvl = [_upper(b, floor, counted) for b in lvl]
    assert sum(c.values.size for c in c_ref + c_lvl) < sum(b.size for b in ref + lvl) / 3
    for whole, part in ((ref, c_ref), (lvl, c_lvl)):
        got = level_quantile_interval(part, 0.95, n_boot=499, rng=np.random.default_rng(1))
        want = level_quantile_interval(whole, 0.95, n_boot=499, rng=np.random.default_rng(1))
        assert got == want and np.isfinite(got).all()
        assert pooled_block_quantile(part, 0.99) == float(np.quantile(np.concatenate(whole), 0.99))
    got_change = level_change(c_ref, c_lvl, 0.95, n_permutations=499, n_boot=499,
                              rng=np.random.default_rng(3))  # fmt: skip
    want_change = level_change(ref, lvl, 0.95, n_permutations=499, n_boot=499,
                               rng=np.random.default_rng(3))  # fmt: skip
    assert got_change == want_change
    grid, whole_grid = tail_grid(c_lvl, 0.9, 0.999), tail_grid(lvl, 0.9, 0.999)
    assert np.array_equal(grid.values, whole_grid.values)
    assert np.array_equal(grid.cum, whole_grid.cum) and np.array_equal(grid.n, whole_grid.n)


def test_few_kept_samples_refuse_what_they_cannot_give() -> None:
    block = np.arange(1, 1001, dtype=np.int64)
    part = BlockTail(1000, block[950:], 951.0)
    assert block_quantile(part, 0.99) == float(np.quantile(block, 0.99))
    with pytest.raises(ValueError, match="does not reach"):
        block_quantile(part, 0.9)
    with pytest.raises(ValueError, match="starts at 951"):
        tail_grid([part, block[:100]], 0.97)
