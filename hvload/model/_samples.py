"""The sample schema, and the lean (in memory) and wide (measured, on disk) sample tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ._design import Campaign

#: Columns of a campaign's sample table, in order. Inside a block the rows come probe by
#: probe (``probe_index`` 0 is the main probe, then the controls in design order), each
#: probe's samples in the order it measured them (``sample``); ``start`` keeps the TSC
#: at which each was taken, so the interleaving of the probes can be reconstructed.
SAMPLE_COLUMNS = (
    "campaign", "round", "level", "level_index", "block", "probe_index", "sample", "start",
    "cycles", "response", "rax", "cpu", "migrated", "warmup",
)  # fmt: skip
#: The columns of format 1 and 2 files, written before control probes existed.
LEGACY_COLUMNS = tuple(c for c in SAMPLE_COLUMNS if c != "probe_index")


def sample_columns(format_version: int) -> tuple[str, ...]:
    """The sample columns a file of ``format_version`` holds."""
    return SAMPLE_COLUMNS if format_version >= 3 else LEGACY_COLUMNS


#: numpy dtype of each sample column as measured and digested ("str" for the text
#: columns, constant per block); in memory a loaded campaign is leaner (:data:`LEAN_KINDS`).
SAMPLE_DTYPES = {
    "campaign": "str", "round": "int32", "level": "str", "level_index": "int32",
    "block": "int32", "probe_index": "int16", "sample": "int64", "start": "int64",
    "cycles": "int64", "response": "int64", "rax": "int64", "cpu": "int16", "migrated": "bool",
    "warmup": "bool",
}  # fmt: skip


# -- lean samples in memory -------------------------------------------------------------------

#: How each sample column is held in memory by :func:`lean_samples` (what :func:`hvload.load`
#: returns): ``category`` for the text columns (one small code per row, ``level`` with the
#: design's levels as its categories, in load order); ``id``: the narrowest unsigned integer
#: type that holds the column's values; ``ticks``: ``int32`` where the values fit, else
#: ``int64`` (TSC ticks, signed so that differences of latencies cannot wrap); ``offset``:
#: ``start`` counted from its block's first sample (the block's TSC origin is
#: ``blocks["start_tsc"]``), ``uint32`` where a block spans less than 2**32 ticks (1.6 s at
#: 2.6 GHz), else ``int64``; ``code``: the narrowest signed type (RAX, a status);
#: ``flag``: Arrow booleans (``bool[pyarrow]``), one bit per sample. A default-sized
#: campaign then takes 22.25 bytes per sample, 23.25 with the system-call control (its
#: RAX needs two bytes): benchmarks/bench_dataset.py, tests/test_lean.py.
LEAN_KINDS = {
    "campaign": "category", "round": "id", "level": "category", "level_index": "id",
    "block": "id", "probe_index": "id", "sample": "id", "start": "offset", "cycles": "ticks",
    "response": "ticks", "rax": "code", "cpu": "id", "migrated": "flag", "warmup": "flag",
}  # fmt: skip

_BITS = (8, 16, 32, 64)


def _narrowest(values: np.ndarray, *, unsigned: bool, min_bits: int = 8) -> np.dtype:
    """The narrowest integer dtype of at least ``min_bits`` that holds ``values``."""
    if values.size == 0:
        lo = hi = 0
    else:
        lo, hi = int(values.min()), int(values.max())
    return _narrowest_range(lo, hi, unsigned=unsigned, min_bits=min_bits)


def _narrowest_range(lo: int, hi: int, *, unsigned: bool, min_bits: int = 8) -> np.dtype:
    """The narrowest integer dtype of at least ``min_bits`` that holds ``lo..hi``."""
    kind = "uint" if unsigned and lo >= 0 else "int"  # a negative value forces a signed type
    for bits in _BITS:
        if bits < min_bits:
            continue
        dtype = np.dtype(f"{kind}{bits}")
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    return np.dtype(np.int64)


def _block_codes(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense code of each row's block and the block ids, in order of first appearance."""
    codes, ids = pd.factorize(block, sort=False)
    return codes.astype(np.intp, copy=False), np.asarray(ids, dtype=np.int64)


def _category(values: Any, categories: Sequence[str]) -> pd.Categorical:
    """``values`` as a Categorical whose categories start with ``categories``.

    Unused categories stay (a level of the design with no block yet is still a level).
    The categories are plain Python strings (object dtype): turning the column into an
    array or text is then several times faster than with Arrow-backed strings.
    """
    if isinstance(values, pd.Categorical):
        codes, have = values.codes, [str(c) for c in values.categories]
    else:
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        have = [str(c) for c in uniques]
    known = list(dict.fromkeys(str(c) for c in categories))
    extra = [c for c in dict.fromkeys(have) if c not in set(known)]
    final = known + extra
    where = {c: i for i, c in enumerate(final)}
    remap = np.array([where[c] for c in have] + [-1], dtype=np.int32)  # -1 stays missing
    new_codes = remap[np.asarray(codes, dtype=np.int64)]
    return pd.Categorical.from_codes(new_codes, categories=pd.Index(final, dtype=object))


def lean_samples(
    columns: Mapping[str, Any], *, levels: Sequence[str] = (), campaign: str | None = None
) -> tuple[pd.DataFrame, dict[int, int]]:
    """The lean in-memory sample table (:data:`LEAN_KINDS`) from full-width columns.

    Parameters
    ----------
    columns
        Every column of :data:`SAMPLE_COLUMNS`: numpy integer or bool arrays, the text
        columns as arrays of str or :class:`pandas.Categorical`; ``start`` in absolute TSC
        ticks.
    levels
        The design's level names in order: the categories of ``level``.
    campaign
        The campaign id: the first category of ``campaign``.

    Returns
    -------
    samples, origins
        The table, and each block's TSC origin (block id -> ``start`` of its first
        sample, the smallest in the block) that its ``start`` values count from.
    """
    out, origins = lean_columns(columns, levels=levels, campaign=campaign)
    return pd.DataFrame(out, copy=False), origins


def lean_columns(
    columns: Mapping[str, Any], *, levels: Sequence[str] = (), campaign: str | None = None
) -> tuple[dict[str, Any], dict[int, int]]:
    """:func:`lean_samples` as its columns (name -> array), before they become a frame:
    the parts :func:`concat_lean` joins without a frame in between."""
    if "probe_index" not in columns:  # before format 3: the main probe only
        columns = {**columns, "probe_index": np.zeros(len(columns["block"]), np.uint8)}
    block = np.asarray(columns["block"])
    codes, ids = _block_codes(block)
    start = np.asarray(columns["start"], dtype=np.int64)
    origin = np.full(ids.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(origin, codes, start)
    offset = start - origin[codes] if start.size else start
    out: dict[str, Any] = {}
    for name in SAMPLE_COLUMNS:
        kind = LEAN_KINDS[name]
        if name == "start":
            fits = offset.size == 0 or int(offset.max()) < 2**32
            out[name] = offset.astype(np.uint32 if fits else np.int64)
            continue
        values = columns[name]
        if kind == "category":
            cats = [campaign] if name == "campaign" and campaign is not None else []
            out[name] = _category(values, levels if name == "level" else cats)
        elif kind == "flag":
            out[name] = pd.arrays.ArrowExtensionArray(pa.array(np.asarray(values, dtype=bool)))
        else:
            arr = np.asarray(values)
            if kind == "id":
                dtype = _narrowest(arr, unsigned=True)
            elif kind == "ticks":
                dtype = _narrowest(arr, unsigned=False, min_bits=32)
            else:
                dtype = _narrowest(arr, unsigned=False)
            out[name] = arr.astype(dtype, copy=False)
    return out, {int(b): int(o) for b, o in zip(ids.tolist(), origin.tolist(), strict=True)}


def concat_lean(
    parts: Sequence[Any], *, levels: Sequence[str] = (), campaign: str | None = None
) -> pd.DataFrame:
    """Lean tables of consecutive blocks (:func:`lean_samples`) as one lean table.

    Each column takes the type :func:`lean_samples` would give all the rows at once (the
    narrowest over every part), so a campaign decoded block by block is the same table as
    one decoded whole, without the whole campaign ever held at full width. A list given
    is emptied as its columns are joined, so that each part's column can go once joined:
    the peak is then the table plus one column, not twice the table.
    """
    if len(parts) == 1 and isinstance(parts[0], pd.DataFrame):
        return parts[0]
    # Column by column, each part's column dropped once joined. Parts are lean frames,
    # or their columns (lean_columns), whose arrays nothing else holds.
    columns = [{c: p[c] for c in SAMPLE_COLUMNS} for p in parts]
    if isinstance(parts, list):
        parts.clear()
    del parts
    out: dict[str, Any] = {}
    for name in SAMPLE_COLUMNS:
        kind = LEAN_KINDS[name]
        cols = [p.pop(name) for p in columns]
        if kind == "category":
            cats = [campaign] if name == "campaign" and campaign is not None else []
            known = list(levels) if name == "level" else cats
            # The categories of every part, in order of first appearance, as one would have.
            parts_cat = [c if isinstance(c, pd.Categorical) else c.array for c in cols]
            seen = (str(c) for cat in parts_cat for c in cat.categories)
            union = list(dict.fromkeys([*known, *seen]))
            codes = [np.asarray(cat.codes, dtype=np.int32) for cat in parts_cat]
            remaps = [
                np.array([union.index(str(c)) for c in cat.categories] + [-1], dtype=np.int32)
                for cat in parts_cat
            ]
            del parts_cat
            merged = np.concatenate([r[c] for r, c in zip(remaps, codes, strict=True)])
            out[name] = pd.Categorical.from_codes(merged, categories=pd.Index(union, dtype=object))
        elif kind == "flag":
            chunks = [pa.array(np.asarray(col, dtype=bool)) for col in cols]
            out[name] = pd.arrays.ArrowExtensionArray(pa.concat_arrays(chunks))
        else:
            arrays = [np.asarray(col) for col in cols]
            sized = [a for a in arrays if a.size]
            lo = min((int(a.min()) for a in sized), default=0)
            hi = max((int(a.max()) for a in sized), default=0)
            if kind == "offset":
                dtype = np.dtype(np.uint32 if hi < 2**32 else np.int64)
            elif kind == "id":
                dtype = _narrowest_range(lo, hi, unsigned=True)
            elif kind == "ticks":
                dtype = _narrowest_range(lo, hi, unsigned=False, min_bits=32)
            else:
                dtype = _narrowest_range(lo, hi, unsigned=False)
            out[name] = np.concatenate([a.astype(dtype, copy=False) for a in arrays])
            del arrays, sized
    return pd.DataFrame(out, copy=False)


class LeanBuilder:
    """The lean table of a campaign filled block by block into arrays of its final size.

    Each column starts in the type its first rows need and is widened (rarely) when
    later rows need more, so that the result has the types :func:`lean_samples` gives
    the whole at once, while memory holds the final table and one block, never the
    blocks as separate parts as well (freed small arrays stay in the process).
    """

    def __init__(self, n_rows: int, *, levels: Sequence[str] = (), campaign: str | None = None):
        self.n = n_rows
        self.at = 0
        self.levels = levels
        self.campaign = campaign
        self.arrays: dict[str, np.ndarray] = {}
        self.ranges: dict[str, tuple[int, int]] = {}
        self.categories: dict[str, list[str]] = {}

    def _dtype(self, name: str, lo: int, hi: int) -> np.dtype:
        kind = LEAN_KINDS[name]
        if kind == "offset":
            return np.dtype(np.uint32 if hi < 2**32 else np.int64)
        if kind == "id":
            return _narrowest_range(lo, hi, unsigned=True)
        if kind == "ticks":
            return _narrowest_range(lo, hi, unsigned=False, min_bits=32)
        return _narrowest_range(lo, hi, unsigned=False)

    def _put(self, name: str, values: np.ndarray, dtype: np.dtype) -> None:
        have = self.arrays.get(name)
        if have is None:
            have = self.arrays[name] = np.empty(self.n, dtype=dtype)
        elif have.dtype != dtype:  # later rows need a wider type: widen what is there
            have = self.arrays[name] = have.astype(dtype)
        have[self.at : self.at + values.size] = values

    def add(self, columns: Mapping[str, Any]) -> None:
        """Append the lean columns of the next blocks (:func:`lean_columns`)."""
        size = 0
        for name in SAMPLE_COLUMNS:
            kind = LEAN_KINDS[name]
            col = columns[name]
            if kind == "category":
                cat = col if isinstance(col, pd.Categorical) else col.array
                if name not in self.categories:
                    known = [self.campaign] if name == "campaign" and self.campaign else []
                    base = list(self.levels) if name == "level" else known
                    self.categories[name] = list(dict.fromkeys(str(c) for c in base))
                union = self.categories[name]
                for c in cat.categories:
                    if str(c) not in union:
                        union.append(str(c))
                where = {c: i for i, c in enumerate(union)}
                remap = np.array([where[str(c)] for c in cat.categories] + [-1], dtype=np.int64)
                codes = remap[np.asarray(cat.codes, dtype=np.int64)]
                self._put(name, codes, _narrowest_range(-1, len(union), unsigned=False))
                size = codes.size
            elif kind == "flag":
                values = np.asarray(col, dtype=bool)
                self._put(name, values, np.dtype(bool))
            else:
                values = np.asarray(col)
                if values.size:
                    lo, hi = int(values.min()), int(values.max())
                    old = self.ranges.get(name)
                    if old is not None:
                        lo, hi = min(lo, old[0]), max(hi, old[1])
                    self.ranges[name] = (lo, hi)
                lo, hi = self.ranges.get(name, (0, 0))
                self._put(name, values, self._dtype(name, lo, hi))
        self.at += size

    def finish(self) -> pd.DataFrame:
        """The lean table (every row added)."""
        if self.at != self.n:
            raise ValueError(f"{self.at} rows added, {self.n} announced")
        out: dict[str, Any] = {}
        for name in SAMPLE_COLUMNS:
            kind = LEAN_KINDS[name]
            values = self.arrays.pop(name)
            if kind == "category":
                cats = pd.Index(self.categories[name], dtype=object)
                out[name] = pd.Categorical.from_codes(values, categories=cats)
            elif kind == "flag":
                out[name] = pd.arrays.ArrowExtensionArray(pa.array(values))
            else:
                out[name] = values
            del values
        return pd.DataFrame(out, copy=False)


def absolute_start(samples: pd.DataFrame, blocks: pd.DataFrame | None) -> np.ndarray:
    """``start`` of every sample in absolute TSC ticks (``int64``).

    A loaded campaign counts ``start`` from its block's first sample; ``blocks["start_tsc"]``
    is that origin. Without that column ``start`` is taken as absolute already.
    """
    start = samples["start"].to_numpy(dtype=np.int64)
    if blocks is None or "start_tsc" not in blocks.columns or not len(samples):
        return start
    origin = pd.Series(blocks["start_tsc"].to_numpy(dtype=np.int64),
                       index=blocks["block"].to_numpy(dtype=np.int64))  # fmt: skip
    codes, ids = _block_codes(samples["block"].to_numpy(dtype=np.int64))
    known = origin.reindex(ids)
    if known.isna().any():
        missing = ids[known.isna().to_numpy()].tolist()[:5]
        raise ValueError(f"block(s) {missing} have samples but no start_tsc in the block table")
    return start + known.to_numpy(dtype=np.int64)[codes]


def wide_samples(samples: pd.DataFrame, blocks: pd.DataFrame | None = None) -> pd.DataFrame:
    """The sample table in the measured dtypes (:data:`SAMPLE_DTYPES`), ``start`` absolute.

    The inverse of :func:`lean_samples`, for writing a campaign and for code that wants
    plain ``int64`` columns; it takes four times the memory of the lean table.
    """
    out: dict[str, Any] = {}
    for name in SAMPLE_COLUMNS:
        dtype = SAMPLE_DTYPES[name]
        if name == "start":
            out[name] = absolute_start(samples, blocks)
        elif name not in samples.columns and name == "probe_index":  # the main probe only
            out[name] = np.zeros(len(samples), dtype=dtype)
        elif dtype == "str":
            out[name] = samples[name].astype(str).to_numpy(dtype=object)
        else:
            out[name] = samples[name].to_numpy(dtype=dtype)
    return pd.DataFrame(out, copy=False)


def lean_campaign(
    samples: pd.DataFrame, blocks: pd.DataFrame, metadata: dict[str, Any], path: Path | None = None
) -> Campaign:
    """A :class:`Campaign` with lean samples from full-width ones (absolute ``start``)."""
    design = metadata.get("design") or {}
    # str() as _category applies to every category anyway.
    names = [str(lv.get("name")) for lv in design.get("levels") or () if isinstance(lv, dict)]
    cols = {c: samples[c].to_numpy() for c in SAMPLE_COLUMNS if c in samples.columns}
    lean, origins = lean_samples(cols, levels=names, campaign=metadata.get("campaign"))
    blocks = blocks.copy()
    if len(blocks):
        blocks["start_tsc"] = pd.array([origins.get(int(b)) for b in blocks["block"]], "Int64")
    return Campaign(lean, blocks, metadata, path)
