"""Per-level summaries, the outlier rule and exclusions of hvload.stats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvload.stats import STATISTICS, analyze, describe, samples_frame
from hvload.stats.blocks import (
    Counts,
    cles,
    pooled_counts,
    quantiles,
    segment_quantiles,
    sort_by_cell,
)


def _reference(values: np.ndarray) -> dict[str, float]:
    q = np.quantile(values, [0, 0.5, 0.9, 0.99, 0.999, 0.9999, 1, 0.25, 0.75])
    median = q[1]
    return {
        "min": q[0],
        "mean": values.mean(),
        "median": median,
        "p90": q[2],
        "p99": q[3],
        "p99.9": q[4],
        "p99.99": q[5],
        "max": q[6],
        "iqr": q[8] - q[7],
        "mad": np.median(np.abs(values - median)),
    }


@given(st.lists(st.integers(-5, 3000), min_size=1, max_size=300))
@settings(max_examples=60, deadline=None)
def test_describe_matches_numpy(values: list[int]) -> None:
    arr = np.asarray(values, dtype=np.int64)
    got = describe(arr, tsc_hz=2.0e9)
    ref = _reference(arr)
    assert got["n"] == arr.size
    for name in STATISTICS:
        assert got[name] == pytest.approx(ref[name], rel=1e-12, abs=1e-9), name
        assert got[f"{name}_ns"] == pytest.approx(ref[name] / 2.0, rel=1e-12, abs=1e-9)


def test_describe_without_tsc_has_nan_ns() -> None:
    got = describe([5, 6, 7])
    assert got["median"] == 6
    assert np.isnan(got["median_ns"])


@given(
    st.lists(st.lists(st.integers(0, 60), min_size=0, max_size=30), min_size=1, max_size=6),
    st.floats(0, 1),
)
@settings(max_examples=60, deadline=None)
def test_block_quantiles_and_pooled_counts(blocks: list[list[int]], q: float) -> None:
    values = np.concatenate([np.asarray(b, dtype=np.int64) for b in blocks])
    cell = np.concatenate([np.full(len(b), i, dtype=np.intp) for i, b in enumerate(blocks)])
    seg = sort_by_cell(values, cell, len(blocks))
    got = segment_quantiles(seg, q)
    for i, b in enumerate(blocks):
        if b:
            assert got[i] == pytest.approx(np.quantile(b, q))
        else:
            assert np.isnan(got[i])
    pooled = pooled_counts(seg, range(len(blocks)))
    assert pooled.n == values.size
    if values.size:
        assert quantiles(pooled, [q])[0] == pytest.approx(np.quantile(values, q))


def test_cles_matches_brute_force() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 20, 300)
    b = rng.integers(2, 22, 200)
    brute = np.mean(b[:, None] > a[None, :]) + 0.5 * np.mean(b[:, None] == a[None, :])

    def counts(x: np.ndarray) -> Counts:
        v, c = np.unique(x, return_counts=True)
        return Counts(v, c)

    assert cles(counts(a), counts(b)) == pytest.approx(brute)
    assert cles(counts(a), counts(a)) == pytest.approx(0.5)


def _flagged_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    blocks = {lab: rng.integers(1000, 1021, (8, 200)) for lab in ("idle", "busy", "max")}
    frame = samples_frame(blocks, warmup=10)
    # One extreme sample per block: 50,000 cycles is thousands of MADs out.
    first_real = frame["sample"] == 100
    frame.loc[first_real, "cycles"] = 50_000
    frame.loc[frame["sample"] == 150, "migrated"] = True
    return frame


def test_flags_are_counted_and_only_warmup_excluded_by_default() -> None:
    frame = _flagged_frame()
    default = analyze(frame).levels.iloc[0]
    assert default["n_excluded"] == 8 * 10 and default["n"] == 8 * 190
    result = analyze(frame, exclude=())
    row = result.levels.iloc[0]
    assert row["n"] == row["n_total"] == 8 * 200
    assert row["n_excluded"] == 0
    assert row["flagged_warmup"] == 8 * 10
    assert row["flagged_migrated"] == 8
    assert row["flagged_outlier"] == 8
    assert row["flagged_share"] == pytest.approx((80 + 8 + 8) / 1600)
    assert row["max"] == 50_000


def test_exclusion_drops_exactly_the_flagged_samples() -> None:
    frame = _flagged_frame()
    result = analyze(frame, exclude=("warmup", "outlier", "migrated"))
    row = result.levels.iloc[0]
    assert row["n_excluded"] == 96
    assert row["n"] == 1600 - 96
    assert row["max"] <= 1020
    kept = frame[(frame["level"] == "idle") & (frame["sample"] >= 10)]
    kept = kept[(kept["cycles"] < 50_000) & ~kept["migrated"]]
    assert row["median"] == pytest.approx(np.median(kept["cycles"]))
    assert result.settings["exclude"] == ["warmup", "outlier", "migrated"]


def test_outlier_rule_uses_scaled_mad_with_k() -> None:
    # Median 100, MAD 1 -> scale 1.4826; with k=10 the limits are 100 +- 14.8.
    base = np.array([99, 100, 101] * 20)
    blocks = {"a": np.tile(np.concatenate([base, [114, 115, 86, 85]]), (6, 1))}
    result = analyze(samples_frame(blocks))
    assert result.levels.iloc[0]["flagged_outlier"] == 6 * 2
    loose = analyze(samples_frame(blocks), outlier_k=20)
    assert loose.levels.iloc[0]["flagged_outlier"] == 0


def test_level_ci_brackets_the_typical_block() -> None:
    rng = np.random.default_rng(3)
    blocks = {"a": rng.integers(1000, 1100, (12, 300)), "b": rng.integers(1000, 1100, (12, 300))}
    result = analyze(samples_frame(blocks), tsc_hz=1e9)
    s = result.level("a")
    low, high = s.confidence_interval("median")
    assert low <= s["block_median"] <= high
    per_block = np.sort(np.median(blocks["a"], axis=1))
    # 12 blocks at 95 %: the 3rd smallest and 3rd largest block medians (coverage 96.1 %).
    assert (low, high) == (per_block[2], per_block[9])
    assert s["block_median"] == pytest.approx(np.median(per_block))
    low_ns, high_ns = s.confidence_interval("p99", unit="ns")
    assert low_ns == pytest.approx(s["block_p99_ci_low"])
    assert low_ns <= s["block_p99_ns"] <= high_ns
    with pytest.raises(ValueError, match="statistic must be"):
        s.confidence_interval("mean")
