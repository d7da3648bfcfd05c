"""A campaign whose levels load neighbour machines: :func:`prepare` builds the plan of a
local campaign (:func:`hvload.campaign.prepare`) with levels over the agents of an
:class:`~hvload.workload.remote.AgentPool`, which becomes the plan's load driver.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..measure.executor import make_trap
from ..workload.remote import build_levels, parse_load
from ..workload.schedule import _distinct_names
from ._metadata import metadata_for
from ._prepare import Plan
from ._prepare import prepare as local_prepare
from .spec import CampaignSpec, RemoteSpec

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
    # Every option is checked first, in the same words as `hvload run` and the Explorer.
    spec = CampaignSpec(
        probe=probe, load=load, probe_cpu=probe_cpu,
        load_cpus=tuple(load_cpus) if load_cpus is not None else None, samples=samples,
        warmup=warmup, rounds=rounds, probe_rate=probe_rate, seed=seed, quick=quick,
        baseline=baseline, controls=controls,
        remote=RemoteSpec(
            scheduler=getattr(pool, "address", "the agent pool"),
            vm_levels=levels if isinstance(levels, str) else tuple(levels),
            vm_load=vm_load, vm_cpus=tuple(vm_cpus) if vm_cpus is not None else None,
        ),
    )  # fmt: skip
    # The probe side is a local campaign of one level without load (its load CPUs still
    # name the helper CPU of a kernel-mediated probe).
    base = local_prepare(
        spec=dataclasses.replace(spec, remote=None, fractions=(0.0,), baseline=None)
    )
    d = base.design
    load_cpus = spec.cpus_for_load
    load_trap = (
        d.probe if load is None else (load if not isinstance(load, str) else make_trap(load))
    )
    tsc_hz = float(base.metadata["tsc_hz"])
    built, saturations = build_levels(
        pool, levels, trap=load_trap, load=vm_load, vm_cpus=vm_cpus,
        local_cpus=load_cpus, tsc_hz=tsc_hz, saturation_seconds=saturation_seconds,
    )  # fmt: skip
    notes = list(base.notes)
    ordered = sorted(built, key=lambda lv: lv.value)
    if [lv.name for lv in ordered] != [lv.name for lv in built]:
        notes.append(
            "levels sorted into order of increasing load (machines loaded): "
            f"{[lv.name for lv in built]} -> {[lv.name for lv in ordered]}"
        )
    design_levels = _distinct_names(list(ordered))
    names = [lv.name for lv in design_levels]
    design = dataclasses.replace(
        d,
        levels=design_levels,
        baseline=spec.baseline_level or names[0],
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
