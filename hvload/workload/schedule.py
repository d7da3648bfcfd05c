"""Load schedules and load levels: what each load worker issues, when, and on which CPU.

A :class:`Schedule` turns into a cyclic sequence of gaps (TSC cycles between intended
starts) that the compiled worker loop follows open-loop; :class:`Max` has no gaps and
issues back to back. A :class:`Level` is a named set of workers; the ``*_levels``
helpers build the common designs. Everything random takes a seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..measure.executor import Trap

__all__ = [
    "Constant",
    "Level",
    "Max",
    "OnOff",
    "Poisson",
    "Ramp",
    "Schedule",
    "WorkerSpec",
    "cpu_count_levels",
    "fraction_levels",
    "parse_levels",
    "step_levels",
]

#: Gaps drawn for a Poisson schedule before it repeats (about 0.5 s at 16k calls/s).
POISSON_DRAWS = 8192


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name}={value!r} is not allowed; it must be a number > 0")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is not allowed; it must be finite")
    return float(value)


def _cycles(seconds: np.ndarray | float, tsc_hz: float) -> np.ndarray:
    gaps = np.rint(np.asarray(seconds, dtype=float) * tsc_hz)
    return np.maximum(gaps, 1).astype(np.uint64).reshape(-1)


class Schedule:
    """Base class: a pattern of intended call times, expressed as gaps."""

    def gaps(self, tsc_hz: float) -> np.ndarray:
        """Cycles between successive intended starts, used cyclically (uint64)."""
        raise NotImplementedError

    def target_rate(self, tsc_hz: float) -> float | None:
        """Mean rate the gaps encode, in calls per second (None for :class:`Max`)."""
        g = self.gaps(tsc_hz)
        return None if g.size == 0 else float(g.size * tsc_hz / g.sum(dtype=np.float64))

    def to_dict(self) -> dict[str, object]:
        """Plain-data description for metadata."""
        return {"schedule": type(self).__name__.lower(), **vars(self)}


@dataclass(frozen=True)
class Max(Schedule):
    """Back to back: each call starts as soon as the previous one returned."""

    def gaps(self, tsc_hz: float) -> np.ndarray:
        return np.empty(0, dtype=np.uint64)


@dataclass(frozen=True)
class Constant(Schedule):
    """A fixed rate in calls per second."""

    rate: float

    def __post_init__(self) -> None:
        _positive("rate", self.rate)

    def gaps(self, tsc_hz: float) -> np.ndarray:
        return _cycles(1.0 / self.rate, tsc_hz)


@dataclass(frozen=True)
class Poisson(Schedule):
    """Poisson arrivals: exponential gaps with mean ``1/rate``, drawn from ``seed``."""

    rate: float
    seed: int = 0

    def __post_init__(self) -> None:
        _positive("rate", self.rate)

    def gaps(self, tsc_hz: float) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        return _cycles(rng.exponential(1.0 / self.rate, POISSON_DRAWS), tsc_hz)


@dataclass(frozen=True)
class OnOff(Schedule):
    """Bursts: ``rate`` calls/s for ``duty * period`` seconds, then silence, repeated."""

    rate: float
    period: float
    duty: float

    def __post_init__(self) -> None:
        _positive("rate", self.rate)
        _positive("period", self.period)
        if not 0 < self.duty <= 1:
            raise ValueError(f"duty={self.duty!r} is not allowed; it must be in (0, 1]")
        if self.rate * self.period * self.duty < 1:
            raise ValueError(
                f"rate={self.rate} x period={self.period} x duty={self.duty} is under one "
                "call per burst; raise the rate, the period or the duty cycle"
            )

    def gaps(self, tsc_hz: float) -> np.ndarray:
        n_on = max(1, round(self.rate * self.period * self.duty))
        g = np.full(n_on, 1.0 / self.rate)
        # The last gap of a burst also carries the off time, so each cycle lasts `period`.
        g[-1] = self.period - (n_on - 1) / self.rate
        return _cycles(g, tsc_hz)


@dataclass(frozen=True)
class Ramp(Schedule):
    """Rate rising (or falling) linearly from ``start`` to ``end`` over ``duration`` s, repeated."""

    start: float
    end: float
    duration: float

    def __post_init__(self) -> None:
        _positive("start", self.start)
        _positive("end", self.end)
        _positive("duration", self.duration)
        if (self.start + self.end) / 2 * self.duration < 2:
            raise ValueError(
                f"Ramp(start={self.start}, end={self.end}, duration={self.duration}) asks "
                "for fewer than 2 calls per ramp; raise the rates or the duration"
            )

    def gaps(self, tsc_hz: float) -> np.ndarray:
        # Integrate the rate: the k-th call is due when the cumulative count reaches k.
        slope = (self.end - self.start) / self.duration
        total = (self.start + self.end) / 2 * self.duration
        k = np.arange(1, max(2, int(total)) + 1, dtype=float)
        if slope == 0:
            times = k / self.start
        else:
            times = (np.sqrt(self.start**2 + 2 * slope * k) - self.start) / slope
        return _cycles(np.diff(np.concatenate(([0.0], times))), tsc_hz)


@dataclass(frozen=True)
class WorkerSpec:
    """One load worker: a trap issued on a CPU following a schedule.

    ``agent`` names the remote load agent (a neighbour VM, :mod:`hvload.workload.remote`) whose
    CPU ``cpu`` is meant; None, the default, is a thread of the measuring process.
    """

    cpu: int
    trap: Trap
    schedule: Schedule
    agent: str | None = None

    def to_dict(self) -> dict[str, object]:
        where = {} if self.agent is None else {"agent": self.agent}
        return {"cpu": self.cpu, **where, "trap": self.trap.to_dict(), **self.schedule.to_dict()}


@dataclass(frozen=True)
class Level:
    """A load level: a label, its position on the load axis, and its workers.

    Attributes
    ----------
    name
        Label used in tables and figures, e.g. ``"50%"`` or ``"4 CPUs"``.
    value
        Numeric load (fraction of saturation, CPU count, rate) for trend tests and plots.
    workers
        The workers that run while this level is measured (empty = no load).
    """

    name: str
    value: float
    workers: tuple[WorkerSpec, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "value": self.value,
            "workers": [w.to_dict() for w in self.workers],
        }


def _check_cpus(cpus: Sequence[int]) -> tuple[int, ...]:
    cpus = tuple(cpus)
    if len(set(cpus)) != len(cpus):
        raise ValueError(f"cpus={list(cpus)} repeats a CPU; each CPU takes one worker")
    return cpus


def fraction_levels(
    fractions: Sequence[float], cpus: Sequence[int], trap: Trap, saturation: float
) -> tuple[Level, ...]:
    """Levels at fractions of the load trap's saturation rate, on every CPU in ``cpus``.

    ``1.0`` runs back to back (:class:`Max`); ``0`` has no workers.
    """
    cpus = _check_cpus(cpus)
    _positive("saturation", saturation)
    levels = []
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1:
            raise ValueError(f"fraction {f!r} is not allowed; fractions lie in [0, 1]")
        if f > 0 and not cpus:
            raise ValueError(f"fraction {f} needs load CPUs, but cpus is empty")
        workers: tuple[WorkerSpec, ...] = ()
        if f > 0:
            sched: Schedule = Max() if f == 1 else Constant(f * saturation)
            workers = tuple(WorkerSpec(c, trap, sched) for c in cpus)
        levels.append(Level(f"{f * 100:g}%", float(f), workers))
    return _distinct_names(levels)


def _distinct_names(levels: list[Level]) -> tuple[Level, ...]:
    """Number repeated labels (``0% #1``, ``0% #2``...): an A/A design repeats a level."""
    names = [lv.name for lv in levels]
    seen: dict[str, int] = {}
    out = []
    for lv in levels:
        if names.count(lv.name) > 1:
            seen[lv.name] = seen.get(lv.name, 0) + 1
            lv = Level(f"{lv.name} #{seen[lv.name]}", lv.value, lv.workers)
        out.append(lv)
    return tuple(out)


def cpu_count_levels(
    counts: Sequence[int], cpus: Sequence[int], trap: Trap, schedule: Schedule | None = None
) -> tuple[Level, ...]:
    """Levels that load the first ``k`` CPUs of ``cpus`` for each ``k`` in ``counts``."""
    cpus = _check_cpus(cpus)
    levels = []
    for k in counts:
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(cpus):
            raise ValueError(f"CPU count {k!r} is not allowed; use 0..{len(cpus)} here")
        sched = schedule or Max()
        workers = tuple(WorkerSpec(c, trap, sched) for c in cpus[:k])
        levels.append(Level(f"{k} CPU" + ("" if k == 1 else "s"), float(k), workers))
    return tuple(levels)


def step_levels(rates: Sequence[float], cpus: Sequence[int], trap: Trap) -> tuple[Level, ...]:
    """Levels at absolute per-CPU rates (calls/s); a rate of 0 means no load."""
    cpus = _check_cpus(cpus)
    return tuple(
        Level(
            f"{r:g}/s",
            float(r),
            tuple(WorkerSpec(c, trap, Constant(r)) for c in cpus) if r else (),
        )
        for r in rates
    )


def parse_levels(text: str | Iterable[float]) -> tuple[float, ...]:
    """Load levels as fractions of saturation, from percents like ``"0, 50, 100"``.

    Raises
    ------
    ValueError
        On a token that is not a number, a percent outside 0..100, or no level at all.
    """
    tokens = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    out = []
    for tok in tokens:
        try:
            value = float(tok)
        except (TypeError, ValueError):
            raise ValueError(
                f"load level {tok!r} is not a number (percent of saturation)"
            ) from None
        if not 0 <= value <= 100:
            raise ValueError(f"load level {tok!r} is outside 0..100 percent of saturation")
        out.append(value / 100)
    if not out:
        raise ValueError("no load level given; write percents of saturation, e.g. '0, 50, 100'")
    return tuple(out)
