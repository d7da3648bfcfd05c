"""The noise a block ran in: what the host and the guest kernel did to the probe CPU.

Read before and after every block (:func:`snapshot`, :func:`block_noise`) and kept in the
campaign's block table, so an effect can be weighed against what else changed: the
vCPU's steal time (the host ran something else on its physical CPU), interrupts
delivered to the probe CPU, context switches of the measuring thread, the load
average, and the CPU's clock where the guest sees one. :func:`system_state` records
what does not change during a run: CPU isolation, the frequency governor, SMT.

A source that cannot be read is recorded as missing (NaN in the block table, None in
the metadata), never as zero: "no steal time" and "steal time unknown" differ. Sources
(Linux, Documentation/filesystems/proc.rst and the sysfs ABI documents):

* ``/proc/stat`` ``cpuN`` lines: the 8th value is steal time in USER_HZ ticks;
* ``/proc/interrupts``: one column of counts per CPU, one row per interrupt source;
* ``getrusage(RUSAGE_THREAD)``: voluntary and involuntary context switches of the
  calling thread;
* ``/proc/loadavg``; ``/sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq`` (kHz),
  else the ``cpu MHz`` line of ``/proc/cpuinfo`` for that processor;
* ``/sys/devices/system/cpu/isolated``, ``.../cpuN/cpufreq/scaling_governor``,
  ``/sys/devices/system/cpu/smt/active`` and ``smt/control``.
"""

from __future__ import annotations

import math
import os
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NOISE_COLUMNS", "Snapshot", "block_noise", "snapshot", "system_state"]

#: Block-table columns :func:`block_noise` fills, with what each holds.
NOISE_COLUMNS: dict[str, str] = {
    "steal_ms": "steal time of the probe CPU during the block (ms; /proc/stat)",
    "irqs": "interrupts delivered to the probe CPU during the block (/proc/interrupts)",
    "ctx_voluntary": "voluntary context switches of the measuring thread (getrusage)",
    "ctx_involuntary": "involuntary context switches of the measuring thread (getrusage)",
    "loadavg": "1-minute load average at the end of the block (/proc/loadavg)",
    "cpu_mhz": "clock of the probe CPU at the end of the block, where the guest sees one",
}

_PROC = Path("/proc")
_SYS_CPU = Path("/sys/devices/system/cpu")


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _steal_ticks(cpu: int, text: str | None) -> float:
    if text is None:
        return math.nan
    prefix = f"cpu{cpu} "
    for line in text.splitlines():
        if line.startswith(prefix):
            fields = line.split()
            # user nice system idle iowait irq softirq steal ...
            return float(fields[8]) if len(fields) > 8 else math.nan
    return math.nan


def _irq_count(cpu: int, text: str | None) -> float:
    if text is None:
        return math.nan
    lines = text.splitlines()
    if not lines:
        return math.nan
    header = lines[0].split()
    name = f"CPU{cpu}"
    if name not in header:
        return math.nan
    column = header.index(name)
    total = 0
    for line in lines[1:]:
        fields = line.split()
        # "NMI:  1  2  Non-maskable interrupts": the label, then one count per CPU.
        if len(fields) > column + 1 and fields[column + 1].isdigit():
            total += int(fields[column + 1])
    return float(total)


def _cpu_mhz(cpu: int) -> float:
    khz = _read(_SYS_CPU / f"cpu{cpu}" / "cpufreq" / "scaling_cur_freq")
    if khz is not None and khz.strip().isdigit():
        return int(khz) / 1000.0
    info = _read(_PROC / "cpuinfo")
    if info is None:
        return math.nan
    current = None
    for line in info.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "processor":
            current = int(value) if value.strip().isdigit() else None
        elif key == "cpu MHz" and current == cpu:
            try:
                return float(value)
            except ValueError:
                return math.nan
    return math.nan


def _loadavg() -> float:
    text = _read(_PROC / "loadavg")
    try:
        return float(text.split()[0]) if text else math.nan
    except (ValueError, IndexError):
        return math.nan


@dataclass(frozen=True)
class Snapshot:
    """Counters of the probe CPU and the calling thread at one moment (NaN: unreadable)."""

    steal_ticks: float
    irqs: float
    ctx_voluntary: float
    ctx_involuntary: float


def snapshot(cpu: int) -> Snapshot:
    """Read the counters of ``cpu`` and of the calling thread now (a few tens of µs)."""
    try:
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        vol, invol = float(usage.ru_nvcsw), float(usage.ru_nivcsw)
    except (AttributeError, OSError, ValueError):  # RUSAGE_THREAD is Linux-only
        vol = invol = math.nan
    return Snapshot(
        _steal_ticks(cpu, _read(_PROC / "stat")),
        _irq_count(cpu, _read(_PROC / "interrupts")),
        vol,
        invol,
    )


def block_noise(cpu: int, before: Snapshot, after: Snapshot) -> dict[str, float]:
    """The block-table noise columns (:data:`NOISE_COLUMNS`) from two snapshots."""
    try:
        hz = float(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError):
        hz = math.nan
    return {
        "steal_ms": (after.steal_ticks - before.steal_ticks) * 1000.0 / hz,
        "irqs": after.irqs - before.irqs,
        "ctx_voluntary": after.ctx_voluntary - before.ctx_voluntary,
        "ctx_involuntary": after.ctx_involuntary - before.ctx_involuntary,
        "loadavg": _loadavg(),
        "cpu_mhz": _cpu_mhz(cpu),
    }


def _text(path: Path) -> str | None:
    text = _read(path)
    return text.strip() if text is not None else None


def system_state(cpus: list[int] | None = None) -> dict[str, Any]:
    """What the platform metadata records about CPU isolation, frequency and SMT."""
    cpus = sorted(os.sched_getaffinity(0)) if cpus is None else cpus
    governors = {str(c): _text(_SYS_CPU / f"cpu{c}" / "cpufreq" / "scaling_governor") for c in cpus}
    active = _text(_SYS_CPU / "smt" / "active")
    return {
        "isolated_cpus": _text(_SYS_CPU / "isolated"),
        "nohz_full": _text(_SYS_CPU / "nohz_full"),
        "scaling_governor": governors if any(governors.values()) else None,
        "smt_active": None if active is None else active == "1",
        "smt_control": _text(_SYS_CPU / "smt" / "control"),
        "sources": "sysfs /sys/devices/system/cpu: isolated, nohz_full, cpuN/cpufreq/"
        "scaling_governor, smt/active, smt/control (None: not readable here)",
    }
