"""The survey as text: the table ``hvload survey`` prints, and ``--explain`` for one call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from . import catalog
from ._assessment import Assessment, Check, Verdict, why_suitable
from ._kernel_text import explain_kernel, format_kernel_report
from .catalog import Hypercall
from .judgments import Kind
from .profiles import KERNEL, THESIS, Profile
from .rules import changes, classify, survey

__all__ = ["explain", "format_report", "format_table"]


def _common_findings(assessments: Sequence[Assessment]) -> list[Check]:
    """Executability findings every row shares (the platform's, not the call's)."""
    if not assessments:
        return []
    first = [c for c in assessments[0].findings if c.executable]
    return [c for c in first if all(c in a.findings for a in assessments[1:])]


def _row_reasons(a: Assessment, common: Sequence[Check]) -> list[str]:
    """The row's reasons, with the findings every row shares shortened to one phrase."""
    if not common or not any(c in common for c in a.deciding):
        return list(a.reasons)
    # The call's own obstacles to execution still show; its suitability findings are in
    # --explain and the JSON, since nothing can run here anyway.
    own = [
        c.text.removeprefix("not executable: ")
        for c in a.deciding
        if c.executable and c not in common
    ]
    return ["not executable here (see above)", *own]


def format_table(
    assessments: Sequence[Assessment], changed: Mapping[str, Assessment] | None = None
) -> str:
    """Plain-text table: TLFS name, code, class, verdict, reasons.

    Parameters
    ----------
    assessments
        Rows to print.
    changed
        Per TLFS name, the assessment under a base profile for rows whose verdict differs;
        such rows are marked ``*`` and show the old verdict.

    Returns
    -------
    str
        The table followed by a count line, newline-terminated. Findings shared by every row
        (a platform that can execute nothing) are shortened to "not executable here" in the
        rows; :func:`format_report` prints them once above the table.
    """
    changed = changed or {}
    common = _common_findings(assessments)
    name_w = max(len(a.call.name) for a in assessments)
    lines = [f"  {'hypercall':<{name_w}}  code    class      verdict     reasons"]
    for a in assessments:
        mark = "*" if a.call.name in changed else " "
        verdict = a.verdict.value
        if a.call.name in changed:
            verdict = f"{changed[a.call.name].verdict.value} -> {verdict}"
        klass = a.call.call_class + ("+vh" if a.call.variable_header else "")
        reasons = "; ".join(_row_reasons(a, common))
        lines.append(
            f"{mark} {a.call.name:<{name_w}}  0x{a.call.code:04X}  {klass:<9}  "
            f"{verdict:<10}  {reasons}"
        )
    counts = {v: sum(a.verdict is v for a in assessments) for v in Verdict}
    executable = sum(a.executable for a in assessments)
    lines.append("")
    lines.append(
        f"{len(assessments)} calls: "
        + ", ".join(f"{counts[v]} {v.value}" for v in Verdict)
        + f"; {executable} executable"
        + (f"; {len(changed)} changed (*)" if changed else "")
        + (" (hypothetical)" if assessments and assessments[0].profile.hypothetical else "")
    )
    return "\n".join(lines) + "\n"


def format_report(profile: Profile, base: Profile = THESIS) -> str:
    """What ``hvload survey --framework NAME`` prints: header, table, changes against ``base``.

    The ``kernel`` profile prints its marks instead (:mod:`hvload.survey.kernel`).
    """
    if profile.name == KERNEL.name:
        return format_kernel_report()
    rows = survey(profile)
    changed = (
        {c.after.call.name: c.before for c in changes(base, profile)} if profile != base else {}
    )
    out = []
    if profile.hypothetical:
        out.append(
            f"HYPOTHETICAL framework ({profile.name}): {profile.description}.\n"
            "No such framework exists; the table says what the survey's rules would give "
            "for it.\n\n"
        )
    else:
        out.append(f"Hypercall survey for {profile.description}\n\n")
    common = _common_findings(rows)
    if common:
        out.append("Not executable on this platform, whatever the call:\n")
        for c in common:
            out.append(f"  - {c.text.removeprefix('not executable: ')}\n    [{c.source}]\n")
        if profile.name == "hvload":
            out.append(
                "  What hvload can measure here instead: `hvload info` (cpuid exits; a "
                "hypercall trap is the exit and the refusal, where the hypervisor returns).\n"
            )
        out.append("\n")
    out.append(format_table(rows, changed))
    if changed:
        label = "the HYPOTHETICAL framework" if profile.hypothetical else profile.name
        out.append(f"\nChanged for {label} against the {base.name}'s framework (Table 7.1):\n")
        for name, before in changed.items():
            after = next(a for a in rows if a.call.name == name)
            now = "; ".join(_row_reasons(after, common))
            out.append(
                f"  {name}: {before.verdict.value} -> {after.verdict.value}\n"
                f"    was: {'; '.join(before.reasons)}\n"
                f"    now: {now}\n"
            )
    return "".join(out)


def explain(call: Hypercall | str | int, profile: Profile = THESIS) -> str:
    """For one call: its TLFS facts, the survey's judgments, the profile, and every check.

    Parameters
    ----------
    call
        A record, or a name or code for :func:`hvload.survey.catalog.get`.
    profile
        The framework to judge for.

    Returns
    -------
    str
        Newline-terminated text; each check is marked ``decides`` (it set the verdict),
        ``note`` (it found something milder) or ``ok``, and names its source.

    Raises
    ------
    KeyError
        If no surveyed call matches ``call``.
    """
    c = call if isinstance(call, Hypercall) else catalog.get(call)
    if profile.name == KERNEL.name:
        return explain_kernel(c)
    a = classify(c, profile)
    hyp = " [HYPOTHETICAL]" if profile.hypothetical else ""
    lines = [
        f"{c.name} (Table 7.1 row {c.table_name}), call code 0x{c.code:04X}",
        f"verdict for {profile.name}{hyp}: {a.verdict.value}"
        + ("" if a.executable else " (not executable for this framework)"),
        "",
        f"TLFS facts  [{c.source}]",
        f"  class            {c.call_class}",
        f"  variable header  {'yes' if c.variable_header else 'no'}",
        f"  fast             {'yes' if c.fast else 'no'}",
        f"  sizes            input {c.input_bytes} B (+{c.input_element_bytes} B per element), "
        f"output {c.output_bytes} B (+{c.output_element_bytes} B per element)",
        f"  needs GPA pages  {'yes' if c.needs_pages else 'no'}",
        f"  partition        {c.partition.value}",
        f"  privilege        {c.privilege or '(none named)'}",
    ]
    if c.parameters:
        for p in c.parameters:
            lines.append(f"  parameter        {p.name}: {p.kind.value}, {p.what}")
    else:
        lines.append("  parameters       none")
    lines += ["", "Survey judgments"]
    if not a.judgments:
        lines.append("  (none: the survey's text on this call holds no judgment the rules use)")
    for j in a.judgments:
        used = "" if j.kind is not Kind.REMARK else " (not read by the rules)"
        lines.append(f'  {j.summary()}{used}: "{j.quote}"  [{j.where}]')
        if j.notes:
            lines.append(f"      note: {j.notes}")
    lines += ["", f"Framework {profile.title}"]
    for name, value, source in profile.capabilities():
        lines.append(f"  {name:<17}{value}" + (f"  [{source}]" if source else ""))
    lines += ["", "Checks, in rule order"]
    for check in a.checks:
        if check.passed:
            mark = "ok"
        elif check.outcome is a.verdict:
            mark = "decides"
        else:
            mark = "note"
        lines.append(f"  {mark:<8}{check.outcome.value:<11}{check.rule:<16}{check.text}")
        lines.append(f"  {'':<35}[{check.source}]")
    if a.verdict is Verdict.SUITABLE:
        lines.append(f"  => suitable: {why_suitable(c)}")
    return "\n".join(lines) + "\n"
