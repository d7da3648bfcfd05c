"""hvload.widgets (API re-exported from its modules)."""

from .core import *  # noqa: F403
from .core import __all__
