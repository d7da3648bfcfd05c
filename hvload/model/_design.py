"""Designs, blocks and campaigns, and the memory limits a campaign's sizes must fit.

:class:`Design` says what a campaign measures and how often; :meth:`Design.from_dict`
rebuilds one from the record a campaign file keeps (``metadata["design"]``), on any
machine: nothing here checks the CPUs of the machine it runs on (that is
:func:`hvload.campaign.prepare`'s job, and the runner's). :func:`check_sizes` refuses a
campaign whose samples would not fit in the memory available now.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..measure.executor import Trap
    from ..workload.schedule import Level, Schedule, WorkerSpec


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; it must be an integer >= {minimum}")
    return int(value)


#: Memory one sample needs at the peak of writing or reading a campaign (the Arrow parts,
#: the merged table and the pandas frame each hold about 70 bytes of it), a deliberately
#: high estimate used to refuse sizes that cannot fit before anything is allocated.
BYTES_PER_SAMPLE = 256
#: Memory per block for the block order and the block table (Python objects).
BYTES_PER_BLOCK = 2048


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation here (Linux ``MemAvailable``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _human(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:,.0f} {unit}" if unit == "bytes" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_sizes(rounds: int, levels: int, samples: int, warmup: int = 0) -> int:
    """Refuse a campaign whose samples would not fit in this machine's memory.

    A campaign is merged and read back whole, so its ``rounds x levels x (warmup +
    samples)`` samples must fit in the memory available now (at
    :data:`BYTES_PER_SAMPLE` each), together with the block order. Returns the
    estimate in bytes.

    Raises
    ------
    ValueError
        Naming the sizes, the estimate and the memory available.
    """
    _count("rounds", rounds, 1)
    _count("levels", levels, 1)
    _count("samples", samples, 1)
    _count("warmup", warmup, 0)
    blocks = rounds * levels
    need = blocks * (samples + warmup) * BYTES_PER_SAMPLE + blocks * BYTES_PER_BLOCK
    have = available_memory()
    if have is not None and need > have:
        raise ValueError(
            f"rounds={rounds} x {levels} levels x (warmup {warmup} + samples {samples}) "
            f"needs about {_human(need)} of memory ({BYTES_PER_SAMPLE} bytes per sample); "
            f"this machine has {_human(have)} available: use fewer rounds or samples"
        )
    return need


@dataclass(frozen=True)
class Design:
    """What a campaign measures and how often.

    Parameters
    ----------
    probe
        The trap whose latency is measured.
    levels
        Load levels in order of increasing load (non-decreasing ``value``; repeated
        values, as in an A/A design, keep their given order).
    probe_cpu
        CPU the probe runs on (no load worker may use it).
    samples
        Measured probe samples per block (after the warm-up).
    rounds
        Rounds; each measures every level once, in random order.
    warmup
        Extra samples at the start of each block, kept and flagged ``warmup``.
    probe_gap
        Cycles between intended probe starts (0 = back to back).
    settle
        Seconds between starting a level's load and the first probe sample.
    seed
        Seed of the block order.
    baseline
        Name of the reference level of every comparison; the first (lowest load)
        level when not given.
    controls
        Control probes measured in the same blocks as ``probe`` (e.g. the null trap,
        a system call): every probe takes ``warmup + samples`` samples per block, in
        sub-bursts of ``sub_burst`` samples whose order is shuffled per block, so all
        see the same load and the same drift.
    sub_burst
        Samples per sub-burst when there are controls.
    control_gap
        Cycles between the controls' intended starts inside a sub-burst (0, the
        default, issues them back to back: they are compared by their block medians,
        and pacing them like the main probe would only lengthen the block).
    """

    probe: Trap
    levels: tuple[Level, ...]
    probe_cpu: int
    samples: int
    rounds: int
    warmup: int = 0
    probe_gap: int = 0
    settle: float = 0.01
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    controls: tuple[Trap, ...] = ()
    sub_burst: int = 250
    control_gap: int = 0

    def __post_init__(self) -> None:
        _count("samples", self.samples, 1)
        _count("rounds", self.rounds, 1)
        _count("warmup", self.warmup, 0)
        _count("probe_gap", self.probe_gap, 0)
        _count("seed", self.seed, 0)
        if not self.levels:
            raise ValueError("levels is empty; a campaign needs at least one load level")
        names = [lv.name for lv in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"level names {names} repeat; each level needs its own name")
        values = [lv.value for lv in self.levels]
        if any(b < a for a, b in itertools.pairwise(values)):
            raise ValueError(
                f"levels {names} are not in order of increasing load (values {values}); "
                "sort them by value: trend tests and neighbour comparisons follow this order"
            )
        if self.baseline is None:
            object.__setattr__(self, "baseline", names[0])
        elif self.baseline not in names:
            raise ValueError(f"baseline={self.baseline!r} is not a level; levels: {names}")
        # Whether probe_cpu exists on this machine is checked where the design is built
        # for it (hvload.campaign.prepare) and run: a design read from a file must rebuild
        # anywhere.
        for lv in self.levels:
            for w in lv.workers:
                # A remote worker's CPU is a CPU of its agent's machine, not of this one.
                if w.cpu == self.probe_cpu and getattr(w, "agent", None) is None:
                    raise ValueError(
                        f"level {lv.name!r} puts a load worker on the probe CPU {w.cpu}"
                    )
        if not self.settle >= 0:
            raise ValueError(f"settle={self.settle!r} must be >= 0 seconds")
        from ..measure.executor import MAX_GAP

        if self.probe_gap > MAX_GAP:
            raise ValueError(
                f"probe_gap={self.probe_gap} cycles is not allowed; the most is {MAX_GAP} "
                "(2**36): raise the probe rate"
            )
        _count("sub_burst", self.sub_burst, 1)
        _count("control_gap", self.control_gap, 0)
        object.__setattr__(self, "controls", tuple(self.controls))
        labels = [t.label for t in self.probes]
        if len(set(labels)) != len(labels):
            raise ValueError(f"probes {labels} repeat; each control must differ from the others")
        # Refused here, before a writer creates anything: the whole campaign is merged
        # and read back in memory.
        k = len(self.probes)
        check_sizes(self.rounds, len(self.levels), self.samples * k, self.warmup * k)

    @property
    def probes(self) -> tuple[Trap, ...]:
        """The main probe, then the controls: ``probe_index`` order."""
        return (self.probe, *self.controls)

    @property
    def per_block(self) -> int:
        """Sample rows per block: every probe's warm-up and samples."""
        return len(self.probes) * (self.warmup + self.samples)

    @property
    def blocks(self) -> int:
        """Number of blocks: rounds x levels."""
        return self.rounds * len(self.levels)

    def order(self) -> list[list[int]]:
        """Level indices in the order each round measures them (seeded permutations)."""
        rng = np.random.default_rng(self.seed)
        return [list(rng.permutation(len(self.levels))) for _ in range(self.rounds)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe.to_dict(),
            "probe_label": self.probe.label,
            "levels": [lv.to_dict() for lv in self.levels],
            "probe_cpu": self.probe_cpu,
            "samples": self.samples,
            "rounds": self.rounds,
            "warmup": self.warmup,
            "probe_gap": self.probe_gap,
            "settle": self.settle,
            "seed": self.seed,
            "baseline": self.baseline,
            "controls": [t.to_dict() for t in self.controls],
            "probes": [t.label for t in self.probes],
            "sub_burst": self.sub_burst,
            "control_gap": self.control_gap,
            **self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Design:
        """The design :meth:`to_dict` recorded (``metadata["design"]`` of a campaign file).

        Traps and levels are rebuilt; keys :meth:`to_dict` derives (``probe_label``,
        ``probes``) are dropped and any key that is not a field goes back into
        ``extra``. Keys missing from older files take the defaults. The CPUs named need
        not exist on this machine.
        """
        fields = {
            "probe_cpu", "samples", "rounds", "warmup", "probe_gap", "settle", "seed",
            "baseline", "sub_burst", "control_gap",
        }  # fmt: skip
        kwargs: dict[str, Any] = {k: d[k] for k in fields if k in d}
        kwargs["probe"] = _trap(d["probe"])
        kwargs["levels"] = tuple(_level(lv) for lv in d["levels"])
        kwargs["controls"] = tuple(_trap(t) for t in d.get("controls") or ())
        derived = {"probe", "levels", "controls", "probe_label", "probes"}
        kwargs["extra"] = {k: v for k, v in d.items() if k not in fields | derived}
        return cls(**kwargs)


_REGS = ("rax", "rbx", "rcx", "rdx", "rsi", "r8")


def _trap(d: dict[str, Any]) -> Trap:
    """The :class:`~hvload.measure.executor.Trap` whose ``to_dict`` gave ``d``."""
    from ..measure.executor import Trap

    regs = d.get("regs") or {}
    return Trap(
        kind=d["kind"],
        instruction=d["instruction"],
        convention=d.get("convention", "none"),
        leaf=d.get("leaf", 0),
        subleaf=d.get("subleaf", 0),
        regs=tuple(int(regs.get(r, 0)) for r in _REGS),  # type: ignore[arg-type]
    )


def _schedule(name: str, params: dict[str, Any]) -> Schedule:
    from ..workload import schedule

    # Schedule.to_dict records the class name in lower case.
    kinds = {c.__name__.lower(): c for c in schedule.Schedule.__subclasses__()}
    if name not in kinds:
        raise ValueError(f"schedule {name!r} is not known; known: {sorted(kinds)}")
    return kinds[name](**params)


def _worker(d: dict[str, Any]) -> WorkerSpec:
    from ..workload.schedule import WorkerSpec

    params = {k: v for k, v in d.items() if k not in ("cpu", "agent", "trap", "schedule")}
    return WorkerSpec(
        cpu=d["cpu"],
        trap=_trap(d["trap"]),
        schedule=_schedule(d["schedule"], params),
        agent=d.get("agent"),
    )


def _level(d: dict[str, Any]) -> Level:
    from ..workload.schedule import Level

    return Level(d["name"], d["value"], tuple(_worker(w) for w in d.get("workers") or ()))


def design_problem(d: Any) -> str | None:
    """Why a recorded design's traps and levels cannot be read back; None if they can.

    What :func:`hvload.load` checks of every file's ``metadata["design"]``, so a damaged
    or crafted design is refused in one line when the file is opened, not met later as a
    TypeError deep in the analysis.
    """
    try:
        if "probe" in d:  # older and hand-made designs may name the probe only
            _trap(d["probe"])
        for t in d.get("controls") or ():
            _trap(t)
        for lv in d["levels"]:
            # The analysis reads each level's name and load value (workers are a record).
            if not isinstance(lv["name"], str) or isinstance(lv["value"], bool):
                raise TypeError(f"level {lv!r} has no name or load value")
            float(lv["value"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return f"the design's traps or levels cannot be read back ({what})"
    return None


def probes_of(design: dict[str, Any]) -> list[str]:
    """Probe labels of a recorded design, in ``probe_index`` order (old files: one)."""
    probes = design.get("probes")
    if isinstance(probes, list) and probes and all(isinstance(p, str) for p in probes):
        return list(probes)
    return [str(design.get("probe_label") or "probe")]


@dataclass(frozen=True)
class BlockResult:
    """One block: its probe samples (tidy rows) and its block-table row."""

    samples: pd.DataFrame
    block: dict[str, Any]


@dataclass
class Campaign:
    """A campaign's data: samples, blocks and metadata (as :func:`hvload.load` returns).

    Attributes
    ----------
    samples
        One row per probe sample; columns :data:`SAMPLE_COLUMNS`.
    blocks
        One row per block: level, round, times, target and achieved load.
    metadata
        Platform, design, versions, times, what RAX means here, TSC frequency.
    path
        The file it was read from or written to, if any.
    """

    samples: pd.DataFrame
    blocks: pd.DataFrame
    metadata: dict[str, Any]
    path: Path | None = None

    @property
    def tsc_hz(self) -> float | None:
        return self.metadata.get("tsc_hz")

    @property
    def complete(self) -> bool:
        """Whether every block of the design was measured."""
        design = self.metadata.get("design", {})
        expected = design.get("rounds", 0) * len(design.get("levels", ()))
        return len(self.blocks) == expected
