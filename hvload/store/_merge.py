"""The merge of ``<file>.parts/`` into the campaign file, and :func:`recover`.

:meth:`CampaignWriter.close <hvload.store.CampaignWriter.close>` runs the merge when a
campaign ends; :func:`recover` runs the same merge, checking each part, after a run was
killed or its final write failed. The ``merge`` and ``merged`` fault-injection
checkpoints fire here.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._faultinject import checkpoint
from ..errors import CampaignFileError, CorruptCampaignError
from ..model import FORMAT_VERSION, LEGACY_COLUMNS, SAMPLE_COLUMNS, Campaign
from . import _protect
from ._atomic import _fsync_dir
from ._format import _BLOCK_KEY, _loads, _names_of, _table_digest, _write_campaign
from ._lock import OutputLock, _parts_dir
from ._owned import PartsFolderError, _changed, _open_parts, _Owned, _torn_temporary
from ._reader import StoredCampaign, load, read_footer, verify_file
from ._verify import _block_row_problem, _schema_problem


def recover(path: str | os.PathLike[str]) -> Campaign:
    """Write the campaign file from the finished blocks in ``<path>.parts/`` and load it.

    ``hvload recover PATH`` calls this after a run was killed or its final write failed.
    Parts that cannot be read or fail their checks are left out, named in the metadata
    (``recover_skipped``) and kept in the folder; the parts merged are removed only once
    the campaign file has been read back and verified.

    ``<path>.parts`` must be a folder of this user, not a link (else
    :class:`PartsFolderError`, and nothing changes); only the parts merged, the
    metadata and torn writes of hvload's own are removed, never other files.

    Raises
    ------
    CampaignBusyError
        While the run that writes ``path`` is alive.
    PartsFolderError
        If ``<path>.parts`` is a link or not this user's.
    CampaignFileError
        If there is no unfinished campaign at ``path`` or none of its blocks is readable.
    FileExistsError
        If ``path`` exists and is not this campaign's merged file.
    """
    path = Path(path)
    if not os.fspath(path).strip():
        raise ValueError("the campaign path is empty")
    parts = _parts_dir(path)
    if not parts.is_dir() and not parts.is_symlink():
        raise CampaignFileError(f"{parts}: no unfinished campaign there (no such folder)")
    # A link, or a folder of another user, is refused before anything (even the lock).
    os.close(_open_parts(parts))
    with OutputLock(path, "hvload recover"):
        return _merge(path)


def _read_part(
    part: Path, campaign_id: object, check_digest: bool, fd: int | None = None,
    header: bool = False,
) -> tuple[pa.Table | None, dict]:  # fmt: skip
    if fd is None:
        return _read_part_from(part, part, campaign_id, check_digest, header)
    # Relative to the folder opened once, never through a link planted as a part.
    f = os.open(part.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    with open(f, "rb") as source:
        return _read_part_from(part, source, campaign_id, check_digest, header)


def _read_part_from(
    part: Path, source: Path | IO[bytes], campaign_id: object, check_digest: bool,
    header: bool = False,
) -> tuple[pa.Table | None, dict]:  # fmt: skip
    """A part's samples and block row, checked; with ``header`` only its block row when
    that needs no sample (a part of this format whose digest is not to be checked)."""
    pf = pq.ParquetFile(source, page_checksum_verification=_protect.PROTECT)
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
    if (
        header
        and not check_digest
        and block.get("sha256") is not None
        and "probe_index" in pf.schema_arrow.names
    ):
        if pf.metadata.num_rows != block.setdefault("n_samples", pf.metadata.num_rows):
            raise CampaignFileError(
                f"{part}: {pf.metadata.num_rows} rows, its row says {block['n_samples']}"
            )
        return None, block
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


def _merge(
    path: Path, *, check_parts: bool = True, owned: _Owned | None = None, read_back: bool = True
) -> Campaign:
    """Merge ``<path>.parts`` into ``path``; the caller holds the path's lock.

    ``check_parts`` verifies each part's digest so that a bad one is left out; the
    writer's own merge (``owned``) skips that: it merges exactly the parts it wrote,
    checks each one's block row against what it wrote, refuses (changing nothing) if
    one is missing or changed, and verifies the merged file as a whole against the
    digests it took in memory (a failure leaves every part for :func:`recover`).
    Without ``read_back`` the file is verified block by block and the campaign returned
    keeps its samples in the file (:class:`StoredCampaign`) until they are asked for.
    """
    parts = _parts_dir(path)
    if owned is not None:
        return _merge_at(path, parts, owned.fd, False, owned, read_back)
    fd = _open_parts(parts)
    try:
        return _merge_at(path, parts, fd, check_parts, None, read_back)
    finally:
        os.close(fd)


def _merge_at(
    path: Path, parts: Path, fd: int, check_parts: bool, owned: _Owned | None,
    read_back: bool = True,
) -> Campaign:  # fmt: skip
    changed = _changed(parts, fd)
    if changed is not None:
        if owned is None:  # recover: the folder went between its open and now
            raise PartsFolderError(f"{parts}: {changed}; nothing was merged or removed")
        raise owned.moved(parts, changed, "nothing was merged, nothing else written or removed")
    meta_file = parts / "metadata.json"
    try:
        raw = _read_at(fd, "metadata.json")
    except FileNotFoundError:
        raise CampaignFileError(
            f"{parts}: no unfinished campaign there (no metadata.json)"
        ) from None
    metadata = _loads(meta_file, raw, "the campaign metadata")
    if not isinstance(metadata, dict):
        raise CampaignFileError(f"{meta_file}: the campaign metadata is not a JSON object")
    if owned is not None:
        names = list(owned.written)
    else:
        names = sorted(n for n in os.listdir(fd) if fnmatch.fnmatchcase(n, "block-*.parquet"))
    blocks, merged, skipped = [], [], []
    # First the block rows (and, for recover, each part checked whole): the file's footer
    # needs them all; then the samples, one part at a time, straight into the file, so
    # that no more than one block is ever held in memory.
    for name in names:
        part = parts / name
        try:
            _, block = _read_part(part, metadata.get("campaign"), check_parts, fd, header=True)
            if owned is not None:
                _check_owned(part, block, owned.written[name])
        except (CampaignFileError, pa.ArrowException, OSError, ValueError, KeyError) as exc:
            # A part that cannot be read is left out and named; the others are kept.
            reason = str(exc)
            if owned is not None:  # the folder is named once, in the writer's message
                if isinstance(exc, OSError) and exc.strerror:
                    reason = exc.strerror
                reason = reason.removeprefix(f"{part}: ")
            skipped.append(f"{part.name}: {reason}")
            continue
        blocks.append(block)
        merged.append(name)
    if owned is not None and skipped:
        lost = ", ".join(
            f"block {owned.written[s.split(':', 1)[0]][0]} ({s})" for s in skipped[:3]
        ) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        refused = PartsFolderError(
            f"{parts}: {lost}: deleted or changed while the run was live; no campaign file "
            f"was written; the other {len(merged)} finished block"
            f"{'s are' if len(merged) != 1 else ' is'} kept in {parts}"
        )
        refused.kept = len(merged)
        raise refused
    if path.exists() or path.is_symlink():
        done = _merged_already(path, metadata, blocks)
        if done is None or not merged:
            raise FileExistsError(f"{path} exists already; move it away before recovering {parts}")
        _remove_parts(parts, fd, merged, keep_metadata=bool(skipped))
        return done
    if not merged:
        raise CampaignFileError(
            f"{parts}: no finished block can be read there ({len(skipped)} part(s) skipped"
            + (f": {'; '.join(skipped[:3])}" if skipped else "")
            + "); nothing was written and the folder is untouched"
        )
    if skipped:
        metadata["recover_skipped"] = skipped
    metadata["format_version"] = FORMAT_VERSION
    checkpoint("merge", path)

    def tables() -> Iterator[pa.Table]:
        for name, block in zip(merged, blocks, strict=True):
            table, again = _read_part(parts / name, metadata.get("campaign"), False, fd)
            if table is None or again.get("sha256") != block.get("sha256"):
                raise CampaignFileError(f"{parts / name}: changed while it was merged")
            yield table

    _write_campaign(path, tables(), blocks, metadata)
    try:
        camp: Campaign
        if read_back:
            camp = load(path, verify=_protect.PROTECT)
        elif _protect.PROTECT:
            # Checked block by block, no sample kept: the samples stay in the file.
            meta_read, rows_read = verify_file(path)
            camp = StoredCampaign(rows_read, meta_read, path)
        else:
            meta_read, footer_rows, _ = read_footer(path, verify=False)
            camp = StoredCampaign(pd.DataFrame(footer_rows), meta_read, path)
        if [b.get("sha256") for b in blocks] != list(camp.blocks.get("sha256", [])):
            raise CorruptCampaignError(path, None, "the file read back differs from its parts")
    except BaseException:
        # The file just written did not verify; the parts are untouched, so it goes.
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    checkpoint("merged", path)
    _remove_parts(parts, fd, merged, keep_metadata=bool(skipped))
    return camp


def _read_at(fd: int, name: str) -> bytes:
    f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    with open(f, "rb") as file:
        return file.read()


def _check_owned(part: Path, block: dict, wrote: tuple[object, int, str | None]) -> None:
    """Refuse a part whose block row is not the one the writer wrote under that name."""
    block_id, n_samples, digest = wrote
    if (block.get("block"), block.get("n_samples"), block.get("sha256")) != wrote:
        raise CampaignFileError(
            f"{part}: not the part this run wrote (block {block.get('block')!r}, "
            f"{block.get('n_samples')} samples; it wrote block {block_id!r}, {n_samples} "
            f"samples{', another digest' if block.get('sha256') != digest else ''})"
        )


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


def _remove_parts(parts: Path, fd: int, merged: Sequence[str], *, keep_metadata: bool) -> None:
    # Only what hvload wrote goes: the parts just merged (verified), the metadata they
    # belong to, and torn writes of its own; anything else keeps the folder.
    for name in merged:
        os.unlink(name, dir_fd=fd)
    if not keep_metadata:
        for name in os.listdir(fd):
            if _torn_temporary(fd, name):  # torn writes of unfinished blocks
                os.unlink(name, dir_fd=fd)
        os.unlink("metadata.json", dir_fd=fd)
        if _changed(parts, fd) is None:
            with contextlib.suppress(OSError):  # anything we did not make stays
                os.rmdir(parts)
    _fsync_dir(parts.parent)
