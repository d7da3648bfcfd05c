"""CampaignSpec: every option of a campaign run, parsed and validated once.

``hvload run``, :func:`hvload.prepare`, the remote prepare and the Explorer all build a
:class:`CampaignSpec` first, from strings (:meth:`CampaignSpec.from_strings`, what a
command line or a text box gives) or from values (the constructor), and it refuses a bad
option in the same words for all four, before anything is measured, forked, contacted or
created. Validation has no side effects: it reads the CPUs this process may run on and the
memory available, nothing else.

Every refusal is a :class:`SpecError` (a ``ValueError``) whose message names the option in
both spellings, ``samples=0 (--samples 0)``, then what is allowed.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from ..errors import HvloadError
from ..measure.executor import TRAP_KINDS, Trap, null_trap
from ..model import check_sizes
from ..workload.schedule import cpu_count_levels, fraction_levels

__all__ = [
    "AUTO_CONTROLS",
    "DEFAULT_FRACTIONS",
    "DEFAULT_SIZES",
    "PROBE_RATE_RANGE",
    "QUICK_FRACTIONS",
    "QUICK_SIZES",
    "CampaignSpec",
    "RemoteSpec",
    "SpecError",
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
#: The controls ``controls="auto"`` measures where this machine can issue them.
AUTO_CONTROLS = ("null", "syscall")
#: Probe rates allowed (samples/s): below the lowest, the gap between samples exceeds the
#: executor's 2**36 cycles even at a 10 GHz TSC; above the highest, it rounds to nothing.
PROBE_RATE_RANGE = (0.15, 1e8)

#: Option (field) -> its command-line flag, where the two names differ.
_FLAGS = {"fractions": "levels", "cpu_counts": "cpu-levels"}


class SpecError(HvloadError, ValueError):
    """A run option is not allowed; the message names it and what is allowed.

    Attributes
    ----------
    option
        The :class:`CampaignSpec` field (or ``remote.<field>``) that was refused.
    """

    def __init__(self, message: str, option: str) -> None:
        super().__init__(message)
        self.option = option


def _flag(option: str) -> str:
    return "--" + _FLAGS.get(option, option.replace("_", "-"))


def _shown(value: Any) -> str:
    """A value as a user would have typed it on the command line."""
    if isinstance(value, str):
        return repr(value) if not value.strip() or any(c.isspace() for c in value) else value
    if isinstance(value, (list, tuple)):
        return ",".join(_shown(v) for v in value) or "''"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def refuse(option: str, value: Any, allowed: str, *, verb: str = "is not allowed") -> SpecError:
    """The one form of every refusal: ``option=value (--flag value) verb; allowed``."""
    name = option.rpartition(".")[2]
    shown = _shown(value)
    if name == "fractions" and isinstance(value, tuple):
        # The command line takes levels in percent of saturation.
        shown = (
            ",".join(f"{100 * v:g}" if isinstance(v, (int, float)) else str(v) for v in value)
            or "''"
        )
    return SpecError(f"{name}={value!r} ({_flag(name)} {shown}) {verb}; {allowed}", option)


# -- parsing strings (command line, text boxes) ------------------------------------------


def _numbers(option: str, text: str, kind: type) -> tuple[Any, ...]:
    tokens = [t for t in re.split(r"[,\s]+", text.strip()) if t]
    if not tokens:
        raise refuse(option, text, "give a comma-separated list", verb="is empty")
    out = []
    for tok in tokens:
        try:
            out.append(kind(tok.rstrip("%")) if kind is float else kind(tok))
        except ValueError:
            what = "integers" if kind is int else "numbers"
            raise refuse(option, text, f"{tok!r} is not a number; give {what}, comma-separated",
                         verb="is not allowed") from None  # fmt: skip
    return tuple(out)


def _percent_levels(text: str) -> tuple[float, ...]:
    """Levels typed as percents of saturation (``"0, 50, 100"`` or ``"0%,50%"``)."""
    if not text.strip():
        return ()  # refused with the values' words: no level at all
    return tuple(v / 100 for v in _numbers("fractions", text, float))


def _float(option: str, text: str | float | None) -> float | None:
    if text is None or not isinstance(text, str):
        return text
    try:
        return float(text)
    except ValueError:
        raise refuse(option, text, "give a number") from None


# -- the spec -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteSpec:
    """Load from neighbour machines (``hvload run --scheduler ... --vm-levels ...``)."""

    scheduler: str
    vm_levels: str | tuple[int | str, ...]
    vm_load: str | tuple[str, float | None] | None = None
    vm_cpus: tuple[int, ...] | None = None
    agents: tuple[str, ...] | None = None
    lease: float | None = None
    agent_timeout: float | None = None

    def __post_init__(self) -> None:
        from ..workload.remote import check_seconds, parse_load, parse_vm_levels

        address = self.scheduler.strip() if isinstance(self.scheduler, str) else ""
        if not address or any(c.isspace() for c in address):
            raise refuse("remote.scheduler", self.scheduler,
                         "write e.g. tcp://10.0.0.1:8786 or tls://10.0.0.1:8786",
                         verb="is not an address")  # fmt: skip
        try:
            parse_vm_levels(self.vm_levels)
            if isinstance(self.vm_load, str):
                parse_load(self.vm_load, "--vm-load")
        except ValueError as exc:
            option = "remote.vm_load" if "--vm-load" in str(exc) else "remote.vm_levels"
            raise SpecError(str(exc), option) from None
        if self.vm_cpus is not None and (
            not self.vm_cpus or min(self.vm_cpus) < 0 or len(set(self.vm_cpus)) != len(self.vm_cpus)
        ):
            raise refuse("remote.vm_cpus", self.vm_cpus, "CPUs are distinct integers >= 0")
        if self.agents is not None and (
            not self.agents or len(set(self.agents)) != len(self.agents)
            or not all(isinstance(a, str) and a.strip() for a in self.agents)
        ):  # fmt: skip
            raise refuse("remote.agents", self.agents, "give distinct agent names, comma-separated")
        for name in ("lease", "agent_timeout"):
            value = getattr(self, name)
            if value is not None:
                try:
                    check_seconds(name, value)  # the check AgentPool makes, in its words
                except ValueError as exc:
                    raise SpecError(str(exc), f"remote.{name}") from None

    @property
    def levels(self) -> tuple[Any, ...]:
        """The parsed VM levels (:func:`hvload.workload.remote.parse_vm_levels`)."""
        from ..workload.remote import parse_vm_levels

        return parse_vm_levels(self.vm_levels)


@dataclass(frozen=True)
class CampaignSpec:
    """Every option of a campaign run; validated on construction, without side effects.

    Sizes left as None take the defaults (or, with ``quick``, the quick sizes); levels
    left as None the default fractions. ``fractions`` are of the load trap's saturation
    rate (0..1), ``cpu_counts`` numbers of loaded CPUs; give one or the other, or, for
    load from neighbour machines, ``remote``. ``probe`` and ``load`` are trap kinds
    (``"auto"`` for the probe: the hypercall where it works, else cpuid) or traps.
    """

    probe: str | Trap = "auto"
    load: str | Trap | None = None
    # Any sequence is taken; __post_init__ stores the three below (and a list of controls)
    # as tuples, so a spec stays hashable.
    fractions: Sequence[float] | None = None
    cpu_counts: Sequence[int] | None = None
    probe_cpu: int | None = None
    load_cpus: Sequence[int] | None = None
    samples: int | None = None
    warmup: int | None = None
    rounds: int | None = None
    probe_rate: float | None = None
    seed: int | None = None
    quick: bool = False
    baseline: float | str | None = None
    controls: str | Sequence[str | Trap] | None = "auto"
    remote: RemoteSpec | None = None
    #: ``"decided"``: a sequential campaign (:mod:`hvload.stats.sequential`) of at most
    #: ``max_rounds`` rounds (default 40), looked at ``looks`` times (default 4).
    until: str | None = None
    max_rounds: int | None = None
    looks: int | None = None
    #: With ``until``: seconds after which the run ends at the next round's end (a look).
    max_time: float | None = None
    #: The CPUs this process may run on, read once when the spec is made.
    allowed_cpus: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the sequences once, here
        for name in ("fractions", "cpu_counts", "load_cpus"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                set_(self, name, tuple(value))
        if self.fractions is not None and all(
            isinstance(f, (int, float)) and not isinstance(f, bool) for f in self.fractions
        ):
            set_(self, "fractions", tuple(float(f) for f in self.fractions))
        if isinstance(self.controls, list):
            set_(self, "controls", tuple(self.controls))
        if not self.allowed_cpus:
            set_(self, "allowed_cpus", tuple(sorted(os.sched_getaffinity(0))))
        self._check_traps()
        self._check_cpus()
        self._check_levels()
        self._check_kernel()
        self._check_until()  # before the sizes: max_rounds is their rounds
        self._check_sizes()

    # -- construction from strings --------------------------------------------------------

    @classmethod
    def from_strings(cls, **options: Any) -> CampaignSpec:
        """A spec from options as typed: ``levels="0,50,100"`` (percents),
        ``cpu_levels="0,1,2"``, ``load_cpus="1,2"``, ``controls="null,syscall"`` or
        ``"auto"``/``"none"``, ``baseline="50"``; the remote options ``scheduler``,
        ``vm_levels``, ``vm_load``, ``vm_cpus``, ``agents``, ``lease``, ``agent_timeout``;
        every other field as its value. None means not given."""
        given = {k: v for k, v in options.items() if v is not None}
        kw: dict[str, Any] = {}
        levels, cpu_levels = given.pop("levels", None), given.pop("cpu_levels", None)
        remote_keys = ("scheduler", "vm_levels", "vm_load", "vm_cpus", "agents", "lease",
                       "agent_timeout")  # fmt: skip
        remote = {k: given.pop(k) for k in remote_keys if k in given}
        if levels is not None and cpu_levels is not None:
            raise SpecError("give either --levels or --cpu-levels, not both", "fractions")
        if levels is not None:
            kw["fractions"] = _percent_levels(levels) if isinstance(levels, str) else levels
        if cpu_levels is not None:
            kw["cpu_counts"] = (
                (_numbers("cpu_counts", cpu_levels, int) if cpu_levels.strip() else ())
                if isinstance(cpu_levels, str) else cpu_levels
            )  # fmt: skip
        if isinstance(given.get("load_cpus"), str):
            kw["load_cpus"] = _numbers("load_cpus", given.pop("load_cpus"), int)
        if isinstance(given.get("controls"), str):
            text = given.pop("controls").strip().lower()
            if not text:
                raise refuse("controls", "", "give trap kinds, 'auto' or 'none'", verb="is empty")
            kw["controls"] = (
                text
                if text in ("auto", "none")
                else tuple(t.strip() for t in text.split(",") if t.strip())
            )
        if isinstance(given.get("baseline"), str):
            kw["baseline"] = given.pop("baseline")
        for name in ("probe_rate", "max_time"):
            if name in given:
                kw[name] = _float(name, given.pop(name))
        kw.update(given)
        if remote:
            kw["remote"] = _remote_from_strings(remote)
        return cls(**kw)

    # -- checks ---------------------------------------------------------------------------

    def _check_traps(self) -> None:
        for name in ("probe", "load"):
            value = getattr(self, name)
            if value is None or isinstance(value, Trap):
                continue
            kinds = (("auto",) if name == "probe" else ()) + TRAP_KINDS
            if not isinstance(value, str) or value not in kinds:
                raise refuse(name, value, f"choose from {list(kinds)} or give a Trap")
        controls = self.controls
        if controls is None or controls in ("auto", "none"):
            return
        items = (controls,) if isinstance(controls, (str, Trap)) else controls
        bad = [c for c in items if not isinstance(c, Trap) and c not in TRAP_KINDS]
        if bad or not items:
            raise refuse("controls", controls,
                         f"give a comma list of {list(TRAP_KINDS)}, 'auto' or 'none'")  # fmt: skip

    def _check_kernel(self) -> None:
        """Kernel-mediated kinds need a second CPU (a thread of this process there
        receives their IPIs) and a kernel that offers them (read, not measured)."""
        from ..measure import kernel

        asked = [(name, getattr(self, name)) for name in ("probe", "load")]
        controls = self.controls
        if controls not in (None, "auto", "none"):
            items = (controls,) if isinstance(controls, (str, Trap)) else tuple(controls or ())
            asked += [("controls", c) for c in items]
        for option, value in asked:
            kind = value.kind if isinstance(value, Trap) else value
            if kind not in kernel.KERNEL_KINDS:
                continue
            if not self.cpus_for_load:
                raise refuse(option, value, "it needs a second CPU, where a thread of this "
                             f"process receives its IPIs; only {list(self.allowed_cpus)} "
                             f"are allowed here and the probe has {self.cpu_of_probe}")  # fmt: skip
            try:
                kernel.check_kernel_mediated(str(kind), self.cpus_for_load[0])
            except (ValueError, OSError, HvloadError) as exc:
                raise SpecError(str(exc), option) from None

    def _check_cpus(self) -> None:
        allowed = list(self.allowed_cpus)
        if self.probe_cpu is not None and (
            isinstance(self.probe_cpu, bool) or self.probe_cpu not in allowed
        ):
            raise refuse("probe_cpu", self.probe_cpu, f"allowed here: {allowed}")
        probe_cpu = self.cpu_of_probe
        if self.load_cpus is not None:
            bad = [c for c in self.load_cpus if c not in allowed or c == probe_cpu]
            if bad:
                allowed_text = f"use CPUs of {allowed} other than the probe's ({probe_cpu})"
                raise refuse("load_cpus", self.load_cpus, allowed_text)

    def _check_levels(self) -> None:
        if self.fractions is not None and self.cpu_counts is not None:
            raise SpecError("give either --levels or --cpu-levels, not both", "fractions")
        if self.remote is not None:
            if self.fractions is not None or self.cpu_counts is not None:
                raise SpecError(
                    "give either --vm-levels or --levels/--cpu-levels, not both (a VM level "
                    "loads this machine too where it names 'local', e.g. local+vm-b)",
                    "remote",
                )
            if any(part == "local" for lv in self.remote.levels for part, _ in lv.parts) and (
                not self.cpus_for_load
            ):
                raise refuse("remote.vm_levels", self.remote.vm_levels,
                             f"it loads 'local', but no CPU other than the probe's "
                             f"({self.cpu_of_probe}) is allowed here")  # fmt: skip
            self._check_baseline()
            return
        if self.cpu_counts is not None:
            if not self.cpu_counts:
                raise refuse("cpu_counts", self.cpu_counts, "give at least one level",
                             verb="is empty")  # fmt: skip
            try:
                cpu_count_levels(self.cpu_counts, self.cpus_for_load, null_trap())
            except (TypeError, ValueError):
                raise refuse("cpu_counts", self.cpu_counts,
                              f"counts of loaded CPUs lie in 0..{len(self.cpus_for_load)} "
                              "here") from None  # fmt: skip
        else:
            fractions = self.level_values
            if not fractions:
                raise refuse("fractions", fractions, "write percents of saturation, e.g. "
                              "0,50,100", verb="is empty")  # fmt: skip
            bad = [f for f in fractions if isinstance(f, bool)
                   or not isinstance(f, (int, float)) or not 0 <= f <= 1]  # fmt: skip
            if bad:
                raise refuse(
                    "fractions", fractions, "levels lie in 0..100 % of saturation (fractions 0..1)"
                )
            if any(f > 0 for f in fractions) and not self.cpus_for_load:
                raise refuse("fractions", fractions,
                              f"no CPU is left for load: the probe has CPU {self.cpu_of_probe} "
                              f"and only {list(self.allowed_cpus)} are allowed")  # fmt: skip
            fraction_levels(sorted(fractions), self.cpus_for_load, null_trap(), 1.0)
        self._check_baseline()

    def _check_baseline(self) -> None:
        if self.baseline is not None:
            self.baseline_level  # noqa: B018 - resolving it is the check

    @property
    def level_names(self) -> list[str]:
        """The names the levels will have (they depend on the values alone)."""
        if self.remote is not None:
            return [_vm_level_name(lv) for lv in self.remote.levels]
        values = sorted(self.level_values)
        if self.cpu_counts is not None:
            levels = cpu_count_levels([int(v) for v in values], self.cpus_for_load, null_trap())
        else:
            levels = fraction_levels(values, self.cpus_for_load, null_trap(), 1.0)
        return [lv.name for lv in levels]

    @property
    def baseline_level(self) -> str | None:
        """The name of the level ``baseline`` picks: a level name, or a load value typed
        like the levels (a percent of saturation as text, a fraction as a number, or a CPU
        count); None for the default, the lowest load."""
        if self.baseline is None:
            return None
        names = self.level_names
        text = str(self.baseline).strip()
        if self.remote is not None:
            name = f"{text} VM" + ("" if text == "1" else "s") if text.isdigit() else text
            if name in names:
                return name
            raise refuse("baseline", self.baseline, f"the VM levels are {names}")
        if isinstance(self.baseline, str) and text in names:
            return text
        counts = self.cpu_counts is not None
        try:
            value = (
                float(text.rstrip("%")) if isinstance(self.baseline, str) else float(self.baseline)
            )
        except (TypeError, ValueError):
            value = math.nan
        if isinstance(self.baseline, str) and not counts:
            value /= 100  # typed like the levels: percent of saturation
        values = sorted(self.level_values)
        for name, v in zip(names, values, strict=True):
            if math.isclose(value, float(v), abs_tol=1e-12):
                return name
        raise refuse("baseline", self.baseline, f"the levels are {names}")

    def _check_sizes(self) -> None:
        for name, least in (("samples", 1), ("warmup", 0), ("rounds", 1)):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < least
            ):
                raise refuse(name, value, f"it must be an integer >= {least}")
        rate = self.sizes["probe_rate"]
        low, high = PROBE_RATE_RANGE
        if (
            isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate)
            or rate < 0 or (rate and not low <= rate <= high)
        ):  # fmt: skip
            raise refuse(
                "probe_rate",
                rate,
                f"use 0 (back to back) or a rate of {low} to {high:,.0f} samples/s",
            )
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0
        ):
            raise refuse("seed", self.seed, "it must be an integer >= 0")
        s = self.sizes
        n_probes = 1 + self.max_controls
        try:
            check_sizes(int(s["rounds"]), self.n_levels, int(s["samples"]) * n_probes,
                        int(s["warmup"]) * n_probes)  # fmt: skip
        except ValueError as exc:
            raise SpecError(str(exc), "rounds") from None

    def _check_until(self) -> None:
        if self.until is None:
            for name in ("max_rounds", "looks", "max_time"):
                if getattr(self, name) is not None:
                    raise refuse(name, getattr(self, name),
                                 "it goes with --until decided (a sequential campaign)",
                                 verb="is given without --until")  # fmt: skip
            return
        # Only here: the statistics import scipy, which a plain run's refusals never wait for.
        from ..stats.sequential import DEFAULT_LOOKS, MAX_ROUNDS_RANGE, UNTIL, plan_looks

        if self.until not in UNTIL:
            raise refuse("until", self.until, f"choose from {list(UNTIL)}")
        if self.rounds is not None:
            raise refuse("rounds", self.rounds, "a sequential campaign (--until decided) "
                         "takes --max-rounds instead", verb="is given with --until")  # fmt: skip
        low, high = MAX_ROUNDS_RANGE
        value = self.max_rounds
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
        ):
            raise refuse("max_rounds", value, f"it must be an integer in {low}..{high}")
        looks = self.looks
        if looks is not None and (
            isinstance(looks, bool) or not isinstance(looks, int) or not 1 <= looks <= high
        ):
            raise refuse("looks", looks, f"it must be an integer in 1..{high}")
        t = self.max_time
        if t is not None and (
            isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < math.inf
        ):
            raise refuse("max_time", t, "give a number of seconds > 0")
        try:
            # At the default alpha and correction; the run plans again with its own.
            plan_looks(self.n_levels, int(self.sizes["rounds"]),
                       looks=DEFAULT_LOOKS if looks is None else looks)  # fmt: skip
        except ValueError as exc:
            allowed = str(exc).partition("is not allowed")[2].lstrip(" ;")
            raise refuse("max_rounds", self.sizes["rounds"], allowed) from None

    # -- what the checks resolved ---------------------------------------------------------

    @property
    def cpu_of_probe(self) -> int:
        """The probe's CPU: as given, else the lowest allowed CPU."""
        return self.allowed_cpus[0] if self.probe_cpu is None else int(self.probe_cpu)

    @property
    def cpus_for_load(self) -> list[int]:
        """The load CPUs: as given, else every allowed CPU but the probe's."""
        if self.load_cpus is not None:
            return list(self.load_cpus)
        return [c for c in self.allowed_cpus if c != self.cpu_of_probe]

    @property
    def level_values(self) -> tuple[float, ...]:
        """The local levels' load values: CPU counts, or fractions (the defaults if none)."""
        if self.cpu_counts is not None:
            return tuple(float(c) for c in self.cpu_counts)
        if self.fractions is not None:
            return tuple(self.fractions)  # already a tuple (__post_init__): no copy
        return QUICK_FRACTIONS if self.quick else DEFAULT_FRACTIONS

    @property
    def n_levels(self) -> int:
        if self.remote is not None:
            return len(self.remote.levels)
        return len(self.level_values)

    @property
    def max_controls(self) -> int:
        """The most control probes this spec can add to each block (for the size check)."""
        c = self.controls
        if c is None or c == "none":
            return 0
        if c == "auto":
            return len(AUTO_CONTROLS)
        return 1 if isinstance(c, (str, Trap)) else len(c)

    @property
    def sizes(self) -> dict[str, Any]:
        """samples, warmup, rounds and probe_rate with the defaults filled in."""
        out: dict[str, Any] = dict(QUICK_SIZES if self.quick else DEFAULT_SIZES)
        for name in out:
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.until is not None:
            # A sequential campaign's design holds the most rounds it may run.
            from ..stats.sequential import DEFAULT_MAX_ROUNDS

            out["rounds"] = DEFAULT_MAX_ROUNDS if self.max_rounds is None else self.max_rounds
        return out

    def to_dict(self) -> dict[str, Any]:
        """The options as given (None where not given), JSON-ready where they are."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "allowed_cpus"}
        for name in ("probe", "load"):
            if isinstance(out[name], Trap):
                out[name] = out[name].label
        if out["remote"] is not None:
            out["remote"] = {f.name: getattr(self.remote, f.name) for f in fields(RemoteSpec)}
        return out


def _vm_level_name(level: Any) -> str:
    """The name a level over machines gets: ``2 VMs`` for a count, else its text."""
    if level.count is not None:
        return f"{level.count} VM" + ("" if level.count == 1 else "s")
    return str(level.text)


def _remote_from_strings(options: dict[str, Any]) -> RemoteSpec:
    if "scheduler" not in options or "vm_levels" not in options:
        if "scheduler" not in options and "vm_levels" not in options:
            given = next(iter(options))
            raise SpecError(f"{_flag(given)} needs --scheduler and --vm-levels (remote load)",
                            f"remote.{given}")  # fmt: skip
        raise SpecError("--scheduler and --vm-levels go together: where the agents are, and "
                        "which machines each level loads", "remote")  # fmt: skip
    kw = dict(options)
    if isinstance(kw.get("vm_cpus"), str):
        kw["vm_cpus"] = _numbers("vm_cpus", kw["vm_cpus"], int)
    if isinstance(kw.get("agents"), str):
        kw["agents"] = tuple(t.strip() for t in kw["agents"].split(",") if t.strip())
    for name in ("lease", "agent_timeout"):
        kw[name] = _float(name, kw.get(name))
    return RemoteSpec(**kw)
