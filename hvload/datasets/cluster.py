"""The dataset's per-block aggregation on Dask, for datasets one machine should not scan.

``hvload.dataset(paths).block_table(engine="dask", client=client)`` reads the campaign
files with :func:`dask.dataframe.read_parquet` (one partition per file, so a block, one
row group, is never split) and computes every block's counts and order statistics in
the partitions, on the cluster's workers; only the per-block results travel back. The
quantiles are then interpolated here with the same formula as the DuckDB path and
:func:`hvload.analyze` (:func:`hvload.stats.blocks.type7`), so all three agree to the last
bit. ``pip install 'hvload[cluster]'`` installs Dask; the workers need hvload installed
too (they run :func:`partition_stats`).

Pointing it at a cluster::

    from distributed import Client
    client = Client("tcp://scheduler:8786")      # or LocalCluster(...) for a test
    ds = hvload.dataset("campaigns/")            # footers are read here
    blocks = ds.block_table(engine="dask", client=client)

The files must be readable at the same paths by the workers (a shared file system). The
footers are read on this machine; samples never come here: the files are verified
(:func:`verify_on`, :func:`hvload.load`'s checks) on the workers too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .._optional import require_extra
from ..errors import CorruptCampaignError
from ..stats.blocks import sort_by_cell, type7_ranks
from ._blocks import QUANTILES, RAW_COLUMNS

if TYPE_CHECKING:
    from ..stats.config import AnalysisConfig
    from .dataset import Dataset

__all__ = ["partition_stats", "raw_block_stats", "verify_on"]

_META = {c: "int64" for c in RAW_COLUMNS} | {"campaign": "str", "min": "float64",
                                             "max": "float64"}  # fmt: skip
for _name in QUANTILES:
    _META[f"lo_{_name}"] = "float64"
    _META[f"hi_{_name}"] = "float64"


def partition_stats(
    frame: pd.DataFrame, *, metric: str, version: int, exclude: tuple[str, ...]
) -> pd.DataFrame:
    """Counts and order statistics of every (campaign, block) in one partition.

    The columns are those of :data:`hvload.datasets.RAW_COLUMNS`, as the DuckDB query
    returns them: ``k_<stat>`` the 0-based rank of the lower order statistic of each
    quantile, ``lo_<stat>`` and ``hi_<stat>`` the two values it interpolates.
    """
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _META.items()})[list(RAW_COLUMNS)]
    ccode, cnames = pd.factorize(frame["campaign"], sort=True)
    bcode, bids = pd.factorize(frame["block"].to_numpy(dtype=np.int64), sort=True)
    probe = (
        frame["probe_index"].to_numpy(dtype=np.int64)
        if "probe_index" in frame.columns  # files before format 3: the main probe only
        else np.zeros(len(frame), dtype=np.int64)
    )
    n_probes = int(probe.max()) + 1
    combined = (ccode.astype(np.int64) * len(bids) + bcode) * n_probes + probe
    cells, key = np.unique(combined, return_inverse=True)
    key = key.astype(np.intp, copy=False)
    n_cells = cells.size
    cb, pi = cells // n_probes, cells % n_probes
    if metric == "cycles":
        x = frame["cycles"].to_numpy(dtype=np.int64)
    elif version >= 4:
        x = frame["cycles"].to_numpy(dtype=np.int64) + frame["late"].to_numpy(dtype=np.int64)
    else:
        x = frame["response"].to_numpy(dtype=np.int64)
    keep = np.ones(x.size, dtype=bool)
    for flag in exclude:
        keep &= ~frame[flag].to_numpy(dtype=bool)
    seg = sort_by_cell(x[keep], key[keep], n_cells)
    n = seg.sizes.astype(np.int64)
    full = n > 0
    base = seg.offsets[:-1]
    out: dict[str, Any] = {
        "campaign": np.asarray(cnames, dtype=object)[cb // len(bids)].astype(str),
        "block": np.asarray(bids, dtype=np.int64)[cb % len(bids)],
        "probe_index": pi,
        "round": _per_cell_min(frame["round"].to_numpy(dtype=np.int64), key, n_cells),
        "level_index": _per_cell_min(frame["level_index"].to_numpy(dtype=np.int64), key, n_cells),
        "n_total": np.bincount(key, minlength=n_cells).astype(np.int64),
        "n_warmup": np.bincount(key, weights=frame["warmup"].to_numpy(dtype=bool),
                                minlength=n_cells).astype(np.int64),
        "n_migrated": np.bincount(key, weights=frame["migrated"].to_numpy(dtype=bool),
                                  minlength=n_cells).astype(np.int64),
        "n": n,
        "min": _pick(seg.values, base, np.zeros_like(n), full),
        "max": _pick(seg.values, base, n - 1, full),
    }  # fmt: skip
    for name, q in QUANTILES.items():
        k, k1 = type7_ranks(np.maximum(n, 1), q)
        out[f"k_{name}"] = np.where(full, k, 0)
        out[f"lo_{name}"] = _pick(seg.values, base, k, full)
        out[f"hi_{name}"] = _pick(seg.values, base, k1, full)
    return pd.DataFrame(out)[list(RAW_COLUMNS)]


def _per_cell_min(values: np.ndarray, key: np.ndarray, n_cells: int) -> np.ndarray:
    out = np.full(n_cells, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, key, values)
    return out


def _pick(values: np.ndarray, base: np.ndarray, rank: np.ndarray, full: np.ndarray) -> np.ndarray:
    out = np.full(base.size, np.nan)
    out[full] = values[base[full] + rank[full]]
    return out


def _columns(metric: str, version: int, exclude: tuple[str, ...]) -> list[str]:
    value = ["cycles"] if metric == "cycles" else (["cycles", "late"] if version >= 4 else
                                                   ["response"])  # fmt: skip
    probe = ["probe_index"] if version >= 3 else []
    return ["campaign", "block", *probe, "round", "level_index", "warmup", "migrated", *value]


def _verify_file(path: str) -> tuple[str, int | None, str] | None:
    """On a worker: None, or where :func:`hvload.load` found the file damaged."""
    from ..store import load

    try:
        load(path)
    except CorruptCampaignError as exc:
        # Sent back as plain values: the exception does not survive pickling (its
        # __init__ takes three arguments, its args hold one message).
        return str(exc.path), exc.block, exc.problem
    return None


def verify_on(client: Any, paths: Sequence[str | os.PathLike[str]]) -> None:
    """Verify campaign files with :func:`hvload.load` on the cluster's workers, so the
    samples stay there; the first damaged file raises
    :class:`~hvload.errors.CorruptCampaignError` here, naming it and the block."""
    # pure=False: a file may have changed since another call verified it.
    for found in client.gather(client.map(_verify_file, [str(p) for p in paths], pure=False)):
        if found is not None:
            raise CorruptCampaignError(*found)


def raw_block_stats(
    dataset: Dataset, config: AnalysisConfig, *, client: Any = None
) -> pd.DataFrame:
    """Per-block counts and order statistics of every file, computed by Dask.

    Parameters
    ----------
    dataset : hvload.datasets.Dataset
        The files (their footers already read).
    config : AnalysisConfig
        ``metric`` and ``exclude`` (warm-up, migrated).
    client : distributed.Client, optional
        Where to compute; without one, Dask's default scheduler in this process.
    """
    dd = require_extra("dask.dataframe", "hvload.datasets.cluster")
    by_version: dict[int, list[str]] = {}
    for footer in dataset.footers.values():
        # Three stored layouts: format 4 (due, late), 3 (probe_index), 1-2 (neither).
        layout = min(max(footer.version, 2), 4)
        by_version.setdefault(layout, []).append(str(footer.path))
    frames = []
    for version, files in sorted(by_version.items()):
        ddf = dd.read_parquet(
            files,
            columns=_columns(config.metric, version, config.exclude),
            split_row_groups=False,  # one partition per file: blocks are never split
        )
        frames.append(
            ddf.map_partitions(
                partition_stats,
                metric=config.metric,
                version=version,
                exclude=tuple(config.exclude),
                meta={c: _META[c] for c in RAW_COLUMNS},
            )
        )
    stats = dd.concat(frames) if len(frames) > 1 else frames[0]
    raw = client.compute(stats).result() if client is not None else stats.compute()
    raw = raw.reset_index(drop=True)
    if raw.duplicated(["campaign", "block", "probe_index"]).any():
        raise RuntimeError("a block was split between Dask partitions; its statistics are wrong")
    return raw
