"""The stored layout of a campaign file: schema, columns, format-4 encoding, footer, digests.

What a campaign file *is*: the Arrow schemas of the samples (:data:`SAMPLE_SCHEMA`) and of
the stored columns (:data:`STORED_COLUMNS`, :data:`STORED_SCHEMA`), the footer keys, the
Parquet options of block parts and of the campaign file, the ``due``/``late`` encoding,
the JSON of the metadata and block rows, the SHA-256 digests of blocks and footer, and
:func:`_write_campaign`, the one function that writes a campaign file.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import CampaignFileError
from ..model import FORMAT_VERSION, LEGACY_COLUMNS, SAMPLE_COLUMNS, SAMPLE_DTYPES, sample_columns
from . import _protect
from ._atomic import _write_atomic

_META_KEY = b"hvload.metadata"
_BLOCKS_KEY = b"hvload.blocks"
_BLOCK_KEY = b"hvload.block"
_DIGEST_KEY = b"hvload.digest"

_ARROW_TYPES = {
    "str": pa.large_string(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
    "bool": pa.bool_(),
}  # fmt: skip
#: Arrow schema of a campaign's sample table.
SAMPLE_SCHEMA = pa.schema([(c, _ARROW_TYPES[SAMPLE_DTYPES[c]]) for c in SAMPLE_COLUMNS])
_TEXT_COLUMNS = tuple(c for c in SAMPLE_COLUMNS if SAMPLE_DTYPES[c] == "str")
_NUMERIC_COLUMNS = tuple(c for c in SAMPLE_COLUMNS if SAMPLE_DTYPES[c] != "str")


def _parquet_options() -> dict[str, Any]:
    """Options of the block parts in ``<file>.parts/`` (the measured columns as they are)."""
    return {
        "compression": "zstd",
        "use_dictionary": list(_TEXT_COLUMNS),
        "column_encoding": {"start": "DELTA_BINARY_PACKED", "sample": "DELTA_BINARY_PACKED"},
        "write_page_checksum": _protect.PROTECT,
        # Page statistics sit in page headers, outside the checksums, and nothing reads
        # them; without them almost every header byte matters to decoding, so a flip
        # there fails the read or the digest instead of passing unnoticed.
        "write_statistics": False,
    }


# -- the stored layout of a campaign file (format 4) -----------------------------------------
#
# An open-loop probe's sample k is due at ``first + k * gap`` and ``response - cycles`` is
# how late it started, so ``start - (response - cycles)`` is an exact arithmetic sequence
# in each block: stored as ``due`` with delta encoding it costs almost nothing, where
# ``start`` itself cost 1.2 bytes and ``response`` 1.5 (closed loop: ``late`` is 0 and
# ``due`` is ``start``). Encodings and the zstd level were chosen by measuring a default
# campaign built from the measured samples of data/ (benchmarks/bench_dataset.py prints
# the figures): ``cycles``, a few thousand distinct values, compresses best as a
# dictionary; ``late`` best byte-stream-split; the columns constant in a block as
# dictionaries. Decoding is exact integer arithmetic (modulo 2**64 either way), and the
# block digests are taken over the decoded ``start`` and ``response``, so they check the
# decoding as well.

#: Columns of a format-4 campaign file, in order.
STORED_COLUMNS = (
    "campaign", "round", "level", "level_index", "block", "probe_index", "sample", "due",
    "cycles", "late", "rax", "cpu", "migrated", "warmup",
)  # fmt: skip
_STORED_TYPES = {
    **{c: SAMPLE_SCHEMA.field(c).type for c in SAMPLE_COLUMNS},
    "due": pa.int64(),
    "late": pa.int64(),
}
STORED_SCHEMA = pa.schema([(c, _STORED_TYPES[c]) for c in STORED_COLUMNS])
_DICTIONARY_COLUMNS = ("round", "level_index", "block", "probe_index", "cycles", "rax", "cpu",
                       "migrated", "warmup")  # fmt: skip
#: zstd level of a campaign file: 2.17 bytes/sample on the default-sized campaign of the AMD
#: samples, against 2.32 at level 1 and 2.26 at level 3; level 9 saves nothing more and
#: costs no less time (benchmarks/bench_dataset.py).
ZSTD_LEVEL = 6


def _campaign_options() -> dict[str, Any]:
    """Options of a format-4 campaign file."""
    return {
        "compression": "zstd",
        "compression_level": ZSTD_LEVEL,
        "use_dictionary": [*_TEXT_COLUMNS, *_DICTIONARY_COLUMNS],
        "column_encoding": {
            "sample": "DELTA_BINARY_PACKED",
            "due": "DELTA_BINARY_PACKED",
            "late": "BYTE_STREAM_SPLIT",
        },
        "write_page_checksum": _protect.PROTECT,
        "write_statistics": False,
        # The Arrow schema would repeat the metadata and block table (base64) in the
        # footer, a tenth of the file; the Parquet types alone read back the same.
        "store_schema": False,
    }


def _stored_columns(version: int) -> tuple[str, ...]:
    """The columns a file of this format stores (format 3 added ``probe_index``)."""
    return STORED_COLUMNS if version >= 4 else sample_columns(version)


def _encode(table: pa.Table) -> pa.Table:
    """A block in the measured columns -> the stored columns (``due``, ``late``)."""
    start = table.column("start").to_numpy()
    cycles = table.column("cycles").to_numpy()
    late = table.column("response").to_numpy() - cycles
    cols = {c: table.column(c) for c in SAMPLE_COLUMNS}
    cols["due"] = pa.array(start - late, pa.int64())
    cols["late"] = pa.array(late, pa.int64())
    return pa.table([cols[c] for c in STORED_COLUMNS], schema=STORED_SCHEMA)


def _decode(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stored numeric columns of a format-4 file -> the measured ones (in place)."""
    late = arrays.pop("late")
    with np.errstate(over="ignore"):
        arrays["start"] = arrays.pop("due") + late
        arrays["response"] = arrays["cycles"] + late
    return arrays


# -- JSON -----------------------------------------------------------------------------------


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


def _loads(path: object, raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CampaignFileError(f"{path}: {what} is not valid JSON: {exc}") from None


def _footer_digest(meta: bytes, blocks: bytes) -> str:
    """SHA-256 over the exact bytes of the metadata JSON and the block table.

    It covers every value used to turn cycles into ns (``tsc_hz``, and the platform
    report's ``tsc_hz`` and ``tsc_methods``), so any edit of them fails verification. It
    is unkeyed: it detects accidents and naive edits, not a forger who recomputes it;
    the plausibility checks of :mod:`._verify` are what refuse an absurd value.
    """
    return hashlib.sha256(meta + b"\n" + blocks).hexdigest()


# -- samples and digests --------------------------------------------------------------------


def _digest(columns: Mapping[str, Any], names: Sequence[str] = SAMPLE_COLUMNS) -> str:
    """SHA-256 of one block's samples: each column's name, then its values.

    Numeric columns contribute their little-endian bytes in the schema's dtype; the text
    columns (constant within a block) their one value in UTF-8. ``names`` are the
    columns of the file's format (older formats lack ``probe_index``).
    """
    h = hashlib.sha256()
    for name in names:
        h.update(name.encode() + b"\0")
        value = columns[name]
        if SAMPLE_DTYPES[name] == "str":
            h.update(str(value).encode() + b"\0")
        else:
            dtype = np.dtype(SAMPLE_DTYPES[name]).newbyteorder("<")
            # ndarray has the buffer protocol on every Python; numpy's stubs declare
            # __buffer__ only for 3.12+.
            h.update(np.ascontiguousarray(value, dtype=dtype))  # type: ignore[arg-type]
    return h.hexdigest()


def _names_of(table_or_schema: pa.Table | pa.Schema) -> tuple[str, ...]:
    """The sample columns a table holds: this format's, or the legacy ones."""
    names = (
        table_or_schema.column_names
        if isinstance(table_or_schema, pa.Table)
        else (table_or_schema.names)
    )
    return SAMPLE_COLUMNS if "probe_index" in names else LEGACY_COLUMNS


def _per_block(design: Mapping[str, Any]) -> int:
    """Sample rows per block of a recorded design: every probe's warm-up and samples."""
    controls = design.get("controls") or []
    return (1 + len(controls)) * (design["warmup"] + design["samples"])


def _table_digest(table: pa.Table) -> str:
    names = _names_of(table)
    cols: dict[str, Any] = {}
    for c in _NUMERIC_COLUMNS:
        if c in names:
            cols[c] = table.column(c).to_numpy()
    for c in _TEXT_COLUMNS:
        unique = pc.unique(table.column(c))
        if len(unique) != 1:
            raise ValueError(f"the {c!r} column holds {len(unique)} values; it must hold one")
        cols[c] = unique[0].as_py()
    return _digest(cols, names)


def _block_table(samples: pd.DataFrame, block: Mapping[str, Any]) -> tuple[pa.Table, dict]:
    """A block's samples as Arrow, and its block row with the count and digest added."""
    if "probe_index" not in samples.columns:  # built without controls, e.g. by hand
        samples = samples.assign(probe_index=np.zeros(len(samples), dtype=np.int16))
    table = pa.Table.from_pandas(samples[list(SAMPLE_COLUMNS)], schema=SAMPLE_SCHEMA,
                                 preserve_index=False)  # fmt: skip
    row = dict(block)
    row["n_samples"] = table.num_rows
    row["sha256"] = _table_digest(table) if _protect.PROTECT else None
    return table, row


# -- the campaign file ------------------------------------------------------------------------


def _write_campaign(
    path: Path, tables: Iterable[pa.Table], blocks: list[dict], metadata: dict
) -> None:
    """Write the campaign file (format 4), one row group per block, atomically."""
    # The origin of a block's start is derived from its samples when read, never stored.
    blocks = [{k: v for k, v in b.items() if k != "start_tsc"} for b in blocks]
    meta, rows = _dumps({**metadata, "format_version": FORMAT_VERSION}), _dumps(blocks)
    footer = {_META_KEY: meta, _BLOCKS_KEY: rows, _DIGEST_KEY: _footer_digest(meta, rows).encode()}

    def fill(f: IO[bytes]) -> None:
        with pq.ParquetWriter(f, STORED_SCHEMA, **_campaign_options()) as writer:
            for t in tables:
                stored = _encode(t.cast(SAMPLE_SCHEMA))
                writer.write_table(stored, row_group_size=max(1, t.num_rows))
            # Without the Arrow schema, key-value metadata is written only this way.
            writer.add_key_value_metadata(footer)

    _write_atomic(path, fill, phase="final")
