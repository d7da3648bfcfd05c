"""Block statistics of a campaign in its file, computed block by block.

``hvload run`` and ``hvload report`` analyse campaigns far larger than they could hold
(:class:`~hvload.store.StoredCampaign`): the analysis works on block statistics and
pooled value counts (:class:`hvload.stats.BlockTable`), so the samples are read one
block (row group) at a time, reduced to what the statistics need, and let go. The
figures are those :func:`hvload.stats.block_table` computes on the loaded samples, to
the last bit: each block's quantiles go through the same functions, and a level's pooled
counts are merged exactly.

What cannot be done block by block: leaving out outliers (``exclude`` with
``outlier``), since a sample is an outlier by its level's pooled median and MAD. The
pooled counts are kept per level (a few thousand distinct values), so the bounds come
from the first pass, and a second pass over the file applies them. Memory is then the
largest block at full width, plus per level its distinct values, plus per block a few
numbers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..model import Campaign
from ..stats import AnalysisConfig
from ..stats.blocks import Counts, Segments, segment_quantiles, sort_by_cell
from ..stats.inputs import Tidy, unpack
from ..stats.summary import outlier_bounds
from ..stats.table import BlockTable
from ..store import StoredCampaign, read_blocks

__all__ = ["StreamedCampaign", "in_file", "streamed"]

_QUANTILE = {"median": 0.5, "p99": 0.99}
_EMPTY = np.zeros(0, dtype=np.int64)


class StreamedCampaign(StoredCampaign):
    """A :class:`~hvload.store.StoredCampaign` (of the admitted blocks) that the
    analysis reads block by block (:func:`hvload.stats.block_table` asks it)."""

    def __init__(
        self, blocks: pd.DataFrame, metadata: dict[str, Any], path: Path, source: StoredCampaign
    ) -> None:
        super().__init__(blocks, metadata, path)
        self._source = source

    @property
    def samples(self) -> pd.DataFrame:
        if self._samples is None:
            wanted = set(self.blocks["block"].tolist()) if len(self.blocks) else set()
            all_samples = self._source.samples
            keep = all_samples["block"].isin(wanted)
            self._samples = all_samples.loc[keep].reset_index(drop=True)
        return self._samples

    @samples.setter
    def samples(self, value: pd.DataFrame) -> None:
        self._samples = value

    def hvload_block_table(self, config: AnalysisConfig, tsc_hz: float | None) -> BlockTable:
        if self.loaded:  # someone asked for the samples already: use them
            from ..stats.table import block_table

            return block_table(Campaign(self.samples, self.blocks, self.metadata, self.path),
                               config, tsc_hz=tsc_hz)  # fmt: skip
        return _block_table(self, config, tsc_hz)


def in_file(camp: Any) -> bool:
    """Whether ``camp`` keeps its samples in its file (not read yet)."""
    return isinstance(camp, StoredCampaign) and not camp.loaded and camp.path is not None


def streamed(camp: StoredCampaign, usable: Any) -> StreamedCampaign:
    """``camp`` with the block policy ``usable`` applied, analysed block by block."""
    # The policy sees the block table only: a stand-in without samples.
    stand_in = Campaign(pd.DataFrame({"block": _EMPTY}), camp.blocks, camp.metadata, camp.path)
    used = usable(stand_in)
    return StreamedCampaign(used.blocks, used.metadata, Path(str(camp.path)), camp)


def _skeleton(camp: StreamedCampaign, config: AnalysisConfig, tsc_hz: float | None) -> Tidy:
    """The campaign unpacked as :func:`~hvload.stats.unpack` would, one row per block and
    probe: the levels in load order, the rounds, the probe and every check of the labels."""
    blocks = camp.blocks
    design = camp.metadata.get("design") or {}
    k = len(design.get("probes") or []) or 1
    n = len(blocks)
    frame = pd.DataFrame(
        {
            "round": np.repeat(blocks["round"].to_numpy(dtype=np.int64), k),
            "level": np.repeat(blocks["level"].astype(str).to_numpy(dtype=object), k),
            "level_index": np.repeat(blocks["level_index"].to_numpy(dtype=np.int64), k),
            "block": np.repeat(blocks["block"].to_numpy(dtype=np.int64), k),
            "probe_index": np.tile(np.arange(k, dtype=np.int64), n),
            "cycles": np.zeros(n * k, dtype=np.int64),
            "response": np.zeros(n * k, dtype=np.int64),
        }
    )
    holder = Campaign(frame, blocks, camp.metadata, camp.path)
    return unpack(holder, tsc_hz=tsc_hz, metric=config.metric, probe=config.probe)


def _merge_counts(
    into: tuple[np.ndarray, np.ndarray], values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Add sorted ``values`` to the pooled counts ``into`` (as pooled_counts merges)."""
    if not values.size:
        return into
    starts = np.concatenate(([0], np.flatnonzero(np.diff(values)) + 1))
    counts = np.diff(np.concatenate((starts, [values.size])))
    allv = np.concatenate((into[0], values[starts]))
    allc = np.concatenate((into[1], counts))
    distinct, inverse = np.unique(allv, return_inverse=True)
    return distinct, np.bincount(inverse, weights=allc).astype(np.int64)


def _block_table(
    camp: StreamedCampaign, config: AnalysisConfig, tsc_hz: float | None
) -> BlockTable:
    tidy = _skeleton(camp, config, tsc_hz)
    n_levels, n_rounds = tidy.n_levels, tidy.n_rounds
    probe = tidy.probes.index(tidy.probe)
    # The skeleton holds one row per block of the chosen probe: its cell.
    block_ids = camp.blocks["block"].to_numpy(dtype=np.int64)
    cell_of = dict(zip(block_ids.tolist(), tidy.cell.tolist(), strict=True))
    path = Path(camp.path) if camp.path is not None else Path()
    exclude = set(config.exclude)
    outliers = "outlier" in exclude

    def blocks_of_probe() -> Any:
        """(cell, values, warmup, migrated) of the chosen probe in each admitted block."""
        # Verified when the campaign was opened (StoredCampaign.verified, or the run's
        # own check of the file it wrote): read here without the checks again.
        for _, cols in read_blocks(path, verify=False):
            block = cols["block"]
            index = cols.get("probe_index")
            mine = (index == probe) if index is not None else np.full(block.size, probe == 0)
            values_all = cols[config.metric]
            # Rows come block by block; each block's rows of one probe are one run.
            ids = block[mine]
            vals, warm, migr = values_all[mine], cols["warmup"][mine], cols["migrated"][mine]
            del cols, values_all
            if not ids.size:
                continue
            edges = np.concatenate(([0], np.flatnonzero(np.diff(ids)) + 1, [ids.size]))
            for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
                cell = cell_of.get(int(ids[lo]))
                if cell is None:  # a block the policy left out
                    continue
                yield (
                    cell,
                    vals[lo:hi].astype(np.int64, copy=False),
                    np.asarray(warm[lo:hi], dtype=bool),
                    np.asarray(migr[lo:hi], dtype=bool),
                )

    def kept(warm: np.ndarray, migr: np.ndarray) -> np.ndarray:
        keep = np.ones(warm.size, dtype=bool)
        if "warmup" in exclude:
            keep &= ~warm
        if "migrated" in exclude:
            keep &= ~migr
        return keep

    n_cells = n_levels * n_rounds
    empty = (_EMPTY, _EMPTY)
    all_c = [empty] * n_levels
    clean_c = [empty] * n_levels  # neither warm-up nor migrated: for "any flag"
    kept_c = [empty] * n_levels
    n_warm = np.zeros(n_levels, dtype=np.int64)
    n_migr = np.zeros(n_levels, dtype=np.int64)
    sizes = np.zeros(n_cells, dtype=np.int64)
    stats = {name: np.full(n_cells, np.nan) for name in _QUANTILE}
    halves = {name: np.full((n_cells, 2), np.nan) for name in _QUANTILE}
    n_samples = 0

    def reduce(cell: int, values: np.ndarray) -> None:
        """The block statistics of one cell's analysed values, in their order."""
        lv = cell % n_levels
        size = values.size
        sizes[cell] = size
        seg = sort_by_cell(values, np.zeros(size, dtype=np.intp), 1)
        kept_c[lv] = _merge_counts(kept_c[lv], seg.values)
        second = (np.arange(size) >= size / 2.0).astype(np.intp)
        half = sort_by_cell(values, second, 2)
        for name, q in _QUANTILE.items():
            stats[name][cell] = segment_quantiles(seg, q)[0]
            halves[name][cell] = segment_quantiles(half, q)

    for cell, values, warm, migr in blocks_of_probe():
        lv = cell % n_levels
        n_samples += values.size
        all_c[lv] = _merge_counts(all_c[lv], np.sort(values))
        clean_c[lv] = _merge_counts(clean_c[lv], np.sort(values[~warm & ~migr]))
        n_warm[lv] += int(warm.sum())
        n_migr[lv] += int(migr.sum())
        if not outliers:
            reduce(cell, values[kept(warm, migr)])

    all_counts = [Counts(v, c) for v, c in all_c]
    bounds = np.array([outlier_bounds(c, config.outlier_k) for c in all_counts])

    def inside(values: np.ndarray, lv: int) -> np.ndarray:
        return ~((values < bounds[lv, 0]) | (values > bounds[lv, 1]))

    n_out = np.array(
        [int(c.counts[~inside(c.values, lv)].sum()) for lv, c in enumerate(all_counts)],
        dtype=np.int64,
    )
    n_clean_in = np.array(
        [int(c[1][inside(c[0], lv)].sum()) for lv, c in enumerate(clean_c)], dtype=np.int64
    )
    totals = np.array([c.n for c in all_counts], dtype=np.int64)
    if outliers:
        for cell, values, warm, migr in blocks_of_probe():
            reduce(cell, values[kept(warm, migr) & inside(values, cell % n_levels)])
    counts = [Counts(v, c) for v, c in kept_c]
    flag_counts = {
        "migrated": n_migr,
        "warmup": n_warm,
        "outlier": n_out,
        "any": totals - n_clean_in,
    }
    n_analysed = int(sizes.sum())
    tidy = dataclasses.replace(
        tidy, cycles=_EMPTY, cell=np.zeros(0, dtype=np.intp),
        migrated=np.zeros(0, dtype=bool), warmup=np.zeros(0, dtype=bool), sample_order=None,
    )  # fmt: skip
    offsets = np.zeros(n_cells + 1, dtype=np.intp)
    np.cumsum(sizes, out=offsets[1:])
    # The analysis reads only the sizes of these: the samples themselves are not held.
    seg = Segments(np.broadcast_to(np.int64(0), (n_analysed,)), offsets)
    return BlockTable(
        tidy=tidy,
        seg=seg,
        all_counts=all_counts,
        counts=counts,
        stats={name: v.reshape(n_rounds, n_levels) for name, v in stats.items()},
        halves={name: v.reshape(n_rounds, n_levels, 2) for name, v in halves.items()},
        sizes=sizes.reshape(n_rounds, n_levels),
        flags={},
        flag_counts=flag_counts,
        n_samples=n_samples,
        n_analysed=n_analysed,
    )
