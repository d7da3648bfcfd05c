"""Load generators: threads pinned to CPUs, each running the compiled load loop.

Each worker is a Python thread that pins itself to its CPU and then spends its life in
``_exec.run_load`` with the GIL released, issuing its trap until a shared stop flag is
set. Starting and stopping a set takes well under 10 ms. Workers stop when the
:class:`LoadGenerator` context exits (normally, on an exception, or on Ctrl-C), and an
``atexit`` guard stops any generator still running when the interpreter ends, so no
worker outlives its campaign.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..measure import _exec
from ..measure.executor import _KIND_CODES, require
from .schedule import Max, Poisson, WorkerSpec

__all__ = ["RATE_TOLERANCE", "LoadGenerator", "WorkerStats", "saturation_rate", "shortfalls"]

_RUNNING: weakref.WeakSet[LoadGenerator] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for gen in list(_RUNNING):
        gen.stop()


@dataclass(frozen=True)
class WorkerStats:
    """What one worker did between start and stop.

    Lateness is how far behind its schedule a call started (0 for back-to-back
    workers); percentiles come from a log2 histogram, so each is an upper bound within
    a factor of two.
    """

    cpu: int
    trap: str
    schedule: str
    target_rate: float | None
    achieved_rate: float
    calls: int
    seconds: float
    lateness_mean: float
    lateness_p50: float
    lateness_p99: float
    lateness_max: int
    #: The remote load agent that ran this worker (:mod:`hvload.workload.remote`); None:
    #: this process.
    agent: str | None = None

    @property
    def rate_ratio(self) -> float | None:
        """Achieved over target rate (None for back-to-back workers)."""
        return None if not self.target_rate else self.achieved_rate / self.target_rate

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        if d["agent"] is None:  # local workers: the same keys as before remote agents
            del d["agent"]
        return d


def _hist_quantile(hist: np.ndarray, q: float) -> float:
    total = hist.sum()
    if total == 0:
        return 0.0
    b = int(np.searchsorted(np.cumsum(hist), q * total))
    return 0.0 if b == 0 else float(2**b - 1)


class _Worker:
    def __init__(self, spec: WorkerSpec, tsc_hz: float, stop: np.ndarray) -> None:
        self.spec = spec
        schedule = spec.schedule
        if isinstance(schedule, Poisson):
            # Workers sharing one Poisson schedule would otherwise draw identical arrivals.
            stream = np.random.SeedSequence([schedule.seed, spec.cpu]).generate_state(1)[0]
            schedule = Poisson(schedule.rate, seed=int(stream))
        self.gaps = schedule.gaps(tsc_hz)
        self.counters = np.zeros(_exec.LOAD_COUNTERS, dtype=np.int64)
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self._stop = stop
        self.thread = threading.Thread(
            target=self._run, name=f"hvload-load-cpu{spec.cpu}", daemon=True
        )

    def _run(self) -> None:
        try:
            os.sched_setaffinity(0, {self.spec.cpu})
        except OSError as exc:
            self.error = OSError(
                exc.errno, f"load worker could not pin itself to CPU {self.spec.cpu}: {exc}"
            )
            self.ready.set()
            return
        self.ready.set()
        t = self.spec.trap
        try:
            _exec.run_load(
                _KIND_CODES[t.instruction], t.leaf, t.subleaf, t.regs, self.gaps,
                self._stop, self.counters,
            )  # fmt: skip
        except BaseException as exc:  # kept for the main thread, which re-raises it
            self.error = exc

    def stats(self, tsc_hz: float, target: float | None) -> WorkerStats:
        c = self.counters
        calls = int(c[_exec.LOAD_CALLS])
        seconds = max(int(c[_exec.LOAD_LAST_TSC] - c[_exec.LOAD_FIRST_TSC]), 1) / tsc_hz
        hist = c[_exec.LOAD_HIST : _exec.LOAD_HIST + _exec.LOAD_HIST_BUCKETS]
        paced = hist.sum()
        return WorkerStats(
            cpu=self.spec.cpu,
            trap=self.spec.trap.label,
            schedule=type(self.spec.schedule).__name__.lower(),
            target_rate=target,
            achieved_rate=calls / seconds,
            calls=calls,
            seconds=seconds,
            lateness_mean=float(c[_exec.LOAD_LATE_SUM] / paced) if paced else 0.0,
            # A log2 bucket's upper edge can pass the largest lateness seen: clip to it.
            lateness_p50=min(_hist_quantile(hist, 0.5), float(c[_exec.LOAD_LATE_MAX])),
            lateness_p99=min(_hist_quantile(hist, 0.99), float(c[_exec.LOAD_LATE_MAX])),
            lateness_max=int(c[_exec.LOAD_LATE_MAX]),
        )


#: How far below its target rate a paced worker may fall before its block is flagged
#: ``load_ok = False`` (kept, left out of the analysis): the remote agents' default too.
RATE_TOLERANCE = 0.05


def shortfalls(stats: Sequence[WorkerStats], tolerance: float = RATE_TOLERANCE) -> list[str]:
    """Why the paced workers of ``stats`` did not run as designed; empty if they did.

    A worker with a target rate (a paced schedule) that achieved less than
    ``1 - tolerance`` of it is named, with the fraction it achieved. Back-to-back
    workers (``Max``, the 100 % levels) have no target and so no shortfall: their
    achieved rate *is* the saturation.
    """
    return [
        f"CPU {s.cpu} achieved {s.achieved_rate / s.target_rate:.1%} of its target rate "
        f"{s.target_rate:,.0f}/s"
        for s in stats
        if s.target_rate and not s.achieved_rate >= (1 - tolerance) * s.target_rate
    ]


class LoadGenerator:
    """A set of load workers, started and stopped together.

    Parameters
    ----------
    workers
        One :class:`~hvload.workload.schedule.WorkerSpec` per worker; each CPU at most once.
    tsc_hz
        TSC frequency, to turn schedules in calls per second into cycles.

    Examples
    --------
    >>> with LoadGenerator(level.workers, tsc_hz) as gen:   # doctest: +SKIP
    ...     b = hvload.burst("hypercall", 10_000)
    >>> gen.stats                                           # doctest: +SKIP
    """

    def __init__(self, workers: Sequence[WorkerSpec], tsc_hz: float) -> None:
        allowed = os.sched_getaffinity(0)
        cpus = [w.cpu for w in workers]
        for c in cpus:
            if c not in allowed:
                raise ValueError(f"load CPU {c} is not allowed here; allowed: {sorted(allowed)}")
        if len(set(cpus)) != len(cpus):
            raise ValueError(f"load CPUs {cpus} repeat a CPU; each CPU takes one worker")
        for w in workers:
            require(w.trap)  # a trap that faults in the fork probe never reaches a worker
        self.tsc_hz = float(tsc_hz)
        self._specs = tuple(workers)
        self._stop = np.zeros(1, dtype=np.int64)
        self._workers: list[_Worker] = []
        self.stats: list[WorkerStats] = []
        #: TSC of each worker's first and last call (in ``workers`` order), from the last stop.
        self.windows: list[tuple[int, int]] = []

    def start(self) -> LoadGenerator:
        """Start every worker and return once each has pinned itself."""
        if self._workers:
            raise RuntimeError("this load generator is already running")
        self._stop[0] = 0
        self._workers = [_Worker(s, self.tsc_hz, self._stop) for s in self._specs]
        _RUNNING.add(self)
        try:
            for w in self._workers:
                w.thread.start()
            for w in self._workers:
                w.ready.wait()
        except BaseException:
            # Ctrl-C or SIGTERM while starting: __exit__ will not run, so stop here.
            self._stop[0] = 1
            self.stop()
            raise
        failed = [w for w in self._workers if w.error is not None]
        if failed:
            self.stop()
            raise failed[0].error  # type: ignore[misc]
        return self

    def stop(self) -> list[WorkerStats]:
        """Stop and join every worker; returns (and keeps in :attr:`stats`) their stats."""
        if not self._workers:
            return self.stats
        self._stop[0] = 1
        for w in self._workers:
            if w.thread.ident is not None:  # started (a start cut short leaves some not)
                w.thread.join()
        _RUNNING.discard(self)
        self.windows = [
            (int(w.counters[_exec.LOAD_FIRST_TSC]), int(w.counters[_exec.LOAD_LAST_TSC]))
            for w in self._workers
        ]
        self.stats = [
            w.stats(self.tsc_hz, w.spec.schedule.target_rate(self.tsc_hz)) for w in self._workers
        ]
        errors = [w.error for w in self._workers if w.error is not None]
        self._workers = []
        if errors:
            raise errors[0]
        return self.stats

    def calls(self) -> list[int]:
        """Calls each running worker has issued so far (empty when stopped)."""
        return [int(w.counters[_exec.LOAD_CALLS]) for w in self._workers]

    @property
    def running(self) -> bool:
        """Whether the workers have been started and not yet stopped."""
        return bool(self._workers)

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def saturation_rate(trap: object, cpu: int, tsc_hz: float, seconds: float = 0.2) -> float:
    """Calls per second one back-to-back worker of ``trap`` achieves on ``cpu``."""
    import time

    with LoadGenerator([WorkerSpec(cpu, trap, Max())], tsc_hz) as gen:  # type: ignore[arg-type]
        time.sleep(seconds)
    return gen.stats[0].achieved_rate
