"""Per-block sorted samples, block-level statistics and pooled value counts.

Everything downstream needs order statistics, so samples are sorted once,
block by block (a block is one level in one round). Quantiles follow numpy's
default definition (linear interpolation between order statistics, Hyndman &
Fan type 7) everywhere, so pooled, per-block and bootstrap figures agree.

Pooled statistics of a level use its *distinct values with counts*: cycle
counts are integers with a narrow spread, so a million samples typically hold
a few thousand distinct values and every pooled quantile, MAD or
common-language effect size becomes a cheap operation on short arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Counts",
    "Segments",
    "cles",
    "mad",
    "pooled_counts",
    "quantiles",
    "segment_quantiles",
    "sort_by_cell",
    "type7",
    "type7_ranks",
]


@dataclass(frozen=True)
class Segments:
    """Samples grouped by cell, each cell's run sorted ascending.

    Attributes
    ----------
    values : numpy.ndarray
        ``int64`` samples; cell ``i`` occupies ``values[offsets[i]:offsets[i + 1]]``.
    offsets : numpy.ndarray
        ``n_cells + 1`` start offsets.
    """

    values: np.ndarray
    offsets: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        """Number of samples in each cell."""
        return np.diff(self.offsets)

    def cell(self, i: int) -> np.ndarray:
        """The sorted samples of cell ``i`` (a view)."""
        return self.values[self.offsets[i] : self.offsets[i + 1]]


def sort_by_cell(values: np.ndarray, cell: np.ndarray, n_cells: int) -> Segments:
    """Group ``values`` by ``cell`` code and sort each group.

    Parameters
    ----------
    values : numpy.ndarray
        ``int64`` samples.
    cell : numpy.ndarray
        Cell code of each sample, ``0 <= cell < n_cells``.
    n_cells : int
        Number of cells.

    Returns
    -------
    Segments
    """
    sizes = np.bincount(cell, minlength=n_cells)
    offsets = np.zeros(n_cells + 1, dtype=np.intp)
    np.cumsum(sizes, out=offsets[1:])
    out = np.empty(values.size, dtype=np.int64)
    if values.size == 0:
        return Segments(out, offsets)
    starts = np.flatnonzero(cell[1:] != cell[:-1]) + 1
    starts = np.concatenate(([0], starts))
    ends = np.concatenate((starts[1:], [values.size]))
    if starts.size == np.count_nonzero(sizes):
        # Campaigns write blocks contiguously, so each cell is one run and a
        # per-run sort avoids a global argsort over millions of samples.
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            o = offsets[cell[s]]
            out[o : o + e - s] = np.sort(values[s:e])
        return Segments(out, offsets)
    order = np.argsort(cell, kind="stable")
    out[:] = values[order]
    for i in np.flatnonzero(sizes).tolist():
        out[offsets[i] : offsets[i + 1]].sort()
    return Segments(out, offsets)


def type7_ranks(n: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    """0-based ranks of the two order statistics type-7 quantile ``q`` interpolates.

    For ``n >= 1`` values: ``k = floor((n - 1) q)`` and ``min(k + 1, n - 1)``.
    """
    n = np.asarray(n)
    k = np.floor((n - 1) * q).astype(np.int64)
    return k, np.minimum(k + 1, n - 1)


def type7(n: np.ndarray, q: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Type-7 quantile ``q`` from the order statistics at :func:`type7_ranks`.

    The one formula every quantile of a block goes through, whichever engine found the
    order statistics (numpy here, DuckDB or Dask in :mod:`hvload.dataset`), so they
    agree to the last bit.
    """
    h = (np.asarray(n) - 1) * q
    lo = np.asarray(lo, dtype=np.float64)
    hi = np.asarray(hi, dtype=np.float64)
    return lo + (h - np.floor(h)) * (hi - lo)


def segment_quantiles(seg: Segments, q: float) -> np.ndarray:
    """Type-7 quantile ``q`` of every cell; NaN for empty cells."""
    n = seg.sizes
    result = np.full(n.size, np.nan)
    full = n > 0
    k, k1 = type7_ranks(n[full], q)
    base = seg.offsets[:-1][full]
    result[full] = type7(n[full], q, seg.values[base + k], seg.values[base + k1])
    return result


@dataclass(frozen=True)
class Counts:
    """Distinct values of a pooled sample with their multiplicities.

    Attributes
    ----------
    values : numpy.ndarray
        Distinct values, ascending.
    counts : numpy.ndarray
        How often each value occurs.
    """

    values: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        """Total number of samples."""
        return int(self.counts.sum())


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if sorted_values.size == 0:
        return sorted_values, np.zeros(0, dtype=np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(sorted_values)) + 1))
    counts = np.diff(np.concatenate((starts, [sorted_values.size])))
    return sorted_values[starts], counts


def pooled_counts(seg: Segments, cells: Sequence[int] | np.ndarray) -> Counts:
    """Distinct values and counts of the union of the given cells' samples."""
    vals, cnts = [], []
    for i in np.asarray(cells, dtype=np.intp).tolist():
        v, c = _runs(seg.cell(i))
        vals.append(v)
        cnts.append(c)
    if not vals:
        return Counts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    allv = np.concatenate(vals)
    allc = np.concatenate(cnts)
    distinct, inverse = np.unique(allv, return_inverse=True)
    return Counts(distinct, np.bincount(inverse, weights=allc).astype(np.int64))


def _order_stats(values: np.ndarray, cum: np.ndarray, k: np.ndarray) -> np.ndarray:
    return values[np.searchsorted(cum, k, side="right")]


def quantiles(c: Counts, qs: Sequence[float] | np.ndarray) -> np.ndarray:
    """Type-7 quantiles of a pooled sample given as value counts; NaN when empty."""
    qs = np.asarray(qs, dtype=np.float64)
    n = c.n
    if n == 0:
        return np.full(qs.shape, np.nan)
    cum = np.cumsum(c.counts)
    h = (n - 1) * qs
    k = np.floor(h).astype(np.int64)
    lo = _order_stats(c.values, cum, k).astype(np.float64)
    hi = _order_stats(c.values, cum, np.minimum(k + 1, n - 1)).astype(np.float64)
    return lo + (h - k) * (hi - lo)


def mad(c: Counts, center: float) -> float:
    """Median absolute deviation from ``center`` (unscaled); NaN when empty."""
    if c.n == 0:
        return float("nan")
    dev = np.abs(c.values.astype(np.float64) - center)
    order = np.argsort(dev, kind="stable")
    return float(quantiles(Counts(dev[order], c.counts[order]), [0.5])[0])


def cles(reference: Counts, level: Counts) -> float:
    """Probability that a random sample of ``level`` exceeds one of ``reference``.

    Ties count one half. Computed exactly from the value counts, which is the
    Mann-Whitney ``U`` of ``level`` divided by ``n_level * n_reference``.
    """
    na, nb = reference.n, level.n
    if na == 0 or nb == 0:
        return float("nan")
    cum = np.concatenate(([0], np.cumsum(reference.counts)))
    left = np.searchsorted(reference.values, level.values, side="left")
    right = np.searchsorted(reference.values, level.values, side="right")
    below = cum[left].astype(np.float64)
    equal = (cum[right] - cum[left]).astype(np.float64)
    total = float(np.dot(level.counts.astype(np.float64), below + 0.5 * equal))
    return total / (float(na) * float(nb))
