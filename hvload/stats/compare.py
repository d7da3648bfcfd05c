"""Tests between levels on block-level statistics, multiplicity correction and verdicts.

The unit of replication is the round: each round holds one block of every
level, so a block statistic (median or p99) gives a rounds x levels matrix
and all tests are paired over rounds. Samples never enter a test directly:
millions of autocorrelated samples would make any difference "significant".

Verdict rule
------------
For each comparison, after adjusting the p-values of the whole family:

* ``not enough data`` -- the test could not run, or with this many rounds its
  smallest attainable p-value (``2 / 2**n`` for the Wilcoxon test) exceeds alpha;
* ``no evidence`` -- adjusted p >= alpha, or the test and the pooled effect
  disagree in direction;
* ``negligible`` -- significant, but the change is below the practical
  threshold: ``|effect| < threshold * reference median`` (the effect being the
  change in pooled median, or in pooled p99);
* ``slower`` / ``faster`` -- significant and at least the threshold, with the
  sign of the effect.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy import stats

from .results import NOT_ENOUGH_DATA, TestResult

__all__ = [
    "CORRECTIONS",
    "adjust_pvalues",
    "comparison_pairs",
    "friedman",
    "page_trend",
    "verdict",
    "wilcoxon_rounds",
]

#: Accepted ``correction`` names.
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")


def comparison_pairs(n_levels: int) -> list[tuple[int, int, str]]:
    """Pairs ``(reference, level, kind)``: every level against the baseline, then neighbours.

    The first neighbour pair is the first baseline pair, so it appears once
    with kind ``"baseline, neighbour"``.
    """
    pairs = [(0, j, "baseline, neighbour" if j == 1 else "baseline") for j in range(1, n_levels)]
    pairs += [(j - 1, j, "neighbour") for j in range(2, n_levels)]
    return pairs


def _not_enough(test: str, on: str, n_rounds: int, n_levels: int, why: str) -> TestResult:
    return TestResult(
        test, on, float("nan"), float("nan"), n_rounds, n_levels, NOT_ENOUGH_DATA, why
    )


def _too_small(test: str, on: str, n_rounds: int, n_levels: int) -> TestResult | None:
    """The "not enough data" result of a rank test over rounds x levels, if it applies."""
    if n_levels < 3:
        return _not_enough(test, on, n_rounds, n_levels, f"needs at least 3 levels, has {n_levels}")
    if n_rounds < 2:
        return _not_enough(
            test, on, n_rounds, n_levels, f"needs at least 2 complete rounds, has {n_rounds}"
        )
    return None


def friedman(matrix: np.ndarray, on: str) -> TestResult:
    """Friedman test over a complete rounds x levels matrix of block statistics."""
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
        res = stats.friedmanchisquare(*matrix.T)
    if not np.isfinite(res.pvalue):
        return _not_enough("friedman", on, n_rounds, n_levels, "statistic undefined (all ties)")
    message = "chi-square approximation; few rounds" if n_rounds < 10 else ""
    return TestResult(
        "friedman", on, float(res.statistic), float(res.pvalue), n_rounds, n_levels, "ok", message
    )


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


def wilcoxon_rounds(reference: np.ndarray, level: np.ndarray, on: str, alpha: float) -> TestResult:
    """Wilcoxon signed-rank test on per-round differences ``level - reference``.

    Rounds where either value is NaN are dropped. Returns ``not enough data``
    when fewer rounds remain than can ever reach ``alpha``: with ``n`` paired
    rounds the smallest two-sided p-value is ``2 / 2**n``, so ``n >= 6`` is
    needed at ``alpha = 0.05``.
    """
    ok = np.isfinite(reference) & np.isfinite(level)
    d = level[ok] - reference[ok]
    n = int(d.size)
    if n < 2 or 2.0 ** (1 - n) > alpha:
        need = int(np.ceil(1 - np.log2(alpha))) if alpha > 0 else n + 1
        return _not_enough(
            "wilcoxon",
            on,
            n,
            2,
            f"{n} paired round(s); at least {need} are needed to reach alpha={alpha:g}",
        )
    if np.all(d == 0):
        return TestResult(
            "wilcoxon", on, 0.0, 1.0, n, 2, "ok", "every per-round difference is zero"
        )
    nonzero = d[d != 0]
    message = f"{n - nonzero.size} zero difference(s) dropped" if nonzero.size < n else ""
    tied = np.unique(np.abs(nonzero)).size < nonzero.size
    if (tied or nonzero.size < n) and nonzero.size <= _MAX_ENUMERATED:
        statistic, pvalue = _signed_rank_enumerated(nonzero)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            res = stats.wilcoxon(d)
        statistic, pvalue = float(res.statistic), float(res.pvalue)
    return TestResult("wilcoxon", on, statistic, pvalue, n, 2, "ok", message)


#: Largest number of nonzero differences whose sign patterns are enumerated.
_MAX_ENUMERATED = 16


@functools.lru_cache(maxsize=_MAX_ENUMERATED + 1)
def _sign_patterns(n: int) -> np.ndarray:
    return ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.int32)


def _signed_rank_enumerated(d: np.ndarray) -> tuple[float, float]:
    """Exact two-sided signed-rank test of nonzero differences with tied magnitudes.

    ``scipy.stats.wilcoxon`` handles ties exactly only through
    ``permutation_test``, which evaluates the statistic one sign pattern at a
    time (about 0.5 s for 12 rounds); enumerating all ``2**n`` patterns as one
    matrix product gives the same null distribution in well under a millisecond.
    Returns ``(min(T+, T-), p)`` like scipy with ``zero_method="wilcox"``.
    """
    # Midranks are multiples of 1/2, so doubling keeps the arithmetic exact.
    ranks2 = np.rint(2 * stats.rankdata(np.abs(d))).astype(np.int32)
    total = int(ranks2.sum())
    t_obs = int(ranks2[d > 0].sum())
    t_null = _sign_patterns(d.size) @ ranks2
    pvalue = float(np.mean(np.abs(2 * t_null - total) >= abs(2 * t_obs - total)))
    return min(t_obs, total - t_obs) / 2.0, pvalue


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
    test: TestResult,
    pvalue_adjusted: float,
    relative_change: float,
    direction: float,
    *,
    alpha: float,
    threshold: float,
) -> str:
    """Verdict of one comparison; see the module notes for the rule.

    Parameters
    ----------
    test : TestResult
        The Wilcoxon result.
    pvalue_adjusted : float
        Its adjusted p-value.
    relative_change : float
        Pooled effect as a fraction of the reference median (level minus reference).
    direction : float
        Median of the per-round differences; its sign must agree with the effect's.
    alpha, threshold : float
        Significance level and practical threshold (fraction of the median).
    """
    if test.status != "ok" or not np.isfinite(relative_change):
        return NOT_ENOUGH_DATA
    if not pvalue_adjusted < alpha:
        return "no evidence"
    if abs(relative_change) < threshold:
        return "negligible"
    if np.sign(direction) != np.sign(relative_change):
        return "no evidence"
    return "slower" if relative_change > 0 else "faster"
