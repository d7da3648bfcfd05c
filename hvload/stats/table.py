"""Block tables: a campaign's samples unpacked, the exclusions applied, block statistics.

The input of every test (:mod:`hvload.stats.analysis`, :mod:`hvload.stats.attribution`,
:mod:`hvload.stats.plan`) and of the figures' sample selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .blocks import Counts, Segments, pooled_counts, segment_quantiles, sort_by_cell
from .config import DEFAULT, AnalysisConfig
from .inputs import Tidy, unpack
from .summary import outlier_bounds

__all__ = ["BlockTable", "Selection", "block_table", "log_matrix", "selection"]

_QUANTILE = {"median": 0.5, "p99": 0.99}


@dataclass(frozen=True)
class BlockTable:
    """Block statistics of a campaign after exclusions, the input of every test.

    Attributes
    ----------
    tidy : Tidy
        The unpacked sample table.
    seg : Segments
        Analysed samples sorted within each cell (``round * n_levels + level``).
    stats : dict of str to numpy.ndarray
        ``rounds x levels`` block median and p99 (NaN where a block is empty).
    halves : dict of str to numpy.ndarray
        ``rounds x levels x 2``: the same on the first and second half of each block.
    sizes : numpy.ndarray
        ``rounds x levels`` analysed samples per block.
    flags : dict of str to numpy.ndarray
        Per-sample flags (migrated, warmup, outlier) over all samples.
    flag_counts : dict of str to numpy.ndarray, optional
        Per level, the samples each flag marks (and ``any``: one flag at least); given by
        a table built block by block, which has no per-sample arrays.
    n_samples, n_analysed : int, optional
        The probe's samples and those analysed, where the arrays are not held.
    floors : numpy.ndarray, optional
        Per cell, where ``seg`` holds only each cell's upper part (a table built block by
        block): every analysed sample at or above the floor is in ``seg``
        (:func:`hvload.stats.tails.cell_blocks`); ``sizes`` counts them all.
    upper_counts : numpy.ndarray, optional
        With ``floors``: how often each of ``seg``'s values occurs (``seg`` then holds
        each cell's distinct values); None: once each.
    """

    tidy: Tidy
    seg: Segments
    all_counts: list[Counts]
    counts: list[Counts]
    stats: dict[str, np.ndarray]
    halves: dict[str, np.ndarray]
    sizes: np.ndarray
    flags: dict[str, np.ndarray]
    flag_counts: dict[str, np.ndarray] | None = None
    n_samples: int | None = None
    n_analysed: int | None = None
    floors: np.ndarray | None = None
    upper_counts: np.ndarray | None = None

    def level_flags(self) -> dict[str, np.ndarray]:
        """Per level, the samples each flag marks, and ``any``: those with a flag."""
        if self.flag_counts is not None:
            return self.flag_counts
        n_levels = self.tidy.n_levels
        level_of = self.tidy.cell % n_levels
        per_level = {
            name: np.bincount(level_of[rows], minlength=n_levels)
            for name, rows in self.flags.items()
        }
        any_flag = self.flags["migrated"] | self.flags["warmup"] | self.flags["outlier"]
        per_level["any"] = np.bincount(level_of[any_flag], minlength=n_levels)
        return per_level


def _positions(cell: np.ndarray, n_cells: int) -> np.ndarray:
    """Position of every sample inside its cell, in table order."""
    if cell.size == 0:
        return np.zeros(0, dtype=np.intp)
    starts = np.concatenate(([0], np.flatnonzero(cell[1:] != cell[:-1]) + 1))
    if starts.size == np.count_nonzero(np.bincount(cell, minlength=n_cells)):
        # Campaigns write each block contiguously: positions restart at every run.
        run_start = np.repeat(starts, np.diff(np.concatenate((starts, [cell.size]))))
        return np.arange(cell.size) - run_start
    order = np.argsort(cell, kind="stable")
    sizes = np.bincount(cell, minlength=n_cells)
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    pos = np.empty(cell.size, dtype=np.intp)
    pos[order] = np.arange(cell.size) - offsets[cell[order]]
    return pos


@dataclass(frozen=True)
class Selection:
    """A sample table unpacked, with the samples an analysis keeps.

    Attributes
    ----------
    tidy : Tidy
        The unpacked table (levels in load order, the configured metric).
    keep : numpy.ndarray
        Boolean per sample: not flagged by any of the configuration's ``exclude``.
    flags : dict of str to numpy.ndarray
        Per-sample ``migrated``, ``warmup`` and ``outlier`` flags.
    all_seg : Segments
        Every sample sorted within its cell.
    all_counts : list of Counts
        Every sample of each level as value counts.
    """

    tidy: Tidy
    keep: np.ndarray
    flags: dict[str, np.ndarray]
    all_seg: Segments
    all_counts: list[Counts]


def selection(
    data: Any, config: AnalysisConfig = DEFAULT, *, tsc_hz: float | None = None
) -> Selection:
    """Unpack ``data`` and flag the samples ``config`` leaves out (plots use this too)."""
    tidy = unpack(data, tsc_hz=tsc_hz, metric=config.metric, probe=config.probe)
    n_levels, n_rounds = tidy.n_levels, tidy.n_rounds
    all_seg = sort_by_cell(tidy.cycles, tidy.cell, tidy.n_cells)
    level_cells = [np.arange(n_rounds) * n_levels + lv for lv in range(n_levels)]
    all_counts = [pooled_counts(all_seg, cells) for cells in level_cells]
    bounds = np.array([outlier_bounds(c, config.outlier_k) for c in all_counts])
    level_of = tidy.cell % n_levels
    outlier = (tidy.cycles < bounds[level_of, 0]) | (tidy.cycles > bounds[level_of, 1])
    flags = {"migrated": tidy.migrated, "warmup": tidy.warmup, "outlier": outlier}
    keep = np.ones(tidy.cycles.size, dtype=bool)
    for name in config.exclude:
        keep &= ~flags[name]
    return Selection(tidy, keep, flags, all_seg, all_counts)


def block_table(
    data: Any, config: AnalysisConfig = DEFAULT, *, tsc_hz: float | None = None
) -> BlockTable:
    """Unpack ``data``, apply the configuration's exclusions and compute block statistics.

    ``data`` with a ``hvload_block_table(config, tsc_hz)`` method (a campaign whose samples stay
    in its file) computes its own, block by block.
    """
    own = getattr(data, "hvload_block_table", None)
    if callable(own):
        result: BlockTable = own(config, tsc_hz)
        return result
    sel = selection(data, config, tsc_hz=tsc_hz)
    tidy, all_seg, all_counts, flags = sel.tidy, sel.all_seg, sel.all_counts, sel.flags
    n_levels, n_rounds = tidy.n_levels, tidy.n_rounds
    level_cells = [np.arange(n_rounds) * n_levels + lv for lv in range(n_levels)]
    if config.exclude:
        values, cell = tidy.cycles[sel.keep], tidy.cell[sel.keep]
        seg = sort_by_cell(values, cell, tidy.n_cells)
        counts = [pooled_counts(seg, cells) for cells in level_cells]
    else:
        values, cell = tidy.cycles, tidy.cell
        seg, counts = all_seg, all_counts
    sizes = seg.sizes.reshape(n_rounds, n_levels)
    block = {
        name: segment_quantiles(seg, q).reshape(n_rounds, n_levels) for name, q in _QUANTILE.items()
    }
    pos = _positions(cell, tidy.n_cells)
    second = pos >= (np.bincount(cell, minlength=tidy.n_cells)[cell] / 2.0)
    half_seg = sort_by_cell(values, cell * 2 + second, 2 * tidy.n_cells)
    halves = {
        name: segment_quantiles(half_seg, q).reshape(n_rounds, n_levels, 2)
        for name, q in _QUANTILE.items()
    }
    return BlockTable(tidy, seg, all_counts, counts, block, halves, sizes, flags)


def log_matrix(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)
