"""Tests, intervals, multiplicity corrections and the verdict rule of hvload.stats."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hvload.stats import NOT_ENOUGH_DATA, Verdict, adjust_pvalues, analyze, samples_frame
from hvload.stats.compare import friedman, page_trend, paired_rounds, verdict
from hvload.stats.design import check_design, comparison_pairs, family_size, rounds_needed
from hvload.stats.intervals import median_interval, order_statistic_rank
from hvload.stats.ranks import hodges_lehmann, signed_rank_critical, signed_rank_test


def test_pairs_baseline_then_neighbours() -> None:
    assert comparison_pairs(4) == [
        (0, 1, "baseline, neighbour"),
        (0, 2, "baseline"),
        (0, 3, "baseline"),
        (1, 2, "neighbour"),
        (2, 3, "neighbour"),
    ]
    assert comparison_pairs(1) == []


def test_pairs_with_a_baseline_in_the_middle() -> None:
    assert comparison_pairs(4, baseline=2) == [
        (2, 0, "baseline"),
        (2, 1, "baseline, neighbour"),
        (2, 3, "baseline, neighbour"),
        (0, 1, "neighbour"),
    ]
    with pytest.raises(ValueError, match="baseline index 4"):
        comparison_pairs(4, baseline=4)


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


@pytest.mark.parametrize("n", [6, 9, 12, 20, 40])
def test_signed_rank_untied_matches_scipy_exact(n: int) -> None:
    d = np.random.default_rng(n).normal(0.3, 1.0, n)
    statistic, pvalue = signed_rank_test(d)
    ref = stats.wilcoxon(d, method="exact")
    assert statistic == ref.statistic
    assert pvalue == pytest.approx(ref.pvalue, rel=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_signed_rank_with_ties_matches_scipy_permutation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = rng.integers(-3, 5, 10).astype(float)
    d = d[d != 0]
    expected = stats.wilcoxon(d, method=stats.PermutationMethod())
    statistic, pvalue = signed_rank_test(d)
    assert statistic == expected.statistic
    assert pvalue == pytest.approx(expected.pvalue)


def test_signed_rank_all_zero() -> None:
    assert signed_rank_test(np.zeros(8)) == (0.0, 1.0)


def test_hodges_lehmann_interval_by_hand() -> None:
    d = np.array([-0.5, 0.1, 0.4, 0.9, 1.3, 2.0])
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(6) for j in range(i, 6)])
    estimate, low, high = hodges_lehmann(d, 0.95)
    assert estimate == pytest.approx(np.median(walsh))
    # n = 6: only c = 0 keeps 2 P(T <= c) = 2/64 <= 0.05, so the interval is min..max.
    assert signed_rank_critical(6, 0.95) == 0
    assert (low, high) == (walsh[0], walsh[-1])
    assert math.isnan(hodges_lehmann(d[:5], 0.95)[1])


def test_hodges_lehmann_interval_is_the_test_inverted() -> None:
    # The interval excludes a shift exactly when the test rejects it.
    d = np.random.default_rng(5).normal(0.2, 1.0, 14)
    _, low, high = hodges_lehmann(d, 0.95)
    for shift in np.linspace(low - 0.3, high + 0.3, 41):
        if abs(shift - low) < 1e-9 or abs(shift - high) < 1e-9:
            continue
        p = signed_rank_test(d - shift)[1]
        assert (p < 0.05) == (shift < low or shift > high)


def test_order_statistic_interval() -> None:
    assert order_statistic_rank(12, 0.95) == 3
    assert order_statistic_rank(5, 0.95) == 0
    x = np.arange(12.0)[::-1]
    assert median_interval(x, 0.95) == (5.5, 2.0, 9.0)
    est, low, high = median_interval(np.arange(5.0), 0.95)
    assert est == 2.0 and math.isnan(low) and math.isnan(high)
    coverage = 1 - 2 * stats.binom.cdf(2, 12, 0.5)
    assert coverage == pytest.approx(0.9614, abs=1e-4)


def test_friedman_statistic_is_scipys_and_permutation_p_is_close() -> None:
    rng = np.random.default_rng(0)
    m = rng.normal(size=(20, 4)) + np.arange(4) * 0.4
    f = friedman(m, "median", rng=np.random.default_rng(1))
    ref = stats.friedmanchisquare(*m.T)
    assert f.statistic == pytest.approx(ref.statistic)
    # With 20 rounds the chi-square approximation is fair; the permutation p agrees.
    assert f.pvalue == pytest.approx(ref.pvalue, abs=0.01)
    p = page_trend(m, "median")
    assert p.pvalue == pytest.approx(stats.page_trend_test(m).pvalue)
    assert friedman(np.ones((5, 3)), "median").pvalue == 1.0


def test_friedman_permutation_holds_its_level_with_few_rounds() -> None:
    # Under the null the permutation p-value is (super-)uniform even with 3 rounds,
    # where the chi-square approximation is anti-conservative.
    rng = np.random.default_rng(2)
    ps = np.array(
        [friedman(rng.normal(size=(3, 5)), "median", n_resamples=199, rng=rng).pvalue
         for _ in range(400)]
    )  # fmt: skip
    assert np.mean(ps < 0.05) <= 0.07


@pytest.mark.parametrize(
    ("p_adj", "est", "low", "high", "expected"),
    [
        (0.2, 0.05, -0.01, 0.10, Verdict.NO_EVIDENCE),
        (0.01, 0.004, 0.001, 0.008, Verdict.NEGLIGIBLE),
        (0.3, 0.001, -0.006, 0.009, Verdict.NEGLIGIBLE),
        (0.01, 0.02, 0.005, 0.04, Verdict.SLOWER),
        (0.01, -0.02, -0.04, -0.005, Verdict.FASTER),
        (0.01, 0.006, 0.002, 0.015, Verdict.INCONCLUSIVE),
        (0.2, 0.006, -0.002, 0.015, Verdict.NO_EVIDENCE),
        (np.nan, 0.02, 0.01, 0.03, Verdict.NOT_ENOUGH_DATA),
        (0.01, 0.02, np.nan, np.nan, Verdict.NOT_ENOUGH_DATA),
    ],
)
def test_verdict_rule(p_adj: float, est: float, low: float, high: float, expected: Verdict) -> None:
    assert verdict(p_adj, est, low, high, alpha=0.05, threshold=0.01) is expected


def test_verdict_enum_reads_as_text() -> None:
    assert Verdict.SLOWER == "slower" and "slower" in {Verdict.SLOWER}
    assert str(Verdict.NO_EVIDENCE) == "no evidence"
    assert NOT_ENOUGH_DATA is Verdict.NOT_ENOUGH_DATA
    assert Verdict.FASTER.is_difference and not Verdict.NEGLIGIBLE.is_difference


def test_design_check_and_rounds_needed() -> None:
    assert family_size(5) == 14 and family_size(6) == 18 and family_size(2) == 2
    # 14 tests: 14 * 2**(1 - n) < 0.05 first at n = 10 (0.027); 9 gives 0.055.
    assert rounds_needed(5) == 10
    assert rounds_needed(5, correction="bh") == 6 == rounds_needed(5, correction="none")
    check = check_design(5, 8)
    assert not check.can_decide and check.rounds_needed == 10
    assert check.best_pvalue == pytest.approx(14 * 2.0**-7)
    assert "at least 10 rounds" in check.message
    assert check_design(5, 10).can_decide and check_design(5, 10).message == ""
    assert not check_design(1, 40).can_decide
    with pytest.raises(ValueError, match="n_rounds=0"):
        check_design(3, 0)


def test_paired_rounds_drops_missing_rounds() -> None:
    ref = np.array([100.0, 101, 99, np.nan, 100, 102, 98, 100])
    lvl = ref * 1.05
    res = paired_rounds(ref, lvl, "median", confidence=0.95)
    assert res.test.n_rounds == 7
    assert res.estimate == pytest.approx(math.log(1.05))


def _shifted(factor: float, seed: int = 0, rounds: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    round_effect = rng.normal(0, 20, (rounds, 1))
    base = 2000 + round_effect + rng.normal(0, 30, (rounds, 400))
    other = factor * (2000 + round_effect) + rng.normal(0, 30, (rounds, 400))
    return {"0%": np.rint(base).astype(int), "100%": np.rint(other).astype(int)}


def test_end_to_end_slower_negligible_faster_and_threshold() -> None:
    slower = analyze(samples_frame(_shifted(1.03)))
    c = slower.comparison("0%", "100%", "median")
    assert c.verdict is Verdict.SLOWER
    assert c.effect == pytest.approx(1.03, abs=0.003)
    assert c.relative_change == pytest.approx(c.effect - 1)
    low, high = c.confidence_interval()
    assert low <= c.effect <= high
    assert c.cles > 0.5
    small = analyze(samples_frame(_shifted(1.002)))
    assert small.comparison("0%", "100%").verdict is Verdict.NEGLIGIBLE
    strict = analyze(samples_frame(_shifted(1.005)), threshold=0.001)
    assert strict.comparison("0%", "100%").verdict is Verdict.SLOWER
    faster = analyze(samples_frame(_shifted(0.97)))
    assert faster.comparison("0%", "100%").verdict is Verdict.FASTER


def test_p99_change_is_relative_to_the_reference_p99() -> None:
    result = analyze(samples_frame(_shifted(1.03)), tsc_hz=2.0e9)
    c = result.comparison("0%", "100%", "p99")
    assert c.relative_change == pytest.approx(c.effect - 1)
    assert c.change == pytest.approx(c.reference_value * c.relative_change)
    assert c.change_ns == pytest.approx(c.change / 2.0)
    assert c.confidence_interval("ns").low == pytest.approx(c.change_low / 2.0)
    # The reference value is the typical block p99, not the median.
    assert c.reference_value > result.comparison("0%", "100%", "median").reference_value
    with pytest.raises(ValueError, match="unit="):
        c.confidence_interval("percent")


def test_unpaired_noise_does_not_mislead_the_block_tests() -> None:
    # The point of block-level tests: every block sits at its own offset, with
    # no true difference between levels. A test on pooled samples takes 24,000
    # samples as independent and calls the chance difference between the
    # blocks' offsets significant; the test on 12 paired rounds does not.
    rng = np.random.default_rng(11)
    blocks = {
        "0%": np.rint(2000 + rng.normal(0, 40, (12, 1)) + rng.normal(0, 5, (12, 2000))),
        "100%": np.rint(2000 + rng.normal(0, 40, (12, 1)) + rng.normal(0, 5, (12, 2000))),
    }
    result = analyze(samples_frame({k: v.astype(int) for k, v in blocks.items()}))
    naive = stats.mannwhitneyu(blocks["0%"].ravel(), blocks["100%"].ravel())
    assert naive.pvalue < 1e-6
    assert not result.comparison("0%", "100%").verdict.is_difference


def test_gate_removes_claims_when_friedman_does_not_reject() -> None:
    rng = np.random.default_rng(4)
    base = 2000 + rng.normal(0, 30, (12, 1)) + rng.normal(0, 2, (12, 300))
    levels = {f"{k}": np.rint(base + rng.normal(0, 30, (12, 1))).astype(int) for k in range(4)}
    frame = samples_frame(levels)
    gated = analyze(frame)
    open_ = analyze(frame, gate=False)
    for on in ("median", "p99"):
        if gated.omnibus[on].pvalue >= 0.05:
            rows = gated.comparisons[gated.comparisons["on"] == on]
            assert not rows["verdict"].isin(["slower", "faster", "inconclusive"]).any()
    assert (open_.comparisons["pvalue"] == gated.comparisons["pvalue"]).all()
