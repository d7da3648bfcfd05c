"""``hvload check``: the conditions of this machine that bias a measurement, before measuring.

Like pyperf's ``system check``, each :class:`Finding` says what was read (``value``, from
``source``), what it does to the result, and how to change it. ``status`` is ``ok``,
``warn`` (it biases or adds noise to this run's numbers), ``info`` (it does not bias a
campaign against itself but explains why this machine's exit cost differs from another's:
mitigations, nesting) or ``not exposed`` (the guest cannot see it).

Every file is read under ``root`` (``/`` by default), so the tests run the same code on a
fake ``/sys`` and ``/proc`` tree; the CPUID hypervisor leaves are read from the CPU only
for the real root. Nothing is written and nothing is changed: the fixes are advice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["STATUSES", "Finding", "check", "cpu_list", "format_findings", "to_metadata", "warnings"]

#: Every status a finding can have, from good to not readable.
STATUSES: tuple[str, ...] = ("ok", "info", "warn", "not exposed")


@dataclass(frozen=True)
class Finding:
    """One condition: its name, status, the value read, its effect, the fix, the source."""

    name: str
    status: str
    value: str
    effect: str
    fix: str
    source: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def line(self) -> str:
        """The finding as one line (what ``hvload run`` prints for a warning)."""
        return f"{self.name}: {self.value}; {self.effect} (fix: {self.fix})"


class _Tree:
    """Reads files under a root (``/`` or a fake tree)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def read(self, absolute: str) -> str | None:
        try:
            return self.path(absolute).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None

    def glob(self, pattern: str) -> list[Path]:
        return sorted(self.root.glob(pattern.lstrip("/")))


def cpu_list(text: str | None) -> set[int]:
    """The CPUs of a kernel CPU list such as ``0-3,8,10-11`` (empty for None or '')."""
    cpus: set[int] = set()
    for part in (text or "").replace("\n", ",").split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            cpus.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            continue
    return cpus


def _cmdline_value(cmdline: str, key: str) -> str | None:
    for token in cmdline.split():
        if token == "--":  # what follows belongs to init, not to the kernel
            break
        name, eq, value = token.partition("=")
        if name == key:
            return value if eq else ""
    return None


def _stat_times(text: str | None) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for line in (text or "").splitlines():
        if line.startswith("cpu"):
            name, *fields = line.split()
            out[name] = [int(f) for f in fields if f.isdigit()]
    return out


def _isolation(t: _Tree, cpu: int, cmdline: str) -> Finding:
    isolated = t.read("/sys/devices/system/cpu/isolated")
    nohz = t.read("/sys/devices/system/cpu/nohz_full")
    iso_arg, nohz_arg = _cmdline_value(cmdline, "isolcpus"), _cmdline_value(cmdline, "nohz_full")
    cpus = cpu_list(isolated) | cpu_list(iso_arg.split(",", 1)[-1] if iso_arg else None)
    value = (
        f"isolated: {isolated or 'none'}; nohz_full: {nohz or nohz_arg or 'none'}; probe CPU {cpu}"
    )
    source = "/sys/devices/system/cpu/isolated, /sys/devices/system/cpu/nohz_full, /proc/cmdline"
    if isolated is None and nohz is None and not cmdline:
        return Finding(
            "cpu isolation",
            "not exposed",
            value,
            "unknown whether other tasks share the probe CPU",
            "-",
            source,
        )
    if cpu in cpus:
        return Finding(
            "cpu isolation",
            "ok",
            value,
            "the scheduler keeps other tasks off the probe CPU",
            "-",
            source,
        )
    return Finding(
        "cpu isolation",
        "warn",
        f"probe CPU {cpu} not isolated ({value})",
        "other tasks and kernel threads run on the probe CPU: heavier tails, more noise "
        "between blocks",
        f"boot with isolcpus={cpu} nohz_full={cpu} (or a cpuset) and measure with "
        f"--probe-cpu {cpu}",
        source,
    )


def _governor(t: _Tree, cpu: int) -> Finding:
    source = f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor"
    gov = t.read(source)
    if gov is None:
        return Finding(
            "frequency governor",
            "not exposed",
            "no cpufreq in this guest",
            "the host sets the clock; cycles are TSC ticks, not core cycles, so a "
            "clock change shows as a latency change",
            "-",
            source,
        )
    if gov == "performance":
        return Finding("frequency governor", "ok", gov, "the clock stays high", "-", source)
    return Finding(
        "frequency governor",
        "warn",
        gov,
        "the clock follows the load: levels that load more CPUs may run the probe at "
        "another frequency",
        "cpupower frequency-set -g performance",
        source,
    )


def _turbo(t: _Tree) -> Finding:
    no_turbo = t.read("/sys/devices/system/cpu/intel_pstate/no_turbo")
    boost = t.read("/sys/devices/system/cpu/cpufreq/boost")
    source = "/sys/devices/system/cpu/intel_pstate/no_turbo, /sys/devices/system/cpu/cpufreq/boost"
    effect = "turbo clocks depend on how many cores are busy: the load levels change the clock"
    if no_turbo is not None:
        on = no_turbo == "0"
        value = f"intel_pstate/no_turbo = {no_turbo}"
    elif boost is not None:
        on = boost == "1"
        value = f"cpufreq/boost = {boost}"
    else:
        return Finding(
            "turbo",
            "not exposed",
            "neither no_turbo nor boost readable",
            "the host decides; unknown here",
            "-",
            source,
        )
    if on:
        return Finding(
            "turbo",
            "warn",
            value + " (turbo on)",
            effect,
            "echo 1 > /sys/devices/system/cpu/intel_pstate/no_turbo (or 0 > cpufreq/boost)",
            source,
        )
    return Finding("turbo", "ok", value + " (turbo off)", "a fixed maximum clock", "-", source)


def _smt(t: _Tree, cpu: int, busy: dict[int, float]) -> Finding:
    source = f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
    siblings = cpu_list(t.read(source)) - {cpu}
    if not t.path(source).exists():
        return Finding(
            "smt sibling",
            "not exposed",
            "no topology for the probe CPU",
            "unknown whether a hyperthread shares its core",
            "-",
            source,
        )
    online_text = t.read("/sys/devices/system/cpu/online")
    online = cpu_list(online_text) if online_text is not None else siblings
    live = sorted(siblings & online)
    if not live:
        return Finding(
            "smt sibling",
            "ok",
            f"CPU {cpu} has no online sibling in this guest",
            "no hyperthread of this guest shares its core (the host's may)",
            "-",
            source,
        )
    hot = [c for c in live if busy.get(c, 0.0) > 0.1]
    value = f"siblings {live} online" + (f", busy: {hot}" if hot else ", idle")
    return Finding(
        "smt sibling",
        "warn",
        value,
        "a busy hyperthread shares the probe's core: its load slows the probe beyond what "
        "the load level means",
        f"take the sibling offline (echo 0 > /sys/devices/system/cpu/"
        f"cpu{live[0]}/online) or keep load off it",
        source,
    )


def _clocksource(t: _Tree) -> Finding:
    source = "/sys/devices/system/clocksource/clocksource0/current_clocksource"
    cs = t.read(source)
    if cs is None:
        return Finding("clocksource", "not exposed", "unreadable", "unknown", "-", source)
    if cs == "tsc":
        return Finding(
            "clocksource", "ok", cs, "the kernel trusts the TSC hvload reads", "-", source
        )
    return Finding(
        "clocksource",
        "warn",
        cs,
        "the kernel does not trust the TSC here (unstable or not invariant): TSC ticks may "
        "not map to time, and ns figures may be off",
        "check dmesg for 'tsc unstable'; boot with tsc=reliable only if the host "
        "guarantees an invariant TSC",
        source,
    )


def _tsc(t: _Tree) -> Finding:
    source = "/proc/cpuinfo (flags)"
    info = t.read("/proc/cpuinfo")
    if info is None:
        return Finding("invariant tsc", "not exposed", "unreadable", "unknown", "-", source)
    flags: set[str] = set()
    for line in info.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            break
    have = [f for f in ("constant_tsc", "nonstop_tsc") if f in flags]
    if len(have) == 2:
        return Finding(
            "invariant tsc",
            "ok",
            "constant_tsc nonstop_tsc",
            "TSC ticks are time at a fixed rate",
            "-",
            source,
        )
    return Finding(
        "invariant tsc",
        "warn",
        f"flags: {' '.join(have) or 'neither'}",
        "TSC ticks may change rate with the clock or stop in idle: cycles are "
        "not comparable across levels",
        "use a host and CPU model that expose an invariant TSC (-cpu host,+invtsc in QEMU)",
        source,
    )


def _steal(
    cpu: int, before: dict[str, list[int]], after: dict[str, list[int]], seconds: float, hz: int
) -> Finding:
    source = f"/proc/stat (cpu{cpu} steal, over {seconds:.1f} s)"
    a, b = before.get(f"cpu{cpu}"), after.get(f"cpu{cpu}")
    if not a or not b or len(a) < 8 or len(b) < 8:
        return Finding("steal time", "not exposed", "no steal column", "unknown", "-", source)
    steal_ms = (b[7] - a[7]) * 1000 / hz
    total_steal = b[7] * 1000 / hz
    value = f"{steal_ms:.0f} ms over {seconds:.1f} s (since boot: {total_steal / 1000:.0f} s)"
    if steal_ms > 0:
        return Finding(
            "steal time",
            "warn",
            value,
            "the host ran something else on this vCPU's core: samples taken then carry the wait",
            "measure when the host is quiet, or on dedicated (pinned) host cores",
            source,
        )
    return Finding("steal time", "ok", value, "the host gave this vCPU its core", "-", source)


def _irqs(t: _Tree, cpu: int) -> Finding:
    source = "/proc/irq/*/smp_affinity_list"
    routed = []
    files = t.glob("/proc/irq/*/smp_affinity_list")
    if not files:
        return Finding("irq affinity", "not exposed", "no /proc/irq", "unknown", "-", source)
    for path in files:
        try:
            if cpu in cpu_list(path.read_text()):
                routed.append(path.parent.name)
        except OSError:
            continue
    if not routed:
        return Finding(
            "irq affinity",
            "ok",
            f"no IRQ routed to CPU {cpu}",
            "device interrupts stay off the probe CPU",
            "-",
            source,
        )
    shown = ", ".join(sorted(routed, key=lambda s: (len(s), s))[:8])
    more = f" and {len(routed) - 8} more" if len(routed) > 8 else ""
    return Finding(
        "irq affinity",
        "warn",
        f"{len(routed)} IRQs may go to CPU {cpu} ({shown}{more})",
        "device interrupts land on the probe CPU: occasional long samples",
        "route them elsewhere: echo <other CPUs> > /proc/irq/N/smp_affinity_list "
        "(irqbalance --banirq, or IRQBALANCE_BANNED_CPULIST)",
        source,
    )


def _mitigations(t: _Tree, cmdline: str) -> Finding:
    source = "/sys/devices/system/cpu/vulnerabilities/*, /proc/cmdline (mitigations=)"
    files = t.glob("/sys/devices/system/cpu/vulnerabilities/*")
    arg = _cmdline_value(cmdline, "mitigations")
    if not files and arg is None:
        return Finding(
            "mitigations", "not exposed", "no vulnerabilities folder", "unknown", "-", source
        )
    active = []
    for path in files:
        text = (t.read(str(Path("/") / path.relative_to(t.root))) or "").strip()
        if text.startswith("Mitigation"):
            active.append(path.name)
    value = (
        f"mitigations={arg if arg is not None else '(default: auto)'}; "
        f"{len(active)} of {len(files)} in force" + (f" ({', '.join(active)})" if active else "")
    )
    if not active and arg == "off":
        return Finding(
            "mitigations",
            "ok",
            value,
            "no speculation mitigation adds to the exit path",
            "-",
            source,
        )
    return Finding(
        "mitigations",
        "info",
        value,
        "speculation mitigations lengthen every exit (KVM list, Dec 2024: CPUID from about "
        "1,020 to 1,600+ cycles): compare exit costs only between machines with the same "
        "settings",
        "for a comparison only: boot guest and host with the same mitigations= "
        "(mitigations=off is unsafe outside a lab)",
        source,
    )


def _nesting(t: _Tree, cmdline: str, leaves: Sequence[tuple[int, str, int]] | None) -> Finding:
    hints = []
    if leaves:
        hints.append(
            "hypervisor CPUID leaves: "
            + ", ".join(f"{base:#x} {sig.strip(chr(0))!r}" for base, sig, _ in leaves)
        )
    for key in ("nested_pvm", "kvm-intel.nested", "kvm_amd.nested", "kvm-amd.nested"):
        value = _cmdline_value(cmdline, key)
        if value is not None:
            hints.append(f"cmdline {key}={value}")
    for path in t.glob("/sys/module/kvm*/parameters/nested*"):
        value = path.read_text().strip() if path.is_file() else "?"
        hints.append(f"{path.parent.parent.name}.{path.name}={value}")
    if t.path("/sys/module/kvm_pvm").exists():
        hints.append("kvm_pvm loaded (PVM: the hypervisor for guests inside a guest)")
    source = (
        "CPUID 0x40000000.. (hvload.measure.cpu.hypervisor_leaves), /proc/cmdline, "
        "/sys/module/kvm*/parameters/nested*"
    )
    if not hints:
        return Finding(
            "nesting",
            "ok",
            "no hypervisor and no nesting parameter seen",
            "bare metal or an unmarked guest",
            "-",
            source,
        )
    nested = any("nested_pvm" in h or "kvm_pvm" in h for h in hints)
    return Finding(
        "nesting",
        "info",
        "; ".join(hints),
        (
            "nested virtualization is configured here: an exit may pass through two "
            "hypervisors and cost several times single-level KVM's"
            if nested
            else "a guest: every exit goes to the hypervisor"
        ),
        "compare only with machines of the same nesting depth; for single-level numbers "
        "measure in a first-level guest",
        source,
    )


def _busy(
    cpu: int, before: dict[str, list[int]], after: dict[str, list[int]], t: _Tree, seconds: float
) -> tuple[Finding, dict[int, float]]:
    shares: dict[int, float] = {}
    for name, b in after.items():
        a = before.get(name)
        if name == "cpu" or not a or len(a) < 5 or len(b) < 5:
            continue
        total = sum(b[:8]) - sum(a[:8])
        # Idle, iowait and steal are not work of this guest's other processes.
        idle = (
            (b[3] + b[4] + b[7]) - (a[3] + a[4] + a[7])
            if len(b) > 7 and len(a) > 7
            else (b[3] + b[4]) - (a[3] + a[4])
        )
        if total > 0:
            shares[int(name[3:])] = max(0.0, 1 - idle / total)
    load = t.read("/proc/loadavg")
    source = f"/proc/stat over {seconds:.1f} s, /proc/loadavg"
    if not shares:
        return Finding(
            "busy processes", "not exposed", f"loadavg {load or '?'}", "unknown", "-", source
        ), shares
    own = shares.get(cpu, 0.0)
    others = {c: s for c, s in shares.items() if s > 0.25}
    value = (
        f"probe CPU {cpu} busy {own:.0%} while hvload slept; CPUs over 25% busy: "
        f"{sorted(others) or 'none'}; loadavg {(load or '?').split(' ')[0]}"
    )
    if own > 0.05 or others:
        return Finding(
            "busy processes",
            "warn",
            value,
            "other work competes with the probe and the load generator: the levels are not "
            "the only load",
            "stop other work (top shows it) or pick an idle --probe-cpu",
            source,
        ), shares
    return Finding("busy processes", "ok", value, "the machine is quiet", "-", source), shares


def check(
    probe_cpu: int = 0,
    *,
    root: str | os.PathLike[str] = "/",
    interval: float = 0.2,
    hypervisor_leaves: Sequence[tuple[int, str, int]] | None = None,
) -> list[Finding]:
    """Every condition that biases a measurement on ``probe_cpu``, read under ``root``.

    ``interval`` seconds separate the two readings of ``/proc/stat`` (steal time and busy
    CPUs). ``hypervisor_leaves`` defaults to the CPU's own (for the real root only).
    """
    if isinstance(probe_cpu, bool) or not isinstance(probe_cpu, int) or probe_cpu < 0:
        raise ValueError(f"probe CPU {probe_cpu!r} is not allowed; give a CPU number >= 0")
    if not (0 <= interval <= 10):
        raise ValueError(f"interval {interval!r} is not allowed; use 0 to 10 seconds")
    t = _Tree(root)
    if hypervisor_leaves is None and Path(root).resolve() == Path("/"):
        from . import _exec, cpu

        hypervisor_leaves = cpu.hypervisor_leaves() if _exec.SUPPORTED else ()
    cmdline = t.read("/proc/cmdline") or ""
    before = _stat_times(t.read("/proc/stat"))
    start = time.monotonic()
    time.sleep(interval)
    after = _stat_times(t.read("/proc/stat"))
    seconds = max(time.monotonic() - start, 1e-3)
    try:
        hz = os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        hz = 100
    busy, shares = _busy(probe_cpu, before, after, t, seconds)
    return [
        _isolation(t, probe_cpu, cmdline),
        _governor(t, probe_cpu),
        _turbo(t),
        _smt(t, probe_cpu, shares),
        _clocksource(t),
        _tsc(t),
        _steal(probe_cpu, before, after, seconds, hz),
        _irqs(t, probe_cpu),
        _mitigations(t, cmdline),
        _nesting(t, cmdline, hypervisor_leaves),
        busy,
    ]


def warnings(findings: Sequence[Finding]) -> list[Finding]:
    """The findings with status ``warn`` (what ``hvload run`` prints before measuring)."""
    return [f for f in findings if f.status == "warn"]


def format_findings(findings: Sequence[Finding]) -> str:
    """The findings as ``hvload check`` prints them: one block per condition."""
    lines = []
    for f in findings:
        lines.append(f"{f.status.upper():<11} {f.name}: {f.value}")
        lines.append(f"{'':<12}effect: {f.effect}")
        if f.fix != "-":
            lines.append(f"{'':<12}change: {f.fix}")
        lines.append(f"{'':<12}source: {f.source}")
    counts = {s: sum(f.status == s for f in findings) for s in STATUSES}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines) + "\n"


def to_metadata(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """The findings as plain dicts, as the campaign metadata records them."""
    return [f.to_dict() for f in findings]
