"""Which ``<file>.parts`` folder is a run's own: opened once, never through a link.

A writer opens the folder it created once (``O_NOFOLLOW``) and writes, reads and
removes its parts relative to that descriptor, so a folder swapped for a link (or
another folder) mid-run never receives a byte; :func:`_changed` tells whether the name
still points at that folder. :func:`recover` opens the folder the same way and refuses
a link or a folder of another user. :class:`PartsFolderError` is the one-line refusal.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from ..errors import HvloadError

#: The names of the temporaries :func:`~hvload.store._atomic._write_atomic` makes for a
#: part or ``metadata.json`` (``mkstemp``'s 8 characters, or 8 hex digits with a folder).
_TEMPORARY = re.compile(r"\.(block-\d{5,}\.parquet|metadata\.json)\.[A-Za-z0-9_]{8}\.tmp")


class PartsFolderError(HvloadError, OSError):
    """A parts folder is not the one this run made, or lacks or changed a block of it.

    An :class:`OSError` (without an errno): the command line reports it in one line
    and exits with status 1. ``kept`` is the number of the run's blocks verified in
    the folder, where the error is about missing or changed parts.
    """

    kept: int | None = None


def _open_parts(parts: Path) -> int:
    """Open the folder ``parts`` without following a link; it must be this user's."""
    try:
        fd = os.open(parts, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        what = "a symbolic link" if parts.is_symlink() else "not a folder"
        raise PartsFolderError(
            f"{parts} is {what}; hvload uses only a parts folder it made itself, so "
            "nothing was read, written or removed"
        ) from None
    uid = os.fstat(fd).st_uid
    if uid != os.getuid():
        os.close(fd)
        raise PartsFolderError(
            f"{parts} belongs to user {uid}, not to this user; hvload uses only a parts "
            "folder it made itself, so nothing was read, written or removed"
        )
    return fd


def _changed(parts: Path, fd: int) -> str | None:
    """Why the name ``parts`` no longer leads to the folder open as ``fd``; None if it does."""
    if os.fstat(fd).st_nlink == 0:
        return "the folder this run made was deleted"
    try:
        now = os.lstat(parts)
    except FileNotFoundError:
        return "it was moved or removed"
    if stat.S_ISLNK(now.st_mode):
        return "it is a symbolic link now, not the folder this run made"
    mine = os.fstat(fd)
    if (now.st_dev, now.st_ino) != (mine.st_dev, mine.st_ino):
        return "it is another folder now, not the one this run made"
    return None


def _where(fd: int) -> str:
    """Where the folder open as ``fd`` is now, as well as the system can tell."""
    try:
        where = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "the folder this run made (moved to a place the system cannot name)"
    return "nowhere (the folder was deleted)" if where.endswith(" (deleted)") else where


def _torn_temporary(fd: int, name: str) -> bool:
    """Whether ``name`` is a torn write of hvload's own, safe to remove.

    The name must be one :func:`_write_atomic` makes, the file a plain file of this
    user with no other link, and its content empty or the start of a part (Parquet's
    ``PAR1``) or of ``metadata.json`` (``{``).
    """
    if not _TEMPORARY.fullmatch(name):
        return False
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or st.st_uid != os.getuid():
            return False
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        try:
            head = os.read(f, 4)
        finally:
            os.close(f)
    except OSError:
        return False
    magic = b"PAR1" if name.startswith(".block-") else b"{"
    return head == b"" or head.startswith(magic)


class _Owned:
    """What a writer knows of its parts: the folder open as ``fd`` and each block it wrote.

    ``written`` maps a part's file name to the block's id, sample count and digest.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.written: dict[str, tuple[object, int, str | None]] = {}

    def missing(self) -> list[str]:
        """The recorded parts no longer in the folder, as ``block ID (NAME)``."""
        gone = []
        for name, (block, _, _) in self.written.items():
            try:
                os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            except OSError:
                gone.append(f"block {block} ({name})")
        return gone

    def moved(self, parts: Path, changed: str, done: str) -> PartsFolderError:
        """The error for a folder whose name leads elsewhere now: where the blocks are."""
        gone = self.missing()
        n = len(self.written) - len(gone)
        text = (
            f"{parts}: {changed}; this run's {n} finished block{'s are' if n != 1 else ' is'}"
            f" in {_where(self.fd)}"
        )
        if gone:
            text += f" ({', '.join(gone[:3])}{' and more' if len(gone) > 3 else ''} missing)"
        return PartsFolderError(f"{text}; {done}")
