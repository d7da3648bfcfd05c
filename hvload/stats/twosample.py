"""Two independent groups: the Wilcoxon-Mann-Whitney test and the Hodges-Lehmann shift.

Campaigns share no rounds, so two campaigns (or two groups of campaigns) cannot be
paired the way two levels of one campaign are (:mod:`hvload.stats.ranks`). What they
can give is two independent samples of a block statistic, in log scale: the blocks of
each campaign, or one typical value per campaign. Three things come from the same
rank-sum reasoning, so they always agree with each other:

* the Wilcoxon-Mann-Whitney test of "both samples come from one distribution", with an
  exact p-value also when values are tied (the null distribution of the rank sum over
  the observed midranks is built by dynamic programming, not approximated) up to
  :data:`MAX_EXACT` values in all, the normal approximation with tie correction beyond;
* the two-sample Hodges-Lehmann estimate of the shift: the median of all differences
  ``y_j - x_i``;
* its matching distribution-free interval (Moses): the ``k``-th smallest and ``k``-th
  largest of those differences, ``k`` from the exact null distribution of ``U``. It
  covers the shift with probability at least the nominal level when the two samples
  are independent and differ by a shift, which in log scale is a common factor.

Shown valid for campaigns by the A/A and power tests of ``tests/test_compare.py``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from .results import NOT_ENOUGH_DATA, ConfidenceInterval, jsonable

__all__ = [
    "MAX_EXACT",
    "TwoSampleResult",
    "hodges_lehmann_shift",
    "min_pvalue",
    "rank_sum_test",
    "two_sample",
]

#: Largest total number of values whose null distribution is built exactly.
MAX_EXACT = 120


def _subset_sums(weights: np.ndarray, size: int) -> np.ndarray:
    """P(sum of a uniformly random ``size``-subset of integer ``weights`` = s), index s."""
    total = int(weights.sum())
    # ways[j, s]: the number of j-subsets of the weights seen so far with sum s, in
    # float64 (exact to 2**53, relative error ~1e-16 beyond: C(120, 60) is 1e35).
    ways = np.zeros((size + 1, total + 1))
    ways[0, 0] = 1.0
    for w in weights.tolist():
        ways[1:, w:] += ways[:-1, : total + 1 - w].copy()
    row = ways[size]
    return row / row.sum()


@functools.lru_cache(maxsize=128)
def _untied_null(n1: int, n2: int) -> np.ndarray:
    """P(U = u), u = 0 .. n1 n2, for the Mann-Whitney ``U`` of the first sample, no ties."""
    dist = _subset_sums(np.arange(1, n1 + n2 + 1, dtype=np.int64), n1)
    return dist[n1 * (n1 + 1) // 2 :]


def min_pvalue(n1: int, n2: int) -> float:
    """Smallest two-sided p-value the exact test can give with ``n1`` and ``n2`` values."""
    if n1 < 1 or n2 < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def rank_sum_test(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """Two-sided Wilcoxon-Mann-Whitney test of ``x`` against ``y``.

    Parameters
    ----------
    x, y : numpy.ndarray
        The two samples; non-finite values are dropped.

    Returns
    -------
    statistic, pvalue : float
        The Mann-Whitney ``U`` of ``y`` (as :func:`scipy.stats.mannwhitneyu` reports
        for its first argument, here ``y``) and the two-sided p-value.
    method : str
        ``"exact"`` (tie-aware) or ``"normal"`` (with tie correction).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    n1, n2 = x.size, y.size
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan, "none"
    ranks = stats.rankdata(np.concatenate((x, y)))
    # Midranks are multiples of 1/2, so doubled ranks are exact integers.
    ranks2 = np.rint(2 * ranks).astype(np.int64)
    w2 = int(ranks2[n1:].sum())
    statistic = w2 / 2.0 - n2 * (n2 + 1) / 2.0
    mean2 = n2 * (n1 + n2 + 1)  # doubled mean of the rank sum of y
    if n1 + n2 <= MAX_EXACT:
        dist = _subset_sums(ranks2, n2)
        sums = np.arange(dist.size)
        # The midranks are symmetric about (N + 1) / 2, so is the rank sum about its mean.
        far = np.abs(sums - mean2) >= abs(w2 - mean2) - 1e-9
        return statistic, float(min(1.0, dist[far].sum())), "exact"
    n = n1 + n2
    _, counts = np.unique(ranks2, return_counts=True)
    var = n1 * n2 / 12.0 * ((n + 1) - float((counts**3 - counts).sum()) / (n * (n - 1)))
    z = abs(w2 / 2.0 - mean2 / 2.0) / math.sqrt(var) if var > 0 else 0.0
    return statistic, float(min(1.0, 2 * stats.norm.sf(z))), "normal"


def _critical(n1: int, n2: int, confidence: float) -> int:
    """Largest ``c`` with ``2 P(U <= c) <= 1 - confidence`` (untied); -1 if none."""
    alpha = 1.0 - confidence
    if n1 + n2 <= MAX_EXACT:
        cdf = np.cumsum(_untied_null(n1, n2))
        ok = np.flatnonzero(2.0 * cdf <= alpha * (1 + 1e-12))
        return int(ok[-1]) if ok.size else -1
    z = stats.norm.isf(alpha / 2)
    c = math.floor(n1 * n2 / 2.0 - z * math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12.0))
    return c if c >= 0 else -1


def hodges_lehmann_shift(
    x: np.ndarray, y: np.ndarray, confidence: float
) -> tuple[float, float, float]:
    """Hodges-Lehmann shift of ``y`` against ``x`` with its Moses confidence interval.

    Parameters
    ----------
    x, y : numpy.ndarray
        The two samples (e.g. log block statistics); non-finite values are dropped.
    confidence : float
        Two-sided confidence level, e.g. 0.95.

    Returns
    -------
    estimate, low, high : float
        The median of all differences ``y_j - x_i`` and the interval
        ``[D_(c+1), D_(n1 n2 - c)]``; NaN interval when the samples are too small to
        reach ``confidence``.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if x.size == 0 or y.size == 0:
        return math.nan, math.nan, math.nan
    d = np.sort((y[None, :] - x[:, None]).ravel())
    estimate = float(np.median(d))
    c = _critical(x.size, y.size, confidence)
    if c < 0:
        return estimate, math.nan, math.nan
    return estimate, float(d[c]), float(d[d.size - 1 - c])


@dataclass(frozen=True)
class TwoSampleResult:
    """A shift between two independent samples in log scale, tested and estimated.

    Attributes
    ----------
    statistic, pvalue : float
        Mann-Whitney ``U`` of the second sample and the two-sided p-value.
    estimate, low, high : float
        Hodges-Lehmann shift of the second sample against the first (log scale) and its
        interval at ``confidence``.
    n1, n2 : int
        Values in each sample.
    confidence : float
        Level of the interval.
    method : str
        ``"exact"`` or ``"normal"``.
    status : str
        ``"ok"`` or ``"not enough data"``.
    message : str
        Why nothing was computed, or a caveat.
    """

    statistic: float
    pvalue: float
    estimate: float
    low: float
    high: float
    n1: int
    n2: int
    confidence: float
    method: str = "exact"
    status: str = "ok"
    message: str = ""

    @property
    def ratio(self) -> float:
        """The shift as a factor: ``exp(estimate)``."""
        return float(np.exp(self.estimate))

    def confidence_interval(self) -> ConfidenceInterval:
        """The interval of the factor ``exp(shift)`` (1.05: the second is 5 % slower)."""
        return ConfidenceInterval(float(np.exp(self.low)), float(np.exp(self.high)))

    def to_dict(self) -> dict[str, Any]:
        return jsonable({**asdict(self), "ratio": self.ratio})


def two_sample(x: np.ndarray, y: np.ndarray, *, confidence: float = 0.95) -> TwoSampleResult:
    """Test and estimate the shift of ``y`` against ``x`` (both already in log scale).

    Parameters
    ----------
    x, y : numpy.ndarray
        Independent samples, e.g. log block medians of two campaigns.
    confidence : float, default 0.95
        Level of the Hodges-Lehmann interval.

    Returns
    -------
    TwoSampleResult
        ``status="not enough data"`` (NaN figures) when either sample is empty.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n1, n2 = int(np.isfinite(x).sum()), int(np.isfinite(y).sum())
    if n1 == 0 or n2 == 0:
        return TwoSampleResult(
            math.nan, math.nan, math.nan, math.nan, math.nan, n1, n2, confidence, "none",
            NOT_ENOUGH_DATA.value, f"{n1} and {n2} values; a test needs at least one in each",
        )  # fmt: skip
    statistic, pvalue, method = rank_sum_test(x, y)
    estimate, low, high = hodges_lehmann_shift(x, y, confidence)
    message = "" if math.isfinite(low) else f"{n1} and {n2} values are too few for the interval"
    return TwoSampleResult(
        statistic, pvalue, estimate, low, high, n1, n2, confidence, method, "ok", message
    )
