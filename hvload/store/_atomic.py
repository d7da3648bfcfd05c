"""Atomic, durable writes: a fresh ``mkstemp`` temporary beside the file, fsync, rename, fsync.

Every file the store writes (each part, ``metadata.json``, the campaign file) goes through
:func:`_write_atomic`; the ``write`` fault-injection checkpoint fires there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .._faultinject import checkpoint
from . import _protect


def _fsync(fd: int) -> None:
    if _protect.PROTECT:
        os.fsync(fd)


def _fsync_dir(folder: Path) -> None:
    if not _protect.PROTECT:
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


def _write_atomic(
    path: Path,
    fill: Callable[[IO[bytes]], object],
    phase: str = "write",
    *,
    dir_fd: int | None = None,
) -> None:
    """Write ``path`` through a fresh ``O_EXCL`` temporary beside it, fsync, rename, fsync.

    With ``dir_fd`` (a folder opened by the caller) the file ``path.name`` is written in
    that folder, wherever ``path.parent`` now leads.
    """
    checkpoint("write", path)
    if dir_fd is not None:
        _write_atomic_at(dir_fd, path, fill)
        return
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


def _write_atomic_at(dir_fd: int, path: Path, fill: Callable[[IO[bytes]], object]) -> None:
    name = path.name
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(100):
        tmp = f".{name[:64]}.{secrets.token_hex(4)}.tmp"
        try:
            # 0o666 less the umask, as a plain open() would make it.
            fd = os.open(tmp, flags, 0o666, dir_fd=dir_fd)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(errno.EEXIST, "no free temporary name beside it", str(path))
    try:
        with open(fd, "wb") as f:
            fill(f)
            f.flush()
            _fsync(f.fileno())
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    if _protect.PROTECT:
        try:
            os.fsync(dir_fd)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
                raise


def _write_bytes_atomic(path: Path, data: bytes, *, dir_fd: int | None = None) -> None:
    _write_atomic(path, lambda f: f.write(data), dir_fd=dir_fd)
