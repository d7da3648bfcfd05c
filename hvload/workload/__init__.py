"""Load: schedules and levels, pinned local workers, and agents on neighbour machines.

``hvload.workload.remote`` (load agents, Dask) is imported on first use only.
"""

from .generator import *  # noqa: F403
from .generator import __all__ as _generator_all
from .schedule import *  # noqa: F403
from .schedule import __all__ as _schedule_all

__all__ = [*_schedule_all, *_generator_all]
