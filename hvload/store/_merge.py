"""The merge of ``<file>.parts/`` into the campaign file, and :func:`recover`.

:meth:`CampaignWriter.close <hvload.store.CampaignWriter.close>` runs the merge when a
campaign ends; :func:`recover` runs the same merge, checking each part, after a run was
killed or its final write failed. The ``merge`` and ``merged`` fault-injection
checkpoints fire here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .._faultinject import checkpoint
from ..errors import CampaignFileError, CorruptCampaignError
from ..model import FORMAT_VERSION, LEGACY_COLUMNS, SAMPLE_COLUMNS, Campaign
from . import _protect
from ._atomic import _fsync_dir, _is_temporary
from ._format import _BLOCK_KEY, _loads, _names_of, _table_digest, _write_campaign
from ._lock import OutputLock, _parts_dir
from ._reader import load
from ._verify import _block_row_problem, _schema_problem


def recover(path: str | os.PathLike[str]) -> Campaign:
    """Write the campaign file from the finished blocks in ``<path>.parts/`` and load it.

    ``hvload recover PATH`` calls this after a run was killed or its final write failed.
    Parts that cannot be read or fail their checks are left out, named in the metadata
    (``recover_skipped``) and kept in the folder; the parts merged are removed only once
    the campaign file has been read back and verified.

    Raises
    ------
    CampaignBusyError
        While the run that writes ``path`` is alive.
    CampaignFileError
        If there is no unfinished campaign at ``path`` or none of its blocks is readable.
    FileExistsError
        If ``path`` exists and is not this campaign's merged file.
    """
    path = Path(path)
    if not os.fspath(path).strip():
        raise ValueError("the campaign path is empty")
    parts = _parts_dir(path)
    if not parts.is_dir():
        raise CampaignFileError(f"{parts}: no unfinished campaign there (no such folder)")
    with OutputLock(path, "hvload recover"):
        return _merge(path)


def _read_part(part: Path, campaign_id: object, check_digest: bool) -> tuple[pa.Table, dict]:
    pf = pq.ParquetFile(part, page_checksum_verification=_protect.PROTECT)
    meta = pf.schema_arrow.metadata or {}
    if _BLOCK_KEY not in meta:
        raise CampaignFileError(f"{part}: not a block part (no {_BLOCK_KEY.decode()!r})")
    block = _loads(part, meta[_BLOCK_KEY], "the block row")
    problem = _block_row_problem(block)
    if problem:
        raise CampaignFileError(f"{part}: block row: {problem}")
    if block["campaign"] != campaign_id:
        raise CampaignFileError(f"{part}: belongs to campaign {block['campaign']!r}")
    problem = _schema_problem(pf.schema_arrow, _names_of(pf.schema_arrow))
    if problem:
        raise CampaignFileError(f"{part}: {problem}")
    table = pf.read().replace_schema_metadata(None)
    if table.num_rows != block.setdefault("n_samples", table.num_rows):
        raise CampaignFileError(f"{part}: {table.num_rows} rows, its row says {block['n_samples']}")
    if block.get("sha256") is None:  # a part written before format 2: digest it now
        block["sha256"] = _table_digest(table) if _protect.PROTECT else None
    elif check_digest and _protect.PROTECT and _table_digest(table) != block["sha256"]:
        raise CampaignFileError(f"{part}: the samples do not match the block's digest")
    if "probe_index" not in table.column_names:
        # A part of a run from before format 3: one probe; merged in this format's columns.
        zeros = pa.array(np.zeros(table.num_rows, dtype=np.int16))
        table = table.add_column(LEGACY_COLUMNS.index("sample"), "probe_index", zeros)
        table = table.select(list(SAMPLE_COLUMNS))
        block["sha256"] = _table_digest(table) if _protect.PROTECT else None
    return table, block


def _merge(path: Path, *, check_parts: bool = True) -> Campaign:
    """Merge ``<path>.parts`` into ``path``; the caller holds the path's lock.

    ``check_parts`` verifies each part's digest so that a bad one is left out; the
    writer's own merge skips that, since the merged file is verified as a whole against
    the digests taken in memory (and a failure leaves every part for :func:`recover`).
    """
    parts = _parts_dir(path)
    meta_file = parts / "metadata.json"
    if not meta_file.is_file():
        raise CampaignFileError(f"{parts}: no unfinished campaign there (no metadata.json)")
    metadata = _loads(meta_file, meta_file.read_bytes(), "the campaign metadata")
    if not isinstance(metadata, dict):
        raise CampaignFileError(f"{meta_file}: the campaign metadata is not a JSON object")
    tables, blocks, merged, skipped = [], [], [], []
    for part in sorted(parts.glob("block-*.parquet")):
        try:
            table, block = _read_part(part, metadata.get("campaign"), check_parts)
        except (CampaignFileError, pa.ArrowException, OSError, ValueError, KeyError) as exc:
            # A part that cannot be read is left out and named; the others are kept.
            skipped.append(f"{part.name}: {exc}")
            continue
        tables.append(table)
        blocks.append(block)
        merged.append(part)
    if path.exists() or path.is_symlink():
        done = _merged_already(path, metadata, blocks)
        if done is None or not merged:
            raise FileExistsError(f"{path} exists already; move it away before recovering {parts}")
        _remove_parts(parts, merged, keep_metadata=bool(skipped))
        return done
    if not tables:
        raise CampaignFileError(
            f"{parts}: no finished block can be read there ({len(skipped)} part(s) skipped"
            + (f": {'; '.join(skipped[:3])}" if skipped else "")
            + "); nothing was written and the folder is untouched"
        )
    if skipped:
        metadata["recover_skipped"] = skipped
    metadata["format_version"] = FORMAT_VERSION
    checkpoint("merge", path)
    _write_campaign(path, tables, blocks, metadata)
    try:
        camp = load(path, verify=_protect.PROTECT)
        if [b.get("sha256") for b in blocks] != list(camp.blocks.get("sha256", [])):
            raise CorruptCampaignError(path, None, "the file read back differs from its parts")
    except BaseException:
        # The file just written did not verify; the parts are untouched, so it goes.
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    checkpoint("merged", path)
    _remove_parts(parts, merged, keep_metadata=bool(skipped))
    return camp


def _merged_already(path: Path, metadata: dict, blocks: list[dict]) -> Campaign | None:
    """The campaign at ``path`` if it already holds every block in ``blocks``, else None."""
    try:
        camp = load(path)
    except (CampaignFileError, OSError):
        return None
    if camp.metadata.get("campaign") != metadata.get("campaign") or "sha256" not in camp.blocks:
        return None
    have = set(camp.blocks["sha256"])
    return camp if all(b.get("sha256") in have for b in blocks) else None


def _remove_parts(parts: Path, merged: Sequence[Path], *, keep_metadata: bool) -> None:
    for part in merged:
        part.unlink()
    if not keep_metadata:
        for f in parts.iterdir():
            if _is_temporary(f):  # torn writes of unfinished blocks
                f.unlink()
        (parts / "metadata.json").unlink()
        with contextlib.suppress(OSError):  # anything we did not make stays
            parts.rmdir()
    _fsync_dir(parts.parent)
