"""Exact signed-rank machinery on per-round differences: test, estimate and interval.

Everything hvload compares between two levels is a vector of per-round
differences ``d`` (of log block statistics), one per round. Three things come
from the same signed-rank reasoning, so they always agree with each other:

* the Wilcoxon signed-rank test of "``d`` is symmetric about 0", with an exact
  p-value also when magnitudes are tied (the null distribution of the statistic
  over the observed midranks is built by dynamic programming, not approximated);
* the Hodges-Lehmann estimate of the shift: the median of the Walsh averages
  ``(d_i + d_j) / 2, i <= j``;
* the matching distribution-free confidence interval: the ``k``-th smallest and
  ``k``-th largest Walsh averages, ``k`` from the exact null distribution of the
  statistic. It covers the centre of symmetry with probability at least the
  nominal level whenever the differences are independent and symmetric about
  it, which the randomized order of levels inside a round provides.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats

__all__ = [
    "MAX_EXACT",
    "hodges_lehmann",
    "min_pvalue",
    "signed_rank_critical",
    "signed_rank_null",
    "signed_rank_test",
]

#: Largest number of nonzero differences whose null distribution is built exactly;
#: beyond it the normal approximation with tie correction is used.
MAX_EXACT = 400


def _distribution(weights: np.ndarray) -> np.ndarray:
    """P(sum of a random subset of ``weights``) for integer weights, index = sum."""
    total = int(weights.sum())
    dist = np.zeros(total + 1)
    dist[0] = 1.0
    top = 0
    for w in weights.tolist():
        # Each rank is in the positive set with probability 1/2, independently.
        new = dist[: top + w + 1] * 0.5
        new[w:] += 0.5 * dist[: top + 1]
        top += w
        dist[: top + 1] = new
    return dist


@functools.lru_cache(maxsize=64)
def signed_rank_null(n: int) -> np.ndarray:
    """Null distribution of the signed-rank statistic ``T+`` for ``n`` untied differences.

    Returns
    -------
    numpy.ndarray
        ``P(T+ = t)`` for ``t = 0 .. n (n + 1) / 2``.
    """
    return _distribution(np.arange(1, n + 1, dtype=np.int64))


def min_pvalue(n: int) -> float:
    """Smallest two-sided p-value of the signed-rank test on ``n`` nonzero differences."""
    return 2.0 ** (1 - n) if n >= 1 else 1.0


def signed_rank_test(d: np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test of ``d`` against a centre of 0.

    Zero differences are dropped (Wilcoxon's convention); tied magnitudes get
    midranks and an exact null distribution over those midranks.

    Returns
    -------
    statistic, pvalue : float
        ``min(T+, T-)`` as :func:`scipy.stats.wilcoxon` reports it, and the
        two-sided p-value. ``(0.0, 1.0)`` when every difference is zero.
    """
    d = np.asarray(d, dtype=np.float64)
    nz = d[d != 0]
    if nz.size == 0:
        return 0.0, 1.0
    # Midranks are multiples of 1/2, so doubled ranks are exact integers.
    ranks2 = np.rint(2 * stats.rankdata(np.abs(nz))).astype(np.int64)
    total2 = int(ranks2.sum())
    t2 = int(ranks2[nz > 0].sum())
    statistic = min(t2, total2 - t2) / 2.0
    if nz.size > MAX_EXACT:
        n = nz.size
        _, counts = np.unique(ranks2, return_counts=True)
        var = n * (n + 1) * (2 * n + 1) / 24.0 - float((counts**3 - counts).sum()) / 48.0
        z = (abs(t2 / 2.0 - total2 / 4.0)) / math.sqrt(var) if var > 0 else 0.0
        return statistic, float(min(1.0, 2 * stats.norm.sf(z)))
    dist = _distribution(ranks2)
    lo = min(t2, total2 - t2)
    # Symmetric null: P(T <= lo) + P(T >= total - lo), without double counting the middle.
    tail = float(dist[: lo + 1].sum())
    pvalue = min(1.0, 2.0 * tail)
    return statistic, pvalue


def signed_rank_critical(n: int, confidence: float) -> int:
    """Largest ``c`` with ``2 P(T+ <= c) <= 1 - confidence`` for ``n`` untied differences.

    Returns -1 when no interval reaches ``confidence`` with ``n`` differences.
    """
    if n < 1:
        return -1
    cdf = np.cumsum(signed_rank_null(n))
    ok = np.flatnonzero(2.0 * cdf <= (1.0 - confidence) * (1 + 1e-12))
    return int(ok[-1]) if ok.size else -1


def hodges_lehmann(d: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Hodges-Lehmann shift estimate of ``d`` with its signed-rank confidence interval.

    Parameters
    ----------
    d : numpy.ndarray
        Per-round differences; non-finite entries are dropped.
    confidence : float
        Two-sided confidence level, e.g. 0.95.

    Returns
    -------
    estimate, low, high : float
        The median of the Walsh averages and the interval
        ``[W_(c+1), W_(N-c)]`` from :func:`signed_rank_critical`. The interval is
        NaN when too few differences exist to reach ``confidence``.
    """
    d = np.asarray(d, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = d.size
    if n == 0:
        return math.nan, math.nan, math.nan
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2.0)
    estimate = float(np.median(walsh))
    c = signed_rank_critical(n, confidence)
    if c < 0:
        return estimate, math.nan, math.nan
    return estimate, float(walsh[c]), float(walsh[walsh.size - 1 - c])
