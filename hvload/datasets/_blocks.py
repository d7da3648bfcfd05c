"""Block statistics, the part both engines share.

An engine (DuckDB in :mod:`hvload.datasets.dataset`, Dask in :mod:`hvload.datasets.cluster`)
returns per block the sample counts and, for each statistic of :data:`QUANTILES`, the two
order statistics the type-7 quantile interpolates (:data:`RAW_COLUMNS`). Everything after that
happens here, once for both: :func:`finish_blocks` interpolates with
:func:`hvload.stats.blocks.type7` and adds the footers' labels (:data:`BLOCK_COLUMNS`),
:func:`admit_blocks` applies the block policy (blocks a footer flags ``load_ok = False`` are
left out), :func:`probe_blocks` keeps one probe, :func:`level_table` gives the typical block
statistics per level with their intervals. :func:`require` imports an engine, or names its extra.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..model import probes_of
from ..stats.blocks import type7, type7_ranks
from ..stats.config import AnalysisConfig
from ..stats.intervals import median_interval
from .files import Footer

__all__ = [
    "BLOCK_COLUMNS",
    "ENGINES",
    "ENGINE_EXCLUDABLE",
    "QUANTILES",
    "RAW_COLUMNS",
    "admit_blocks",
    "check_config",
    "finish_blocks",
    "level_table",
    "probe_blocks",
]

#: Block statistics the engines compute, by name, with their quantile.
QUANTILES: dict[str, float] = {"median": 0.5, "p99": 0.99}
#: Engines of :meth:`Dataset.block_table`.
ENGINES: tuple[str, ...] = ("duckdb", "dask")
#: Flags a dataset can leave out in the engine (``outlier`` needs a whole level at once).
ENGINE_EXCLUDABLE: tuple[str, ...] = ("warmup", "migrated")

#: What an engine returns per block before the quantiles are interpolated.
RAW_COLUMNS: tuple[str, ...] = (
    "campaign", "block", "probe_index", "round", "level_index", "n_total", "n_warmup",
    "n_migrated", "n",
    "min", "max", *(f"{part}_{name}" for name in QUANTILES for part in ("k", "lo", "hi")),
)  # fmt: skip

#: Columns of :meth:`Dataset.block_table`, in order.
BLOCK_COLUMNS: tuple[str, ...] = (
    "file", "campaign", "block", "probe_index", "probe", "round", "level", "level_index",
    "level_value", "position", "n_total", "n_warmup", "n_migrated", "n", "min", "median",
    "p99", "max", "tsc_hz",
)  # fmt: skip


def check_config(config: AnalysisConfig) -> None:
    """Refuse what an engine cannot do: leaving out outliers (a level-wide statistic)."""
    bad = [f for f in config.exclude if f not in ENGINE_EXCLUDABLE]
    if bad:
        raise ValueError(
            f"exclude={list(config.exclude)}: {bad} cannot be left out of a dataset's block "
            "statistics (an outlier is judged against a whole level at once); allowed: "
            f"{list(ENGINE_EXCLUDABLE)} or 'none'"
        )


def finish_blocks(raw: pd.DataFrame, footers: Mapping[str, Footer]) -> pd.DataFrame:
    """Raw engine output -> :data:`BLOCK_COLUMNS` (interpolation and the footers' labels)."""
    raw = raw.sort_values(["campaign", "block", "probe_index"], kind="stable")
    raw = raw.reset_index(drop=True)
    n = raw["n"].to_numpy(dtype=np.int64)
    full = n > 0
    out = pd.DataFrame({"campaign": raw["campaign"].astype(str), "block": raw["block"]})
    for col in ("probe_index", "round", "level_index", "n_total", "n_warmup", "n_migrated", "n"):
        out[col] = raw[col].to_numpy(dtype=np.int64)
    for col in ("min", "max"):
        out[col] = np.where(full, raw[col].to_numpy(dtype=np.float64, na_value=np.nan), np.nan)
    for name, q in QUANTILES.items():
        value = np.full(n.size, np.nan)
        if full.any():
            k = raw[f"k_{name}"].to_numpy(dtype=np.float64, na_value=np.nan)[full]
            want, _ = type7_ranks(n[full], q)
            if not np.array_equal(k, want.astype(np.float64)):
                raise RuntimeError(
                    f"the engine placed the {name} at other order statistics than numpy "
                    "does; its figures would not agree with hvload.analyze"
                )
            lo = raw[f"lo_{name}"].to_numpy(dtype=np.float64)[full]
            hi = raw[f"hi_{name}"].to_numpy(dtype=np.float64)[full]
            value[full] = type7(n[full], q, lo, hi)
        out[name] = value
    rows = []
    block_rows = {cid: f.block_rows for cid, f in footers.items()}
    probes = {cid: probes_of(f.metadata["design"]) for cid, f in footers.items()}
    for cid, block, pi in zip(out["campaign"], out["block"].to_numpy(dtype=np.int64),
                              out["probe_index"], strict=True):  # fmt: skip
        footer = footers[cid]
        row = block_rows[cid].get(int(block), {})
        labels = probes[cid]
        rows.append(
            (str(footer.path), labels[pi] if 0 <= pi < len(labels) else f"probe {pi}",
             row.get("level"), row.get("level_value"), row.get("position"),
             footer.metadata.get("tsc_hz"))
        )  # fmt: skip
    extra = pd.DataFrame(
        rows, columns=["file", "probe", "level", "level_value", "position", "tsc_hz"]
    )
    out = pd.concat([out, extra], axis=1)
    out["block"] = out["block"].to_numpy(dtype=np.int64)
    return out[list(BLOCK_COLUMNS)]


def admit_blocks(
    blocks: pd.DataFrame, footers: Mapping[str, Footer], include_flagged: bool = False
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The block policy on a block table: the rows of blocks their footer flags
    ``load_ok = False`` left out, and how many blocks each campaign had left out.

    The same blocks :func:`hvload.report.admitted` leaves out of a loaded campaign, so a
    dataset's statistics rest on the blocks ``hvload report`` analyses. With
    ``include_flagged`` the table comes back whole and the counts are empty. Applying it
    to a table already admitted changes nothing (the counts stay those of the files).
    """
    flagged = {cid: f.flagged for cid, f in footers.items()}
    counts = {cid: len(bad) for cid, bad in flagged.items() if bad}
    if include_flagged or not counts:
        return blocks, {}
    drop = np.zeros(len(blocks), dtype=bool)
    cids = blocks["campaign"].astype(str).to_numpy()
    numbers = blocks["block"].to_numpy(dtype=np.int64)
    for cid, bad in flagged.items():
        if bad:
            drop |= (cids == cid) & np.isin(numbers, list(bad))
    return blocks[~drop].reset_index(drop=True), counts


def probe_blocks(
    blocks: pd.DataFrame, metadata: Mapping[str, dict[str, Any]], probe: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The blocks of one probe in every campaign, and the campaigns that lack it.

    ``probe`` is a label (``"null"``, ``"syscall/getppid"``, ...); by default each
    campaign's main probe (``probe_index`` 0). A table without ``probe_index`` holds
    main probes only.
    """
    if "probe_index" not in blocks.columns:
        return (blocks, []) if probe is None else (blocks.iloc[:0], list(metadata))
    wanted: dict[str, int] = {}
    missing = []
    for cid, meta in metadata.items():
        labels = probes_of(meta["design"])
        if probe is None:
            wanted[cid] = 0
        elif probe in labels:
            wanted[cid] = labels.index(probe)
        else:
            missing.append(cid)
    index = blocks["campaign"].map(wanted)
    keep = index.notna().to_numpy() & (blocks["probe_index"].to_numpy() == index.fillna(-1))
    return blocks[keep], missing


def level_table(
    blocks: pd.DataFrame,
    footers: Mapping[str, Footer],
    confidence: float,
    probe: str | None = None,
) -> pd.DataFrame:
    """Per campaign and level, the typical block statistics of one probe with intervals."""
    out = []
    blocks, missing = probe_blocks(blocks, {c: f.metadata for c, f in footers.items()}, probe)
    for cid, footer in footers.items():
        if cid in missing:
            continue
        label = probes_of(footer.metadata["design"])[0] if probe is None else probe
        mine = blocks[blocks["campaign"] == cid]
        tsc = footer.metadata.get("tsc_hz")
        design_levels = footer.metadata["design"]["levels"]
        values = [lv.get("value") for lv in design_levels]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        order = (
            np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
            if numeric
            else np.arange(len(values))
        )
        for load_order, index in enumerate(order.tolist()):
            lv = design_levels[index]
            rows = mine[mine["level_index"] == index]
            filled = rows[rows["n"] > 0]
            row: dict[str, Any] = {
                "file": str(footer.path),
                "campaign": cid,
                "probe": label,
                "level": lv["name"],
                "level_index": index,
                "level_value": lv.get("value"),
                "load_order": load_order,
                "n_blocks": len(filled),
                "n": int(rows["n"].sum()),
            }
            for name in QUANTILES:
                est, low, high = median_interval(filled[name].to_numpy(), confidence)
                for suffix, v in (("", est), ("_ci_low", low), ("_ci_high", high)):
                    row[f"{name}{suffix}"] = v
                    row[f"{name}{suffix}_ns"] = v / tsc * 1e9 if tsc else math.nan
            out.append(row)
    return pd.DataFrame(out)
