"""Bad input to hvload.stats gives a clear error or an explicit 'not enough data'."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from hvload.stats import NOT_ENOUGH_DATA, analyze, describe, samples_frame


def _frame(n_rounds: int = 8, n_levels: int = 3, n: int = 50, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    labels = [f"{25 * i}%" for i in range(n_levels)]
    return samples_frame({lab: rng.integers(1000, 1100, (n_rounds, n)) for lab in labels})


@pytest.mark.parametrize("column", ["cycles", "round", "level", "level_index"])
def test_missing_column_is_named(column: str) -> None:
    frame = _frame().drop(columns=[column])
    with pytest.raises(ValueError, match=rf"lacks column\(s\) \['{column}'\].*required"):
        analyze(frame)


def test_empty_table() -> None:
    with pytest.raises(ValueError, match="empty"):
        analyze(_frame().iloc[:0])


def test_nan_cycles_named() -> None:
    frame = _frame()
    frame["cycles"] = frame["cycles"].astype(float)
    frame.loc[5, "cycles"] = np.nan
    with pytest.raises(ValueError, match=r"'cycles' has 1 missing"):
        analyze(frame)


def test_non_numeric_cycles() -> None:
    frame = _frame()
    frame["cycles"] = frame["cycles"].astype(str)
    with pytest.raises(ValueError, match=r"'cycles' must hold integers, got dtype"):
        analyze(frame)


def test_fractional_cycles() -> None:
    frame = _frame()
    frame["cycles"] = frame["cycles"] + 0.25
    with pytest.raises(ValueError, match="non-integer value"):
        analyze(frame)


def test_integral_floats_are_accepted() -> None:
    frame = _frame()
    frame["cycles"] = frame["cycles"].astype(float)
    assert analyze(frame).levels["n"].sum() == len(frame)


def test_nullable_integers_are_accepted() -> None:
    frame = _frame()
    frame["cycles"] = frame["cycles"].astype("Int64")
    assert analyze(frame).levels["n"].sum() == len(frame)


def test_bad_flag_column() -> None:
    frame = _frame()
    frame["warmup"] = "yes"
    with pytest.raises(ValueError, match="'warmup' must be boolean"):
        analyze(frame)


def test_level_label_and_index_must_agree() -> None:
    frame = _frame()
    frame.loc[frame.index[-1], "level"] = "0%"
    with pytest.raises(ValueError, match="'level' and 'level_index' must pair one-to-one"):
        analyze(frame)


def test_block_must_be_unique_per_round_and_level() -> None:
    frame = _frame()
    frame.loc[frame.index[-1], "block"] = 0
    with pytest.raises(ValueError, match="'block' must be unique per"):
        analyze(frame)


@pytest.mark.parametrize(
    ("option", "value", "match"),
    [
        ("threshold", -0.1, "threshold"),
        ("correction", "bonferroni", "correction='bonferroni' is not allowed"),
        ("alpha", 1.5, "alpha"),
        ("alpha", float("nan"), "alpha"),
        ("n_sim", -1, "n_sim"),
        ("exclude", ["cosmic rays"], "cannot exclude 'cosmic rays'"),
        ("outlier_k", 0, "outlier_k"),
        ("tsc_hz", -3.0, "tsc_hz"),
        ("metric", "latency", "metric='latency' is not allowed"),
        ("baseline", "200%", "baseline='200%' is not a level"),
        ("bogus", 1, "unknown analysis option"),
    ],
)
def test_bad_options(option: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        analyze(_frame(), **{option: value})


def test_not_a_table() -> None:
    with pytest.raises(ValueError, match="expected a campaign"):
        analyze([1, 2, 3])


def test_single_round_gives_not_enough_data() -> None:
    result = analyze(_frame(n_rounds=1))
    assert (result.comparisons["verdict"] == NOT_ENOUGH_DATA).all()
    assert result.comparisons["pvalue"].isna().all()
    for test in [*result.omnibus.values(), *result.trend.values()]:
        assert test.status == NOT_ENOUGH_DATA
        assert np.isnan(test.pvalue)
        assert "at least 2" in test.message
    assert result.levels["block_median_ci_low"].isna().all()
    assert result.levels["message"].str.contains("too few for a 95% interval").all()


def test_too_few_rounds_to_reach_alpha() -> None:
    # 3 levels: 6 tests under Holm need 2**(1 - n) * 6 < 0.05, i.e. n >= 8 rounds.
    result = analyze(_frame(n_rounds=7))
    assert (result.comparisons["verdict"] == NOT_ENOUGH_DATA).all()
    assert "needs at least 8 rounds" in result.comparisons["message"].iloc[0]
    assert not result.design["can_decide"] and result.design["rounds_needed"] == 8
    assert any("cannot reach a verdict" in n for n in result.notes)


def test_two_levels_have_no_omnibus() -> None:
    result = analyze(_frame(n_levels=2))
    assert result.omnibus["median"].status == NOT_ENOUGH_DATA
    assert "at least 3 levels" in result.omnibus["median"].message
    assert len(result.comparisons) == 2


def test_level_emptied_by_exclusion() -> None:
    frame = _frame()
    frame["warmup"] = frame["level"] == "50%"
    result = analyze(frame, exclude="warmup")
    row = result.levels.set_index("level").loc["50%"]
    assert row["status"] == NOT_ENOUGH_DATA
    assert row["n"] == 0 and row["n_excluded"] == row["n_total"]
    assert np.isnan(row["median"])
    involved = result.comparisons[
        (result.comparisons["level"] == "50%") | (result.comparisons["reference"] == "50%")
    ]
    assert (involved["verdict"] == NOT_ENOUGH_DATA).all()
    others = result.comparisons[result.comparisons["level"] == "25%"]
    assert (others["verdict"] != NOT_ENOUGH_DATA).all()
    assert (others["n_rounds"] == 8).all()
    # Two levels with data remain: too few for Friedman, which needs three.
    assert result.omnibus["median"].status == NOT_ENOUGH_DATA
    assert result.omnibus["median"].n_levels == 2
    assert any("have no analysed samples" in n for n in result.notes)


def test_incomplete_round_is_left_out_of_tests() -> None:
    frame = _frame(n_rounds=9)
    frame = frame[~((frame["round"] == 8) & (frame["level"] == "25%"))]
    result = analyze(frame)
    assert result.design["n_complete_rounds"] == 8
    comp = result.comparisons
    involved = (comp["level"] == "25%") | (comp["reference"] == "25%")
    # A comparison pairs the rounds that hold both of its levels.
    assert (comp.loc[involved, "n_rounds"] == 8).all()
    assert (comp.loc[~involved, "n_rounds"] == 9).all()
    assert any("lack a level" in n for n in result.notes)
    assert result.levels.set_index("level").loc["0%", "n_blocks"] == 9


def test_campaign_object_and_metadata_tsc() -> None:
    campaign = SimpleNamespace(samples=_frame(), blocks=None, metadata={"tsc_hz": 2.0e9})
    result = analyze(campaign)
    assert result.design["tsc_hz"] == 2.0e9
    row = result.levels.iloc[0]
    assert row["median_ns"] == pytest.approx(row["median"] / 2.0)
    override = analyze(campaign, tsc_hz=1.0e9)
    assert override.levels.iloc[0]["median_ns"] == pytest.approx(row["median"])


def test_missing_tsc_gives_nan_ns_and_a_note() -> None:
    result = analyze(_frame())
    assert result.levels["median_ns"].isna().all()
    assert any("no TSC frequency" in n for n in result.notes)


def test_shuffled_rows_give_the_same_answer() -> None:
    frame = _frame(seed=3)
    shuffled = frame.sample(frac=1.0, random_state=1)
    a = analyze(frame)
    b = analyze(shuffled)
    pd.testing.assert_frame_equal(a.levels, b.levels)
    pd.testing.assert_frame_equal(a.comparisons, b.comparisons)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ([], "empty"),
        ([[1, 2]], "1-D"),
        ([1.0, np.nan], "NaN"),
        (["a", "b"], "numeric"),
        ([1.5, 2.0], "non-integer"),
    ],
)
def test_describe_rejects(values: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        describe(values)


def test_single_level_has_summary_but_nothing_to_compare() -> None:
    result = analyze(_frame(n_levels=1))
    assert len(result.levels) == 1
    assert result.comparisons.empty
    assert "verdict" in result.comparisons.columns
    assert "nothing to compare" in result.to_text()
