"""How an exception that ends a subcommand becomes one line on stderr and an exit status.

2 for a bad argument, a file that is not a valid campaign or a missing optional package (the
line names the extra that installs it), 1 for a failure of the system
(disk full, permission, broken pipe, another run owning the file), 130 after SIGINT and 143
after SIGTERM. A command adds what became of its work as ``exc.hvload_note``.
"""

from __future__ import annotations

import sys

from ..errors import CampaignBusyError, MeasurementError, MissingExtraError

__all__ = ["EXPECTED", "broken_pipe", "error_text", "failed", "stopped"]

#: The errors a command ends with on purpose (a bug's traceback is shown in full instead).
EXPECTED: tuple[type[BaseException], ...] = (
    CampaignBusyError, OSError, ValueError, MeasurementError, MissingExtraError,
)  # fmt: skip


def error_text(exc: BaseException | None, *, hint: bool = True) -> str:
    """An OSError as one line: what failed and on which file; other errors as they are."""
    import errno

    if not isinstance(exc, OSError) or exc.errno is None:
        return str(exc)
    text = exc.strerror or str(exc)
    if exc.filename is not None:
        text += f": {exc.filename}"
    hints = {
        errno.ENOSPC: "free some space",
        errno.EDQUOT: "free some space",
        errno.EACCES: "choose a file and folder you may use",
        errno.EROFS: "choose a writable folder",
        errno.ENAMETOOLONG: "choose a shorter name",
    }
    return text + (f" ({hints[exc.errno]})" if hint and exc.errno in hints else "")


def _line(text: str, exc: BaseException) -> str:
    note = getattr(exc, "hvload_note", None)
    return text + (f"; {note}" if note else "") + "\n"


def stopped(prefix: str, exc: KeyboardInterrupt, *, term: bool) -> tuple[int, str]:
    """Exit status and line after SIGINT (``term`` false) or SIGTERM stopped the command."""
    text = f"{prefix}: stopped by {'SIGTERM' if term else 'SIGINT'}"
    return 143 if term else 130, _line(text, exc)


def broken_pipe(prefix: str, exc: BrokenPipeError) -> tuple[int, str]:
    """Exit status and line after the reader of stdout went away; stdout is silenced."""
    _quiet_stdout()
    return 1, _line(f"{prefix}: output closed early (broken pipe)", exc)


def failed(prefix: str, exc: BaseException) -> tuple[int, str]:
    """Exit status and line for one of the :data:`EXPECTED` errors."""
    usage = isinstance(exc, (ValueError, FileExistsError, MeasurementError, MissingExtraError))
    return 2 if usage else 1, _line(f"{prefix}: error: {error_text(exc)}", exc)


def _quiet_stdout() -> None:
    # After a broken pipe, point stdout at /dev/null so the final flush cannot fail again.
    import os

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass
