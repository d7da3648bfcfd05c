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
    import _thread  # built in and already loaded: Python's import system uses it

    stopped_by: list[int] = []
    raised: list[BaseException] = []

    # Held while a signal is sent again, and by main once it ends: a signal sent again
    # either lands while main's handler is still in place or is not sent at all.
    gate = _thread.allocate_lock()
    ending: list[bool] = []

    def resend(signum: int) -> None:
        def send() -> None:
            with gate:
                if not ending:
                    # typeshed wants a signal.Signals; the number is the same at run time
                    _thread.interrupt_main(signum)  # type: ignore[arg-type]

        _thread.start_new_thread(send, ())

    def on_signal(signum: int, frame: object) -> None:
        if getattr(frame, "f_code", None) is on_unraisable.__code__:
            # The signal on_unraisable sent again landed before it returned: once more.
            resend(signum)
            return
        # The first SIGINT/SIGTERM stops the command; later ones are ignored so that
        # they cannot cut short the flush of the finished blocks.
        if not stopped_by:
            stopped_by.append(signum)
            raised[:] = [KeyboardInterrupt()]
            raise raised[0]

    previous_hook = sys.unraisablehook

    def on_unraisable(unraisable: Any) -> None:
        # Python runs signal handlers wherever the interpreter happens to be, also in a
        # weakref callback or a __del__ (importlib's module-lock callback, seen in CI),
        # where a raised exception is printed as "Exception ignored" and dropped: the
        # Ctrl-C would be lost and its report would be a traceback through on_signal.
        # Instead the signal is sent again, to be raised in the code that runs next.
        # It is sent from another thread: sent from this one (raise_signal, os.kill,
        # interrupt_main) it runs the handler at once, here inside this hook, where the
        # interrupt would be dropped again; Python runs handlers in the main thread only.
        if raised and unraisable.exc_value is raised[0]:
            signum = stopped_by.pop()
            raised.clear()
            resend(signum)
            return
        previous_hook(unraisable)

    previous = {}
    prefix = "hvload"
    try:
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, on_signal)
            sys.unraisablehook = on_unraisable
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
        with gate:
            ending.append(True)
        # From here a signal (one sent again included) finds the command ending: ignored,
        # never a KeyboardInterrupt out of main.
        stopped_by.append(0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if sys.unraisablehook is on_unraisable:
            sys.unraisablehook = previous_hook
    sys.stderr.write(line)
    sys.exit(code)
