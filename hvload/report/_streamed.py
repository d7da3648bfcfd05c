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
from the first pass, and a second pass over the file applies them. What needs the
samples themselves: the interval of each level's pooled p99 and its changes, bootstraps
over whole blocks, which read each block's samples only above the lowest p90 (p97 for a
change) of the blocks involved, and below it only their number
(:mod:`hvload.stats._tailgrid`). Once every block's p90 and p97 are known, a last pass
keeps of each block its sorted upper part (:class:`hvload.stats.tails.BlockTail`): every
sample at or above the level's floor (the lowest p90 of its blocks and the lowest p97 of
any pair of levels it can be compared with), and at least the positions from its own
p90 on, as distinct values and their counts (4 + 4 bytes each where values fit in 32
bits). Memory is then the largest block at full width, those upper parts (the floor
often lies among a level's common values, but they repeat: a few hundred distinct values
a block), per level its distinct values, and per block a few numbers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..model import Campaign
from ..stats import DEFAULT, AnalysisConfig
from ..stats.blocks import Counts, Segments, segment_quantiles, sort_by_cell
from ..stats.inputs import Tidy, unpack
from ..stats.summary import outlier_bounds
from ..stats.table import BlockTable
from ..stats.tails import CHANGE_CUT
from ..stats.tails import CUT as LEVEL_CUT
from ..store import StoredCampaign, read_blocks

__all__ = ["StreamedCampaign", "in_file", "streamed"]

_QUANTILE = {"median": 0.5, "p99": 0.99}
_EMPTY = np.zeros(0, dtype=np.int64)
#: Blocks smaller than this keep every sample (a level holding one keeps all of its own),
#: so that a pooled p99 of a level's blocks always lies in the kept parts.
_WHOLE_BELOW = 64


class StreamedCampaign(StoredCampaign):
    """A :class:`~hvload.store.StoredCampaign` (of the admitted blocks) that the
    analysis reads block by block (:func:`hvload.stats.block_table` asks it)."""

    def __init__(
        self, blocks: pd.DataFrame, metadata: dict[str, Any], path: Path, source: StoredCampaign
    ) -> None:
        super().__init__(blocks, metadata, path)
        self._source = source
        self._tables: dict[tuple[Any, ...], dict[str, BlockTable]] = {}

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
        key = (config.metric, tuple(config.exclude), config.outlier_k, tsc_hz)
        if key not in self._tables:
            # Every probe at once: the analysis asks for the main probe and each control.
            self._tables = {key: _block_tables(self, config, tsc_hz)}
        tables = self._tables[key]
        label = config.probe if config.probe is not None else next(iter(tables))
        if label not in tables:  # as unpack refuses it
            _skeleton(self, config, tsc_hz)
        return tables[label]

    def hvload_block_medians(self) -> pd.DataFrame:
        """Each block's median of cycles per probe, warm-up left out, from the block
        statistics (what :func:`~hvload.report.normalised.normalised_blocks` groups the
        samples for): index ``(round, level_index)``, one column per ``probe_index``."""
        config = DEFAULT.replace(exclude=("warmup",), metric="cycles", probe=None)
        self.hvload_block_table(config, None)
        tables = next(iter(self._tables.values()))
        index_of = dict(zip(self.blocks["level"].astype(str), self.blocks["level_index"],
                            strict=False))  # fmt: skip
        columns: dict[int, dict[tuple[int, int], float]] = {}
        for p, bt in enumerate(tables.values()):
            tidy = bt.tidy
            for r, rnd in enumerate(tidy.rounds.tolist()):
                for lv, label in enumerate(tidy.levels):
                    if bt.sizes[r, lv] > 0:
                        key = (int(rnd), int(index_of[label]))
                        columns.setdefault(p, {})[key] = float(bt.stats["median"][r, lv])
        frame = pd.DataFrame(columns).sort_index()
        frame.index = frame.index.set_names(["round", "level_index"])
        frame.columns = frame.columns.set_names("probe_index")
        return frame


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


#: Pooled value counts: distinct values (ascending) and how often each occurs.
_Pooled = tuple[np.ndarray, np.ndarray]


def _merge_counts(into: _Pooled, values: np.ndarray) -> _Pooled:
    """Add sorted ``values`` to the pooled counts ``into`` (as pooled_counts merges)."""
    if not values.size:
        return into
    starts = np.concatenate(([0], np.flatnonzero(np.diff(values)) + 1))
    counts = np.diff(np.concatenate((starts, [values.size])))
    allv = np.concatenate((into[0], values[starts]))
    allc = np.concatenate((into[1], counts))
    distinct, inverse = np.unique(allv, return_inverse=True)
    return distinct, np.bincount(inverse, weights=allc).astype(np.int64)


class _Probe:
    """The block statistics of one probe, built block by block."""

    def __init__(self, tidy: Tidy, config: AnalysisConfig) -> None:
        self.tidy = tidy
        self.exclude = set(config.exclude)
        self.outlier_k = config.outlier_k
        n_levels, n_cells = tidy.n_levels, tidy.n_cells
        self.n_levels = n_levels
        empty = (_EMPTY, _EMPTY)
        self.all_c: list[_Pooled] = [empty] * n_levels
        self.clean_c: list[_Pooled] = [empty] * n_levels  # neither warm-up nor migrated
        self.kept_c: list[_Pooled] = [empty] * n_levels
        self.n_warm = np.zeros(n_levels, dtype=np.int64)
        self.n_migr = np.zeros(n_levels, dtype=np.int64)
        self.sizes = np.zeros(n_cells, dtype=np.int64)
        self.stats = {name: np.full(n_cells, np.nan) for name in _QUANTILE}
        self.halves = {name: np.full((n_cells, 2), np.nan) for name in _QUANTILE}
        self.n_samples = 0
        # Each block's p90 and p97 (NaN where empty): where its upper part must start.
        self.cuts = {q: np.full(n_cells, np.nan) for q in (LEVEL_CUT, CHANGE_CUT)}
        self.wide = False
        self.floors = np.full(n_cells, -math.inf)
        self.upper: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
        self.bounds = np.zeros((0, 2))

    @property
    def outliers(self) -> bool:
        """Whether outliers are left out: a second pass, once the bounds are known."""
        return "outlier" in self.exclude

    def _kept(self, warm: np.ndarray, migr: np.ndarray) -> np.ndarray:
        keep = np.ones(warm.size, dtype=bool)
        if "warmup" in self.exclude:
            keep &= ~warm
        if "migrated" in self.exclude:
            keep &= ~migr
        return keep

    def _inside(self, values: np.ndarray, lv: int) -> np.ndarray:
        return ~((values < self.bounds[lv, 0]) | (values > self.bounds[lv, 1]))

    def _reduce(self, cell: int, values: np.ndarray) -> None:
        """The block statistics of one cell's analysed values (in their order)."""
        lv = cell % self.n_levels
        size = values.size
        self.sizes[cell] = size
        seg = sort_by_cell(values, np.zeros(size, dtype=np.intp), 1)
        self.kept_c[lv] = _merge_counts(self.kept_c[lv], seg.values)
        if size:
            self.wide |= not (seg.values[0] >= -(2**31) and seg.values[-1] < 2**31)
            for q, at in self.cuts.items():
                at[cell] = float(np.quantile(seg.values, q))
        # The halves as block_table cuts them: by position among the analysed samples.
        second = (np.arange(size) >= size / 2.0).astype(np.intp)
        half = sort_by_cell(values, second, 2)
        for name, q in _QUANTILE.items():
            self.stats[name][cell] = segment_quantiles(seg, q)[0]
            self.halves[name][cell] = segment_quantiles(half, q)

    def first(self, cell: int, values: np.ndarray, warm: np.ndarray, migr: np.ndarray) -> None:
        lv = cell % self.n_levels
        self.n_samples += values.size
        self.all_c[lv] = _merge_counts(self.all_c[lv], np.sort(values))
        self.clean_c[lv] = _merge_counts(self.clean_c[lv], np.sort(values[~warm & ~migr]))
        self.n_warm[lv] += int(np.count_nonzero(warm))
        self.n_migr[lv] += int(np.count_nonzero(migr))
        if not self.outliers:
            self._reduce(cell, values[self._kept(warm, migr)])

    def bounds_known(self) -> None:
        counts = [Counts(v, c) for v, c in self.all_c]
        self.bounds = np.array([outlier_bounds(c, self.outlier_k) for c in counts])

    def second(self, cell: int, values: np.ndarray, warm: np.ndarray, migr: np.ndarray) -> None:
        inside = self._inside(values, cell % self.n_levels)
        self._reduce(cell, values[self._kept(warm, migr) & inside])

    def floors_known(self) -> None:
        """Each level's floor, from every block's p90 and p97 (see the module notes)."""
        n_levels = self.n_levels
        sizes = self.sizes.reshape(-1, n_levels)
        p90 = self.cuts[LEVEL_CUT].reshape(-1, n_levels)
        p97 = self.cuts[CHANGE_CUT].reshape(-1, n_levels)
        full = sizes > 0
        for a in range(n_levels):
            if not full[:, a].any() or (sizes[full[:, a], a] < _WHOLE_BELOW).any():
                continue
            floor = float(p90[full[:, a], a].min())
            for b in range(n_levels):
                both = full[:, a] & full[:, b]
                if b != a and both.any():
                    floor = min(floor, float(p97[both, a].min()), float(p97[both, b].min()))
            self.floors.reshape(-1, n_levels)[:, a] = floor

    def keep_upper(self, cell: int, values: np.ndarray, warm: np.ndarray, migr: np.ndarray) -> None:
        """The last pass: the upper part of one cell's analysed values, sorted."""
        keep = self._kept(warm, migr)
        if self.outliers:
            keep &= self._inside(values, cell % self.n_levels)
        ordered = np.sort(values[keep])
        n = ordered.size
        # From the floor, and from one position under the block's own p90 at the latest
        # (what block_quantile reads, with its margin).
        start = int(np.searchsorted(ordered, self.floors[cell], side="left"))
        start = max(0, min(start, math.floor((n - 1) * LEVEL_CUT) - 1)) if n else 0
        upper = ordered[start:]
        if self.wide:
            self.upper[cell] = (upper, None)
            return
        # Latencies repeat (a few distinct values hold most samples): each distinct value
        # once with its count, 4 + 4 bytes.
        starts = np.concatenate(([0], np.flatnonzero(np.diff(upper)) + 1)) if n else _EMPTY
        counts = np.diff(np.append(starts, upper.size)).astype(np.int32)
        self.upper[cell] = (upper[starts].astype(np.int32), counts)

    def table(self) -> BlockTable:
        tidy, n_levels = self.tidy, self.n_levels
        n_rounds = tidy.n_rounds
        all_counts = [Counts(v, c) for v, c in self.all_c]
        n_out = np.array(
            [int(c.counts[~self._inside(c.values, lv)].sum()) for lv, c in enumerate(all_counts)],
            dtype=np.int64,
        )
        clean_in = np.array(
            [int(c[1][self._inside(c[0], lv)].sum()) for lv, c in enumerate(self.clean_c)],
            dtype=np.int64,
        )
        totals = np.array([c.n for c in all_counts], dtype=np.int64)
        flag_counts = {
            "migrated": self.n_migr, "warmup": self.n_warm, "outlier": n_out,
            "any": totals - clean_in,
        }  # fmt: skip
        n_analysed = int(self.sizes.sum())
        bare = dataclasses.replace(
            tidy, cycles=_EMPTY, cell=np.zeros(0, dtype=np.intp),
            migrated=np.zeros(0, dtype=bool), warmup=np.zeros(0, dtype=bool), sample_order=None,
        )  # fmt: skip
        # Each block's upper part, sorted, in cell order; filled in place, not concatenated,
        # so that the parts are never held twice.
        kept = np.zeros(tidy.n_cells, dtype=np.intp)
        for c, (part, _) in self.upper.items():
            kept[c] = part.size
        offsets = np.zeros(tidy.n_cells + 1, dtype=np.intp)
        np.cumsum(kept, out=offsets[1:])
        values = np.empty(int(offsets[-1]), dtype=np.int64 if self.wide else np.int32)
        counts = None if self.wide else np.empty(values.size, dtype=np.int32)
        for c in sorted(self.upper):
            part, times = self.upper.pop(c)
            values[offsets[c] : offsets[c + 1]] = part
            if counts is not None and times is not None:
                counts[offsets[c] : offsets[c + 1]] = times
        seg = Segments(values, offsets)
        return BlockTable(
            tidy=bare,
            seg=seg,
            all_counts=all_counts,
            counts=[Counts(v, c) for v, c in self.kept_c],
            stats={name: v.reshape(n_rounds, n_levels) for name, v in self.stats.items()},
            halves={name: v.reshape(n_rounds, n_levels, 2) for name, v in self.halves.items()},
            sizes=self.sizes.reshape(n_rounds, n_levels),
            flags={},
            flag_counts=flag_counts,
            n_samples=self.n_samples,
            n_analysed=n_analysed,
            floors=self.floors,
            upper_counts=counts,
        )


#: The columns the block statistics need (``late``, or ``response`` before format 4).
_NEEDED = ("block", "probe_index", "cycles", "late", "response", "migrated", "warmup")


def _block_tables(
    camp: StreamedCampaign, config: AnalysisConfig, tsc_hz: float | None
) -> dict[str, BlockTable]:
    """The block table of every probe of ``camp`` under ``config``, in two passes over its
    file (three when outliers are left out)."""
    labels = _skeleton(camp, config.replace(probe=None), tsc_hz).probes
    probes = {}
    cell_of = {}
    block_ids = camp.blocks["block"].to_numpy(dtype=np.int64).tolist()
    for index, label in enumerate(labels):
        tidy = _skeleton(camp, config.replace(probe=label), tsc_hz)
        probes[index] = _Probe(tidy, config)
        # The skeleton holds one row per admitted block of the probe: its cell.
        cell_of[index] = dict(zip(block_ids, tidy.cell.tolist(), strict=True))
    path = Path(str(camp.path))

    def blocks() -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
        """(probe, cell, values, warm-up, migrated) of each probe's run in each block."""
        # Verified when the campaign was opened (StoredCampaign.verified, or the run's
        # own check of the file it wrote): read here without the checks again.
        for _, cols in read_blocks(path, verify=False, columns=_NEEDED):
            block = cols["block"]
            index = cols.get("probe_index")
            if index is None:  # before format 3: the main probe only
                index = np.zeros(block.size, dtype=np.int16)
            values = cols[config.metric].astype(np.int64, copy=False)
            warm = np.asarray(cols["warmup"], dtype=bool)
            migr = np.asarray(cols["migrated"], dtype=bool)
            # Rows come block by block and, inside one, probe by probe: one run each.
            key = block.astype(np.int64) * 65536 + index.astype(np.int64)
            edges = np.concatenate(([0], np.flatnonzero(np.diff(key)) + 1, [key.size]))
            for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
                p = int(index[lo])
                cell = cell_of.get(p, {}).get(int(block[lo]))
                if cell is None:  # a block the policy left out
                    continue
                yield p, cell, values[lo:hi], warm[lo:hi], migr[lo:hi]

    for p, cell, values, warm, migr in blocks():
        probes[p].first(cell, values, warm, migr)
    for acc in probes.values():
        acc.bounds_known()
    if any(acc.outliers for acc in probes.values()):
        for p, cell, values, warm, migr in blocks():
            probes[p].second(cell, values, warm, migr)
    for acc in probes.values():
        acc.floors_known()
    for p, cell, values, warm, migr in blocks():
        probes[p].keep_upper(cell, values, warm, migr)
    return {labels[p]: acc.table() for p, acc in probes.items()}
