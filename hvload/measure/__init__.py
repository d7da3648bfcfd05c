"""The measurement core: trap instructions, bursts timed with the TSC, the platform."""

from .executor import *  # noqa: F403
from .executor import __all__ as _executor_all
from .machine import (
    KernelTrapReport,
    PlatformInfo,
    TrapReport,
    format_platform,
    platform,
    tsc_frequency,
)

__all__ = [*_executor_all, "KernelTrapReport", "PlatformInfo", "TrapReport", "format_platform",
           "platform", "tsc_frequency"]  # fmt: skip
