"""Which traps the Explorer offers on this machine, and why it refuses the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..measure.executor import Trap
    from ..measure.machine import KernelTrapReport, PlatformInfo, TrapReport

__all__ = ["trap_choices"]


def trap_choices(
    info: PlatformInfo | None = None,
) -> tuple[dict[str, Trap], dict[str, str]]:
    """The traps this machine can issue, and why each other one is refused.

    Parameters
    ----------
    info
        A platform report; by default a fresh one with fork probes only.

    Returns
    -------
    choices, refused
        ``label -> Trap`` for the traps whose probe succeeded (the hypercalls first, then
        ``cpuid``, ``null`` and the kernel-mediated ``ipi`` and ``tlb-flush``), and
        ``label -> reason`` for the others.
    """
    from ..measure.executor import (
        DEFAULT_HYPERCALL_CONTROL,
        cpuid_trap,
        hyperv_hypercall,
        ipi_trap,
        null_trap,
        tlb_flush_trap,
    )

    traps = [
        hyperv_hypercall(DEFAULT_HYPERCALL_CONTROL, instruction="vmmcall"),
        hyperv_hypercall(DEFAULT_HYPERCALL_CONTROL, instruction="vmcall"),
        cpuid_trap(0),
        null_trap(),
        # The guest kernel's IPIs (real hypercalls where it has PV IPIs).
        ipi_trap(),
        tlb_flush_trap(),
    ]
    if info is None:
        from ..measure.machine import platform

        try:
            info = platform(probe_samples=0)
        except Exception as exc:  # any failure to describe the machine means: do not measure
            return {}, {t.label: f"the platform could not be examined: {exc}" for t in traps}
    reports: dict[str, TrapReport | KernelTrapReport] = {t.name: t for t in info.traps}
    reports.update((t.name, t) for t in info.kernel_traps)
    choices: dict[str, Trap] = {}
    refused: dict[str, str] = {}
    for t in traps:
        report = reports.get(t.label)
        if report is not None and report.supported:
            choices[t.label] = t
        else:
            refused[t.label] = report.reason if report is not None else "not probed on this machine"
    return choices, refused
