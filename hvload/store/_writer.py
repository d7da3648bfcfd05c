"""Writing: :class:`CampaignWriter` (a part per finished block, merged at close), :func:`save`."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow.parquet as pq

from ..model import FORMAT_VERSION, BlockResult, Campaign, wide_samples
from ._atomic import _fsync_dir, _is_temporary, _write_atomic, _write_bytes_atomic
from ._format import _BLOCK_KEY, _block_table, _dumps, _parquet_options, _write_campaign
from ._lock import OutputLock, _check_free, _parts_dir, claim
from ._merge import _merge
from ._reader import load


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back inside the block; deliver the first one after it.

    The merge of a campaign's parts then always completes (or fails on its own terms)
    and the signal takes effect at once afterwards. Only the main thread can do this;
    elsewhere signals do not reach the code anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    saved = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        if caught:
            handler = saved[signal.Signals(caught[0])]
            if callable(handler):
                handler(caught[0], None)
            elif handler != signal.SIG_IGN:
                signal.raise_signal(caught[0])


# -- writing --------------------------------------------------------------------------------


class CampaignWriter:
    """Write a campaign block by block (see :mod:`hvload.store`).

    Parameters
    ----------
    path
        The campaign file to create; neither it nor ``<path>.parts`` may exist yet.
    metadata
        The campaign's metadata; ``end_utc`` and the block table are added at close.
    lock
        The path's :class:`OutputLock`, when the caller took it before measuring (see
        :func:`claim`); otherwise the writer takes it and releases it at the end.

    Attributes
    ----------
    blocks_written
        Finished blocks on disk in :attr:`parts`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: dict[str, Any],
        *,
        lock: OutputLock | None = None,
    ) -> None:
        self.path = Path(path)
        self.metadata = metadata
        self.parts = _parts_dir(self.path)
        self.blocks_written = 0
        self._closed = False
        self._campaign: Campaign | None = None
        self._own_lock = lock is None
        self._lock = claim(self.path) if lock is None else lock
        if not self._lock.held or self._lock.path != self.path:
            raise ValueError(f"the lock given is not held for {self.path}")
        made = False
        try:
            _check_free(self.path)
            self.parts.mkdir()
            made = True
            _fsync_dir(self.parts.parent)
            _write_bytes_atomic(self.parts / "metadata.json", _dumps(metadata))
        except BaseException:
            if made:  # leave nothing behind: no block was written
                self._discard()
            self.release()
            raise

    def write_block(self, result: BlockResult) -> None:
        """Write one finished block to disk now (atomically and durably)."""
        if self._closed:
            raise ValueError(f"the writer of {self.path} is closed")
        table, row = _block_table(result.samples, result.block)
        table = table.replace_schema_metadata({_BLOCK_KEY: _dumps(row)})
        part = self.parts / f"block-{self.blocks_written:05d}.parquet"
        # A block that was measured is stored even if Ctrl-C arrives while it is written.
        with _signals_held():
            _write_atomic(part, lambda f: pq.write_table(table, f, **_parquet_options()))
            self.blocks_written += 1

    def close(self) -> Campaign | None:
        """Merge the parts into the campaign file and return the campaign read back.

        SIGINT/SIGTERM arriving meanwhile take effect after the merge. With no finished
        block nothing is written (the parts folder is removed) and None is returned.
        Calling it again returns the same result.
        """
        if self._closed:
            return self._campaign
        with _signals_held():
            self.metadata.setdefault("end_utc", None)
            if self.blocks_written == 0:
                self._discard()
                camp = None
            else:
                _write_bytes_atomic(self.parts / "metadata.json", _dumps(self.metadata))
                camp = _merge(self.path, check_parts=False)
            self._campaign, self._closed = camp, True
            self.release()
        return camp

    def release(self) -> None:
        """Release the path's lock if this writer took it (close does this too)."""
        if self._own_lock:
            self._lock.release()

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            for f in self.parts.iterdir():
                if f.name == "metadata.json" or _is_temporary(f):
                    f.unlink()
            self.parts.rmdir()
            _fsync_dir(self.parts.parent)


def save(campaign: Campaign, path: str | os.PathLike[str]) -> Campaign:
    """Write ``campaign`` to a new campaign file (current format) and return it read back.

    Used to rewrite older files in the current format; the samples are written
    unchanged (a lean table, as :func:`load` returns, is widened first), block by block
    in the order of the block table, each block's rows in their order in
    ``campaign.samples``.
    """
    path = Path(path)
    samples, blocks = campaign.samples, campaign.blocks
    if blocks.empty:
        raise ValueError("a campaign file needs at least one finished block")
    samples = wide_samples(samples, blocks)
    rows_of = samples.groupby("block", sort=False).indices
    tables, rows = [], []
    for block in blocks.to_dict("records"):
        rows_here = rows_of.get(block["block"])
        if rows_here is None:
            raise ValueError(f"block {block['block']} has no samples")
        # The block table's columns are names (str); pandas-stubs types record keys as
        # any Hashable.
        t, row = _block_table(samples.iloc[np.sort(rows_here)], cast("dict[str, Any]", block))
        tables.append(t)
        rows.append(row)
    if sum(t.num_rows for t in tables) != len(samples):
        raise ValueError("some samples belong to no block of the block table")
    metadata = {**campaign.metadata, "format_version": FORMAT_VERSION}
    with claim(path, "hvload.store.save"):
        _write_campaign(path, tables, rows, metadata)
        return load(path)
