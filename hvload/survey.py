"""The thesis's hypercall survey (Table 7.1) as rules over catalogue facts.

:func:`classify` judges one :class:`~hvload.catalog.Hypercall` for a framework described by a
:class:`Profile`. No verdict is stored anywhere: each follows from the record's attributes
and these rules, checked in this order and all collected:

1. A rep call is unsuitable if the framework cannot issue rep calls.
2. A call with a variable-size header is unsuitable if the framework cannot build one.
3. A call whose purpose was not understood is unsuitable: nothing says what repeating it
   would test or break.
4. A call that disrupts the partition when repeated is unsuitable.
5. A root-only call is unsuitable for a framework known not to run in the root partition;
   a nested-only call likewise for one known not to run under nested virtualisation.
6. Each parameter needs some knowledge (:class:`~hvload.catalog.Knowledge`). Knowledge the
   framework has is fine; knowledge it can only partly rely on (guessing from a range, an
   unreliable hypercall monitor) makes the call *maybe*; knowledge it lacks makes it
   unsuitable.
7. A call whose effect when repeated is unknown is *maybe*.
8. Anything else is suitable.

The verdict is the worst outcome; the reasons reported are those that reached it, the
milder findings are kept as notes.

With :data:`THESIS` these rules give Table 7.1 of the survey exactly (4 suitable, 6 maybe,
16 unsuitable). Two rows reach the survey's verdict by a different route than its text:
the survey calls HvFlushVirtualAddressSpaceEx and HvSendSyntheticClusterIpiEx rep calls,
but the TLFS (and so the catalogue) classes them as simple calls with a variable-size
header. Rule 2 makes them unsuitable for the thesis's framework all the same, since it
could build neither rep calls nor variable headers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .catalog import HYPERCALLS, Effect, Hypercall, Knowledge, Scope

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HVLOAD",
    "PROFILES",
    "THESIS",
    "Assessment",
    "Change",
    "Profile",
    "Verdict",
    "changes",
    "classify",
    "format_table",
    "survey",
    "to_frame",
]


class Verdict(str, enum.Enum):
    """How well a call suits repeated execution under load, best first."""

    SUITABLE = "suitable"
    MAYBE = "maybe"
    UNSUITABLE = "unsuitable"

    @property
    def rank(self) -> int:
        """0 for suitable, 1 for maybe, 2 for unsuitable."""
        return list(Verdict).index(self)


@dataclass(frozen=True)
class Profile:
    """What a hypercall-issuing framework can do and know.

    Attributes
    ----------
    name
        Short name, used by ``hvload survey --framework``.
    description
        One line on the framework.
    rep_calls
        Whether it can issue rep calls (rep count and start index, list elements).
    variable_headers
        Whether it can build inputs with a variable-size header.
    knows
        Parameter knowledge it has reliably.
    may_know
        Parameter knowledge it can only partly rely on: calls needing it are *maybe*.
    root_partition
        True/False if the framework is known to run / not to run in the root partition;
        None when that is not stated.
    nested
        Likewise for running under nested virtualisation.
    """

    name: str
    description: str
    rep_calls: bool
    variable_headers: bool
    knows: frozenset[Knowledge] = field(
        default_factory=lambda: frozenset({Knowledge.NONE, Knowledge.KNOWN})
    )
    may_know: frozenset[Knowledge] = field(default_factory=frozenset)
    root_partition: bool | None = None
    nested: bool | None = None


#: The framework the survey judged for: no rep calls, no variable headers; it can try values
#: from a documented range, and its hypercall monitor (which could reveal connection IDs) did
#: not give trustworthy results. The survey does not say which partition it ran in.
THESIS = Profile(
    name="thesis",
    description="the thesis's hypercall testing framework",
    rep_calls=False,
    variable_headers=False,
    knows=frozenset({Knowledge.NONE, Knowledge.KNOWN}),
    may_know=frozenset({Knowledge.RANGE, Knowledge.MONITOR}),
)

#: hvload: builds rep calls and variable headers; same parameter knowledge as the thesis (no
#: hypercall monitor of its own); runs inside a guest, never in the root partition.
HVLOAD = replace(
    THESIS,
    name="hvload",
    description="hvload (rep calls and variable headers supported; runs in a guest)",
    rep_calls=True,
    variable_headers=True,
    root_partition=False,
)

PROFILES: Mapping[str, Profile] = {p.name: p for p in (THESIS, HVLOAD)}

_KNOWLEDGE_WORDS = {
    Knowledge.RANGE: "only known to lie in a documented range",
    Knowledge.MONITOR: "only known at run time (a hypercall monitor could observe it)",
    Knowledge.RUNTIME: "only known at run time, and nothing available reveals it",
    Knowledge.KNOWN: "known in advance",
    Knowledge.NONE: "not needed",
}


@dataclass(frozen=True)
class Assessment:
    """The verdict on one call for one profile.

    Attributes
    ----------
    call
        The record judged.
    profile
        The profile it was judged for.
    verdict
        The outcome.
    reasons
        The findings that decided the verdict (all at the verdict's level).
    notes
        Milder findings that did not decide it.
    """

    call: Hypercall
    profile: Profile
    verdict: Verdict
    reasons: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (the fields ``hvload survey --json`` prints)."""
        return {
            "name": self.call.name,
            "survey_name": self.call.table_name,
            "code": self.call.code,
            "class": self.call.call_class,
            "rep": self.call.rep,
            "variable_header": self.call.variable_header,
            "verdict": self.verdict.value,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "framework": self.profile.name,
        }


def _knowledge_findings(call: Hypercall, profile: Profile) -> list[tuple[Verdict, str]]:
    found: list[tuple[Verdict, str]] = []
    for knowledge in sorted({p.knowledge for p in call.parameters}, key=lambda k: k.rank):
        if knowledge in profile.knows:
            continue
        names = call.needs(knowledge)
        verb = "are" if len(names) > 1 else "is"
        what = f"{', '.join(names)} {verb} {_KNOWLEDGE_WORDS[knowledge]}"
        if knowledge in profile.may_know:
            found.append((Verdict.MAYBE, f"{what}: the framework can only try values"))
        else:
            found.append((Verdict.UNSUITABLE, f"{what}: the framework cannot obtain it"))
    return found


def classify(call: Hypercall, profile: Profile = THESIS) -> Assessment:
    """Judge one call for one framework profile by the rules in the module docstring.

    Parameters
    ----------
    call
        A catalogue record (any :class:`~hvload.catalog.Hypercall`, also an edited copy).
    profile
        The framework's capabilities and knowledge.

    Returns
    -------
    Assessment
        Verdict, deciding reasons and milder notes.
    """
    found: list[tuple[Verdict, str]] = []
    if call.rep and not profile.rep_calls:
        found.append((Verdict.UNSUITABLE, "rep call; the framework cannot issue rep calls"))
    if call.variable_header and not profile.variable_headers:
        found.append(
            (
                Verdict.UNSUITABLE,
                "variable-size input header; the framework cannot build one",
            )
        )
    if call.effect is Effect.NOT_UNDERSTOOD:
        found.append((Verdict.UNSUITABLE, "what the call is for is not understood"))
    if call.effect is Effect.DISRUPTS:
        found.append((Verdict.UNSUITABLE, "repeating it disrupts the partition"))
    if call.scope is Scope.ROOT and profile.root_partition is False:
        found.append(
            (
                Verdict.UNSUITABLE,
                "only the root partition may issue it; the framework runs in a guest",
            )
        )
    if call.scope is Scope.NESTED and profile.nested is False:
        found.append(
            (
                Verdict.UNSUITABLE,
                "only valid under nested virtualisation, which the framework does not run under",
            )
        )
    found.extend(_knowledge_findings(call, profile))
    if call.effect is Effect.UNKNOWN:
        found.append((Verdict.MAYBE, "what repeating it does is unknown"))

    if not found:
        return Assessment(call, profile, Verdict.SUITABLE, (_why_suitable(call),))
    worst = max((v for v, _ in found), key=lambda v: v.rank)
    reasons = tuple(text for v, text in found if v is worst)
    notes = tuple(text for v, text in found if v is not worst)
    return Assessment(call, profile, worst, reasons, notes)


def _why_suitable(call: Hypercall) -> str:
    params = "no parameters" if not call.parameters else "all parameters known in advance"
    effect = {
        Effect.READ_ONLY: "only reads state",
        Effect.IDEMPOTENT: "repeating it leaves the same state",
        Effect.CHANGES_STATE: "changes state without disrupting the partition",
    }[call.effect]
    return f"{params}; {effect}"


def survey(profile: Profile = THESIS, calls: Iterable[Hypercall] | None = None) -> list[Assessment]:
    """Judge every call (the whole catalogue by default) for ``profile``, in catalogue order."""
    return [classify(c, profile) for c in (HYPERCALLS if calls is None else calls)]


@dataclass(frozen=True)
class Change:
    """A call whose verdict differs between two profiles."""

    before: Assessment
    after: Assessment


def changes(
    base: Profile = THESIS, other: Profile = HVLOAD, calls: Iterable[Hypercall] | None = None
) -> list[Change]:
    """The calls whose verdict for ``other`` differs from the one for ``base``."""
    # Materialised once: an iterator passed in would otherwise be used up by the first survey.
    rows = tuple(HYPERCALLS if calls is None else calls)
    pairs = zip(survey(base, rows), survey(other, rows), strict=True)
    return [Change(a, b) for a, b in pairs if a.verdict is not b.verdict]


def to_frame(profile: Profile = THESIS, calls: Iterable[Hypercall] | None = None) -> pd.DataFrame:
    """The survey as a DataFrame indexed by TLFS name, with verdict, reasons and notes."""
    import pandas as pd

    rows = [a.to_dict() for a in survey(profile, calls)]
    df = pd.DataFrame(rows).set_index("name")
    df["verdict"] = pd.Categorical(
        df["verdict"], categories=[v.value for v in Verdict], ordered=True
    )
    df["reasons"] = df["reasons"].map("; ".join)
    df["notes"] = df["notes"].map("; ".join)
    return df


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
        The table followed by a count line, newline-terminated.
    """
    changed = changed or {}
    name_w = max(len(a.call.name) for a in assessments)
    lines = [f"  {'hypercall':<{name_w}}  code    class      verdict     reasons"]
    for a in assessments:
        mark = "*" if a.call.name in changed else " "
        verdict = a.verdict.value
        if a.call.name in changed:
            verdict = f"{changed[a.call.name].verdict.value} -> {verdict}"
        klass = a.call.call_class + ("+vh" if a.call.variable_header else "")
        lines.append(
            f"{mark} {a.call.name:<{name_w}}  0x{a.call.code:04X}  {klass:<9}  "
            f"{verdict:<10}  {'; '.join(a.reasons)}"
        )
    counts = {v: sum(a.verdict is v for a in assessments) for v in Verdict}
    lines.append("")
    lines.append(
        f"{len(assessments)} calls: "
        + ", ".join(f"{counts[v]} {v.value}" for v in Verdict)
        + (f"; {len(changed)} changed (*)" if changed else "")
    )
    return "\n".join(lines) + "\n"
