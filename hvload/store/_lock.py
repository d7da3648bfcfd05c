"""The owner's lock: :class:`OutputLock` on ``<file>.lock``, :func:`claim`, :func:`live_holder`.

Also the names of the two things beside a campaign file (``<file>.lock``,
``<file>.parts``) and the checks :func:`claim` makes before a run may own a path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import stat
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import CampaignBusyError


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
