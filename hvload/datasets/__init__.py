"""hvload.datasets (API re-exported from its modules)."""

from .dataset import *  # noqa: F403
from .dataset import __all__
