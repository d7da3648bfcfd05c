"""Identify the CPU and hypervisor through CPUID: the facts the executor needs first."""

from __future__ import annotations

import functools
import os
import platform as _stdlib_platform
import struct

from ..errors import UnsupportedPlatformError
from . import _exec
from .hypervisors import hypervisor_name

__all__ = [
    "HypervisorLeaf",
    "brand",
    "cpuid",
    "family_model_stepping",
    "has_rdtscp",
    "hypervisor",
    "hypervisor_leaves",
    "require_measuring",
    "vendor",
]

HypervisorLeaf = tuple[int, str, int]
"""(base leaf, 12-character signature, highest leaf in that range)."""


def require_measuring() -> None:
    """Raise :class:`UnsupportedPlatformError` unless this machine can run the executor.

    ``HVLOAD_NO_MEASURE=1`` in the environment refuses as well, so that notebooks and
    tests can take the path of a machine that cannot measure (they then read ``data/``).
    It is read on every call: a process may set it after importing hvload.
    """
    if os.environ.get("HVLOAD_NO_MEASURE", "").strip() not in ("", "0"):
        raise UnsupportedPlatformError(
            "measuring is disabled by HVLOAD_NO_MEASURE=1 in the environment; unset it (or "
            "set it to 0) to issue traps; stored campaigns can still be loaded and analysed"
        )
    arch = _stdlib_platform.machine()
    if not _exec.SUPPORTED:
        raise UnsupportedPlatformError(
            f"measuring is not supported on {arch}: hvload issues x86_64 instructions "
            "(rdtsc, rdtscp, cpuid, vmcall/vmmcall); the analysis functions still work"
        )
    if not has_rdtscp():
        raise UnsupportedPlatformError(
            "this CPU (or hypervisor) does not expose RDTSCP (CPUID 0x80000001 EDX bit 27), "
            "which hvload needs to end each timed sample and read the CPU number"
        )


def cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]:
    """Return ``(eax, ebx, ecx, edx)`` of CPUID; raises on non-x86_64 builds."""
    if not _exec.SUPPORTED:
        raise UnsupportedPlatformError(
            f"CPUID is not available on {_stdlib_platform.machine()}: it is an x86 instruction"
        )
    return _exec.cpuid(leaf, subleaf)


def _ascii(*words: int) -> str:
    return struct.pack(f"<{len(words)}I", *words).decode("latin-1")


@functools.cache
def vendor() -> str:
    """CPU vendor string of CPUID leaf 0, e.g. ``"AuthenticAMD"``."""
    _, b, c, d = cpuid(0)
    return _ascii(b, d, c)


@functools.cache
def brand() -> str:
    """Processor brand string (CPUID 0x80000002-4), stripped."""
    if cpuid(0x80000000)[0] < 0x80000004:
        return ""
    words = [w for leaf in (0x80000002, 0x80000003, 0x80000004) for w in cpuid(leaf)]
    return _ascii(*words).rstrip("\0").strip()


def family_model_stepping() -> tuple[int, int, int]:
    """Display family, model and stepping from CPUID leaf 1, as Linux computes them."""
    eax = cpuid(1)[0]
    stepping = eax & 0xF
    family = (eax >> 8) & 0xF
    model = (eax >> 4) & 0xF
    if family == 0xF:
        family += (eax >> 20) & 0xFF
    if family >= 6:
        model += ((eax >> 16) & 0xF) << 4
    return family, model, stepping


@functools.cache
def has_rdtscp() -> bool:
    """Whether CPUID 0x80000001 EDX bit 27 (RDTSCP) is set."""
    if not _exec.SUPPORTED or cpuid(0x80000000)[0] < 0x80000001:
        return False
    return bool(cpuid(0x80000001)[3] >> 27 & 1)


@functools.cache
def hypervisor_leaves() -> tuple[HypervisorLeaf, ...]:
    """Every hypervisor signature in the 0x40000000 range, scanned in steps of 0x100.

    A hypervisor that emulates another one's interface shows both: KVM with Hyper-V
    enlightenments puts "Microsoft Hv" at 0x40000000 and its own signature at
    0x40000100, which is why the scan does not stop at the first base.
    """
    if not cpuid(1)[2] >> 31 & 1:  # CPUID.1:ECX[31] = running under a hypervisor
        return ()
    found = []
    for base in range(0x40000000, 0x40010000, 0x100):
        a, b, c, d = cpuid(base)
        sig = _ascii(b, c, d)
        # Out-of-range leaves echo other data (Intel repeats the highest basic leaf), so a
        # base counts only with a printable signature and a highest leaf inside its range.
        if sig.rstrip("\0").isprintable() and sig.strip("\0") and base <= a < base + 0x100:
            found.append((base, sig, a))
    return tuple(found)


def hypervisor() -> str:
    """Short name of the hypervisor as the guest sees it (``"none"`` on bare metal).

    ``"KVM+Hyper-V"`` means KVM exposing Hyper-V's interface, under which a Linux
    guest enables the enlightenments and user-mode hypercalls get #UD.
    """
    leaves = hypervisor_leaves()
    if not leaves:
        return "none"
    names = [hypervisor_name(sig) for _, sig, _ in leaves]
    if names[0] == "Hyper-V" and "KVM" in names[1:]:
        return "KVM+Hyper-V"
    return names[0]
