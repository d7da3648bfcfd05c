"""Fault injection at named phases, for hvload's own tests and ``benchmarks/bench_faults.py``.

Not an API. ``HVLOAD_TEST_FAULT`` in the environment names faults as comma-separated
``PHASE[@N]=ACTION`` items: the N-th time (default: the first) the code passes the
checkpoint ``PHASE``, ``ACTION`` happens there:

- ``SIGINT``, ``SIGTERM``: the process sends itself that signal (Python runs the handler
  at once, so it arrives exactly in that phase);
- ``ENOSPC``, ``EACCES``, ``EIO``: that ``OSError`` is raised there, and again every later
  time the same checkpoint is passed (a disk that stays full).

Checkpoints, in the order a run passes them: ``setup`` (the CLI, before the timing),
``saturation`` (before the load trap's saturation is measured), ``measure`` (a block's
load is running, before its probe burst), ``write`` (every file the store writes:
``metadata.json``, each part, the campaign file), ``block`` (a block's part is on disk),
``merge`` (the parts are read, before the campaign file is written), ``final`` (writing
the campaign file), ``merged`` (the campaign file is in place, before the parts are
removed), ``summary`` (the CLI, before the summary). Without the variable a checkpoint
costs one dictionary look-up.
"""

from __future__ import annotations

import errno
import os
import signal

__all__ = ["checkpoint", "reset"]

_ENV = "HVLOAD_TEST_FAULT"
_SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}
_ERRORS = {"ENOSPC": errno.ENOSPC, "EACCES": errno.EACCES, "EIO": errno.EIO}
_passed: dict[str, int] = {}


def reset() -> None:
    """Forget how often each checkpoint was passed (tests run many CLI calls per process)."""
    _passed.clear()


def _rules(text: str) -> dict[str, tuple[int, str]]:
    rules = {}
    for item in filter(None, (tok.strip() for tok in text.split(","))):
        where, _, action = item.partition("=")
        phase, _, nth = where.partition("@")
        action = action.strip().upper()
        if action not in _SIGNALS and action not in _ERRORS:
            raise ValueError(f"{_ENV}: action {action!r} in {item!r} is not one of "
                             f"{sorted(_SIGNALS) + sorted(_ERRORS)}")  # fmt: skip
        rules[phase.strip()] = (int(nth) if nth else 1, action)
    return rules


def checkpoint(phase: str, filename: object = None) -> None:
    """Inject the fault ``HVLOAD_TEST_FAULT`` names for ``phase``, if any (see the module)."""
    text = os.environ.get(_ENV)
    if not text:
        return
    rule = _rules(text).get(phase)
    if rule is None:
        return
    count = _passed[phase] = _passed.get(phase, 0) + 1
    nth, action = rule
    if action in _SIGNALS:
        if count == nth:
            os.kill(os.getpid(), _SIGNALS[action])
    elif count >= nth:
        code = _ERRORS[action]
        raise OSError(code, os.strerror(code), *(() if filename is None else (str(filename),)))
