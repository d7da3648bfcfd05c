"""Campaign files: Parquet with the metadata inside, written block by block.

While a campaign runs, every finished block is written at once, atomically, as its own
small Parquet file in ``<file>.parts/`` (beside a ``metadata.json``). Closing the
writer, also after an exception or Ctrl-C, gathers the parts into the campaign file and
removes the folder. If the process is killed outright, the folder stays behind and
:func:`recover` turns its finished blocks into a campaign file: at most the block in
flight is lost.

The campaign file is one Parquet table of samples; the Arrow schema metadata holds the
campaign's metadata (``hvload.metadata``) and block table (``hvload.blocks``) as JSON.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import CampaignFileError
from .model import SAMPLE_COLUMNS, BlockResult, Campaign

__all__ = ["CampaignWriter", "load", "recover"]

_META_KEY = b"hvload.metadata"
_BLOCKS_KEY = b"hvload.blocks"
_BLOCK_KEY = b"hvload.block"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _dumps(obj: Any) -> bytes:
    def clean(x: Any) -> Any:
        # NaN is not JSON; None reads back as a missing value in pandas as well.
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(obj), default=_json_default).encode()


def _parts_dir(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


def _write_atomic(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(
        table,
        tmp,
        compression="zstd",
        use_dictionary=["campaign", "level"],
        column_encoding={"start": "DELTA_BINARY_PACKED", "sample": "DELTA_BINARY_PACKED"},
    )
    os.replace(tmp, path)


class CampaignWriter:
    """Write a campaign block by block (see the module docstring).

    Parameters
    ----------
    path
        The campaign file to create; it must not exist yet.
    metadata
        The campaign's metadata; ``end_utc`` and the block table are added at close.
    """

    def __init__(self, path: str | os.PathLike[str], metadata: dict[str, Any]) -> None:
        self.path = Path(path)
        self.metadata = metadata
        self.parts = _parts_dir(self.path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists already; choose another output path")
        if self.parts.exists():
            raise FileExistsError(
                f"{self.parts} exists: an earlier campaign was cut off there; "
                f"run hvload.store.recover({str(self.path)!r}) or remove it"
            )
        self.parts.mkdir(parents=True)
        (self.parts / "metadata.json").write_bytes(_dumps(metadata))
        self._n = 0

    def write_block(self, result: BlockResult) -> None:
        """Write one finished block to disk now."""
        table = pa.Table.from_pandas(result.samples, preserve_index=False)
        table = table.replace_schema_metadata({_BLOCK_KEY: _dumps(result.block)})
        _write_atomic(table, self.parts / f"block-{self._n:05d}.parquet")
        self._n += 1

    def close(self) -> Campaign:
        """Gather the parts into the campaign file and return the campaign read back."""
        self.metadata.setdefault("end_utc", None)
        (self.parts / "metadata.json").write_bytes(_dumps(self.metadata))
        return recover(self.path)


def _empty_samples() -> pa.Table:
    types = {
        "campaign": pa.string(), "level": pa.string(), "migrated": pa.bool_(),
        "warmup": pa.bool_(), "cpu": pa.int16(), "round": pa.int32(),
        "level_index": pa.int32(), "block": pa.int32(),
    }  # fmt: skip
    return pa.table({c: pa.array([], type=types.get(c, pa.int64())) for c in SAMPLE_COLUMNS})


def recover(path: str | os.PathLike[str]) -> Campaign:
    """Write the campaign file from the finished blocks in ``<path>.parts/`` and load it.

    Used by :meth:`CampaignWriter.close`, and by hand after a campaign was killed.
    """
    path = Path(path)
    parts = _parts_dir(path)
    if not (parts / "metadata.json").exists():
        raise CampaignFileError(f"{parts}: no unfinished campaign there (no metadata.json)")
    if path.exists():
        raise FileExistsError(f"{path} exists already; move it away before recovering {parts}")
    metadata = json.loads((parts / "metadata.json").read_bytes())
    tables, blocks, skipped = [], [], []
    for part in sorted(parts.glob("block-*.parquet")):
        try:
            t = pq.read_table(part)
            blocks.append(json.loads(t.schema.metadata[_BLOCK_KEY]))
        except (pa.ArrowInvalid, OSError, KeyError, TypeError, ValueError) as exc:
            # A part that cannot be read is left out and named; the others are kept.
            skipped.append(f"{part.name}: {exc}")
            continue
        tables.append(t.replace_schema_metadata(None))
    if skipped:
        metadata["recover_skipped"] = skipped
    samples = pa.concat_tables(tables) if tables else _empty_samples()
    samples = samples.replace_schema_metadata(
        {_META_KEY: _dumps(metadata), _BLOCKS_KEY: _dumps(blocks)}
    )
    _write_atomic(samples, path)
    if skipped:  # keep the unreadable parts for a human to look at
        return load(path)
    shutil.rmtree(parts)
    return load(path)


def load(path: str | os.PathLike[str]) -> Campaign:
    """Read a campaign file: samples, blocks and metadata.

    Raises
    ------
    CampaignFileError
        If the file is missing, not Parquet, truncated or corrupt, or not an hvload
        campaign; the message names the file and the problem.
    """
    path = Path(path)
    if not path.exists():
        if (_parts_dir(path) / "metadata.json").exists():
            raise CampaignFileError(
                f"{path}: the campaign was cut off before its file was written; "
                f"hvload.store.recover({str(path)!r}) writes it from the finished blocks"
            )
        raise CampaignFileError(f"{path}: no such file")
    if path.is_dir():
        raise CampaignFileError(f"{path}: is a folder, not a campaign file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as exc:
        raise CampaignFileError(
            f"{path}: not a readable Parquet file (truncated or corrupt?): {exc}"
        ) from exc
    meta = table.schema.metadata or {}
    if _META_KEY not in meta:
        raise CampaignFileError(
            f"{path}: a Parquet file, but not an hvload campaign (no {_META_KEY.decode()!r} "
            "in its schema metadata)"
        )
    missing = [c for c in SAMPLE_COLUMNS if c not in table.column_names]
    if missing:
        raise CampaignFileError(f"{path}: campaign file lacks the columns {missing}")
    try:
        metadata = json.loads(meta[_META_KEY])
        blocks = pd.DataFrame(json.loads(meta.get(_BLOCKS_KEY, b"[]")))
    except ValueError as exc:
        raise CampaignFileError(f"{path}: campaign metadata is not valid JSON: {exc}") from exc
    samples = table.replace_schema_metadata(None).to_pandas()
    return Campaign(samples, blocks, metadata, path)
