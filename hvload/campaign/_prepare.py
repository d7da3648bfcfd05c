"""Building the standard campaign for this machine: :func:`prepare` and its :class:`Plan`.

:func:`prepare` checks the request against this machine (its CPUs, its memory, the traps
it can issue), measures what the design needs (TSC frequency, saturation rate) and
builds the :class:`~hvload.model.Design` with its metadata. The module has a leading
underscore because the package exports the function :func:`prepare` under the same name.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._faultinject import checkpoint
from ..errors import MeasurementError
from ..measure.executor import Trap
from ..model import Campaign, Design, check_sizes
from ._metadata import metadata_for
from .runner import run

if TYPE_CHECKING:
    from ..workload.schedule import Level
    from .runner import LoadDriver

__all__ = [
    "AUTO_CONTROLS",
    "DEFAULT_FRACTIONS",
    "DEFAULT_SIZES",
    "QUICK_FRACTIONS",
    "QUICK_SIZES",
    "Plan",
    "prepare",
]

#: Sizes of the default campaign (about a minute on the project's 2-vCPU machine) and of
#: ``quick`` (a few seconds, for tests and smoke checks; too small for any verdict).
# Rounds, not samples, are what the tests average host noise over: on the project's
# machines the sampling part of the block noise is a third of it or less, so for the
# same minute 40 rounds of 5,000 samples find a 2 % median change where 12 rounds of
# 20,000 find only 4 % (hvload plan on data/amd-epyc-2vcpu-default.parquet).
DEFAULT_SIZES = {"samples": 5_000, "warmup": 200, "rounds": 40, "probe_rate": 20_000.0}
QUICK_SIZES = {"samples": 2_000, "warmup": 100, "rounds": 2, "probe_rate": 20_000.0}
DEFAULT_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
QUICK_FRACTIONS = (0.0, 0.5, 1.0)


@dataclass(frozen=True)
class Plan:
    """A ready-to-run campaign: the design, its metadata and the measured saturation.

    ``notes`` says what :func:`prepare` changed about the request (e.g. levels sorted
    into load order). Whether the design can reach a verdict is for the analysis to
    say: :func:`hvload.stats.check_design`.
    """

    design: Design
    metadata: dict[str, Any]
    saturation: float | None
    notes: tuple[str, ...] = ()
    #: The load driver the design needs (:class:`hvload.remote.AgentPool` for remote
    #: levels); None runs every worker in this process.
    load: LoadDriver | None = None

    def run(self, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Campaign:
        """Run the design (see :func:`run`)."""
        kwargs.setdefault("load", self.load)
        return run(self.design, path, meta=self.metadata, saturation=self.saturation, **kwargs)


def _trap_for(kind: str | Trap) -> Trap:
    from ..measure.executor import make_trap, probe

    if isinstance(kind, Trap):
        return kind
    if kind == "auto":
        hyper = make_trap("hypercall")
        return hyper if probe(hyper).ok else make_trap("cpuid")
    return make_trap(kind)


def prepare(
    *,
    probe: str | Trap = "auto",
    load: str | Trap | None = None,
    fractions: Sequence[float] | None = None,
    cpu_counts: Sequence[int] | None = None,
    probe_cpu: int | None = None,
    load_cpus: Sequence[int] | None = None,
    samples: int | None = None,
    warmup: int | None = None,
    rounds: int | None = None,
    probe_rate: float | None = None,
    seed: int | None = None,
    quick: bool = False,
    baseline: float | str | None = None,
    controls: str | Sequence[str | Trap] | None = "auto",
    saturation_seconds: float = 0.2,
) -> Plan:
    """Build the standard campaign for this machine, measuring what it needs first.

    The probe trap ``"auto"`` is ``hypercall`` where its fork probe succeeds, else
    ``cpuid``; the load trap defaults to the probe's. Levels are ``fractions`` of the
    load trap's saturation rate on every load CPU (default 0/25/50/75/100 %), or, with
    ``cpu_counts``, the number of loaded CPUs. CPUs default to the lowest allowed CPU
    for the probe and all the others for load. ``probe_rate`` is probe samples per
    second (0 = back to back). A seed is drawn and recorded when none is given.

    Levels are put in order of increasing load whatever order they are given in, and
    ``notes`` says so; ``baseline`` (a load value as given, e.g. ``0.5`` or ``4``, or a
    level name) picks the reference level, by default the lowest load.

    ``controls`` are measured beside the probe in every block (see :class:`Design`):
    ``"auto"`` takes the null trap (the timer floor) and a system call (a guest-kernel
    round trip without a VM exit) where this machine can issue them; ``None`` or
    ``()`` measures the probe alone; or give trap kinds or traps.
    """
    from ..measure.machine import platform
    from ..workload.generator import saturation_rate
    from ..workload.schedule import cpu_count_levels, fraction_levels

    sizes = dict(QUICK_SIZES if quick else DEFAULT_SIZES)
    for name, value in (("samples", samples), ("warmup", warmup), ("rounds", rounds),
                        ("probe_rate", probe_rate)):  # fmt: skip
        if value is not None:
            sizes[name] = value
    rate = sizes["probe_rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < math.inf:
        raise ValueError(f"probe_rate={rate!r} must be a finite number >= 0")
    if fractions is not None and cpu_counts is not None:
        raise ValueError("give either fractions or cpu_counts, not both")
    # The machine checks a Design does not make (it must rebuild from a file anywhere).
    allowed = sorted(os.sched_getaffinity(0))
    probe_cpu = allowed[0] if probe_cpu is None else probe_cpu
    if probe_cpu not in allowed:
        raise ValueError(f"probe_cpu={probe_cpu} is not allowed here; allowed: {allowed}")
    if load_cpus is None:
        load_cpus = [c for c in allowed if c != probe_cpu]
    # Sizes that cannot fit are refused before anything is measured.
    default_levels = QUICK_FRACTIONS if quick else DEFAULT_FRACTIONS
    n_levels = len(cpu_counts if cpu_counts is not None else fractions or default_levels)
    check_sizes(sizes["rounds"], max(n_levels, 1), sizes["samples"], sizes["warmup"])
    probe_trap = _trap_for(probe)
    load_trap = _trap_for(load) if load is not None else probe_trap
    notes: list[str] = []
    control_traps = _controls_for(controls, probe_trap, notes)
    n_probes = 1 + len(control_traps)
    check_sizes(sizes["rounds"], max(n_levels, 1), sizes["samples"] * n_probes,
                sizes["warmup"] * n_probes)  # fmt: skip
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**32)

    if cpu_counts is not None:
        cpu_counts = _load_order("cpu_counts", cpu_counts, notes)
    if fractions is not None:
        fractions = _load_order("fractions", fractions, notes)

    info = platform(probe_samples=1000).to_dict()
    tsc_hz = info["tsc_hz"]
    if not tsc_hz:
        raise MeasurementError("the TSC frequency could not be determined on this machine")
    saturation = None
    if cpu_counts is not None:
        levels = cpu_count_levels(cpu_counts, load_cpus, load_trap)
    else:
        fractions = (
            tuple(QUICK_FRACTIONS if quick else DEFAULT_FRACTIONS)
            if fractions is None
            else tuple(fractions)
        )
        if any(f > 0 for f in fractions):
            if not load_cpus:
                raise ValueError(
                    f"no CPU is left for load: the probe has CPU {probe_cpu} and only "
                    f"{allowed} are allowed"
                )
            checkpoint("saturation")
            saturation = saturation_rate(load_trap, load_cpus[0], tsc_hz, saturation_seconds)
        levels = fraction_levels(fractions, load_cpus, load_trap, saturation or 1.0)
    gap = round(tsc_hz / sizes["probe_rate"]) if sizes["probe_rate"] else 0
    design = Design(
        probe=probe_trap,
        levels=levels,
        probe_cpu=probe_cpu,
        samples=sizes["samples"],
        rounds=sizes["rounds"],
        warmup=sizes["warmup"],
        probe_gap=gap,
        seed=seed,
        extra={"probe_rate": sizes["probe_rate"], "load_trap": load_trap.label,
               "saturation_rate": saturation},
        baseline=_baseline_name(baseline, levels),
        controls=control_traps,
    )  # fmt: skip
    return Plan(design, metadata_for(design, tsc_hz, info), saturation, tuple(notes))


#: The controls ``controls="auto"`` measures where this machine can issue them.
AUTO_CONTROLS = ("null", "syscall")


def _controls_for(
    controls: str | Sequence[str | Trap] | None, probe: Trap, notes: list[str]
) -> tuple[Trap, ...]:
    """The control traps asked for, without the probe itself and without repeats."""
    from ..measure.executor import probe as fork_probe

    if controls is None or (isinstance(controls, str) and controls in ("none", "")):
        return ()
    auto = isinstance(controls, str) and controls == "auto"
    names = AUTO_CONTROLS if auto else ([controls] if isinstance(controls, str) else controls)
    out: list[Trap] = []
    for item in names:
        trap = item if isinstance(item, Trap) else _trap_for(str(item))
        if trap.label == probe.label or trap.label in [t.label for t in out]:
            continue
        if auto:
            result = fork_probe(trap)
            if not result.ok:
                notes.append(f"control {trap.label} left out: {result.reason}")
                continue
        out.append(trap)
    return tuple(out)


def _load_order(name: str, values: Sequence[float], notes: list[str]) -> tuple[float, ...]:
    """``values`` in increasing order (stable, so A/A repeats keep their order)."""
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} is empty; give at least one load level")
    try:
        ordered = tuple(sorted(values))
    except TypeError:
        raise ValueError(f"{name}={list(values)!r} must be numbers") from None
    if ordered != values:
        notes.append(
            f"levels sorted into order of increasing load: {list(values)} -> {list(ordered)} "
            "(trend tests and neighbour comparisons follow the load)"
        )
    return ordered


def _baseline_name(baseline: float | str | None, levels: Sequence[Level]) -> str | None:
    """The level name ``baseline`` refers to: a level name, or a level's load value
    (a fraction of saturation, or a CPU count)."""
    if baseline is None:
        return None
    names = [lv.name for lv in levels]
    if isinstance(baseline, str) and baseline in names:
        return baseline
    try:
        value = float(baseline)
    except (TypeError, ValueError):
        raise ValueError(f"baseline={baseline!r} is not a level; levels: {names}") from None
    for lv in levels:
        if math.isclose(lv.value, value, abs_tol=1e-12):
            return lv.name
    raise ValueError(f"baseline={baseline!r} matches no level; levels: {names}")
