"""The load-driver contract: how a campaign starts and stops each level's load, and
what the load reports per block (:class:`LoadDriver`, :class:`LoadOutcome`).

It describes load, not campaigns, so it lives here, below the campaign layer: the
local driver (:class:`hvload.campaign.LocalLoad`) and the remote one
(:class:`hvload.workload.remote.AgentPool`) both speak it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..model import Design
    from .generator import WorkerStats

__all__ = ["LoadDriver", "LoadOutcome"]


@dataclass
class LoadOutcome:
    """What a level's load did during one block, as a :class:`LoadDriver` reports it.

    Attributes
    ----------
    stats
        One :class:`~hvload.workload.generator.WorkerStats` per worker that ran.
    row
        Further keys for the block row (e.g. the probe window's coverage by remote load).
    error
        An error to raise once the block has been stored (e.g. a remote agent was lost):
        the block is kept, flagged in ``row``, and the campaign stops after it.
    """

    stats: list[WorkerStats]
    row: dict[str, Any] = field(default_factory=dict)
    error: BaseException | None = None


class LoadDriver(Protocol):
    """How :func:`hvload.campaign.iter_blocks` starts and stops each level's load.

    :class:`hvload.campaign.LocalLoad` (threads of this process) is the default;
    :class:`hvload.workload.remote.AgentPool` adds workers on neighbour machines. ``open`` is
    called once before anything is measured (and before the measuring thread is pinned
    to the probe CPU), ``start``/``stop`` around every block, ``close`` at the end, also
    after an exception. ``start`` returns once the level's load is running; ``stop``
    gets the probe window (``time.time_ns()`` just before the first and after the last
    probe sample; None when measuring failed) and must leave no worker running.
    """

    def metadata(self) -> dict[str, Any]: ...
    def open(self, design: Design, tsc_hz: float) -> None: ...
    def start(self, index: int) -> None: ...
    def stop(self, index: int, window: tuple[int, int] | None) -> LoadOutcome: ...
    def close(self) -> None: ...
