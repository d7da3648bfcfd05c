"""The block bootstrap's pooled quantiles against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hvload.stats.bootstrap import (
    percentile_interval,
    pooled_quantile_replicates,
    round_weights,
)


def _brute(blocks: list[np.ndarray], weights: np.ndarray, q: float) -> np.ndarray:
    out = []
    for w in weights:
        pooled = np.concatenate([np.tile(b, int(m)) for b, m in zip(blocks, w, strict=True)])
        out.append(np.quantile(pooled, q) if pooled.size else np.nan)
    return np.array(out)


@given(
    st.lists(st.lists(st.integers(0, 40), max_size=25), min_size=1, max_size=7),
    st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.99, 1.0]),
    st.integers(0, 2**32 - 1),
)
@settings(max_examples=80, deadline=None)
def test_replicates_are_exact(raw: list[list[int]], q: float, seed: int) -> None:
    blocks = [np.sort(np.asarray(b, dtype=np.int64)) for b in raw]
    weights = round_weights(len(blocks), 25, np.random.default_rng(seed))
    got = pooled_quantile_replicates(blocks, weights, q)
    np.testing.assert_allclose(got, _brute(blocks, weights, q), rtol=0, atol=1e-9)


def test_weights_resample_rounds() -> None:
    w = round_weights(10, 1000, np.random.default_rng(0))
    assert w.shape == (1000, 10)
    assert (w.sum(axis=1) == 10).all()
    assert w.mean() == pytest.approx(1.0, abs=0.05)


def test_coarse_grid_error_is_within_one_step() -> None:
    rng = np.random.default_rng(5)
    # Wide spread: the p99 window holds far more distinct values than max_grid.
    blocks = [np.sort(rng.integers(0, 10**7, 5000)) for _ in range(10)]
    weights = round_weights(10, 40, rng)
    exact = _brute(blocks, weights, 0.99)
    rough = pooled_quantile_replicates(blocks, weights, 0.99, max_grid=64)
    lo = min(b[int(0.99 * (b.size - 1))] for b in blocks)
    hi = max(b[min(int(0.99 * (b.size - 1)) + 2, b.size - 1)] for b in blocks)
    window = np.unique(np.concatenate([b[(b >= lo) & (b <= hi)] for b in blocks]))
    grid = window[np.unique(np.linspace(0, window.size - 1, 64).round().astype(int))]
    step = np.diff(grid).max()
    assert np.all(rough >= exact - 1e-9)
    assert np.all(rough - exact <= step)


def test_empty_blocks_and_no_data() -> None:
    empty = [np.zeros(0, dtype=np.int64)] * 3
    w = round_weights(3, 5, np.random.default_rng(0))
    assert np.isnan(pooled_quantile_replicates(empty, w, 0.5)).all()


def test_percentile_interval_needs_two_values() -> None:
    assert np.isnan(percentile_interval(np.array([1.0, np.nan]), 0.95)).all()
    low, high = percentile_interval(np.arange(101.0), 0.9)
    assert (low, high) == pytest.approx((5.0, 95.0))


def test_paired_replicates_cancel_round_effects() -> None:
    # Two levels that differ by exactly +10 cycles in every round, with large
    # differences between rounds: the paired bootstrap ratio barely moves.
    rng = np.random.default_rng(2)
    round_level = rng.integers(0, 5000, 12)
    a = [np.sort(1000 + r + rng.integers(0, 3, 200)) for r in round_level]
    b = [x + 10 for x in a]
    w = round_weights(12, 300, rng)
    diff = pooled_quantile_replicates(b, w, 0.5) - pooled_quantile_replicates(a, w, 0.5)
    assert np.allclose(diff, 10)
