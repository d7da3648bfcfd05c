"""Tests between levels on block statistics, multiplicity correction and verdicts.

The unit of replication is the round: each round holds one block of every
level, so a block statistic (median or p99) gives a ``rounds x levels`` matrix
and every test is paired over rounds. Samples never enter a test directly:
millions of autocorrelated samples would make any difference "significant".

Verdict rule
------------
For each comparison, with ``p`` its family-adjusted p-value, ``[low, high]`` the
``1 - alpha`` signed-rank interval of the relative change, ``est`` its
Hodges-Lehmann estimate and ``t`` the practical threshold:

* ``not enough data`` -- the design cannot reach ``alpha`` for this family
  (too few rounds: :func:`hvload.stats.check_design` says how many would), or
  the comparison lacks the rounds for a test or an interval;
* ``negligible`` -- the interval lies inside ``(-t, +t)``: whatever changed, it
  is smaller than the threshold (an equivalence statement, significant or not);
* ``slower`` / ``faster`` -- ``p < alpha``, the interval excludes 0 and
  ``|est| >= t``, with the sign of the estimate;
* ``inconclusive`` -- ``p < alpha`` and the interval excludes 0, but the
  estimate is below the threshold while the interval reaches beyond it: a
  change is shown, whether it matters is not;
* ``no evidence`` -- everything else: no significant change, and no interval
  narrow enough to call it negligible.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .ranks import hodges_lehmann, signed_rank_test
from .results import CORRECTIONS, NOT_ENOUGH_DATA, TestResult, Verdict

__all__ = [
    "PairedResult",
    "adjust_pvalues",
    "friedman",
    "friedman_null",
    "friedman_ranks",
    "friedman_score",
    "gate_closes",
    "page_trend",
    "paired_rounds",
    "permutation_pvalue",
    "verdict",
]


def _not_enough(test: str, on: str, n_rounds: int, n_levels: int, why: str) -> TestResult:
    return TestResult(test, on, math.nan, math.nan, n_rounds, n_levels, NOT_ENOUGH_DATA, why)


def _too_small(test: str, on: str, n_rounds: int, n_levels: int) -> TestResult | None:
    """The "not enough data" result of a rank test over rounds x levels, if it applies."""
    if n_levels < 3:
        return _not_enough(test, on, n_rounds, n_levels, f"needs at least 3 levels, has {n_levels}")
    if n_rounds < 2:
        return _not_enough(
            test, on, n_rounds, n_levels, f"needs at least 2 complete rounds, has {n_rounds}"
        )
    return None


def friedman(
    matrix: np.ndarray, on: str, *, n_resamples: int = 9999, rng: np.random.Generator | None = None
) -> TestResult:
    """Friedman test over a complete rounds x levels matrix, with a permutation p-value.

    The statistic is scipy's (chi-square form, tie-corrected). The p-value comes
    from ``n_resamples`` random permutations of the levels inside every round,
    ``(1 + #{permuted >= observed}) / (1 + n_resamples)``, so it is valid with few
    rounds, where the chi-square approximation is not. (Friedman's statistic is
    an increasing function of the sum of squared rank sums, and its tie
    correction is the same for every within-round permutation, so the sums are
    what is permuted.)
    """
    n_rounds, n_levels = matrix.shape
    small = _too_small("friedman", on, n_rounds, n_levels)
    if small is not None:
        return small
    if np.all(matrix == matrix[:, :1]):
        return TestResult(
            "friedman", on, 0.0, 1.0, n_rounds, n_levels, message="every round ranks levels equal"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        statistic = float(stats.friedmanchisquare(*matrix.T).statistic)
    rng = rng if rng is not None else np.random.default_rng(0)
    ranks = friedman_ranks(matrix)
    null = friedman_null(ranks, n_resamples, rng)
    pvalue = float(permutation_pvalue(np.sort(null), friedman_score(ranks)))
    return TestResult(
        "friedman", on, statistic, pvalue, n_rounds, n_levels, "ok",
        f"permutation p-value ({n_resamples} within-round permutations)",
    )  # fmt: skip


def friedman_ranks(matrix: np.ndarray) -> np.ndarray:
    """Ranks of the levels inside each round: the last axis of ``(..., rounds, levels)``."""
    return stats.rankdata(matrix, axis=-1)


def friedman_score(ranks: np.ndarray) -> np.ndarray:
    """Sum of the squared rank sums of the levels, for ``(..., rounds, levels)`` ranks.

    Friedman's statistic is an increasing function of it, and its tie correction is the
    same for every within-round permutation, so the permutation test can use it instead.
    """
    return (ranks.sum(axis=-2) ** 2).sum(axis=-1)


def friedman_null(ranks: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """:func:`friedman_score` of ``n_resamples`` random within-round permutations of ``ranks``."""
    n_rounds, n_levels = ranks.shape
    out = np.empty(n_resamples)
    batch = max(1, 2_000_000 // ranks.size)
    for start in range(0, n_resamples, batch):
        size = min(batch, n_resamples - start)
        perm = np.argsort(rng.random((size, n_rounds, n_levels)), axis=2)
        out[start : start + size] = friedman_score(
            np.take_along_axis(np.broadcast_to(ranks, perm.shape), perm, axis=2)
        )
    return out


def permutation_pvalue(sorted_null: np.ndarray, observed: np.ndarray | float) -> np.ndarray:
    """``(1 + #{null >= observed}) / (1 + #null)`` for each observed score.

    Scores of whole-number (or half) ranks are exact in float64; the 1e-9 keeps an equal
    permuted score counted.
    """
    below = np.searchsorted(sorted_null, np.asarray(observed) - 1e-9, side="left")
    return (1 + sorted_null.size - below) / (1 + sorted_null.size)


def gate_closes(pvalue: np.ndarray | float, alpha: float) -> np.ndarray:
    """Whether a Friedman test that ran holds back the per-pair verdicts: it does not reject.

    :func:`hvload.stats.analyze` and the power simulation (:mod:`hvload.stats.power`)
    both decide the gate here.
    """
    return ~(np.asarray(pvalue) < alpha)


def page_trend(matrix: np.ndarray, on: str) -> TestResult:
    """Page's test that block statistics increase with load (columns in load order)."""
    n_rounds, n_levels = matrix.shape
    small = _too_small("page", on, n_rounds, n_levels)
    if small is not None:
        return small
    res = stats.page_trend_test(matrix)
    if not np.isfinite(res.pvalue):
        return _not_enough("page", on, n_rounds, n_levels, "statistic undefined")
    return TestResult(
        "page",
        on,
        float(res.statistic),
        float(res.pvalue),
        n_rounds,
        n_levels,
        "ok",
        f"one-sided (increasing with load), {res.method} p-value",
    )


@dataclass(frozen=True)
class PairedResult:
    """Test, estimate and interval of one vector of per-round log differences."""

    test: TestResult
    estimate: float
    low: float
    high: float


def paired_rounds(
    reference: np.ndarray, level: np.ndarray, on: str, *, confidence: float
) -> PairedResult:
    """Signed-rank test, Hodges-Lehmann estimate and interval of ``log(level / reference)``.

    Rounds where either value is missing or not positive are dropped.
    """
    ok = np.isfinite(reference) & np.isfinite(level) & (reference > 0) & (level > 0)
    d = np.log(level[ok]) - np.log(reference[ok])
    n = int(d.size)
    if n < 2:
        test = _not_enough("wilcoxon", on, n, 2, f"{n} paired round(s); a test needs at least 2")
        return PairedResult(test, math.nan, math.nan, math.nan)
    statistic, pvalue = signed_rank_test(d)
    zeros = int(np.count_nonzero(d == 0))
    message = f"{zeros} zero difference(s) dropped from the test" if zeros else ""
    estimate, low, high = hodges_lehmann(d, confidence)
    return PairedResult(
        TestResult("wilcoxon", on, statistic, pvalue, n, 2, "ok", message), estimate, low, high
    )


def adjust_pvalues(pvalues: np.ndarray, method: str = "holm") -> np.ndarray:
    """Adjust a family of p-values; NaN entries stay NaN and do not count.

    Parameters
    ----------
    pvalues : numpy.ndarray
        Raw p-values.
    method : {"holm", "bh", "none"}
        Holm's step-down (family-wise error), Benjamini-Hochberg (false
        discovery rate, via ``scipy.stats.false_discovery_control``) or none.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, capped at 1.
    """
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {list(CORRECTIONS)}, got {method!r}")
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    valid = np.isfinite(p)
    pv = p[valid]
    if pv.size == 0:
        return out
    if method == "none":
        out[valid] = pv
    elif method == "bh":
        out[valid] = stats.false_discovery_control(pv, method="bh")
    else:
        # scipy has no Holm adjustment; this is the textbook step-down form.
        m = pv.size
        order = np.argsort(pv, kind="stable")
        stepped = np.maximum.accumulate((m - np.arange(m)) * pv[order])
        adjusted = np.empty(m)
        adjusted[order] = np.minimum(stepped, 1.0)
        out[valid] = adjusted
    return out


def verdict(
    pvalue_adjusted: float,
    estimate: float,
    low: float,
    high: float,
    *,
    alpha: float,
    threshold: float,
) -> Verdict:
    """Verdict of one comparison; see the module notes for the rule.

    Parameters
    ----------
    pvalue_adjusted : float
        Family-adjusted p-value (NaN when no test ran).
    estimate, low, high : float
        Relative change (fraction) and its ``1 - alpha`` interval.
    alpha, threshold : float
        Significance level and practical threshold (fraction).
    """
    if not (math.isfinite(pvalue_adjusted) and math.isfinite(low) and math.isfinite(high)):
        return Verdict.NOT_ENOUGH_DATA
    if -threshold < low and high < threshold:
        return Verdict.NEGLIGIBLE
    if pvalue_adjusted < alpha and (low > 0 or high < 0):
        if abs(estimate) >= threshold:
            return Verdict.SLOWER if estimate > 0 else Verdict.FASTER
        return Verdict.INCONCLUSIVE
    return Verdict.NO_EVIDENCE
