"""Campaign files: Parquet with the metadata inside, written block by block by one owner.

**One owner.** A run owns its output path from before anything is measured to the end:
it holds an advisory lock (``fcntl.flock``) on ``<file>.lock`` beside the file, which
records the holder's PID, host and start time. A second run, :func:`recover` and
:func:`load` of a campaign still being written refuse with a message naming the holder.
The kernel drops the lock when its holder dies, so a killed run never blocks the next.

**Nothing finished is lost.** While a campaign runs, every finished block is written at
once as its own small Parquet file in ``<file>.parts/`` (beside a ``metadata.json``).
Closing the writer merges the parts into the campaign file, reads it back, verifies it,
and only then removes the parts it merged; SIGINT and SIGTERM are held back during the
merge and take effect after it. If the merge fails (a full disk) or the process is
killed, the folder stays behind and :func:`recover` (``hvload recover FILE``) writes the
campaign file from its finished blocks: at most the block in flight is lost.

**Every write is atomic and durable.** Each part, ``metadata.json`` and the campaign file
are written to a uniquely named temporary in the same folder (``tempfile.mkstemp``:
``O_EXCL``, never following a planted link), flushed with ``fsync``, renamed into place
with ``os.replace``, and the folder is ``fsync``-ed. No temporary has a fixed name.

**Damage is detected.** The campaign file is one Parquet table of samples with one row
group per block (format 4 stores ``start`` and ``response`` as ``due`` and ``late``, see
:data:`STORED_COLUMNS`; formats 1 to 3 are read as they are) and a CRC32 checksum on
every data page; the Arrow schema metadata holds
the campaign's metadata (``hvload.metadata``), its block table (``hvload.blocks``, with a
SHA-256 digest of each block's samples) and a SHA-256 of both (``hvload.digest``).
:func:`load` checks the metadata and block table before it allocates anything, refuses
sizes that cannot fit in memory, then verifies the page checksums, the digests and the
values (cycles >= 0; rounds, levels and sample counts as the design says); a file that
fails raises :class:`~hvload.errors.CorruptCampaignError` naming the file, the block and
the problem. ``load(path, verify=False)`` reads a damaged file for forensics.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import signal
import socket
import stat
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._faultinject import checkpoint
from ..errors import CampaignBusyError, CampaignFileError, CorruptCampaignError
from ..model import (
    BYTES_PER_SAMPLE,
    FORMAT_VERSION,
    LEGACY_COLUMNS,
    SAMPLE_COLUMNS,
    SAMPLE_DTYPES,
    BlockResult,
    Campaign,
    available_memory,
    lean_samples,
    sample_columns,
    wide_samples,
)

__all__ = [
    "SAMPLE_SCHEMA",
    "STORED_COLUMNS",
    "STORED_SCHEMA",
    "CampaignWriter",
    "OutputLock",
    "claim",
    "load",
    "read_footer",
    "recover",
    "save",
]

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
#: Longest campaign id or level name accepted from a file (a level name is a label).
MAX_TEXT_BYTES = 256

# Switched off only by benchmarks/bench_faults.py, to measure what fsync, page checksums,
# digests and verification cost: then nothing is synced, checksummed or verified.
_PROTECT = True


def _parquet_options() -> dict[str, Any]:
    """Options of the block parts in ``<file>.parts/`` (the measured columns as they are)."""
    return {
        "compression": "zstd",
        "use_dictionary": list(_TEXT_COLUMNS),
        "column_encoding": {"start": "DELTA_BINARY_PACKED", "sample": "DELTA_BINARY_PACKED"},
        "write_page_checksum": _PROTECT,
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
        "write_page_checksum": _PROTECT,
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
    return hashlib.sha256(meta + b"\n" + blocks).hexdigest()


# -- atomic, durable writes -------------------------------------------------------------------


def _fsync(fd: int) -> None:
    if _PROTECT:
        os.fsync(fd)


def _fsync_dir(folder: Path) -> None:
    if not _PROTECT:
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot sync a folder; the data are synced
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (0o666 less the umask)."""
    global _MODE
    if _MODE is None:
        umask = None
        with contextlib.suppress(OSError, ValueError):
            with open("/proc/self/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("Umask:"):
                        umask = int(line.split()[1], 8)
        if umask is None:  # no /proc: read it the only other way, by setting it
            umask = os.umask(0o022)
            os.umask(umask)
        _MODE = 0o666 & ~umask
    return _MODE


_MODE: int | None = None


def _write_atomic(path: Path, fill: Callable[[IO[bytes]], None], phase: str = "write") -> None:
    """Write ``path`` through a fresh ``O_EXCL`` temporary beside it, fsync, rename, fsync."""
    checkpoint("write", path)
    # mkstemp opens with O_CREAT | O_EXCL (and O_NOFOLLOW): a name someone planted,
    # link or not, is never opened; it retries with another random name.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:64]}.", suffix=".tmp", dir=path.parent)
    try:
        with open(fd, "wb") as f:
            os.fchmod(f.fileno(), _file_mode())  # mkstemp's 0o600 would hide the data
            if phase != "write":
                checkpoint(phase, path)
            fill(f)
            f.flush()
            _fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    _write_atomic(path, lambda f: f.write(data))


# -- the owner's lock -----------------------------------------------------------------------


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _parts_dir(path: Path) -> Path:
    return path.with_name(path.name + ".parts")


def _read_holder(lockfile: Path) -> dict[str, Any]:
    try:
        fd = os.open(lockfile, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        holder = json.loads(os.read(fd, 4096))
        return holder if isinstance(holder, dict) else {}
    except (OSError, ValueError, RecursionError):
        return {}
    finally:
        os.close(fd)


def holder_text(holder: Mapping[str, Any]) -> str:
    """The holder of a lock in words: PID, host, since when, doing what."""
    if not holder.get("pid"):
        return "another process (it recorded no details)"
    text = f"PID {holder['pid']} on host {holder.get('host', '?')}"
    if holder.get("start_utc"):
        text += f" since {holder['start_utc']}"
    if holder.get("command"):
        text += f" ({holder['command']})"
    return text


def live_holder(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Who holds the lock on campaign ``path`` now, or None when no live process does."""
    lockfile = _lock_path(Path(path))
    try:
        fd = os.open(lockfile, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(lockfile) or {"pid": None}
    except OSError:
        return None
    finally:
        os.close(fd)  # also drops the shared lock taken just to look
    return None


class OutputLock:
    """The advisory lock that makes one process the owner of a campaign path.

    ``fcntl.flock`` on ``<path>.lock``, which holds the owner's PID, host, start time
    and command as JSON. The lock is released (and its file removed) by
    :meth:`release`, on leaving a ``with`` block, or by the kernel when the process ends.

    Parameters
    ----------
    path
        The campaign file the lock is for.
    command
        What the owner does, for refusal messages (``"hvload run"``).
    """

    def __init__(self, path: str | os.PathLike[str], command: str = "hvload run") -> None:
        self.path = Path(path)
        self.lockfile = _lock_path(self.path)
        self.command = command
        self._fd: int | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, wait: float = 0.5) -> OutputLock:
        """Take the lock, or raise :class:`CampaignBusyError` naming its holder.

        ``wait`` seconds of retries cover a reader that holds it for an instant.
        """
        if self._fd is not None:
            return self
        deadline = time.monotonic() + wait
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if time.monotonic() < deadline:
                    time.sleep(0.02)
                    continue
                holder = _read_holder(self.lockfile)
                advice = (
                    "its run is alive and writes the file itself: wait for it to end"
                    if self.command == "hvload recover"
                    else "wait for it to finish or choose another output file"
                )
                raise CampaignBusyError(
                    f"{self.path} is in use by {holder_text(holder)}, which holds "
                    f"{self.lockfile}; {advice}",
                    holder,
                ) from None
            except BaseException:
                os.close(fd)
                raise
            # The previous owner may have removed the file between our open and flock:
            # then we hold a lock on a file nobody else will open, so try again.
            try:
                now = os.stat(self.lockfile, follow_symlinks=False)
                mine = os.fstat(fd)
            except FileNotFoundError:
                os.close(fd)
                continue
            if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
                os.close(fd)
                continue
            break
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "start_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "command": self.command,
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode(), 0)
        except OSError:
            # A full disk may refuse these few bytes; the lock itself holds.
            pass
        self._fd = fd
        self._finalizer = weakref.finalize(self, os.close, fd)
        return self

    def _open(self) -> int:
        self.lockfile.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(
                self.lockfile, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OSError(
                    errno.ELOOP,
                    "is a symbolic link; hvload does not follow links it did not make, remove it",
                    str(self.lockfile),
                ) from None
            raise
        st = os.fstat(fd)
        # Never write into something another user linked here.
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
            os.close(fd)
            raise OSError(
                errno.EEXIST,
                "is not a plain file of its own (a link or a special file); remove it",
                str(self.lockfile),
            )
        return fd

    def release(self) -> None:
        """Remove the lock file and drop the lock (the file goes first, while still held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        if self._finalizer is not None:
            self._finalizer.detach()
        try:
            with contextlib.suppress(OSError):
                now = os.stat(self.lockfile, follow_symlinks=False)
                mine = os.fstat(fd)
                if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                    os.unlink(self.lockfile)
        finally:
            os.close(fd)

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _check_name(path: Path, existing: Path) -> None:
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    longest = len(os.fsencode(path.name)) + len(".parts")
    if longest > name_max:
        raise OSError(
            errno.ENAMETOOLONG,
            f"File name too long: {len(os.fsencode(path.name))} bytes; with the '.parts' "
            f"folder beside it a campaign file name may have at most {name_max - 6} bytes here",
            str(path),
        )


def _check_free(path: Path) -> None:
    if path.exists() or path.is_symlink():
        raise FileExistsError(f"{path} exists already; choose another output path")
    parts = _parts_dir(path)
    if parts.exists() or parts.is_symlink():
        n = len(list(parts.glob("block-*.parquet"))) if parts.is_dir() else 0
        raise FileExistsError(
            f"{parts} exists: an earlier campaign was cut off there with {n} finished "
            f"block{'s' if n != 1 else ''}; `hvload recover {path}` writes its file, or "
            "remove the folder"
        )


def claim(path: str | os.PathLike[str], command: str = "hvload run") -> OutputLock:
    """Become the owner of a new campaign path: check it, create its folder, take its lock.

    Call before measuring anything, so that a clash is found at once. Pass the lock to
    :class:`CampaignWriter` (or ``run(..., lock=...)``) and release it when done (or use
    it as a context manager).

    Raises
    ------
    ValueError
        For an empty path.
    FileExistsError
        If the file or an unfinished ``.parts`` folder is there.
    CampaignBusyError
        If another live process owns the path.
    OSError
        If the folder cannot be made or written (the message names the path).
    """
    if not os.fspath(path).strip():
        raise ValueError("the output path is empty; give a campaign file name")
    path = Path(path)
    parent = path.parent
    existing = Path(".")
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise NotADirectoryError(
                    errno.ENOTDIR, "Not a directory (it is a file, not a folder)", str(folder)
                )
            existing = folder
            break
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory, not a campaign file", str(path))
    _check_name(path, existing)  # before any folder is made
    parent.mkdir(parents=True, exist_ok=True)
    lock = OutputLock(path, command).acquire()
    try:
        _check_free(path)
    except BaseException:
        lock.release()
        raise
    return lock


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
            h.update(np.ascontiguousarray(value, dtype=dtype))
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
    row["sha256"] = _table_digest(table) if _PROTECT else None
    return table, row


# -- deferring signals while the merge runs -------------------------------------------------


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
            handler = saved[caught[0]]
            if callable(handler):
                handler(caught[0], None)
            elif handler != signal.SIG_IGN:
                signal.raise_signal(caught[0])


# -- writing --------------------------------------------------------------------------------


class CampaignWriter:
    """Write a campaign block by block (see the module docstring).

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


def _is_temporary(f: Path) -> bool:
    return f.name.startswith(".") and f.name.endswith(".tmp")


def _write_campaign(
    path: Path, tables: Sequence[pa.Table], blocks: list[dict], metadata: dict
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
        t, row = _block_table(samples.iloc[np.sort(rows_here)], block)
        tables.append(t)
        rows.append(row)
    if sum(t.num_rows for t in tables) != len(samples):
        raise ValueError("some samples belong to no block of the block table")
    metadata = {**campaign.metadata, "format_version": FORMAT_VERSION}
    with claim(path, "hvload.store.save"):
        _write_campaign(path, tables, rows, metadata)
        return load(path)


# -- recovering -----------------------------------------------------------------------------


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
    pf = pq.ParquetFile(part, page_checksum_verification=_PROTECT)
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
        block["sha256"] = _table_digest(table) if _PROTECT else None
    elif check_digest and _PROTECT and _table_digest(table) != block["sha256"]:
        raise CampaignFileError(f"{part}: the samples do not match the block's digest")
    if "probe_index" not in table.column_names:
        # A part of a run from before format 3: one probe; merged in this format's columns.
        zeros = pa.array(np.zeros(table.num_rows, dtype=np.int16))
        table = table.add_column(LEGACY_COLUMNS.index("sample"), "probe_index", zeros)
        table = table.select(list(SAMPLE_COLUMNS))
        block["sha256"] = _table_digest(table) if _PROTECT else None
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
        camp = load(path, verify=_PROTECT)
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


# -- reading and verifying ------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


_BLOCK_REQUIRED: dict[str, Callable[[Any], bool]] = {
    "campaign": lambda x: isinstance(x, str),
    "round": lambda x: _is_int(x) and x >= 0,
    "level": lambda x: isinstance(x, str),
    "level_index": lambda x: _is_int(x) and x >= 0,
    "block": lambda x: _is_int(x) and x >= 0,
}
_BLOCK_OPTIONAL: dict[str, Callable[[Any], bool]] = {
    **dict.fromkeys(
        ("level_value", "start_ns", "end_ns", "workers", "position", "target_rate",
         "achieved_rate", "achieved_load", "lateness_mean", "lateness_p99", "lateness_max",
         "steal_ms", "irqs", "ctx_voluntary", "ctx_involuntary", "loadavg", "cpu_mhz",
         "probe_ns", "probe_start_ns", "probe_end_ns", "agents", "load_cover", "load_lead_ms",
         "load_lag_ms", "clock_error_ms", "remote_start_ms", "remote_stop_ms"),
        _is_num,
    ),
    "worker_stats": lambda x: x is None or isinstance(x, list),
    # Remote load (hvload.remote): whether the load covered the probe window, and why not.
    "load_ok": lambda x: x is None or isinstance(x, bool),
    "load_problem": lambda x: x is None or isinstance(x, str),
    "agent_windows": lambda x: x is None or isinstance(x, list),
    "n_samples": lambda x: _is_int(x) and x >= 0,
    "sha256": lambda x: x is None or (isinstance(x, str) and len(x) == 64),
}  # fmt: skip


def _block_row_problem(row: Any) -> str | None:
    if not isinstance(row, dict):
        return f"a block row is {type(row).__name__}, not a JSON object"
    for key, ok in _BLOCK_REQUIRED.items():
        if key not in row:
            return f"a block row lacks {key!r}"
        if not ok(row[key]):
            return f"{key}={row[key]!r} in a block row is not allowed"
    for key, ok in _BLOCK_OPTIONAL.items():
        if key in row and not ok(row[key]):
            return f"{key}={row[key]!r} in block {row['block']} is not allowed"
    return None


def _metadata_problem(meta: Any) -> str | None:
    if not isinstance(meta, dict):
        return f"the metadata is {type(meta).__name__}, not a JSON object"
    if meta.get("format") != "hvload-campaign":
        return f"format={meta.get('format')!r}, not 'hvload-campaign'"
    version = meta.get("format_version")
    if not _is_int(version) or not 1 <= version <= FORMAT_VERSION:
        return f"format_version={version!r} is not one this hvload reads (1..{FORMAT_VERSION})"
    if not isinstance(meta.get("campaign"), str):
        return f"campaign={meta.get('campaign')!r} is not a campaign id"
    tsc = meta.get("tsc_hz")
    if tsc is not None and not (_is_num(tsc) and math.isfinite(tsc) and tsc > 0):
        return f"tsc_hz={tsc!r} is not a frequency"
    for key in ("platform", "versions"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            return f"{key} is {type(meta[key]).__name__}, not a JSON object"
    design = meta.get("design")
    if not isinstance(design, dict):
        return "the metadata lacks the design (a JSON object)"
    for key, low in (("rounds", 1), ("samples", 1), ("warmup", 0)):
        if not _is_int(design.get(key)) or design[key] < low:
            return f"design {key}={design.get(key)!r} is not an integer >= {low}"
    levels = design.get("levels")
    if not isinstance(levels, list) or not levels:
        return "design levels is not a non-empty list"
    for lv in levels:
        if not isinstance(lv, dict) or not isinstance(lv.get("name"), str):
            return f"design level {lv!r} has no name"
    return None


def _schema_problem(schema: pa.Schema, names: Sequence[str] = SAMPLE_COLUMNS) -> str | None:
    for name in names:
        if name not in schema.names:
            return f"the samples lack the column {name!r}"
        have = schema.field(name).type
        want = _STORED_TYPES[name]
        if pa.types.is_dictionary(have):  # how the reader hands out the text columns
            have = have.value_type
        text = pa.types.is_string(have) or pa.types.is_large_string(have)
        if have != want and not (pa.types.is_large_string(want) and text):
            return f"column {name!r} is {have}, not {want}"
    return None


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
    if path.is_dir():
        raise CampaignFileError(f"{path}: is a folder, not a campaign file")
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
        Verify the page checksums, the per-block digests and the values (see the module
        docstring). ``False`` reads a damaged file for forensics; the metadata, the
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
    if not os.fspath(path).strip():
        raise ValueError("the campaign file name is empty")
    path = Path(path)
    if not path.exists():
        raise _live_or_cut_off(path)
    if path.is_dir():
        raise CampaignFileError(f"{path}: is a folder, not a campaign file")
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
    names = sample_columns(version)
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
    try:
        table = pf.read(columns=columns)
    except (pa.ArrowException, OSError) as exc:
        raise _located(path, pf, rows, per_block, exc, columns) from None
    _check_text(path, table)
    text = {c: _categorical(table.column(c)) for c in _TEXT_COLUMNS}
    if verify:
        _check_rows(path, text, metadata, rows, per_block)
    arrays = {c: table.column(c).to_numpy() for c in columns if c not in _TEXT_COLUMNS}
    del table
    if version >= 4:
        _decode(arrays)
    if verify:
        _check_values(path, arrays, rows, design, v2, names)
    levels = [lv["name"] for lv in design["levels"]]
    # Files before format 3 lack probe_index: lean_samples adds it (the main probe only).
    samples, origins = lean_samples(
        {**arrays, **text}, levels=levels, campaign=metadata["campaign"]
    )
    blocks = pd.DataFrame(rows)
    if len(blocks):
        blocks["start_tsc"] = pd.array([origins.get(b) for b in blocks["block"]], "Int64")
    return Campaign(samples, blocks, metadata, path)


def _check_size(path: Path, n_rows: int) -> None:
    have = available_memory()
    need = n_rows * BYTES_PER_SAMPLE
    if have is not None and need > have:
        raise CampaignFileError(
            f"{path}: claims {n_rows:,} samples, about {need / 2**30:,.1f} GiB in memory; "
            f"only {have / 2**30:,.1f} GiB are available, so it is not read"
        )


def _check_blocks(path: Path, metadata: dict, rows: list[dict], v2: bool) -> None:
    design = metadata["design"]
    names = [lv["name"] for lv in design["levels"]]
    seen_cells, seen_ids = set(), set()
    for row in rows:
        b = row["block"]
        if row["campaign"] != metadata["campaign"]:
            raise CorruptCampaignError(path, b, f"belongs to campaign {row['campaign']!r}")
        if row["round"] >= design["rounds"]:
            raise CorruptCampaignError(
                path, b, f"round {row['round']}, but the design has {design['rounds']} rounds"
            )
        if row["level_index"] >= len(names) or names[row["level_index"]] != row["level"]:
            raise CorruptCampaignError(
                path, b, f"level {row['level']!r} (index {row['level_index']}) is not the "
                f"design's level of that index ({names})",
            )  # fmt: skip
        cell = (row["round"], row["level_index"])
        if cell in seen_cells or b in seen_ids:
            raise CorruptCampaignError(path, b, f"round {cell[0]} level {row['level']!r} repeats")
        seen_cells.add(cell)
        seen_ids.add(b)
        if v2 and not (row.get("n_samples") is not None and row.get("sha256")):
            raise CorruptCampaignError(path, b, "the block row lacks its count or digest")
        per_block = _per_block(design)
        if row.get("n_samples", per_block) != per_block:
            raise CorruptCampaignError(
                path, b, f"{row['n_samples']} samples, the design says {per_block}"
            )


def _located(
    path: Path,
    pf: pq.ParquetFile,
    rows: list[dict],
    per_block: int,
    exc: Exception,
    columns: Sequence[str] = SAMPLE_COLUMNS,
) -> CampaignFileError:
    """Where a read failed: the first bad row group (one per block), found by bisection."""
    lo, hi = 0, pf.metadata.num_row_groups
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            pf.read_row_groups(range(lo, mid), columns=list(columns))
            lo = mid
        except (pa.ArrowException, OSError):
            hi = mid
    group = lo
    bad = []
    for c in columns:
        try:
            pf.read_row_group(group, columns=[c])
        except (pa.ArrowException, OSError):
            bad.append(c)
    meta = pf.metadata
    start = sum(meta.row_group(i).num_rows for i in range(group))
    end = start + meta.row_group(group).num_rows
    ids = [r["block"] for r in rows]
    blocks = ids[start // max(per_block, 1) : (end - 1) // max(per_block, 1) + 1]
    what = "checksum" if "checksum" in str(exc).lower() else "read"
    problem = f"{'column ' + repr(bad[0]) if bad else 'a page'} fails its page {what} ({exc})"
    if len(bad) > 1:
        problem += f"; columns {bad} are damaged"
    if len(blocks) > 1:
        problem += f"; the damaged row group holds blocks {blocks}"
    return CorruptCampaignError(path, blocks[0] if len(blocks) == 1 else None, problem)


def _check_text(path: Path, table: pa.Table) -> None:
    """Text columns arrive dictionary-encoded; refuse long values before anything expands them."""
    for name in _TEXT_COLUMNS:
        for chunk in table.column(name).chunks:
            values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
            longest = pc.max(pc.binary_length(values)).as_py() if len(values) else 0
            if longest is not None and longest > MAX_TEXT_BYTES:
                raise CampaignFileError(
                    f"{path}: a {name!r} value of {longest:,} bytes; hvload writes at most "
                    f"{MAX_TEXT_BYTES} (not an hvload campaign, or a hostile one)"
                )


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


def _first_bad(path: Path, ok: np.ndarray, rows: list[dict], per_block: int, what: str) -> None:
    if ok.all():
        return
    where = int(np.flatnonzero(~ok)[0])
    row = rows[min(where // per_block, len(rows) - 1)]
    count = int((~ok).sum())
    raise CorruptCampaignError(
        path, row["block"], f"{what} (sample {where % per_block}; {count:,} bad values in the file)"
    )


def _check_rows(
    path: Path, text: Mapping[str, pd.Categorical], meta: dict, rows: list[dict], per_block: int
) -> None:
    for name, values in (
        ("campaign", [meta["campaign"]] * len(rows)),
        ("level", [r["level"] for r in rows]),
    ):
        cat = text[name]
        expected = pd.Index(cat.categories).get_indexer(values)  # -1: never in the column
        ok = cat.codes == np.repeat(expected, per_block)
        _first_bad(path, ok, rows, per_block, f"a sample's {name!r} is not its block's")


def _check_values(
    path: Path,
    samples: Mapping[str, np.ndarray],
    rows: list[dict],
    design: dict,
    v2: bool,
    names: Sequence[str] = SAMPLE_COLUMNS,
) -> None:
    n, warmup = len(rows), design["warmup"]
    per_probe = warmup + design["samples"]
    k = 1 + len(design.get("controls") or [])
    per_block = k * per_probe
    # Inside a block the rows come probe by probe, each in its own sample order.
    expected = {
        "block": np.repeat([r["block"] for r in rows], per_block),
        "round": np.repeat([r["round"] for r in rows], per_block),
        "level_index": np.repeat([r["level_index"] for r in rows], per_block),
        "sample": np.tile(np.arange(per_probe), n * k),
        "warmup": np.tile(np.arange(per_probe) < warmup, n * k),
    }
    if "probe_index" in names:
        expected["probe_index"] = np.tile(np.repeat(np.arange(k), per_probe), n)
    for name, values in expected.items():
        _first_bad(path, samples[name] == values, rows, per_block,
                   f"a sample's {name!r} is not what the design and block table say")  # fmt: skip
    for name in ("cycles", "response"):
        _first_bad(path, samples[name] >= 0, rows, per_block,
                   f"negative {name} (a latency cannot be < 0)")  # fmt: skip
    if not v2:
        return
    arrays = {c: samples[c] for c in _NUMERIC_COLUMNS if c in names}
    for i, row in enumerate(rows):
        lo, hi = i * per_block, (i + 1) * per_block
        cols: dict[str, Any] = {c: a[lo:hi] for c, a in arrays.items()}
        cols["campaign"], cols["level"] = row["campaign"], row["level"]
        if _digest(cols, names) != row["sha256"]:
            raise CorruptCampaignError(
                path, row["block"], "the samples do not match the block's digest"
            )
