"""A campaign whose levels load neighbour machines: :func:`prepare` builds the plan of a
local campaign (:func:`hvload.campaign.prepare`) with levels over the agents of an
:class:`~hvload.workload.remote.AgentPool`, which becomes the plan's load driver.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..measure.executor import make_trap
from ..workload.remote import build_levels, parse_load
from ..workload.schedule import _distinct_names
from .runner import Plan, metadata_for
from .runner import prepare as local_prepare

if TYPE_CHECKING:
    from ..measure.executor import Trap
    from ..workload.remote import AgentPool, LoadSpec

__all__ = ["prepare"]


def prepare(
    pool: AgentPool,
    levels: str | Iterable[int | str],
    *,
    vm_load: LoadSpec | str = "max",
    vm_cpus: Sequence[int] | None = None,
    probe: str | Trap = "auto",
    load: str | Trap | None = None,
    probe_cpu: int | None = None,
    load_cpus: Sequence[int] | None = None,
    samples: int | None = None,
    warmup: int | None = None,
    rounds: int | None = None,
    probe_rate: float | None = None,
    seed: int | None = None,
    quick: bool = False,
    baseline: str | None = None,
    controls: str | Sequence[str | Trap] | None = "auto",
    saturation_seconds: float = 0.2,
) -> Plan:
    """A campaign whose levels load neighbour machines (and optionally this one).

    Like :func:`hvload.campaign.prepare`, with the levels given by ``levels`` (see
    :func:`~hvload.workload.remote.parse_vm_levels`) and built by
    :func:`~hvload.workload.remote.build_levels`. The plan carries ``pool`` as its load
    driver and records every agent's platform in its metadata.

    Examples
    --------
    >>> with AgentPool("tcp://10.0.0.1:8786") as pool:            # doctest: +SKIP
    ...     plan = prepare(pool, "0,1,2", vm_load="20000/s", vm_cpus=[1])
    ...     camp = plan.run("neighbours.parquet")
    """
    base = local_prepare(
        probe=probe, load=load, fractions=(0.0,), probe_cpu=probe_cpu, load_cpus=[],
        samples=samples, warmup=warmup, rounds=rounds, probe_rate=probe_rate, seed=seed,
        quick=quick, controls=controls,
    )  # fmt: skip
    d = base.design
    allowed = sorted(os.sched_getaffinity(0))
    if load_cpus is None:
        load_cpus = [c for c in allowed if c != d.probe_cpu]
    bad = [c for c in load_cpus if c not in allowed or c == d.probe_cpu]
    if bad:
        raise ValueError(f"load_cpus {list(load_cpus)}: {bad} not allowed here (probe CPU "
                         f"{d.probe_cpu}, allowed {allowed})")  # fmt: skip
    load_trap = (
        d.probe if load is None else (load if not isinstance(load, str) else make_trap(load))
    )
    tsc_hz = float(base.metadata["tsc_hz"])
    levels, saturations = build_levels(
        pool, levels, trap=load_trap, load=vm_load, vm_cpus=vm_cpus,
        local_cpus=load_cpus, tsc_hz=tsc_hz, saturation_seconds=saturation_seconds,
    )  # fmt: skip
    notes = list(base.notes)
    ordered = sorted(levels, key=lambda lv: lv.value)
    if [lv.name for lv in ordered] != [lv.name for lv in levels]:
        notes.append(
            "levels sorted into order of increasing load (machines loaded): "
            f"{[lv.name for lv in levels]} -> {[lv.name for lv in ordered]}"
        )
    levels = _distinct_names(list(ordered))
    names = [lv.name for lv in levels]
    if baseline is not None and baseline not in names:
        raise ValueError(f"baseline={baseline!r} is not a level; levels: {names}")
    design = dataclasses.replace(
        d,
        levels=levels,
        baseline=baseline or names[0],
        extra={
            **d.extra,
            "load_trap": load_trap.label,
            "saturation_rate": None,
            "vm_load": list(parse_load(vm_load) if isinstance(vm_load, str) else vm_load),
            "vm_saturation": saturations,
        },
    )
    pool.check(design)
    meta = metadata_for(design, tsc_hz, base.metadata["platform"])
    pool_meta = pool.metadata()
    return dataclasses.replace(
        base, design=design, metadata={**meta, **pool_meta}, saturation=None,
        notes=tuple(notes), load=pool,
    )  # fmt: skip
