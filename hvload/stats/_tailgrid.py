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

A block may be given whole (its sorted samples) or as a :class:`BlockTail`: its
sample count and its sorted samples from some position on, every sample at or above
a ``floor`` included, each distinct value possibly given once with its count (sums of
whole cycles stay exact in float64 below 2**53, so the bins come out the same). A grid
needs no more (the samples below its cutoff matter only by their number), so a
campaign analysed block by block keeps only that part of each block; the results are
those of the whole blocks, to the last bit, or a ``ValueError`` says that the kept
part does not reach what was asked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CUT",
    "RESOLUTION",
    "Block",
    "BlockTail",
    "TailGrid",
    "blend_quantiles",
    "block_quantile",
    "pooled_block_quantile",
    "tail_grid",
]

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


@dataclass(frozen=True)
class BlockTail:
    """A block of ``n`` samples given by its upper part.

    Attributes
    ----------
    n : int
        Samples in the block.
    values : numpy.ndarray
        The block's sorted samples from some position on (its largest ones), or, with
        ``counts``, their distinct values ascending.
    floor : float
        Every sample of the block at or above ``floor`` is kept (some below it may be
        too); ``-inf`` when the whole block is.
    counts : numpy.ndarray, optional
        How often each of ``values`` occurs; None: once each.
    """

    n: int
    values: np.ndarray
    floor: float = -math.inf
    counts: np.ndarray | None = None

    @property
    def kept(self) -> int:
        return int(self.values.size if self.counts is None else self.counts.sum())

    @property
    def below(self) -> int:
        """Samples left out (all under ``values[0]`` and under ``floor``)."""
        return self.n - self.kept

    def samples(self) -> np.ndarray:
        """The kept samples, sorted."""
        return self.values if self.counts is None else np.repeat(self.values, self.counts)

    def count_below(self, x: float) -> int:
        """Samples of the block under ``x`` (``x`` at or above ``floor``)."""
        if x < self.floor:
            raise ValueError(f"the kept part of a block starts at {self.floor}, above {x}")
        i = int(np.searchsorted(self.values, x, side="left"))
        return self.below + (i if self.counts is None else int(self.counts[:i].sum()))


#: A block as the functions here take it: whole (sorted samples) or by its upper part.
Block = np.ndarray | BlockTail


def _as_tail(block: Block) -> BlockTail:
    if isinstance(block, BlockTail):
        return block
    return BlockTail(int(block.size), block)


def _reaches(n: int, q: float, below: int) -> bool:
    """Whether the type-7 quantile ``q`` of ``n`` sorted samples reads only positions at or
    above ``below`` (one position of margin for rounding in the index)."""
    return math.floor((n - 1) * q) - 1 >= below


def block_quantile(block: Block, q: float) -> float:
    """``numpy.quantile`` of the block's samples at ``q``, to the last bit."""
    tail = _as_tail(block)
    if not tail.below:
        return float(np.quantile(tail.samples(), q))
    if not tail.values.size or not _reaches(tail.n, q, tail.below):
        raise ValueError(f"the kept part of a block of {tail.n} samples does not reach its {q}")
    # The left-out positions are never read: any value no larger than the kept ones will do.
    stand_in = np.concatenate((np.full(tail.below, tail.values[0]), tail.samples()))
    return float(np.quantile(stand_in, q))


def pooled_block_quantile(blocks: Sequence[Block], q: float) -> float:
    """``numpy.quantile`` of the samples of ``blocks`` pooled, to the last bit (NaN if none)."""
    tails = [_as_tail(b) for b in blocks]
    n = sum(t.n for t in tails)
    if not n:
        return math.nan
    floor = max((t.floor for t in tails if t.n), default=-math.inf)
    if floor == -math.inf:
        return float(np.quantile(np.concatenate([t.samples() for t in tails]), q))
    below = sum(t.count_below(floor) for t in tails)
    kept = [(s := t.samples())[np.searchsorted(s, floor, side="left") :] for t in tails]
    upper = np.concatenate(kept)
    if not upper.size or not _reaches(n, q, below):
        raise ValueError(f"the kept parts of {len(tails)} blocks do not reach their pooled {q}")
    stand_in = np.concatenate((np.full(below, upper.min()), upper))
    return float(np.quantile(stand_in, q))


def tail_grid(blocks: Sequence[Block], cut: float = CUT, top: float = 1.0) -> TailGrid:
    """The :class:`TailGrid` of ``blocks``, each sorted positive samples or a :class:`BlockTail`.

    Samples below the lowest ``cut`` quantile of the blocks are only counted; samples
    above the highest ``top`` quantile of the blocks are dropped from the grid (a blend's
    quantile below ``top`` never reaches them: at that value every block, hence every
    blend, already holds a share ``top`` of its samples).
    """
    given = [_as_tail(b) for b in blocks]
    sizes = np.array([b.n for b in given], dtype=np.int64)
    full = [b for b in given if b.n]
    if not full:
        return TailGrid(np.zeros(0), np.zeros((len(blocks), 0)), sizes)
    cutoff = min(block_quantile(b, cut) for b in full)
    ceiling = max(block_quantile(b, top) for b in full)
    # On the kept part: the same samples as on the whole block, since cutoff >= floor.
    tails: list[tuple[np.ndarray, np.ndarray | None]] = []
    for b in given:
        lo = np.searchsorted(b.values, cutoff, side="left")
        hi = np.searchsorted(b.values, ceiling, side="right")
        tails.append((b.values[lo:hi], None if b.counts is None else b.counts[lo:hi]))
    below = np.array([b.count_below(cutoff) for b in given], dtype=np.int64)
    # Counted values sum exactly (whole numbers under 2**53, in any order); past that,
    # the samples one by one, as they would have come.
    largest = max((float(np.abs(t).max()) for t, _ in tails if t.size), default=0.0)
    if largest * float(sizes.sum()) >= 2.0**53:
        tails = [(t if c is None else np.repeat(t, c), None) for t, c in tails]
    # Whole cycles are >= 1; the floor keeps a zero sample in the first bin.
    bins = [np.floor(RESOLUTION * np.log2(np.maximum(t, 1))).astype(np.int64) for t, _ in tails]
    edges = np.unique(np.concatenate(bins))
    counts = np.zeros((len(blocks), edges.size))
    total = np.zeros(edges.size)
    for i, (b, (t, c)) in enumerate(zip(bins, tails, strict=True)):
        pos = np.searchsorted(edges, b)
        if c is None:
            counts[i] = np.bincount(pos, minlength=edges.size)
            total += np.bincount(pos, weights=t.astype(np.float64), minlength=edges.size)
        else:
            weight = c.astype(np.float64)
            counts[i] = np.bincount(pos, weights=weight, minlength=edges.size)
            total += np.bincount(pos, weights=t.astype(np.float64) * weight,
                                 minlength=edges.size)  # fmt: skip
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
