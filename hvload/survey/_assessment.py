"""What the survey's rules return: the verdict on a call, each check made, and a change.

:class:`Verdict` orders the outcomes; :class:`Check` is one rule applied to one call,
:class:`Assessment` every check on a call with the verdict they give, :class:`Change` a call
judged differently under two profiles. The rules themselves are in :mod:`hvload.survey.rules`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .catalog import Hypercall
from .judgments import Judgment
from .profiles import Profile

__all__ = ["Assessment", "Change", "Check", "Verdict", "why_suitable"]


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
class Check:
    """One rule applied to one call for one profile.

    Attributes
    ----------
    rule
        Short name of the rule (``"privilege"``, ``"rep"``, ``"knowledge"``, ...).
    outcome
        ``SUITABLE`` when the check passes, else the verdict it pushes the call to.
    text
        One line on what was found.
    source
        The fact, judgment or profile capability it rests on, with where it comes from.
    executable
        True for the rules that decide whether the framework can issue the call at all.
    """

    rule: str
    outcome: Verdict
    text: str
    source: str
    executable: bool = False

    @property
    def passed(self) -> bool:
        """True when the check found nothing against the call."""
        return self.outcome is Verdict.SUITABLE

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "rule": self.rule,
            "outcome": self.outcome.value,
            "text": self.text,
            "source": self.source,
            "executable": self.executable,
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
    checks
        Every check made, passed or not, in rule order.
    judgments
        The survey's judgments about the call that the rules were given.
    """

    call: Hypercall
    profile: Profile
    verdict: Verdict
    checks: tuple[Check, ...]
    judgments: tuple[Judgment, ...] = ()

    @property
    def findings(self) -> tuple[Check, ...]:
        """The checks that found something against the call."""
        return tuple(c for c in self.checks if not c.passed)

    @property
    def executable(self) -> bool:
        """Whether the framework can issue the call so that the hypervisor runs it."""
        return not any(c.executable for c in self.findings)

    @property
    def deciding(self) -> tuple[Check, ...]:
        """The findings at the verdict's level (none for a suitable call)."""
        return tuple(c for c in self.findings if c.outcome is self.verdict)

    @property
    def reasons(self) -> tuple[str, ...]:
        """What decided the verdict, one line each."""
        if self.verdict is Verdict.SUITABLE:
            return (why_suitable(self.call),)
        return tuple(c.text for c in self.deciding)

    @property
    def notes(self) -> tuple[str, ...]:
        """Milder findings that did not decide the verdict."""
        return tuple(c.text for c in self.findings if c.outcome is not self.verdict)

    def to_dict(self, detail: bool = False) -> dict[str, object]:
        """JSON-ready form (the fields ``hvload survey --json`` prints).

        With ``detail`` (``hvload survey --explain NAME --json``) it adds the call's TLFS
        facts, the survey's judgments, the profile and every check.
        """
        out: dict[str, object] = {
            "name": self.call.name,
            "survey_name": self.call.table_name,
            "code": self.call.code,
            "class": self.call.call_class,
            "rep": self.call.rep,
            "variable_header": self.call.variable_header,
            "verdict": self.verdict.value,
            "executable": self.executable,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "findings": [c.to_dict() for c in self.findings],
            "framework": self.profile.name,
            "hypothetical": self.profile.hypothetical,
        }
        if detail:
            facts = self.call.to_dict()
            facts["parameters"] = [
                p._asdict() | {"kind": p.kind.value} for p in self.call.parameters
            ]
            out["facts"] = facts
            out["judgments"] = [j.to_dict() for j in self.judgments]
            out["profile"] = self.profile.to_dict()
            out["checks"] = [c.to_dict() for c in self.checks]
        return out


def why_suitable(call: Hypercall) -> str:
    """The one reason a suitable call's verdict gives."""
    params = "no parameters" if not call.parameters else "all parameters known in advance"
    return f"{params}; nothing the survey says speaks against repeating it"


@dataclass(frozen=True)
class Change:
    """A call whose verdict differs between two profiles."""

    before: Assessment
    after: Assessment
