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
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

import numpy as np

from .._faultinject import checkpoint
from ..errors import MeasurementError
from ..measure.executor import Trap
from ..model import Campaign, Design, check_sizes
from ._kernel import KERNEL_KINDS, delivered_saturation, kernel_extra
from ._metadata import metadata_for
from .runner import run
from .spec import (
    AUTO_CONTROLS,
    DEFAULT_FRACTIONS,
    DEFAULT_SIZES,
    QUICK_FRACTIONS,
    QUICK_SIZES,
    CampaignSpec,
)

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
    #: The load driver the design needs (:class:`hvload.workload.remote.AgentPool` for remote
    #: levels); None runs every worker in this process.
    load: LoadDriver | None = None

    @overload
    def run(self, path: None = None, **kwargs: Any) -> Campaign: ...
    @overload
    def run(self, path: str | os.PathLike[str], **kwargs: Any) -> Campaign | None: ...
    def run(self, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Campaign | None:
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
    spec: CampaignSpec | None = None,
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

    Every option is validated first, by :class:`~hvload.campaign.spec.CampaignSpec`
    (the same checks and messages as ``hvload run`` and the Explorer), before anything
    is measured; or pass a ready ``spec`` and no other option.
    """
    if spec is None:
        # Every option is checked here, before anything is forked, measured or written.
        spec = CampaignSpec(
            probe=probe, load=load, fractions=fractions, cpu_counts=cpu_counts,
            probe_cpu=probe_cpu, load_cpus=load_cpus, samples=samples, warmup=warmup,
            rounds=rounds, probe_rate=probe_rate, seed=seed, quick=quick, baseline=baseline,
            controls=controls,
        )  # fmt: skip
    if spec.remote is not None:
        raise ValueError("a spec with remote load is prepared by hvload.campaign.remote.prepare")
    return _prepare(spec, saturation_seconds)


def _prepare(spec: CampaignSpec, saturation_seconds: float) -> Plan:
    """Measure what ``spec`` needs on this machine and build its design."""
    from ..measure.machine import platform
    from ..workload.generator import saturation_rate
    from ..workload.schedule import cpu_count_levels, fraction_levels

    sizes = spec.sizes
    probe_cpu, load_cpus = spec.cpu_of_probe, spec.cpus_for_load
    allowed = list(spec.allowed_cpus)
    quick, seed, fractions, cpu_counts = spec.quick, spec.seed, spec.fractions, spec.cpu_counts
    n_levels = spec.n_levels
    probe_trap = _trap_for(spec.probe)
    load_trap = _trap_for(spec.load) if spec.load is not None else probe_trap
    notes: list[str] = []
    control_traps = _controls_for(spec.controls, probe_trap, notes)
    n_probes = 1 + len(control_traps)
    check_sizes(sizes["rounds"], max(n_levels, 1), sizes["samples"] * n_probes,
                sizes["warmup"] * n_probes)  # fmt: skip
    if seed is None:
        # A SeedSequence made without entropy draws it: an int (numpy's stub allows more).
        seed = int(cast(int, np.random.SeedSequence().entropy) % 2**32)

    if cpu_counts is not None:
        cpu_counts = _load_order("cpu_counts", cpu_counts, notes)
    if fractions is not None:
        fractions = _load_order("fractions", fractions, notes)

    machine = platform(probe_samples=1000)
    info = machine.to_dict()
    tsc_hz = machine.tsc_hz
    if not tsc_hz:
        raise MeasurementError("the TSC frequency could not be determined on this machine")
    saturation = delivered = None
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
            if load_trap.kind in KERNEL_KINDS:
                # Levels of kernel-mediated load are fractions of what the kernel delivers.
                saturation, delivered = delivered_saturation(
                    load_trap, load_cpus[0], probe_cpu, tsc_hz, saturation_seconds
                )
            else:
                saturation = saturation_rate(load_trap, load_cpus[0], tsc_hz, saturation_seconds)
        # Kernel-mediated load is paced on what the kernel delivered at saturation (one
        # interrupt per call to the probe CPU), so a level is a fraction of delivered IPIs.
        pace = delivered if delivered is not None and delivered > 0 else saturation
        levels = fraction_levels(fractions, load_cpus, load_trap, pace or 1.0)
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
               "saturation_rate": saturation,
               # The helper of kernel-mediated probes spins on the first load CPU.
               **kernel_extra([probe_trap, *control_traps], load_trap,
                              load_cpus[0] if load_cpus else None, delivered)},
        baseline=_baseline_name(spec.baseline_level, levels),
        controls=control_traps,
    )  # fmt: skip
    return Plan(design, metadata_for(design, tsc_hz, info), saturation, tuple(notes))


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


#: A level's load value: a CPU count or a fraction of saturation.
_Load = TypeVar("_Load", int, float)


def _load_order(name: str, values: Sequence[_Load], notes: list[str]) -> tuple[_Load, ...]:
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
