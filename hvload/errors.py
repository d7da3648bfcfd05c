"""Exceptions raised by hvload's measuring layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .measure.executor import Burst, Trap

__all__ = [
    "AgentLostError",
    "BurstInterrupted",
    "CampaignBusyError",
    "CampaignFileError",
    "CorruptCampaignError",
    "MeasurementError",
    "MissingExtraError",
    "TrapFaultError",
    "UnsupportedPlatformError",
]


class MeasurementError(RuntimeError):
    """Base class: this machine cannot measure what was asked."""


class AgentLostError(ConnectionError):
    """A remote load agent disconnected, died or stopped answering (:mod:`hvload.remote`).

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


class CampaignFileError(ValueError):
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


class CampaignBusyError(RuntimeError):
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


class MissingExtraError(ImportError):
    """An optional part of hvload needs a package that is not installed.

    The message is one line naming the package and the extra that installs it, e.g.
    ``pip install 'hvload[dataset]'``.
    """
