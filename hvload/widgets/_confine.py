"""Paths confined to one folder: what the dashboard may read and write (``--data``).

A widget that runs inside ``hvload dashboard`` answers whoever holds the token, over a
websocket that can set any control to any text; the folder the server was started on
is the only one it lists, opens or writes in. A name is taken relative to that folder,
``..`` is refused outright, and what is left is resolved (links followed) and must
still lie inside it, so neither an absolute path nor a link leads out.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["OutsideError", "confine", "inside"]


class OutsideError(PermissionError):
    """A path that leads out of the folder the dashboard is confined to."""


def inside(root: Path, path: Path) -> bool:
    """Whether ``path``, links resolved, lies in ``root`` (itself resolved)."""
    try:
        return path.resolve(strict=True).is_relative_to(root)
    except (OSError, RuntimeError):  # gone, unreadable, or a loop of links
        return False


def confine(
    root: Path | None, value: str | os.PathLike[str], what: str, *, must_exist: bool = True
) -> Path:
    """``value`` resolved inside ``root``, or a one-line refusal.

    Parameters
    ----------
    root
        The resolved folder everything must stay in; None confines nothing (``value`` is
        returned as a path, ``~`` expanded: a notebook's explorer).
    value
        A path, relative to ``root`` or absolute.
    what
        What the value is, for the message ("directory", "save in", ...).
    must_exist
        Whether the path must exist (a folder to write in may be created later: its
        existing part is resolved, the rest may not contain ``..``).

    Raises
    ------
    OutsideError
        When the path leads out of ``root`` (by ``..``, a link or an absolute path).
    FileNotFoundError
        When ``must_exist`` and nothing is there.
    """
    text = os.fspath(value)
    if root is None:
        return Path(text).expanduser()
    where = f"the dashboard reads and writes only in {root}"
    if not text.strip():
        raise FileNotFoundError(f"{what} is empty; give a folder inside {root}")
    raw = Path(text)
    if ".." in raw.parts:
        raise OutsideError(f"{what} {text!r} is refused: '..' is not allowed; {where}")
    path = raw if raw.is_absolute() else root / raw
    try:
        resolved = path.resolve(strict=must_exist)
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {text!r} does not exist in {root}") from None
    except (OSError, RuntimeError) as exc:  # a loop of links, a file used as a folder
        raise OutsideError(f"{what} {text!r} cannot be resolved ({exc}); {where}") from None
    if not resolved.is_relative_to(root):
        raise OutsideError(f"{what} {text!r} is outside the data folder; {where}")
    return resolved
