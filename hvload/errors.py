"""Exceptions raised by hvload's measuring layers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .executor import Burst, Trap

__all__ = [
    "BurstInterrupted",
    "CampaignFileError",
    "MeasurementError",
    "TrapFaultError",
    "UnsupportedPlatformError",
]


class MeasurementError(RuntimeError):
    """Base class: this machine cannot measure what was asked."""


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
