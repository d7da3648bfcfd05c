"""The kernel profile as text: ``hvload survey --framework kernel`` and its ``--explain``."""

from __future__ import annotations

from collections.abc import Sequence

from .catalog import Hypercall
from .kernel import KernelMark, kernel_survey, mark

__all__ = ["explain_kernel", "format_kernel_report"]


def _detail(m: KernelMark, indent: str) -> list[str]:
    """The lines under a row: action, recommendation, source, KVM guest, notes."""
    p = m.path
    out = []
    if m.issued:
        out += [
            f"{indent}action          {p.action}",
            f"{indent}recommendation  {p.recommendation}",
            f"{indent}source          {p.source}",
        ]
    elif p.source:
        out.append(f"{indent}source          {p.source}")
    if p.kvm_counterpart or p.kvm_recommendation:
        names = ", ".join(p.kvm_counterpart) or "no hypercall"
        out.append(f"{indent}KVM guest       {names}: {p.kvm_recommendation}")
        if p.kvm_source:
            out.append(f"{indent}KVM source      {p.kvm_source}")
    if p.notes:
        out.append(f"{indent}note            {p.notes}")
    return out


def _row(m: KernelMark, name_w: int) -> str:
    via = f" via {', '.join(m.path.syscalls)}" if m.issued else ""
    return (
        f"  {m.call.name:<{name_w}}  0x{m.call.code:04X}  {m.status}{via}  "
        f"[confidence {m.path.confidence}]"
    )


def format_kernel_report(marks: Sequence[KernelMark] | None = None) -> str:
    """What ``hvload survey --framework kernel`` prints: header, one block per call, counts."""
    rows = kernel_survey() if marks is None else list(marks)
    name_w = max(len(m.call.name) for m in rows)
    lines = [
        f"Hypercall survey for {rows[0].profile.description}",
        "",
        "Hyper-V guest: whether user space makes the kernel issue each call, through which",
        "system calls, under which CPUID recommendation, and the Linux source; KVM guest: the",
        "KVM hypercall in the same role. Read from Linux's source, not measured; these marks",
        "are not the thesis's judgments and change no verdict of Table 7.1.",
        "",
        f"  {'hypercall':<{name_w}}  code    Hyper-V guest",
    ]
    for m in rows:
        lines.append(_row(m, name_w))
        lines += _detail(m, " " * 6)
    issued = [m for m in rows if m.issued]
    vmm = sum(m.path.scope == "vmm" for m in issued)
    lines += [
        "",
        f"{len(rows)} calls: {len(issued)} issued on behalf of user space "
        f"({len(issued) - vmm} for any process, {vmm} only for a VMM's nested guest), "
        f"{len(rows) - len(issued)} not issued",
    ]
    return "\n".join(lines) + "\n"


def explain_kernel(call: Hypercall | str | int) -> str:
    """For one call: the kernel profile's mark with every field and its source."""
    m = mark(call)
    c = m.call
    lines = [
        f"{c.name} (Table 7.1 row {c.table_name}), call code 0x{c.code:04X}",
        f"framework {m.profile.name}: {m.status}",
        "",
        f"Framework {m.profile.title}",
        f"  issued          {'yes' if m.issued else 'no'}",
        f"  syscalls        {', '.join(m.path.syscalls) or '-'}",
        f"  confidence      {m.path.confidence}",
        *_detail(m, "  "),
        "",
        "Kept apart from the survey's judgments: `hvload survey --explain "
        f"{c.name}` shows the thesis's verdict, which this mark does not change.",
    ]
    return "\n".join(lines) + "\n"
