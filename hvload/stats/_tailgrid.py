"""The compact per-block form of a level's upper tail, and pooled quantiles of any blend of blocks.

A level's p99 over all its samples (the *level p99*) is a quantile of the pooled
samples, and every interval and test of it recombines whole blocks: a round-cluster
bootstrap draws rounds with replacement, a sign-flip test swaps two levels' blocks
inside chosen rounds. Each recombination needs the pooled quantile again, so the
blocks are first reduced to a :class:`TailGrid`:

* only samples at or above a *cutoff* are kept, the lowest ``CUT`` quantile (p97) of
  any block involved: a pooled p99 of any blend of these blocks lies above every
  block's p97 but the lowest, so the samples below the cutoff matter only by their
  number (kept per block);
* those samples are counted in bins ``RESOLUTION`` to a doubling on a log2 scale
  (0.14 % wide: narrower than one cycle below 738 cycles, so exact there); each
  bin stands for the mean of the samples in it, so a bin holding one distinct value
  is exact, and a quantile is off by at most 0.14 % anywhere;
* per block, the cumulative count at every occupied bin.

Memory: ``blocks x occupied bins`` integers instead of every sample: a block of a
million samples keeps about 3 % of them at most, in a few thousand bins, and a
level's bins are shared by its blocks. A blend of blocks with weights ``W``
(``draws x blocks``) then has cumulative counts ``W @ cum``: one matrix product gives
the pooled quantile of thousands of blends at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["CUT", "RESOLUTION", "TailGrid", "blend_quantiles", "tail_grid"]

#: Bins per doubling of the value (log2 scale).
RESOLUTION = 512
#: Block quantile below which samples are only counted.
CUT = 0.97


@dataclass(frozen=True)
class TailGrid:
    """Upper tails of a set of blocks on one shared grid (see the module notes).

    Attributes
    ----------
    values : numpy.ndarray
        ``G`` ascending bin values (mean of the samples in each occupied bin).
    cum : numpy.ndarray
        ``blocks x G``: samples of each block at or below each bin (those under the
        cutoff included).
    n : numpy.ndarray
        Samples in each block.
    """

    values: np.ndarray
    cum: np.ndarray
    n: np.ndarray

    @property
    def n_blocks(self) -> int:
        return int(self.n.size)


def tail_grid(blocks: Sequence[np.ndarray], cut: float = CUT, top: float = 1.0) -> TailGrid:
    """The :class:`TailGrid` of ``blocks``, each a sorted array of positive samples.

    Samples below the lowest ``cut`` quantile of the blocks are only counted; samples
    above the highest ``top`` quantile of the blocks are dropped from the grid (a blend's
    quantile below ``top`` never reaches them: at that value every block, hence every
    blend, already holds a share ``top`` of its samples).
    """
    sizes = np.array([b.size for b in blocks], dtype=np.int64)
    full = [b for b in blocks if b.size]
    if not full:
        return TailGrid(np.zeros(0), np.zeros((len(blocks), 0)), sizes)
    cutoff = min(float(np.quantile(b, cut)) for b in full)
    ceiling = max(float(np.quantile(b, top)) for b in full)
    tails = [
        b[np.searchsorted(b, cutoff, side="left") : np.searchsorted(b, ceiling, side="right")]
        for b in blocks
    ]
    below = np.array([np.searchsorted(b, cutoff, side="left") for b in blocks], dtype=np.int64)
    # Whole cycles are >= 1; the floor keeps a zero sample in the first bin.
    bins = [np.floor(RESOLUTION * np.log2(np.maximum(t, 1))).astype(np.int64) for t in tails]
    edges = np.unique(np.concatenate(bins))
    counts = np.zeros((len(blocks), edges.size))
    total = np.zeros(edges.size)
    for i, (b, t) in enumerate(zip(bins, tails, strict=True)):
        pos = np.searchsorted(edges, b)
        counts[i] = np.bincount(pos, minlength=edges.size)
        total += np.bincount(pos, weights=t.astype(np.float64), minlength=edges.size)
    occupied = counts.sum(axis=0)
    values = total / np.maximum(occupied, 1)
    cum = below[:, None] + np.cumsum(counts, axis=1)
    return TailGrid(values, cum, sizes)


def blend_quantiles(grid: TailGrid, weights: np.ndarray, q: float) -> np.ndarray:
    """Type-7 quantile ``q`` of each blend of blocks; ``weights`` is ``draws x blocks``.

    A blend holds each block's samples ``weights`` times (bootstrap multiplicities, or
    0/1 to pick blocks). NaN for a blend without samples; a quantile that would fall
    below the cutoff (never seen in practice at ``q`` = 0.99) is the lowest bin.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = w @ grid.n.astype(np.float64)
    out = np.full(n.shape, np.nan)
    if grid.values.size == 0:
        return out
    cum = w @ grid.cum
    h = (n - 1) * q
    k = np.floor(h)
    last = grid.values.size - 1
    lo = np.minimum((cum <= k[:, None]).sum(axis=1), last)
    hi = np.minimum((cum <= np.minimum(k + 1, n - 1)[:, None]).sum(axis=1), last)
    x_lo, x_hi = grid.values[lo], grid.values[hi]
    ok = n > 0
    out[ok] = (x_lo + (h - k) * (x_hi - x_lo))[ok]
    return out
