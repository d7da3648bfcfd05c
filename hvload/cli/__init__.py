"""The ``hvload`` command line: one subcommand per job, each a thin call into the package.

:func:`main` parses the arguments, runs the subcommand and turns what stopped it into one
line and an exit status (:mod:`._errors`). The parser is in :mod:`._parser`; ``hvload run``
in :mod:`._run`; report, plan and compare in :mod:`._analysis`; the rest in :mod:`._other`.
Heavy imports happen inside the subcommands, so starting the command stays cheap.

Ctrl-C from the first instruction: the ``hvload`` console script runs
``from hvload.cli import main`` outside any handler, so importing this module does
nothing that takes time (``sys`` alone; ``hvload/__init__`` is as bare), and
:func:`main` installs its SIGINT/SIGTERM handler before it imports anything else. A
SIGINT before that, while Python itself starts (``site`` and the ``.pth`` files of the
installation, tens of ms in an editable install), is the interpreter's: it prints
``Fatal Python error: init_import_site`` and a traceback of Python's own frames, or, in
the first instants, dies of the signal silently; hvload's code has not run yet then.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: importing it takes milliseconds before the handler
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["main"]


def __getattr__(name: str) -> Any:
    # build_parser stays reachable as hvload.cli.build_parser (tests replace it) without
    # importing the parser, and every subcommand's module, when hvload.cli is imported.
    if name == "build_parser":
        from ._parser import build_parser

        return build_parser
    raise AttributeError(f"module 'hvload.cli' has no attribute {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Errors end in one line on stderr and an exit status: 2 for a bad argument, a file
    that is not a valid campaign or a missing optional package, 1 for a failure of the
    system (disk full, permission, broken pipe, another run owning the file), 130 after
    SIGINT and 143 after SIGTERM.
    Where finished blocks exist, the line says where and how to rebuild the file.
    """
    # The handler goes in first: a Ctrl-C at any moment, even while the parser is built,
    # ends in one line and 130, never in a traceback. _signal is the built-in module
    # behind signal: importing it finds no file, where `import signal` searched sys.path
    # (and imported enum) for milliseconds with Python's own handler still in place.
    if TYPE_CHECKING:
        import signal  # the same functions and constants, typed
    else:
        import _signal as signal
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
        # The parser and its modules are imported under the handler: a Ctrl-C there is
        # one line too.
        parser = sys.modules[__name__].build_parser()
        args = parser.parse_args(argv)
        prefix = f"hvload {args.command}"
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe fails here, inside the mapping below
        return code
    except KeyboardInterrupt as exc:
        from ._errors import stopped

        term = bool(stopped_by) and stopped_by[0] == signal.SIGTERM
        code, line = stopped(prefix, exc, term=term)
        sys.stderr.write(line)
        return code
    except BrokenPipeError as exc:
        from ._errors import broken_pipe

        code, line = broken_pipe(prefix, exc)
    except Exception as exc:
        from ._errors import EXPECTED, failed

        if not isinstance(exc, EXPECTED):
            raise  # a bug: its traceback in full
        code, line = failed(prefix, exc)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.stderr.write(line)
    sys.exit(code)
