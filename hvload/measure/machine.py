"""What this machine is and what it can measure: ``hvload.platform()`` and ``hvload info``.

The report is pyperf-style metadata: every campaign stores it beside its samples, so
each number can be traced to the CPU, hypervisor, TSC frequency and versions it came
from. It includes which hypercalls the guest kernel issues for the kernel-mediated
traps (``ipi``, ``tlb-flush``: :mod:`.kernel`) and, when asked, a short burst of each.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import os
import platform as _stdlib_platform
import socket
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import TypedDict, cast

import numpy as np

from ..errors import MeasurementError
from . import _exec, cpu, kernel
from .executor import (
    Trap,
    burst,
    cpuid_trap,
    hyperv_hypercall,
    ipi_trap,
    null_trap,
    probe,
    require,
    syscall_trap,
    tlb_flush_trap,
)
from .hypervisors import native_instruction, user_mode_hypercall

__all__ = [
    "KernelTrapReport", "PlatformInfo", "TrapReport", "format_platform", "platform",
    "tsc_frequency",
]  # fmt: skip

_PACKAGES = ("hvload", "numpy", "scipy", "pandas", "pyarrow", "seaborn", "ipywidgets")
_HYPERV_LEAVES = {
    1: "interface",
    2: "version",
    3: "features",
    4: "recommendations",
    5: "limits",
    6: "hardware features",
}


@dataclass(frozen=True)
class TrapReport:
    """Whether one trap works here and what a short burst of it showed."""

    name: str
    kind: str
    instruction: str
    supported: bool
    reason: str
    samples: int = 0
    min_cycles: int | None = None
    median_cycles: float | None = None
    rax_values: list[int] = field(default_factory=list)
    migrated: int = 0


@dataclass(frozen=True)
class KernelTrapReport:
    """Whether a kernel-mediated trap works here and what a short burst of it showed.

    The burst runs with a :class:`~hvload.measure.kernel.Helper` on ``helper_cpu`` and
    the caller kept off it. ``delivered`` is the gain of the target CPU's ``counter``
    line in ``/proc/interrupts`` over the burst (background interrupts included, a few
    per millisecond), ``expected`` the interrupts the calls would send if the helper
    were always running there, ``delivered_share`` their ratio.
    """

    name: str
    kind: str
    supported: bool
    reason: str
    hypercalls: list[str] = field(default_factory=list)
    helper_cpu: int | None = None
    samples: int = 0
    min_cycles: int | None = None
    median_cycles: float | None = None
    rax_values: list[int] = field(default_factory=list)
    counter: str | None = None
    delivered: int | None = None
    expected: int | None = None
    delivered_share: float | None = None


@dataclass(frozen=True)
class PlatformInfo:
    """Everything :func:`platform` found; :meth:`to_dict` gives plain JSON-able data."""

    hostname: str
    time_utc: str
    arch: str
    kernel: str
    python: str
    cpu_vendor: str | None
    cpu_brand: str | None
    cpu_family: int | None
    cpu_model: int | None
    cpu_stepping: int | None
    cpu_count: int | None
    cpu_affinity: list[int]
    hypervisor: str
    hypervisor_leaves: list[dict[str, object]]
    hyperv_leaves: dict[str, dict[str, str]]
    invariant_tsc: bool | None
    linux_tsc_flags: list[str]
    tsc_hz: float | None
    tsc_method: str | None
    tsc_methods: dict[str, float]
    tsc_agreement_ppm: dict[str, float]
    hypercall_instruction: str | None
    user_mode_hypercall: str | None
    traps: list[TrapReport]
    versions: dict[str, str]
    #: :func:`~hvload.measure.kernel.kernel_hypercalls`: which hypercall the guest kernel
    #: issues here for ``ipi`` and ``tlb-flush`` (from CPUID), with the rules' sources.
    kernel_hypercalls: dict[str, object] = field(default_factory=dict)
    kernel_traps: list[KernelTrapReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """A plain dict (nested lists and dicts only) for JSON and Parquet metadata."""
        return asdict(self)

    def trap(self, name: str) -> TrapReport:
        """The report of the trap named ``name`` (e.g. ``"hypercall/vmmcall"``)."""
        for t in self.traps:
            if t.name == name:
                return t
        raise KeyError(f"no trap named {name!r}; have {[t.name for t in self.traps]}")


def _calibrate(duration: float = 0.05, repeats: int = 3) -> float:
    """TSC ticks per second against CLOCK_MONOTONIC_RAW (median of ``repeats`` windows).

    Each end of a window takes the clock read whose bracketing pair of TSC reads is
    tightest, so the Python call overhead bounds the error to well under 10 ppm.
    """

    def mark() -> tuple[float, int]:
        best = None
        for _ in range(5):
            a = _exec.rdtsc()
            ns = time.clock_gettime_ns(time.CLOCK_MONOTONIC_RAW)
            b = _exec.rdtsc()
            if best is None or b - a < best[0]:
                best = (b - a, (a + b) / 2, ns)
        assert best is not None
        return best[1], best[2]

    rates = []
    for _ in range(repeats):
        t0, ns0 = mark()
        time.sleep(duration)
        t1, ns1 = mark()
        rates.append((t1 - t0) * 1e9 / (ns1 - ns0))
    return statistics.median(rates)


def tsc_frequency() -> tuple[float | None, str | None, dict[str, float], dict[str, float]]:
    """TSC frequency by every method that answers here.

    Returns
    -------
    hz, method, methods, agreement_ppm
        The chosen frequency and the method that gave it (CPUID 0x15 first, then the
        hypervisor timing leaf 0x40000010, then calibration), every method's value, and
        each enumerated value's difference from the calibration in parts per million.
    """
    if not _exec.SUPPORTED:
        return None, None, {}, {}
    methods: dict[str, float] = {}
    if cpu.cpuid(0)[0] >= 0x15:
        den, num, crystal, _ = cpu.cpuid(0x15)
        if den and num and crystal:
            methods["cpuid_0x15"] = crystal * num / den
    for base, _sig, top in cpu.hypervisor_leaves()[:1]:
        if top >= base + 0x10:
            khz = cpu.cpuid(base + 0x10)[0]
            if khz:
                methods["hypervisor_leaf_0x40000010"] = khz * 1e3
    if sys.platform.startswith("linux") and hasattr(time, "CLOCK_MONOTONIC_RAW"):
        methods["calibration_monotonic_raw"] = _calibrate()
    if not methods:
        return None, None, {}, {}
    method = next(iter(methods))
    agreement = {}
    cal = methods.get("calibration_monotonic_raw")
    if cal:
        for name, hz in methods.items():
            if name != "calibration_monotonic_raw":
                agreement[name] = (hz - cal) / cal * 1e6
    return methods[method], method, methods, agreement


def _versions() -> dict[str, str]:
    out = {"python": _stdlib_platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["cython (build)"] = _exec.BUILD["cython"]
    out["compiler (build)"] = _exec.BUILD["compiler"]
    return out


def _linux_tsc_flags() -> list[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return sorted(f for f in flags if "tsc" in f)
    except OSError:
        pass
    return []


def _trap_report(trap: Trap, samples: int) -> TrapReport:
    try:
        b = burst(trap, samples)
    except MeasurementError as exc:
        return TrapReport(trap.label, trap.kind, trap.instruction, False, str(exc))
    rax = np.unique(b.rax)
    return TrapReport(
        name=trap.label,
        kind=trap.kind,
        instruction=trap.instruction,
        supported=True,
        reason="ran in a forked probe, then in a burst in this process",
        samples=b.n,
        min_cycles=int(b.cycles.min()),
        median_cycles=float(np.median(b.cycles)),
        rax_values=[int(v) for v in rax[:8]],
        migrated=int(b.migrated.sum()),
    )


def _kernel_report(trap: Trap, samples: int, hypercalls: list[str]) -> KernelTrapReport:
    allowed = sorted(os.sched_getaffinity(0))
    target = allowed[-1]  # the helper takes the last allowed CPU, the caller the others

    def refused(reason: str) -> KernelTrapReport:
        return KernelTrapReport(trap.label, trap.kind, False, reason, hypercalls)

    try:
        kernel.check_kernel_mediated(trap.kind, target)
        verdict = probe(trap)
        if not verdict.ok:
            return refused(verdict.reason)
        if not samples:
            return KernelTrapReport(trap.label, trap.kind, True, verdict.reason, hypercalls)
        require(trap)
        with kernel.Helper(target), kernel.away_from(target):
            before = kernel.ipi_counts([target])
            b = burst(trap, samples)
            after = kernel.ipi_counts([target])
    except (MeasurementError, ValueError, OSError) as exc:
        return refused(str(exc))
    counter = kernel.COUNTER[trap.kind]
    got = kernel.delivered(before, after, [target]).get(counter)
    expected = b.n * kernel.IPIS_PER_SAMPLE[trap.kind]
    return KernelTrapReport(
        name=trap.label,
        kind=trap.kind,
        supported=True,
        reason=f"ran in a forked probe, then in a burst with a helper on CPU {target}",
        hypercalls=hypercalls,
        helper_cpu=target,
        samples=b.n,
        min_cycles=int(b.cycles.min()),
        median_cycles=float(np.median(b.cycles)),
        rax_values=[int(v) for v in np.unique(b.rax)[:8]],
        counter=counter,
        delivered=got,
        expected=expected,
        delivered_share=None if got is None else got / expected,
    )


class _HostFields(TypedDict):
    """The :class:`PlatformInfo` fields every platform has, measurable or not."""

    hostname: str
    time_utc: str
    arch: str
    kernel: str
    python: str
    cpu_count: int | None
    cpu_affinity: list[int]
    linux_tsc_flags: list[str]
    versions: dict[str, str]


def platform(probe_samples: int = 2000, *, kernel_samples: int = 0) -> PlatformInfo:
    """Describe this machine and try every trap kind.

    Parameters
    ----------
    probe_samples
        Samples in the short burst of each trap that works (0 skips the bursts and
        only reports the fork probes' verdicts).
    kernel_samples
        Samples in the burst of each kernel-mediated trap (``ipi``, ``tlb-flush``), run
        with a helper thread on another CPU; 0 (the default) reports their fork
        probes only, so a campaign's metadata starts no helper.

    Returns
    -------
    PlatformInfo
    """
    for name, value in (("probe_samples", probe_samples), ("kernel_samples", kernel_samples)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}={value!r} must be an integer >= 0")
    arch = _stdlib_platform.machine()
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    base: _HostFields = {
        "hostname": socket.gethostname(),
        "time_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "arch": arch,
        "kernel": f"{_stdlib_platform.system()} {_stdlib_platform.release()}",
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "linux_tsc_flags": _linux_tsc_flags(),
        "versions": _versions(),
    }
    if not _exec.SUPPORTED:
        reason = f"measuring is not supported on {arch}"
        return PlatformInfo(
            **base, cpu_vendor=None, cpu_brand=None, cpu_family=None, cpu_model=None,
            cpu_stepping=None, hypervisor="unknown", hypervisor_leaves=[], hyperv_leaves={},
            invariant_tsc=None, tsc_hz=None, tsc_method=None, tsc_methods={},
            tsc_agreement_ppm={}, hypercall_instruction=None, user_mode_hypercall=None,
            traps=[TrapReport(k, k, "", False, reason) for k in ("null", "cpuid", "hypercall")],
            kernel_hypercalls=kernel.kernel_hypercalls(),
            kernel_traps=[KernelTrapReport(f"{k}", k, False, reason) for k in kernel.KERNEL_KINDS],
        )  # fmt: skip

    vendor = cpu.vendor()
    family, model, stepping = cpu.family_model_stepping()
    leaves = cpu.hypervisor_leaves()
    hyperv: dict[str, dict[str, str]] = {}
    for hv_base, sig, top in leaves:
        if sig == "Microsoft Hv":
            for off, name in _HYPERV_LEAVES.items():
                if hv_base + off <= top:
                    regs = cpu.cpuid(hv_base + off)
                    hyperv[f"{hv_base + off:#x} {name}"] = dict(
                        zip(("eax", "ebx", "ecx", "edx"), (f"{r:#010x}" for r in regs), strict=True)
                    )
    invariant = None
    if cpu.cpuid(0x80000000)[0] >= 0x80000007:
        invariant = bool(cpu.cpuid(0x80000007)[3] >> 8 & 1)
    hz, method, methods, agreement = tsc_frequency()
    hyp = cpu.hypervisor()
    native = native_instruction(vendor)
    row = user_mode_hypercall(hyp, vendor, native)

    traps = [null_trap(), cpuid_trap(0), syscall_trap()] + [
        hyperv_hypercall(0x0001_0008, instruction=i) for i in ("vmcall", "vmmcall")
    ]
    reports = []
    for t in traps:
        if probe_samples:
            reports.append(_trap_report(t, probe_samples))
        else:
            # Without RDTSCP, or with HVLOAD_NO_MEASURE set, the probe itself refuses;
            # that refusal is the report, as it is for the bursts above.
            try:
                p = probe(t)
            except MeasurementError as exc:
                reports.append(TrapReport(t.label, t.kind, t.instruction, False, str(exc)))
                continue
            reports.append(TrapReport(t.label, t.kind, t.instruction, p.ok, p.reason))

    mediated = kernel.kernel_hypercalls()
    kinds = cast(dict[str, dict[str, list[str]]], mediated["kinds"])
    kernel_traps = [
        _kernel_report(t, kernel_samples, kinds[t.kind]["hypercalls"])
        for t in (ipi_trap(), tlb_flush_trap())
    ]
    return PlatformInfo(
        **base,
        cpu_vendor=vendor,
        cpu_brand=cpu.brand(),
        cpu_family=family,
        cpu_model=model,
        cpu_stepping=stepping,
        hypervisor=hyp,
        hypervisor_leaves=[
            {"leaf": f"{b:#x}", "signature": s.rstrip("\0"), "max_leaf": f"{a:#x}"}
            for b, s, a in leaves
        ],
        hyperv_leaves=hyperv,
        invariant_tsc=invariant,
        tsc_hz=hz,
        tsc_method=method,
        tsc_methods=methods,
        tsc_agreement_ppm=agreement,
        hypercall_instruction=native,
        user_mode_hypercall=row.what_is_measured if row else None,
        traps=reports,
        kernel_hypercalls=mediated,
        kernel_traps=kernel_traps,
    )


def format_platform(info: PlatformInfo) -> str:
    """Render :class:`PlatformInfo` as the text ``hvload info`` prints."""
    lines = [
        f"host        {info.hostname}  ({info.time_utc})",
        f"cpu         {info.cpu_vendor} {info.cpu_brand!r} family {info.cpu_family} "
        f"model {info.cpu_model} stepping {info.cpu_stepping}; {info.arch}",
        f"cpus        {info.cpu_count} online, affinity {info.cpu_affinity}",
        f"kernel      {info.kernel}; Python {info.python}",
        f"hypervisor  {info.hypervisor}"
        + "".join(f"  [{d['leaf']} {d['signature']!r}]" for d in info.hypervisor_leaves),
    ]
    for leaf, regs in info.hyperv_leaves.items():
        lines.append(f"  Hyper-V {leaf}: " + " ".join(f"{k}={v}" for k, v in regs.items()))
    if info.tsc_hz:
        lines.append(
            f"tsc         {info.tsc_hz / 1e6:.3f} MHz by {info.tsc_method}; invariant "
            f"(CPUID 0x80000007): {info.invariant_tsc}; Linux flags: "
            f"{' '.join(info.linux_tsc_flags) or '-'}"
        )
        for name, hz in info.tsc_methods.items():
            ppm = info.tsc_agreement_ppm.get(name)
            extra = f" ({ppm:+.0f} ppm vs calibration)" if ppm is not None else ""
            lines.append(f"  {name:<28} {hz / 1e6:.3f} MHz{extra}")
    if info.user_mode_hypercall:
        lines.append(
            f"hypercall   {info.hypercall_instruction} from user mode measures "
            f"{info.user_mode_hypercall}"
        )
    lines.append("traps")
    for t in info.traps:
        if t.supported and t.samples:
            # _trap_report sets the median whenever it records samples.
            median = cast(float, t.median_cycles)
            ns = f" = {median / info.tsc_hz * 1e9:.0f} ns" if info.tsc_hz else ""
            rax = ", ".join(str(v) for v in t.rax_values)
            lines.append(
                f"  {t.name:<20} supported  min {t.min_cycles} cycles, median "
                f"{median:.0f}{ns} ({t.samples} samples); RAX seen: {rax}"
            )
        elif t.supported:
            lines.append(f"  {t.name:<20} supported  ({t.reason})")
        else:
            lines.append(f"  {t.name:<20} REFUSED    {t.reason}")
    lines.extend(_format_kernel(info))
    lines.append("versions    " + ", ".join(f"{k} {v}" for k, v in info.versions.items()))
    return "\n".join(lines) + "\n"


def _format_kernel(info: PlatformInfo) -> list[str]:
    """The ``kernel`` section: which hypercalls each kernel-mediated trap makes here."""
    lines = ["kernel-mediated (the guest kernel's IPIs for a system call)"]
    for t in info.kernel_traps or []:
        made = ", ".join(t.hypercalls) or "unknown"
        if t.supported and t.samples:
            median = cast(float, t.median_cycles)
            ns = f" = {median / info.tsc_hz * 1e9:.0f} ns" if info.tsc_hz else ""
            share = (
                f"{t.counter} +{t.delivered} on CPU {t.helper_cpu} for {t.expected} sent "
                f"({cast(float, t.delivered_share):.0%})"
                if t.delivered is not None
                else f"no {t.counter} line in /proc/interrupts"
            )
            lines.append(
                f"  {t.name:<20} supported  min {t.min_cycles} cycles, median {median:.0f}{ns} "
                f"({t.samples} samples); delivered: {share}"
            )
        elif t.supported:
            lines.append(f"  {t.name:<20} supported  ({t.reason})")
        else:
            lines.append(f"  {t.name:<20} REFUSED    {t.reason}")
        lines.append(f"  {'':<20} hypercalls here: {made}")
    return lines
