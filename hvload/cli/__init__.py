"""The ``hvload`` command line: one subcommand per job, each a thin call into the package.

:func:`main` parses the arguments, runs the subcommand and turns what stopped it into one
line and an exit status (:mod:`._errors`). The parser is in :mod:`._parser`; ``hvload run``
in :mod:`._run`; report, plan and compare in :mod:`._analysis`; the rest in :mod:`._other`.
Heavy imports happen inside the subcommands, so starting the command stays cheap.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ._errors import EXPECTED, broken_pipe, failed, stopped
from ._parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Errors end in one line on stderr and an exit status: 2 for a bad argument, a file
    that is not a valid campaign or a missing optional package, 1 for a failure of the
    system (disk full, permission, broken pipe, another run owning the file), 130 after
    SIGINT and 143 after SIGTERM.
    Where finished blocks exist, the line says where and how to rebuild the file.
    """
    import signal

    # The handler goes in first: a Ctrl-C at any moment, even while the parser is built,
    # ends in one line and 130, never in a traceback.
    stopped_by: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        # The first SIGINT/SIGTERM stops the command; later ones are ignored so that
        # they cannot cut short the flush of the finished blocks.
        if not stopped_by:
            stopped_by.append(signum)
            raise KeyboardInterrupt

    previous = {}
    prefix = "hvload"
    try:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
        except ValueError:  # not the main thread: leave signals alone
            pass
        parser = build_parser()
        args = parser.parse_args(argv)
        prefix = f"hvload {args.command}"
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe fails here, inside the mapping below
        return code
    except KeyboardInterrupt as exc:
        term = bool(stopped_by) and stopped_by[0] == signal.SIGTERM
        code, line = stopped(prefix, exc, term=term)
        sys.stderr.write(line)
        return code
    except BrokenPipeError as exc:
        code, line = broken_pipe(prefix, exc)
    except EXPECTED as exc:
        code, line = failed(prefix, exc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.stderr.write(line)
    sys.exit(code)
