"""Checks of what a campaign file claims, before and after its samples are read.

The shape checks of the metadata, block rows and columns (a file that fails them is no
campaign: :class:`~hvload.errors.CampaignFileError`), the size and text-length limits,
and the verification of blocks, rows, values and digests, which raises
:class:`~hvload.errors.CorruptCampaignError` naming the file and the block.

What the digests can and cannot do: the footer digest (``hvload.digest``) is an unkeyed
SHA-256 over the exact bytes of the metadata JSON (``tsc_hz``, the platform report with
its own ``tsc_hz``, the design) and of the block table, so a flipped byte or an edit of
any value, ``tsc_hz`` included, fails verification, unless whoever edits it also
recomputes the digest, which anyone can: it detects accidents and naive edits, not a
forger. A keyed digest would stop that forger only where the key is, and campaign files
are meant to be verified on any machine. What stops an absurd value, forged or read
with ``verify=False``, is :func:`_plausibility_problem`, checked on every read: a TSC
frequency outside :data:`TSC_HZ_RANGE` or disagreeing with the platform report's, and
level values that are not finite, are refused in one line naming the value and what is
allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import CampaignFileError, CorruptCampaignError
from ..model import (
    BYTES_PER_SAMPLE,
    FORMAT_VERSION,
    SAMPLE_COLUMNS,
    CampaignMeta,
    available_memory,
    design_problem,
)
from ._format import _NUMERIC_COLUMNS, _STORED_TYPES, _TEXT_COLUMNS, _digest, _per_block

#: Longest campaign id or level name accepted from a file (a level name is a label).
MAX_TEXT_BYTES = 256
#: TSC frequencies (Hz) accepted from a file: every x86 TSC hvload can meet runs between
#: a few hundred MHz and a few GHz; outside this every ns figure would be absurd.
TSC_HZ_RANGE = (1e8, 2e10)
#: How far the metadata's ``tsc_hz`` may differ from the platform report's (relative):
#: both are written from the one measured value, so any gap is an edit.
TSC_HZ_AGREEMENT = 1e-3


def _is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


_BLOCK_REQUIRED: dict[str, Callable[[Any], bool]] = {
    "campaign": lambda x: isinstance(x, str),
    "round": lambda x: _is_int(x) and x >= 0,
    "level": lambda x: isinstance(x, str),
    "level_index": lambda x: _is_int(x) and x >= 0,
    "block": lambda x: _is_int(x) and x >= 0,
}
_BLOCK_OPTIONAL: dict[str, Callable[[Any], bool]] = {
    **dict.fromkeys(
        ("level_value", "start_ns", "end_ns", "workers", "position", "target_rate",
         "achieved_rate", "achieved_load", "lateness_mean", "lateness_p99", "lateness_max",
         "steal_ms", "irqs", "ctx_voluntary", "ctx_involuntary", "loadavg", "cpu_mhz",
         "probe_ns", "probe_start_ns", "probe_end_ns", "agents", "load_cover", "load_lead_ms",
         "load_lag_ms", "clock_error_ms", "remote_start_ms", "remote_stop_ms"),
        _is_num,
    ),
    "worker_stats": lambda x: x is None or isinstance(x, list),
    # Remote load (hvload.workload.remote): whether the load covered the probe window, and why not.
    "load_ok": lambda x: x is None or isinstance(x, bool),
    "load_problem": lambda x: x is None or isinstance(x, str),
    "agent_windows": lambda x: x is None or isinstance(x, list),
    "n_samples": lambda x: _is_int(x) and x >= 0,
    "sha256": lambda x: x is None or (isinstance(x, str) and len(x) == 64),
}  # fmt: skip


def _block_row_problem(row: Any) -> str | None:
    if not isinstance(row, dict):
        return f"a block row is {type(row).__name__}, not a JSON object"
    for key, ok in _BLOCK_REQUIRED.items():
        if key not in row:
            return f"a block row lacks {key!r}"
        if not ok(row[key]):
            return f"{key}={row[key]!r} in a block row is not allowed"
    for key, ok in _BLOCK_OPTIONAL.items():
        if key in row and not ok(row[key]):
            return f"{key}={row[key]!r} in block {row['block']} is not allowed"
    return None


def _metadata_problem(meta: Any) -> str | None:
    if not isinstance(meta, dict):
        return f"the metadata is {type(meta).__name__}, not a JSON object"
    if meta.get("format") != "hvload-campaign":
        return f"format={meta.get('format')!r}, not 'hvload-campaign'"
    version = meta.get("format_version")
    if not _is_int(version) or not 1 <= version <= FORMAT_VERSION:
        return f"format_version={version!r} is not one this hvload reads (1..{FORMAT_VERSION})"
    if not isinstance(meta.get("campaign"), str):
        return f"campaign={meta.get('campaign')!r} is not a campaign id"
    tsc = meta.get("tsc_hz")
    if tsc is not None and not (_is_num(tsc) and math.isfinite(tsc) and tsc > 0):
        return f"tsc_hz={tsc!r} is not a frequency (allowed: {_tsc_range_text()})"
    for key in ("platform", "versions"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            return f"{key} is {type(meta[key]).__name__}, not a JSON object"
    design = meta.get("design")
    if not isinstance(design, dict):
        return "the metadata lacks the design (a JSON object)"
    for key, low in (("rounds", 1), ("samples", 1), ("warmup", 0)):
        if not _is_int(design.get(key)) or design[key] < low:
            return f"design {key}={design.get(key)!r} is not an integer >= {low}"
    levels = design.get("levels")
    if not isinstance(levels, list) or not levels:
        return "design levels is not a non-empty list"
    for lv in levels:
        if not isinstance(lv, dict) or not isinstance(lv.get("name"), str):
            return f"design level {lv!r} has no name"
    # Every key the registry knows has the type it says (hvload.model.metadata), and the
    # design reads back into traps and levels.
    try:
        CampaignMeta.from_dict(meta)
    except ValueError as exc:
        return str(exc)
    return design_problem(design) or _plausibility_problem(meta)


def _tsc_range_text() -> str:
    lo, hi = TSC_HZ_RANGE
    return f"{lo:.0e} to {hi:.0e} Hz".replace("e+0", "e").replace("e+", "e")


def _plausibility_problem(meta: dict[str, Any]) -> str | None:
    """Why values that every figure depends on are absurd; None if they are plausible.

    The digest cannot tell a forged value from a measured one (see the module's note);
    these bounds can tell an absurd one, and they hold with ``verify=False`` too.
    """
    tsc = meta.get("tsc_hz")
    lo, hi = TSC_HZ_RANGE
    if tsc is not None and not lo <= tsc <= hi:
        return f"tsc_hz={tsc!r} is not a plausible TSC frequency (allowed: {_tsc_range_text()})"
    recorded = (meta.get("platform") or {}).get("tsc_hz")
    if tsc is not None and _is_num(recorded) and recorded is not None:
        if not (math.isfinite(recorded) and abs(recorded - tsc) <= TSC_HZ_AGREEMENT * tsc):
            return (
                f"tsc_hz={tsc!r} disagrees with the platform report's tsc_hz={recorded!r} "
                f"(allowed: within {TSC_HZ_AGREEMENT:.1%} of each other)"
            )
    for lv in meta["design"]["levels"]:
        value = float(lv["value"])
        if not (math.isfinite(value) and value >= 0):
            return (
                f"design level {lv['name']!r} has value={lv['value']!r} "
                "(allowed: a finite number >= 0)"
            )
    return None


def _schema_problem(schema: pa.Schema, names: Sequence[str] = SAMPLE_COLUMNS) -> str | None:
    for name in names:
        if name not in schema.names:
            return f"the samples lack the column {name!r}"
        have = schema.field(name).type
        want = _STORED_TYPES[name]
        if pa.types.is_dictionary(have):  # how the reader hands out the text columns
            have = have.value_type
        text = pa.types.is_string(have) or pa.types.is_large_string(have)
        if have != want and not (pa.types.is_large_string(want) and text):
            return f"column {name!r} is {have}, not {want}"
    return None


def _check_size(path: Path, n_rows: int) -> None:
    have = available_memory()
    need = n_rows * BYTES_PER_SAMPLE
    if have is not None and need > have:
        raise CampaignFileError(
            f"{path}: claims {n_rows:,} samples, about {need / 2**30:,.1f} GiB in memory; "
            f"only {have / 2**30:,.1f} GiB are available, so it is not read"
        )


def _check_blocks(path: Path, metadata: dict, rows: list[dict], v2: bool) -> None:
    design = metadata["design"]
    names = [lv["name"] for lv in design["levels"]]
    seen_cells, seen_ids = set(), set()
    for row in rows:
        b = row["block"]
        if row["campaign"] != metadata["campaign"]:
            raise CorruptCampaignError(path, b, f"belongs to campaign {row['campaign']!r}")
        if row["round"] >= design["rounds"]:
            raise CorruptCampaignError(
                path, b, f"round {row['round']}, but the design has {design['rounds']} rounds"
            )
        if row["level_index"] >= len(names) or names[row["level_index"]] != row["level"]:
            raise CorruptCampaignError(
                path, b, f"level {row['level']!r} (index {row['level_index']}) is not the "
                f"design's level of that index ({names})",
            )  # fmt: skip
        cell = (row["round"], row["level_index"])
        if cell in seen_cells or b in seen_ids:
            raise CorruptCampaignError(path, b, f"round {cell[0]} level {row['level']!r} repeats")
        seen_cells.add(cell)
        seen_ids.add(b)
        if v2 and not (row.get("n_samples") is not None and row.get("sha256")):
            raise CorruptCampaignError(path, b, "the block row lacks its count or digest")
        per_block = _per_block(design)
        if row.get("n_samples", per_block) != per_block:
            raise CorruptCampaignError(
                path, b, f"{row['n_samples']} samples, the design says {per_block}"
            )


def _located(
    path: Path,
    pf: pq.ParquetFile,
    rows: list[dict],
    per_block: int,
    exc: Exception,
    columns: Sequence[str] = SAMPLE_COLUMNS,
) -> CampaignFileError:
    """Where a read failed: the first bad row group (one per block), found by bisection."""
    lo, hi = 0, pf.metadata.num_row_groups
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pf.read_row_groups(range(lo, mid), columns=list(columns))
            lo = mid
        except (pa.ArrowException, OSError):
            hi = mid
    group = lo
    bad = []
    for c in columns:
        try:
            pf.read_row_group(group, columns=[c])
        except (pa.ArrowException, OSError):
            bad.append(c)
    meta = pf.metadata
    start = sum(meta.row_group(i).num_rows for i in range(group))
    end = start + meta.row_group(group).num_rows
    ids = [r["block"] for r in rows]
    blocks = ids[start // max(per_block, 1) : (end - 1) // max(per_block, 1) + 1]
    what = "checksum" if "checksum" in str(exc).lower() else "read"
    problem = f"{'column ' + repr(bad[0]) if bad else 'a page'} fails its page {what} ({exc})"
    if len(bad) > 1:
        problem += f"; columns {bad} are damaged"
    if len(blocks) > 1:
        problem += f"; the damaged row group holds blocks {blocks}"
    return CorruptCampaignError(path, blocks[0] if len(blocks) == 1 else None, problem)


def _check_text(path: Path, table: pa.Table) -> None:
    """Text columns arrive dictionary-encoded; refuse long values before anything expands them."""
    for name in _TEXT_COLUMNS:
        for chunk in table.column(name).chunks:
            values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
            longest = pc.max(pc.binary_length(values)).as_py() if len(values) else 0
            if longest is not None and longest > MAX_TEXT_BYTES:
                raise CampaignFileError(
                    f"{path}: a {name!r} value of {longest:,} bytes; hvload writes at most "
                    f"{MAX_TEXT_BYTES} (not an hvload campaign, or a hostile one)"
                )


def _first_bad(path: Path, ok: np.ndarray, rows: list[dict], per_block: int, what: str) -> None:
    if ok.all():
        return
    where = int(np.flatnonzero(~ok)[0])
    row = rows[min(where // per_block, len(rows) - 1)]
    count = int((~ok).sum())
    raise CorruptCampaignError(
        path, row["block"], f"{what} (sample {where % per_block}; {count:,} bad values in the file)"
    )


def _check_rows(
    path: Path, text: Mapping[str, pd.Categorical], meta: dict, rows: list[dict], per_block: int
) -> None:
    for name, values in (
        ("campaign", [meta["campaign"]] * len(rows)),
        ("level", [r["level"] for r in rows]),
    ):
        cat = text[name]
        expected = pd.Index(cat.categories).get_indexer(values)  # -1: never in the column
        ok = cat.codes == np.repeat(expected, per_block)
        _first_bad(path, ok, rows, per_block, f"a sample's {name!r} is not its block's")


def _check_values(
    path: Path,
    samples: Mapping[str, np.ndarray],
    rows: list[dict],
    design: dict,
    v2: bool,
    names: Sequence[str] = SAMPLE_COLUMNS,
) -> None:
    n, warmup = len(rows), design["warmup"]
    per_probe = warmup + design["samples"]
    k = 1 + len(design.get("controls") or [])
    per_block = k * per_probe
    # Inside a block the rows come probe by probe, each in its own sample order.
    expected = {
        "block": np.repeat([r["block"] for r in rows], per_block),
        "round": np.repeat([r["round"] for r in rows], per_block),
        "level_index": np.repeat([r["level_index"] for r in rows], per_block),
        "sample": np.tile(np.arange(per_probe), n * k),
        "warmup": np.tile(np.arange(per_probe) < warmup, n * k),
    }
    if "probe_index" in names:
        expected["probe_index"] = np.tile(np.repeat(np.arange(k), per_probe), n)
    for name, values in expected.items():
        _first_bad(path, samples[name] == values, rows, per_block,
                   f"a sample's {name!r} is not what the design and block table say")  # fmt: skip
    for name in ("cycles", "response"):
        _first_bad(path, samples[name] >= 0, rows, per_block,
                   f"negative {name} (a latency cannot be < 0)")  # fmt: skip
    if not v2:
        return
    arrays = {c: samples[c] for c in _NUMERIC_COLUMNS if c in names}
    for i, row in enumerate(rows):
        lo, hi = i * per_block, (i + 1) * per_block
        cols: dict[str, Any] = {c: a[lo:hi] for c, a in arrays.items()}
        cols["campaign"], cols["level"] = row["campaign"], row["level"]
        if _digest(cols, names) != row["sha256"]:
            raise CorruptCampaignError(
                path, row["block"], "the samples do not match the block's digest"
            )
