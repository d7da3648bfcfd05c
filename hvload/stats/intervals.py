"""Distribution-free interval for the typical block: order statistics of block statistics.

A level's *typical block* statistic is the median, over the population of blocks
the design could have measured, of the block statistic (the block's median or
p99). With ``n`` independent blocks, the interval ``[x_(k), x_(n-k+1)]`` between
two order statistics of the observed block statistics covers that median with
probability ``1 - 2 P(B <= k - 1)``, ``B ~ Binomial(n, 1/2)``, whatever the
distribution of the blocks: slow blocks, spikes and skew cannot bias it. ``k`` is
the largest rank that keeps this probability at or above the nominal level, so
the coverage is never below it (it is 96.1 % at 12 blocks and 95 % asked).

Why not a bootstrap of the pooled quantile: with a dozen rounds the percentile
bootstrap inherits the downward bias of a right-skewed estimator and covered the
true p99 in only 66-88 % of simulated campaigns (issue 9).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import stats

__all__ = ["median_interval", "order_statistic_rank"]


@functools.lru_cache(maxsize=1024)
def order_statistic_rank(n: int, confidence: float) -> int:
    """Largest ``k`` (1-based) with ``1 - 2 P(Binomial(n, 1/2) <= k - 1) >= confidence``.

    Returns 0 when even ``[min, max]`` cannot reach ``confidence`` with ``n`` blocks.
    """
    if n < 1:
        return 0
    k = np.arange(1, (n + 1) // 2 + 1)
    coverage = 1.0 - 2.0 * stats.binom.cdf(k - 1, n, 0.5)
    ok = k[coverage >= confidence - 1e-12]
    return int(ok[-1]) if ok.size else 0


def median_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Median of ``values`` and its order-statistic confidence interval.

    Parameters
    ----------
    values : numpy.ndarray
        One statistic per block; non-finite entries are dropped.
    confidence : float
        Two-sided confidence level.

    Returns
    -------
    estimate, low, high : float
        NaN interval when too few blocks exist to reach ``confidence``
        (fewer than 6 at 95 %).
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan, math.nan
    estimate = float(np.median(x))
    k = order_statistic_rank(x.size, confidence)
    if k == 0:
        return estimate, math.nan, math.nan
    return estimate, float(x[k - 1]), float(x[x.size - k])
