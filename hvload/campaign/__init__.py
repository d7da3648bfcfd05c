"""hvload.campaign (API re-exported from its modules)."""

from .runner import *  # noqa: F403
from .runner import (
    AUTO_CONTROLS,
    DEFAULT_FRACTIONS,
    DEFAULT_SIZES,
    QUICK_FRACTIONS,
    QUICK_SIZES,
    Plan,
    prepare,
)
from .runner import __all__ as _runner_all

__all__ = [*_runner_all, "AUTO_CONTROLS", "DEFAULT_FRACTIONS", "DEFAULT_SIZES",
           "QUICK_FRACTIONS", "QUICK_SIZES", "Plan", "prepare"]  # fmt: skip
