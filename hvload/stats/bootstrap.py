"""Block bootstrap over rounds, with pooled quantiles computed from per-block counts.

Samples inside a block are autocorrelated, so the rounds (the blocks of the
randomized complete block design) are resampled with replacement, never the
samples. A replicate is a vector of round multiplicities ``w`` (sum ``R``);
for a level, the replicate's pooled sample is every block of that level
repeated ``w[r]`` times, and the statistic is that pooled sample's quantile.
Using the same ``w`` for all levels keeps the round pairing, so ratios and
differences between levels get paired CIs for free.

How a pooled quantile is found without materialising the pooled sample
----------------------------------------------------------------------
The ``k``-th order statistic of a weighted union of sorted blocks is the
smallest value ``v`` with ``sum_r w[r] * count_r(<= v) >= k + 1``. That value
always lies between the smallest and largest per-block order statistics of
nearby rank, so only a narrow *window* of values matters: take the distinct
values of the level inside that window as a grid, count each block's samples
``<= grid`` once (``searchsorted``), and one matrix product
``weights @ counts`` gives the pooled cumulative counts of every replicate on
the grid. The first grid point reaching ``k + 1`` is the order statistic.

Accuracy: exact (identical to ``numpy.quantile`` on the pooled sample) when
the window holds at most ``max_grid`` distinct values, which is the usual case
for integer cycle counts. Beyond that the grid keeps ``max_grid`` evenly spaced
distinct values and the answer may be high by at most one grid step (the
window's distinct values divided by ``max_grid``). A replicate whose order
statistic falls outside the window (possible only for tiny blocks) is
recomputed exactly from the pooled sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["percentile_interval", "pooled_quantile_replicates", "round_weights"]


def round_weights(n_rounds: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Multiplicities of each round in ``n_boot`` bootstrap resamples of the rounds.

    Returns
    -------
    numpy.ndarray
        ``float64`` array of shape ``(n_boot, n_rounds)``; every row sums to ``n_rounds``.
    """
    if n_rounds < 1 or n_boot < 1:
        return np.zeros((max(n_boot, 0), max(n_rounds, 0)))
    p = np.full(n_rounds, 1.0 / n_rounds)
    return rng.multinomial(n_rounds, p, size=n_boot).astype(np.float64)


def _exact(blocks: Sequence[np.ndarray], w: np.ndarray, q: float) -> float:
    reps = np.rint(w).astype(np.intp)
    pooled = np.concatenate([np.tile(b, int(m)) for b, m in zip(blocks, reps, strict=True)])
    return float(np.quantile(pooled, q)) if pooled.size else float("nan")


def pooled_quantile_replicates(
    blocks: Sequence[np.ndarray],
    weights: np.ndarray,
    q: float,
    *,
    max_grid: int = 2048,
) -> np.ndarray:
    """Pooled quantile ``q`` of each bootstrap replicate.

    Parameters
    ----------
    blocks : sequence of numpy.ndarray
        One sorted ``int64`` array per round (may be empty where the level
        lacks that round), in the column order of ``weights``.
    weights : numpy.ndarray
        ``(n_boot, n_rounds)`` round multiplicities from :func:`round_weights`.
    q : float
        Quantile in [0, 1].
    max_grid : int, default 2048
        Most distinct values evaluated per replicate; see the module notes.

    Returns
    -------
    numpy.ndarray
        ``(n_boot,)`` replicate quantiles; NaN where a replicate holds no sample.
    """
    n_boot = weights.shape[0]
    sizes = np.array([b.size for b in blocks], dtype=np.float64)
    full = [b for b in blocks if b.size]
    if not full or n_boot == 0:
        return np.full(n_boot, np.nan)

    def rank_value(b: np.ndarray, extra: int) -> int:
        k = int(np.floor((b.size - 1) * q)) + extra
        return int(b[min(max(k, 0), b.size - 1)])

    lo = min(rank_value(b, 0) for b in full)
    hi = max(rank_value(b, 2) for b in full)
    inside = [b[np.searchsorted(b, lo, "left") : np.searchsorted(b, hi, "right")] for b in full]
    grid = np.unique(np.concatenate(inside))
    if grid.size > max_grid:
        grid = grid[np.unique(np.linspace(0, grid.size - 1, max_grid).round().astype(np.intp))]

    le = np.zeros((len(blocks), grid.size))
    below = np.zeros(len(blocks))
    for r, b in enumerate(blocks):
        if b.size:
            le[r] = np.searchsorted(b, grid, side="right")
            below[r] = np.searchsorted(b, grid[0], side="left")
    cum = weights @ le
    n = weights @ sizes
    n_below = weights @ below

    h = np.maximum(n - 1, 0) * q
    k = np.floor(h)
    k1 = np.minimum(k + 1, np.maximum(n - 1, 0))
    i0 = (cum < (k + 1)[:, None]).sum(axis=1)
    i1 = (cum < (k1 + 1)[:, None]).sum(axis=1)
    outside = (n_below >= k + 1) | (i1 >= grid.size)
    i0 = np.minimum(i0, grid.size - 1)
    i1 = np.minimum(i1, grid.size - 1)
    v0 = grid[i0].astype(np.float64)
    v1 = grid[i1].astype(np.float64)
    result = v0 + (h - k) * (v1 - v0)
    result[n == 0] = np.nan
    for i in np.flatnonzero(outside & (n > 0)).tolist():
        result[i] = _exact(blocks, weights[i], q)
    return result


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """Percentile bootstrap interval; (NaN, NaN) when fewer than 2 finite replicates."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size < 2:
        return float("nan"), float("nan")
    tail = 50.0 * (1.0 - confidence)
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)
