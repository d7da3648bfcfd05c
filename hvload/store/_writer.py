"""Writing: :class:`CampaignWriter` (a part per finished block, merged at close), :func:`save`."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow.parquet as pq

from ..model import FORMAT_VERSION, BlockResult, Campaign, wide_samples
from ._atomic import _fsync_dir, _write_atomic
from ._format import _BLOCK_KEY, _block_table, _dumps, _parquet_options, _write_campaign
from ._lock import OutputLock, _check_free, _parts_dir, claim
from ._merge import _merge
from ._owned import PartsFolderError, _changed, _open_parts, _Owned
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
    read_back
        Whether :meth:`close` reads the samples back into the campaign it returns; if
        not, it verifies the file block by block and returns a
        :class:`~hvload.store.StoredCampaign`, so that closing takes memory for one
        block, however long the campaign.

    Attributes
    ----------
    blocks_written
        Finished blocks on disk in :attr:`parts`.

    The writer opens the folder it creates once and writes, merges and removes its parts
    through that descriptor, and records each block it wrote (id, sample count, digest,
    file name). If the folder's name leads elsewhere later (a link, another folder), or
    a recorded part is missing or changed, it raises :class:`PartsFolderError` naming
    the block(s) and where the others are, writes no campaign file, and removes nothing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: dict[str, Any],
        *,
        lock: OutputLock | None = None,
        read_back: bool = True,
    ) -> None:
        self.path = Path(path)
        self._read_back = read_back
        self.metadata = metadata
        self.parts = _parts_dir(self.path)
        self.blocks_written = 0
        self._closed = False
        self._campaign: Campaign | None = None
        self._own_lock = lock is None
        self._owned: _Owned | None = None
        self._broken: PartsFolderError | None = None
        self._lock = claim(self.path) if lock is None else lock
        if not self._lock.held or self._lock.path != self.path:
            raise ValueError(f"the lock given is not held for {self.path}")
        made = False
        try:
            _check_free(self.path)
            self.parts.mkdir()
            made = True
            fd = _open_parts(self.parts)
            self._finalizer = weakref.finalize(self, os.close, fd)
            self._owned = _Owned(fd)
            _fsync_dir(self.parts.parent)
            self._write(self.parts / "metadata.json", lambda f: f.write(_dumps(metadata)))
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
        if self._broken is not None:
            raise self._broken
        # A block that was measured is stored even if Ctrl-C arrives while it is written.
        with _signals_held():
            self._write(part, lambda f: pq.write_table(table, f, **_parquet_options()))
            owned = cast("_Owned", self._owned)
            owned.written[part.name] = (row["block"], row["n_samples"], row.get("sha256"))
            self.blocks_written += 1
        # Still written into the folder it made; but a swap is reported at once.
        changed = _changed(self.parts, owned.fd)
        if changed is not None:
            self._broken = self._moved(changed)
            raise self._broken

    def _write(self, path: Path, fill: Any) -> None:
        """Write ``path`` in the writer's own folder, never through what its name leads to."""
        owned = cast("_Owned", self._owned)
        try:
            _write_atomic(path, fill, dir_fd=owned.fd)
        except OSError as exc:
            changed = _changed(self.parts, owned.fd)
            if changed is None:
                raise
            self._broken = self._moved(changed)
            raise self._broken from exc

    def _moved(self, changed: str) -> PartsFolderError:
        owned = cast("_Owned", self._owned)
        return owned.moved(self.parts, changed, "nothing was written or removed outside it")

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
            if self._broken is not None:
                raise self._broken
            if self.blocks_written == 0:
                self._discard()
                camp = None
            else:
                owned = cast("_Owned", self._owned)
                changed = _changed(self.parts, owned.fd)
                if changed is not None:
                    self._broken = self._moved(changed)
                    raise self._broken
                meta = _dumps(self.metadata)
                self._write(self.parts / "metadata.json", lambda f: f.write(meta))
                try:
                    camp = _merge(self.path, owned=owned, read_back=self._read_back)
                except PartsFolderError as exc:
                    self._broken = exc
                    # The blocks still whole in the folder, for the caller's message.
                    if exc.kept is not None:
                        self.blocks_written = exc.kept
                    raise
            self._campaign, self._closed = camp, True
            self._close_folder()
            self.release()
        return camp

    def release(self) -> None:
        """Release the path's lock if this writer took it (close does this too)."""
        if self._own_lock:
            self._lock.release()

    def _close_folder(self) -> None:
        if self._owned is not None:
            self._finalizer()

    def _discard(self) -> None:
        # Only the metadata.json it wrote goes, and the folder if nothing else is in it.
        if self._owned is None:
            return
        fd = self._owned.fd
        with contextlib.suppress(OSError):  # a failed first write left none
            os.unlink("metadata.json", dir_fd=fd)
        with contextlib.suppress(OSError):
            if _changed(self.parts, fd) is None:
                self.parts.rmdir()
            _fsync_dir(self.parts.parent)
        self._close_folder()


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
