"""Tests, multiplicity corrections and the verdict rule of hvload.stats."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hvload.stats import NOT_ENOUGH_DATA, adjust_pvalues, analyze, samples_frame
from hvload.stats.compare import (
    _signed_rank_enumerated,
    comparison_pairs,
    friedman,
    page_trend,
    verdict,
    wilcoxon_rounds,
)
from hvload.stats.results import TestResult


def test_pairs_baseline_then_neighbours() -> None:
    assert comparison_pairs(4) == [
        (0, 1, "baseline, neighbour"),
        (0, 2, "baseline"),
        (0, 3, "baseline"),
        (1, 2, "neighbour"),
        (2, 3, "neighbour"),
    ]
    assert comparison_pairs(1) == []


def test_holm_by_hand() -> None:
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.005])
    got = adjust_pvalues(p, "holm")
    # Sorted 0.005, 0.01, 0.03, 0.04 with multipliers 4, 3, 2, 1.
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, np.nan, 0.02])


def test_bh_is_scipys() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), stats.false_discovery_control(p))
    np.testing.assert_allclose(adjust_pvalues(p, "none"), p)
    with pytest.raises(ValueError, match="correction must be one of"):
        adjust_pvalues(p, "sidak")


@pytest.mark.parametrize("seed", range(6))
def test_enumerated_signed_rank_matches_scipy_permutation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = rng.integers(-3, 5, 10).astype(float)
    d = d[d != 0]
    expected = stats.wilcoxon(d, method=stats.PermutationMethod())
    stat, p = _signed_rank_enumerated(d)
    assert stat == expected.statistic
    assert p == pytest.approx(expected.pvalue)


def test_wilcoxon_untied_uses_scipy_exact() -> None:
    d = np.array([1.5, -0.2, 2.3, 3.1, 0.7, 1.1, -0.4, 2.9, 1.8, 0.3])
    res = wilcoxon_rounds(np.zeros(10), d, "median", 0.05)
    assert res.pvalue == pytest.approx(stats.wilcoxon(d).pvalue)
    assert res.n_rounds == 10


def test_wilcoxon_all_zero_and_nan_rounds() -> None:
    x = np.arange(8.0)
    res = wilcoxon_rounds(x, x.copy(), "median", 0.05)
    assert (res.statistic, res.pvalue) == (0.0, 1.0)
    y = x.copy()
    y[:3] = np.nan
    res = wilcoxon_rounds(x, y, "median", 0.05)
    assert res.status == NOT_ENOUGH_DATA and res.n_rounds == 5


def test_friedman_and_page_match_scipy() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(size=(10, 4)) + np.arange(4) * 0.5
    f = friedman(m, "median")
    assert f.pvalue == pytest.approx(stats.friedmanchisquare(*m.T).pvalue)
    p = page_trend(m, "median")
    assert p.pvalue == pytest.approx(stats.page_trend_test(m).pvalue)
    flat = friedman(np.ones((5, 3)), "median")
    assert flat.pvalue == 1.0


def _ok() -> TestResult:
    return TestResult("wilcoxon", "median", 1.0, 0.001, 12, 2)


@pytest.mark.parametrize(
    ("p_adj", "change", "direction", "expected"),
    [
        (0.2, 0.05, 1.0, "no evidence"),
        (0.01, 0.005, 1.0, "negligible"),
        (0.01, -0.005, -1.0, "negligible"),
        (0.01, 0.02, 3.0, "slower"),
        (0.01, -0.02, -3.0, "faster"),
        (0.01, 0.02, -3.0, "no evidence"),
        (np.nan, 0.02, 1.0, "no evidence"),
    ],
)
def test_verdict_rule(p_adj: float, change: float, direction: float, expected: str) -> None:
    assert verdict(_ok(), p_adj, change, direction, alpha=0.05, threshold=0.01) == expected


def test_verdict_not_enough_data() -> None:
    bad = TestResult("wilcoxon", "median", np.nan, np.nan, 3, 2, NOT_ENOUGH_DATA, "few")
    assert verdict(bad, np.nan, 0.5, 1.0, alpha=0.05, threshold=0.01) == NOT_ENOUGH_DATA


def _shifted(factor: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    round_effect = rng.normal(0, 20, (12, 1))
    base = 2000 + round_effect + rng.normal(0, 30, (12, 400))
    other = factor * (2000 + round_effect) + rng.normal(0, 30, (12, 400))
    return {"0%": np.rint(base).astype(int), "100%": np.rint(other).astype(int)}


def test_end_to_end_slower_negligible_and_threshold() -> None:
    slower = analyze(samples_frame(_shifted(1.03)), n_boot=300)
    c = slower.comparison("0%", "100%", "median")
    assert c.verdict == "slower"
    assert c.effect == pytest.approx(1.03, abs=0.003)
    low, high = c.confidence_interval()
    assert low <= c.effect <= high
    assert c.cles > 0.5
    small = analyze(samples_frame(_shifted(1.005)), n_boot=0)
    assert small.comparison("0%", "100%").verdict == "negligible"
    strict = analyze(samples_frame(_shifted(1.005)), n_boot=0, threshold=0.001)
    assert strict.comparison("0%", "100%").verdict == "slower"
    faster = analyze(samples_frame(_shifted(0.97)), n_boot=0)
    assert faster.comparison("0%", "100%").verdict == "faster"


def test_p99_effect_is_a_difference_in_cycles_and_ns() -> None:
    result = analyze(samples_frame(_shifted(1.03)), n_boot=200, tsc_hz=2.0e9)
    c = result.comparison("0%", "100%", "p99")
    assert c.effect == pytest.approx(c.level_value - c.reference_value)
    assert c.effect_ns == pytest.approx(c.effect / 2.0)
    assert c.confidence_interval("ns").low == pytest.approx(c.effect_low / 2.0)
    assert c.relative_change == pytest.approx(
        c.effect / result.comparison("0%", "100%", "median").reference_value
    )


def test_unpaired_noise_does_not_mislead_the_pooled_tests() -> None:
    # The point of block-level tests: every block sits at its own offset, with
    # no true difference between levels. A test on pooled samples takes 24,000
    # samples as independent and calls the chance difference between the
    # blocks' offsets significant; the test on 12 paired rounds does not.
    rng = np.random.default_rng(11)
    blocks = {
        "0%": np.rint(2000 + rng.normal(0, 40, (12, 1)) + rng.normal(0, 5, (12, 2000))),
        "100%": np.rint(2000 + rng.normal(0, 40, (12, 1)) + rng.normal(0, 5, (12, 2000))),
    }
    result = analyze(samples_frame({k: v.astype(int) for k, v in blocks.items()}), n_boot=0)
    naive = stats.mannwhitneyu(blocks["0%"].ravel(), blocks["100%"].ravel())
    assert naive.pvalue < 1e-6
    assert result.comparison("0%", "100%").verdict in ("no evidence", "negligible")
