"""Levels over machines: parsing ``--vm-levels`` and ``--vm-load``
(:func:`parse_vm_levels`, :func:`parse_load`) and building them into levels whose
workers run on the agents of a pool, or on this machine (:func:`build_levels`).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from ...measure.executor import Trap
    from ..schedule import Level, Schedule, WorkerSpec
    from ._pool import AgentPool

#: How a machine of a level is loaded: ``("max", None)``, ``("fraction", f)`` of its
#: saturation, or ``("rate", calls_per_s)`` per worker.
LoadSpec = tuple[str, float | None]
#: The name that stands for this (the measuring) machine in a VM level.
LOCAL = "local"


@dataclass(frozen=True)
class VMLevel:
    """One level of a design over machines, before it is built into workers.

    ``count`` (the first ``count`` agents) or ``parts`` (machine name and its load, with
    None meaning the default load) is given.
    """

    text: str
    count: int | None = None
    parts: tuple[tuple[str, LoadSpec | None], ...] = ()


_LOAD_RE = re.compile(r"^(?:(max)|([0-9.eE+-]+)\s*%|([0-9.eE+-]+)\s*/\s*s)$")


def parse_load(text: str, what: str = "load") -> LoadSpec:
    """A machine's load: ``max`` (back to back), ``50%`` of its saturation, ``20000/s``."""
    m = _LOAD_RE.match(text.strip().lower())
    value = None
    if m:
        if m.group(1):
            return ("max", None)
        with contextlib.suppress(ValueError):
            value = float(m.group(2) or m.group(3))
    if m is None or value is None or not math.isfinite(value):
        raise ValueError(
            f"{what} {text!r} is not a load; write max (back to back), a percent of "
            "saturation (e.g. 50%) or a rate per worker (e.g. 20000/s)"
        )
    if m.group(2):
        if not 0 < value <= 100:
            raise ValueError(f"{what} {text!r}: a percent of saturation lies in (0, 100]")
        return ("max", None) if value == 100 else ("fraction", value / 100)
    if value <= 0:
        raise ValueError(f"{what} {text!r}: a rate must be > 0 calls/s")
    return ("rate", value)


def parse_vm_levels(text: str | Iterable[int | str]) -> tuple[VMLevel, ...]:
    """Levels over machines, from ``"0,1,2,4"`` (loaded VMs) or names.

    Each comma-separated level is a count of loaded agents (the first ones of the pool),
    or machines joined by ``+``, each optionally with ``@LOAD`` (see :func:`parse_load`);
    ``local`` is the measuring machine's own load CPUs. Examples: ``0,1,2``;
    ``0,vm-b,vm-b+vm-c``; ``0,vm-b@50%+vm-c@50%,local+vm-b``.
    """
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    out = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"VM level {item!r} is not a count or machine names")
        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
            k = int(item)
            if k < 0:
                raise ValueError(f"VM level {item!r}: a count of loaded VMs must be >= 0")
            out.append(VMLevel(str(k), count=k))
            continue
        if not isinstance(item, str) or not item:
            raise ValueError(f"VM level {item!r} is empty; give a count or machine names")
        parts: list[tuple[str, LoadSpec | None]] = []
        for piece in item.split("+"):
            name, _, load = piece.strip().partition("@")
            name = name.strip()
            if not name or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.:-]*", name):
                raise ValueError(
                    f"VM level {item!r}: {name!r} is not a machine name (a letter, then "
                    "letters, digits or '_.:-'; 'local' for this machine; a whole number "
                    "is a count of loaded agents)"
                )
            if name in [p[0] for p in parts]:
                raise ValueError(f"VM level {item!r} names {name!r} twice")
            parts.append((name, parse_load(load, f"VM level {item!r}: load") if load else None))
        out.append(VMLevel(item, parts=tuple(parts)))
    if not out:
        raise ValueError("no VM level given; write e.g. 0,1,2 (loaded VMs)")
    return tuple(out)


def build_levels(
    pool: AgentPool,
    levels: str | Iterable[int | str],
    *,
    trap: Trap,
    load: LoadSpec | str = ("max", None),
    vm_cpus: Sequence[int] | None = None,
    local_cpus: Sequence[int] = (),
    local_saturation: float | None = None,
    tsc_hz: float | None = None,
    saturation_seconds: float = 0.2,
) -> tuple[tuple[Level, ...], dict[str, float]]:
    """Build the levels over machines; also returns each machine's measured saturation.

    Each agent's workers run on ``vm_cpus`` of its machine (default: every CPU it
    offers); ``local`` runs on ``local_cpus`` here. ``load`` is the default load of a
    loaded machine. A level's value is the number of machines it loads, so levels sort
    by it; its name is ``"k VMs"`` for a count, else the level as written.
    """
    from ..schedule import Constant, Level, Max, WorkerSpec

    parsed = parse_vm_levels(levels)
    default = parse_load(load) if isinstance(load, str) else load
    saturations: dict[str, float] = {}

    def cpus_of(name: str) -> list[int]:
        if name == LOCAL:
            if not local_cpus:
                raise ValueError("a level loads 'local', but there are no local load CPUs")
            return list(local_cpus)
        offered = list(pool.info[name]["cpus"])
        if vm_cpus is None:
            return offered
        bad = [c for c in vm_cpus if c not in offered]
        if bad:
            raise ValueError(f"VM CPUs {list(vm_cpus)}: {bad} not offered by agent {name!r} "
                             f"(offers {offered})")  # fmt: skip
        return list(vm_cpus)

    def schedule_for(name: str, spec: LoadSpec, cpu: int) -> Schedule:
        kind, value = spec
        if kind == "max":
            return Max()
        amount = cast(float, value)  # parse_load gives a value with every kind but "max"
        if kind == "rate":
            return Constant(float(amount))
        if name not in saturations:
            if name == LOCAL:
                if local_saturation is None:
                    from ..generator import saturation_rate

                    if tsc_hz is None:
                        raise ValueError("tsc_hz is needed to measure the local saturation")
                    saturations[name] = saturation_rate(trap, cpu, tsc_hz, saturation_seconds)
                else:
                    saturations[name] = local_saturation
            else:
                saturations[name] = pool.saturation(name, trap, cpu, saturation_seconds)
        return Constant(float(amount) * saturations[name])

    built = []
    for lv in parsed:
        if lv.count is not None:
            if lv.count > len(pool.names):
                raise ValueError(
                    f"VM level {lv.text!r} loads {lv.count} VMs, but the pool has "
                    f"{len(pool.names)} agents: {list(pool.names)}"
                )
            parts: tuple[tuple[str, LoadSpec | None], ...] = tuple(
                (n, None) for n in pool.names[: lv.count]
            )
            name = f"{lv.count} VM" + ("" if lv.count == 1 else "s")
        else:
            parts = lv.parts
            unknown = [p for p, _ in parts if p != LOCAL and p not in pool.names]
            if unknown:
                raise ValueError(
                    f"VM level {lv.text!r} names {unknown}, not agents of this pool "
                    f"({list(pool.names)}; 'local' is this machine)"
                )
            name = lv.text
        workers: list[WorkerSpec] = []
        for machine, spec in parts:
            spec = spec or default
            for cpu in cpus_of(machine):
                agent = None if machine == LOCAL else machine
                workers.append(WorkerSpec(cpu, trap, schedule_for(machine, spec, cpu), agent))
        built.append(Level(name, float(len(parts)), tuple(workers)))
    return tuple(built), saturations


#: The shortest lease and agent timeout (seconds) that can work: a lease is renewed every
#: sixth of itself, and an answer takes at least a network round trip.
MIN_SECONDS = {"lease": 0.2, "agent_timeout": 0.1}


def check_seconds(option: str, value: object) -> float:
    """``value`` as seconds for ``option`` (``lease`` or ``agent_timeout``), or the
    one-line refusal that the campaign spec and :class:`AgentPool` both give."""
    low = MIN_SECONDS[option]
    if (
        isinstance(value, bool) or not isinstance(value, (int, float))
        or not math.isfinite(value) or value < low
    ):  # fmt: skip
        shown = f"{value:g}" if isinstance(value, float) else str(value)
        flag = "--" + option.replace("_", "-")
        raise ValueError(f"{option}={value!r} ({flag} {shown}) is not allowed; "
                         f"use seconds >= {low}")  # fmt: skip
    return float(value)
