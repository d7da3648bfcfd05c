"""Reading: :func:`load` (checked, decoded samples) and :func:`read_footer` (no samples)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import CampaignBusyError, CampaignFileError, CorruptCampaignError
from ..model import Campaign, LeanBuilder, lean_columns, sample_columns
from ._format import (
    _BLOCKS_KEY,
    _DIGEST_KEY,
    _META_KEY,
    _TEXT_COLUMNS,
    _decode,
    _footer_digest,
    _loads,
    _per_block,
    _stored_columns,
)
from ._lock import _parts_dir, holder_text, live_holder
from ._verify import (
    _block_row_problem,
    _check_blocks,
    _check_rows,
    _check_size,
    _check_text,
    _check_values,
    _located,
    _metadata_problem,
    _schema_problem,
)


def _live_or_cut_off(path: Path) -> CampaignFileError | CampaignBusyError:
    holder = live_holder(path)
    parts = _parts_dir(path)
    if holder is not None:
        return CampaignBusyError(
            f"{path} is being written by {holder_text(holder)}; its finished blocks are in "
            f"{parts} until it ends: wait for it",
            holder,
        )
    if (parts / "metadata.json").exists():
        n = len(list(parts.glob("block-*.parquet")))
        return CampaignFileError(
            f"{path}: the campaign was cut off before its file was written; {n} finished "
            f"block{'s are' if n != 1 else ' is'} in {parts}; `hvload recover {path}` "
            "writes the file"
        )
    return CampaignFileError(f"{path}: no such file")


def _require_regular(path: Path) -> None:
    """Refuse a path that is not a regular file before anything opens it.

    Opening a FIFO blocks until a writer comes (``hvload report`` would hang), and a
    device or socket is no campaign either; ``stat`` does not open, so it cannot hang.
    """
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise CampaignFileError(f"{path}: is a folder, not a campaign file")
    kinds = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))  # fmt: skip
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    raise CampaignFileError(f"{path}: is {kind}, not a campaign file (a regular file)")


def read_footer(
    path: str | os.PathLike[str], *, verify: bool = True
) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """A campaign file's metadata, block table and sample count, without reading samples.

    The same checks as :func:`load` makes before it reads anything (format, metadata,
    block rows, columns and, with ``verify``, the digest of the metadata and block table);
    the samples' page checksums and block digests are left to :func:`load`.

    Raises
    ------
    CampaignFileError
        If the file is not a readable hvload campaign (naming the file and the problem).
    CorruptCampaignError
        If the metadata or block table fails its digest.
    """
    path = Path(path)
    _require_regular(path)
    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise CampaignFileError(
            f"{path}: not a readable Parquet file (truncated or corrupt?): {exc}"
        ) from None
    meta = schema.metadata or {}
    if _META_KEY not in meta:
        raise CampaignFileError(f"{path}: a Parquet file, but not an hvload campaign")
    metadata = _loads(path, meta[_META_KEY], "the campaign metadata")
    rows = _loads(path, meta.get(_BLOCKS_KEY, b"[]"), "the block table")
    problem = _metadata_problem(metadata)
    if problem is None and not isinstance(rows, list):
        problem = f"the block table is {type(rows).__name__}, not a JSON array"
    problem = problem or next(filter(None, map(_block_row_problem, rows)), None)
    if problem is None:
        problem = _schema_problem(schema, _stored_columns(metadata["format_version"]))
    if problem:
        raise CampaignFileError(f"{path}: not a valid hvload campaign: {problem}")
    if (
        verify
        and metadata["format_version"] >= 2
        and meta.get(_DIGEST_KEY, b"").decode(errors="replace")
        != _footer_digest(meta[_META_KEY], meta.get(_BLOCKS_KEY, b"[]"))
    ):
        raise CorruptCampaignError(path, None, "the metadata or block table fails its digest")
    return metadata, rows, pf.metadata.num_rows


def load(path: str | os.PathLike[str], *, verify: bool = True) -> Campaign:
    """Read a campaign file: samples, blocks and metadata.

    Parameters
    ----------
    path
        The campaign file.
    verify
        Verify the page checksums, the per-block digests and the values (see
        :mod:`hvload.store`). ``False`` reads a damaged file for forensics; the metadata, the
        block table's shape and the sizes are checked even then.

    Raises
    ------
    CampaignFileError
        If the file is missing, not Parquet, truncated, or not an hvload campaign; the
        message names the file and the problem.
    CorruptCampaignError
        If a check fails (a subclass of CampaignFileError); it names the block.
    CampaignBusyError
        If the campaign is still being written by a live run.
    """
    path = Path(path)
    metadata, rows, pf, columns = _opened(path, verify)
    design = metadata["design"]
    levels = [lv["name"] for lv in design["levels"]]
    origins: dict[int, int] = {}
    # Block by block (row group by row group): only one block is ever held at full width,
    # and the lean columns go straight into the table's own arrays.
    table = LeanBuilder(pf.metadata.num_rows, levels=levels, campaign=metadata["campaign"])
    for _, columns_here in _chunks(path, pf, metadata, rows, columns, verify):
        # Files before format 3 lack probe_index: lean_columns adds it (the main probe only).
        part, found = lean_columns(columns_here, levels=levels, campaign=metadata["campaign"])
        del columns_here
        table.add(part)
        del part
        origins.update(found)
    samples = table.finish()
    del table
    blocks = pd.DataFrame(rows)
    if len(blocks):
        blocks["start_tsc"] = pd.array([origins.get(b) for b in blocks["block"]], "Int64")
    return Campaign(samples, blocks, metadata, path)


def _opened(
    path: Path, verify: bool
) -> tuple[dict[str, Any], list[dict[str, Any]], pq.ParquetFile, list[str]]:
    """The checks :func:`load` makes before it reads a sample: metadata, block rows, columns."""
    if not os.fspath(path).strip():
        raise ValueError("the campaign file name is empty")
    if not path.exists():
        raise _live_or_cut_off(path)
    _require_regular(path)
    try:
        pf = pq.ParquetFile(path, page_checksum_verification=verify)
        schema = pf.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the file system's own error (permission, I/O), not the content
        raise CampaignFileError(
            f"{path}: not a readable Parquet file (truncated or corrupt?): {exc}"
        ) from None
    meta = schema.metadata or {}
    if _META_KEY not in meta:
        raise CampaignFileError(
            f"{path}: a Parquet file, but not an hvload campaign (no {_META_KEY.decode()!r} "
            "in its schema metadata)"
        )
    metadata = _loads(path, meta[_META_KEY], "the campaign metadata")
    rows = _loads(path, meta.get(_BLOCKS_KEY, b"[]"), "the block table")
    problem = _metadata_problem(metadata)
    if problem is None and not isinstance(rows, list):
        problem = f"the block table is {type(rows).__name__}, not a JSON array"
    problem = problem or next(filter(None, map(_block_row_problem, rows)), None)
    columns = list(_stored_columns(metadata["format_version"])) if problem is None else []
    problem = problem or _schema_problem(schema, columns)
    if problem:
        raise CampaignFileError(f"{path}: not a valid hvload campaign: {problem}")
    version = metadata["format_version"]
    v2 = version >= 2
    if (
        verify
        and v2
        and meta.get(_DIGEST_KEY, b"").decode(errors="replace")
        != _footer_digest(meta[_META_KEY], meta.get(_BLOCKS_KEY, b"[]"))
    ):
        raise CorruptCampaignError(path, None, "the metadata or block table fails its digest")
    _check_size(path, pf.metadata.num_rows)
    # Text columns stay dictionary-encoded (_check_text, _categorical), never expanded:
    # a crafted file could otherwise expand one long value into every row.
    try:
        pf = pq.ParquetFile(
            path, read_dictionary=list(_TEXT_COLUMNS), page_checksum_verification=verify
        )
    except (pa.ArrowException, OSError) as exc:
        raise CampaignFileError(f"{path}: not a readable Parquet file: {exc}") from None
    design = metadata["design"]
    per_block = _per_block(design)
    if verify:
        _check_blocks(path, metadata, rows, v2)
        if pf.metadata.num_rows != len(rows) * per_block:
            raise CorruptCampaignError(
                path, None,
                f"{pf.metadata.num_rows} samples, but {len(rows)} blocks of {per_block}",
            )  # fmt: skip
    return metadata, rows, pf, columns


def _chunk_groups(pf: pq.ParquetFile, n_blocks: int, per_block: int) -> list[tuple[Any, int, int]]:
    """Row groups read together so that each read ends at a block boundary.

    A campaign file holds one row group per block, so each read is one block; row
    groups that cut through blocks are read together until a boundary. A file whose
    row count does not fit its block table is read whole (``None``).
    """
    meta = pf.metadata
    if per_block <= 0 or meta.num_row_groups == 0 or meta.num_rows != n_blocks * per_block:
        return [(None, 0, n_blocks)]
    out, groups, rows_so_far, first = [], [], 0, 0
    for g in range(meta.num_row_groups):
        groups.append(g)
        rows_so_far += meta.row_group(g).num_rows
        if rows_so_far % per_block == 0 and rows_so_far // per_block > first:
            out.append((groups, first, rows_so_far // per_block))
            groups, first = [], rows_so_far // per_block
    if groups:
        out.append((groups, first, n_blocks))
    return out


def _chunks(
    path: Path,
    pf: pq.ParquetFile,
    metadata: dict[str, Any],
    rows: list[dict[str, Any]],
    columns: list[str],
    verify: bool,
) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """The samples block by block: each read's block rows and its decoded, checked columns.

    Numeric columns come as numpy arrays in the measured types (``start`` and
    ``response`` decoded), text columns as Categoricals; with ``verify`` each read is
    checked (text, rows, values, digests) before it is handed out.
    """
    version = metadata["format_version"]
    design = metadata["design"]
    per_block = _per_block(design)
    names = sample_columns(version)
    for groups, b0, b1 in _chunk_groups(pf, len(rows), per_block):
        try:
            if groups is None:
                table = pf.read(columns=columns)
            else:
                table = pf.read_row_groups(groups, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise _located(path, pf, rows, per_block, exc, columns) from None
        here = rows[b0:b1]
        _check_text(path, table)
        text = {c: _categorical(table.column(c)) for c in _TEXT_COLUMNS}
        if verify:
            _check_rows(path, text, metadata, here, per_block)
        arrays = {c: table.column(c).to_numpy() for c in columns if c not in _TEXT_COLUMNS}
        del table
        if version >= 4 and {"due", "late"} <= arrays.keys():
            _decode(arrays)
        elif version >= 4 and "late" in arrays:  # a selection of columns: what it allows
            late = arrays.pop("late")
            if "cycles" in arrays:
                with np.errstate(over="ignore"):
                    arrays["response"] = arrays["cycles"] + late
        if verify:
            _check_values(path, arrays, here, design, version >= 2, names)
        yield here, {**arrays, **text}


def read_blocks(
    path: str | os.PathLike[str], *, verify: bool = True, columns: Sequence[str] | None = None
) -> Iterator[tuple[list[dict[str, Any]], dict[str, Any]]]:
    """A campaign file's samples a few blocks at a time (one row group each, as written).

    Yields each read's block rows and its columns: numeric ones as numpy arrays in the
    measured types (:data:`~hvload.model.SAMPLE_DTYPES`, ``start`` absolute), text ones
    as Categoricals. With ``verify`` every check of :func:`load` is made on each read
    before it is yielded. Memory is that of the largest read, not of the campaign.
    ``columns`` (stored names, :data:`~hvload.store.STORED_COLUMNS`; those the file lacks
    are left out) reads only those, without ``verify``: a format-4 file then yields
    ``response`` when ``cycles`` and ``late`` are read, ``start`` when ``due`` and
    ``late`` are.
    """
    path = Path(path)
    metadata, rows, pf, stored = _opened(path, verify)
    if columns is not None:
        if verify:
            raise ValueError("verify=True reads every column; columns= needs verify=False")
        # The text columns always: checked for length, cheap (one value per block).
        stored = [c for c in stored if c in set(columns) or c in _TEXT_COLUMNS]
    yield from _chunks(path, pf, metadata, rows, stored, verify)


def verify_file(path: str | os.PathLike[str]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Every check of :func:`load` on a campaign file, block by block, keeping no sample.

    Returns the metadata and the block table as :func:`load` gives them (with
    ``start_tsc``) once every block has passed; raises as :func:`load` does otherwise.
    """
    path = Path(path)
    metadata, rows, pf, columns = _opened(path, True)
    origins: dict[int, int] = {}
    for _, cols in _chunks(path, pf, metadata, rows, columns, True):
        origins.update(_origins(cols["block"], cols["start"]))
    blocks = pd.DataFrame(rows)
    if len(blocks):
        blocks["start_tsc"] = pd.array([origins.get(b) for b in blocks["block"]], "Int64")
    return metadata, blocks


def _origins(block: np.ndarray, start: np.ndarray) -> dict[int, int]:
    """Each block's TSC origin: the smallest ``start`` of its samples (as lean_samples)."""
    if not block.size:
        return {}
    ids, codes = np.unique(block, return_inverse=True)
    origin = np.full(ids.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(origin, codes, start.astype(np.int64, copy=False))
    return {int(b): int(o) for b, o in zip(ids.tolist(), origin.tolist(), strict=True)}


class StoredCampaign(Campaign):
    """A campaign verified in its file whose samples stay there until first asked for.

    What a campaign run returns when it was asked not to read its samples back (the
    command line, whose summary is computed block by block from the file): ``blocks``,
    ``metadata`` and ``path`` as :func:`load` gives them; ``samples`` loads the file
    (verified) on first use, so code written for a :class:`Campaign` works unchanged.
    """

    def __init__(self, blocks: pd.DataFrame, metadata: dict[str, Any], path: Path) -> None:
        self._samples: pd.DataFrame | None = None
        self.blocks = blocks
        self.metadata = metadata
        self.path = path

    @property
    def samples(self) -> pd.DataFrame:
        if self._samples is None:
            self._samples = load(cast("Path", self.path)).samples
        return self._samples

    @samples.setter
    def samples(self, value: pd.DataFrame) -> None:
        self._samples = value

    @classmethod
    def verified(cls, path: str | os.PathLike[str]) -> StoredCampaign:
        """The campaign at ``path`` after every check of :func:`load`, made block by
        block (raises as :func:`load` does); its samples stay in the file."""
        metadata, blocks = verify_file(path)
        return cls(blocks, metadata, Path(path))

    @property
    def loaded(self) -> bool:
        """Whether the samples have been read into memory."""
        return self._samples is not None


def _categorical(column: pa.ChunkedArray) -> pd.Categorical:
    """A dictionary-encoded text column as a pandas Categorical, never expanded per row."""
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    array = column.unify_dictionaries().combine_chunks() if column.num_chunks else column
    if isinstance(array, pa.ChunkedArray):  # no chunks at all: an empty table
        return pd.Categorical([])
    codes = array.indices.to_numpy(zero_copy_only=False)
    if array.null_count:
        codes = np.where(array.is_null().to_numpy(zero_copy_only=False), -1, codes)
    return pd.Categorical.from_codes(codes.astype(np.int32), array.dictionary.to_pylist())
