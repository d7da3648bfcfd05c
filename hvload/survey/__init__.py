"""hvload.survey (API re-exported from its modules)."""

from .rules import *  # noqa: F403
from .rules import __all__
