"""Single-byte corruption of a campaign file's data pages, for the fault tests and benchmark."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def chunk_ranges(path: Path) -> list[tuple[int, int]]:
    """Byte ranges of every column chunk (its pages, headers included) in ``path``."""
    md = pq.ParquetFile(path).metadata
    out = []
    for i in range(md.num_row_groups):
        for j in range(md.num_columns):
            c = md.row_group(i).column(j)
            start = c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
            out.append((start, start + c.total_compressed_size))
    return out


def flipped_bytes(path: Path, n: int, seed: int) -> Iterator[int]:
    """Invert one byte at each of ``n`` offsets spread evenly over all column chunks.

    Yields each offset while its byte is inverted; the byte is restored before the next
    (also when the caller stops early), so the file ends as it began.
    """
    ranges = chunk_ranges(path)
    cum = np.concatenate([[0], np.cumsum([b - a for a, b in ranges])])
    picks = np.random.default_rng(seed).choice(cum[-1], n, replace=False)
    with open(path, "r+b") as f:
        for p in picks:
            k = int(np.searchsorted(cum, p, side="right") - 1)
            offset = ranges[k][0] + int(p - cum[k])
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0xFF]))
            f.flush()
            try:
                yield offset
            finally:
                f.seek(offset)
                f.write(byte)
                f.flush()
