"""hvload's exceptions: one base, :class:`HvloadError`, with the specific errors under it.

Each specific error also keeps the built-in base it always had (``ValueError`` for a bad
file, ``RuntimeError`` for a busy one, ``ImportError`` for a missing extra, ...), so code
that caught those still does; ``except hvload.HvloadError`` catches every error hvload
raises on purpose. :class:`BurstInterrupted` is the exception: it is a Ctrl-C, a
``KeyboardInterrupt``, and must never be swallowed by ``except Exception``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .measure.executor import Burst, Trap

__all__ = [
    "AgentLostError",
    "BurstInterrupted",
    "CampaignBusyError",
    "CampaignFileError",
    "CorruptCampaignError",
    "HvloadError",
    "MeasurementError",
    "MissingExtraError",
    "RunOutcome",
    "TrapFaultError",
    "UnsupportedPlatformError",
    "attach_outcome",
    "run_outcome",
]


class HvloadError(Exception):
    """Base of every error hvload raises on purpose (not of :class:`BurstInterrupted`)."""


class MeasurementError(HvloadError, RuntimeError):
    """Base class: this machine cannot measure what was asked."""


class AgentLostError(HvloadError, ConnectionError):
    """A remote load agent disconnected, died or stopped answering (:mod:`hvload.workload.remote`).

    A ``ConnectionError`` (an ``OSError``): a failure of the system, not of the request.
    The campaign stops; the block the agent was lost in is kept and flagged.
    """


class UnsupportedPlatformError(MeasurementError):
    """The architecture or CPU lacks what hvload needs (x86_64, RDTSCP)."""


class TrapFaultError(MeasurementError):
    """A trap instruction killed the fork probe; the parent never executes it.

    Attributes
    ----------
    trap
        The trap that was probed.
    signal
        The signal number that ended the probe child.
    """

    def __init__(self, message: str, *, trap: Trap, signal: int) -> None:
        super().__init__(message)
        self.trap = trap
        self.signal = signal


class BurstInterrupted(KeyboardInterrupt):
    """Ctrl-C arrived during a burst; ``partial`` holds every sample measured before it."""

    def __init__(self, partial: Burst, *args: Any) -> None:
        super().__init__(f"burst interrupted after {partial.n} samples", *args)
        self.partial = partial


class CampaignFileError(HvloadError, ValueError):
    """A file is not a readable hvload campaign; the message names the file and why."""


class CorruptCampaignError(CampaignFileError):
    """A campaign file is damaged or inconsistent: a failed checksum, digest or value check.

    Attributes
    ----------
    path
        The file.
    block
        The block the problem was found in (its ``block`` number), or None when it
        concerns the whole file.
    problem
        What is wrong, in words.
    """

    def __init__(self, path: object, block: int | None, problem: str) -> None:
        where = f"{path}: " + (f"block {block}: " if block is not None else "")
        super().__init__(where + problem)
        self.path = path
        self.block = block
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its three parts, so it crosses a process boundary (Dask workers).
        return (type(self), (self.path, self.block, self.problem))


class CampaignBusyError(HvloadError, RuntimeError):
    """Another process owns this campaign path (it holds the lock beside the file).

    Attributes
    ----------
    holder
        What the lock file says about its holder: ``pid``, ``host``, ``start_utc``,
        ``command`` (each may be missing).
    """

    def __init__(self, message: str, holder: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.holder = holder or {}


class MissingExtraError(HvloadError, ImportError):
    """An optional part of hvload needs a package that is not installed.

    The message is one line naming the package and the extra that installs it, e.g.
    ``pip install 'hvload[dataset]'``.
    """


@dataclass(frozen=True)
class RunOutcome:
    """What a campaign run left behind when an exception (or Ctrl-C) ended it.

    Attached to that exception by the runner and read back with :func:`run_outcome`:
    the one place an interrupted run says what it kept, for the CLI, the widgets and
    scripts alike.

    Attributes
    ----------
    path
        The campaign file the run was writing (None for an in-memory run).
    blocks_finished
        Blocks measured and stored before the end.
    campaign
        The campaign written from them, when the final write succeeded.
    close_error
        Why the final write failed (then the blocks are in ``path.parts`` and
        ``hvload recover`` rebuilds the file), or None.
    """

    path: str | None
    blocks_finished: int
    campaign: Any = None
    close_error: BaseException | None = None


def attach_outcome(exc: BaseException, outcome: RunOutcome) -> None:
    """Record ``outcome`` on ``exc`` (any exception, Ctrl-C included)."""
    exc.hvload_outcome = outcome  # type: ignore[attr-defined]


def run_outcome(exc: BaseException) -> RunOutcome | None:
    """The :class:`RunOutcome` a run attached to ``exc``, or None."""
    out = getattr(exc, "hvload_outcome", None)
    return out if isinstance(out, RunOutcome) else None
