"""The thesis survey's judgments about the hypercalls, each with the quotation it rests on.

Where the catalogue (:mod:`hvload.survey.catalog`) holds what the TLFS says, this module holds what
the survey *concluded*: that a call's purpose was not understood, that repeating it would
crash the partition, that what it does is unknown, that a parameter's value could only be
tried or observed by a hypercall monitor, that a call belongs to the root partition. Each
judgment carries the short sentence fragment of the survey it rests on, in the thesis's
own words, and the Table 7.1 row whose description holds it, so that every verdict
:mod:`hvload.survey` derives can be traced to a fact a reader can check or to a judgment
visibly the thesis's.

The records live in ``hvload/data/survey_judgments.csv``; the CSV header explains each
column. Judgments about the thesis's framework itself (``kind == "framework"``) are kept in
:data:`FRAMEWORK` and make up the thesis's profile (:data:`hvload.survey.profiles.THESIS`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import catalog
from ._load import csv_rows
from .catalog import Hypercall

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FRAMEWORK",
    "INTRODUCTION",
    "JUDGMENTS",
    "Effect",
    "Judgment",
    "Kind",
    "Knowledge",
    "for_call",
    "load_judgments",
    "to_frame",
]

#: The ``row`` of quotations taken from the survey's opening paragraphs.
INTRODUCTION = "(introduction)"


class Knowledge(str, enum.Enum):
    """How a framework can come by the value of a parameter, from least to most demanding."""

    #: The call takes no parameters at all (only used for a call's summary).
    NONE = "none"
    #: A constant, a self-referring value or a value the caller chooses, known in advance.
    KNOWN = "known"
    #: Any value of a documented range is accepted; nothing says which one does real work,
    #: so the framework can only try values.
    RANGE = "range"
    #: Only known at run time; a working hypercall monitor watching the guest could observe it.
    MONITOR = "monitor"
    #: Only known at run time, and nothing available to the caller reveals it.
    RUNTIME = "runtime"

    @property
    def rank(self) -> int:
        """Position in the order above (0 = least demanding)."""
        return list(Knowledge).index(self)


class Effect(str, enum.Enum):
    """What the survey concluded about issuing a call again and again."""

    #: The survey could not make out what the call is for.
    NOT_UNDERSTOOD = "not_understood"
    #: Repeating it breaks or crashes the partition.
    DISRUPTS = "disrupts"
    #: What repeating it does is not known.
    UNKNOWN = "unknown"


class Kind(str, enum.Enum):
    """What a judgment is about."""

    EFFECT = "effect"
    KNOWLEDGE = "knowledge"
    SCOPE = "scope"
    FRAMEWORK = "framework"
    #: Recorded for the reader (and ``hvload survey --explain``), not read by the rules.
    REMARK = "remark"


#: Capabilities of the thesis's framework a ``framework`` judgment may name.
_FRAMEWORK_SUBJECTS = ("rep_calls", "variable_headers", "knows", "may_know")


@dataclass(frozen=True)
class Judgment:
    """One conclusion of the survey, with the quotation it rests on.

    Attributes
    ----------
    name
        TLFS name of the call judged; ``None`` for a judgment about the thesis's framework.
    row
        The Table 7.1 row whose description holds the quotation, or :data:`INTRODUCTION`.
    kind
        What the judgment is about.
    subject
        The parameter (``knowledge``) or capability (``framework``) judged; "" otherwise.
    value
        The conclusion: an :class:`Effect` value, a :class:`Knowledge` value, ``"root"``,
        or the capability's value; "" for a remark.
    quote
        The survey's words it rests on (markup dropped).
    notes
        hvload's comment, in particular where the survey is ambiguous.
    """

    name: str | None
    row: str
    kind: Kind
    subject: str
    value: str
    quote: str
    notes: str = ""

    @property
    def where(self) -> str:
        """Where in the survey the quotation stands, in words."""
        if self.row == INTRODUCTION:
            return "survey, introduction"
        return f"survey, Table 7.1 row {self.row}"

    @property
    def source(self) -> str:
        """The quotation with where it stands: ``survey, Table 7.1 row X: "..."``."""
        return f'{self.where}: "{self.quote}"'

    @property
    def effect(self) -> Effect | None:
        """The :class:`Effect` of an ``effect`` judgment, else ``None``."""
        return Effect(self.value) if self.kind is Kind.EFFECT else None

    @property
    def knowledge(self) -> Knowledge | None:
        """The :class:`Knowledge` of a ``knowledge`` judgment, else ``None``."""
        return Knowledge(self.value) if self.kind is Kind.KNOWLEDGE else None

    def summary(self) -> str:
        """``kind subject = value`` in a few words (``remark`` for remarks)."""
        if self.kind is Kind.REMARK:
            return "remark"
        subject = f" {self.subject}" if self.subject else ""
        return f"{self.kind.value}{subject} = {self.value}"

    def to_dict(self) -> dict[str, object]:
        """Plain-Python form, with enums as their string values."""
        return {
            "name": self.name,
            "row": self.row,
            "kind": self.kind.value,
            "subject": self.subject,
            "value": self.value,
            "quote": self.quote,
            "source": self.source,
            "notes": self.notes,
        }


def _check(j: Judgment, line: int) -> None:
    where = f"survey_judgments.csv line {line}"
    allowed: Iterable[str]
    if j.kind is Kind.FRAMEWORK:
        if j.name is not None or j.subject not in _FRAMEWORK_SUBJECTS:
            raise ValueError(
                f"{where}: a framework judgment has no call name and a subject in "
                f"{_FRAMEWORK_SUBJECTS}, got name={j.name!r} subject={j.subject!r}"
            )
        return
    if j.name is None:
        raise ValueError(f"{where}: a {j.kind.value} judgment needs the call's TLFS name")
    try:
        call = catalog.get(j.name)
    except KeyError as exc:
        raise ValueError(f"{where}: {exc.args[0]}") from None
    if call.name != j.name or j.row != call.table_name:
        raise ValueError(
            f"{where}: name must be the TLFS name and row the Table 7.1 name, "
            f"i.e. {call.name!r} and {call.table_name!r}; got {j.name!r} and {j.row!r}"
        )
    if j.kind is Kind.EFFECT:
        allowed = [e.value for e in Effect]
    elif j.kind is Kind.KNOWLEDGE:
        allowed = [k.value for k in Knowledge if k is not Knowledge.NONE]
        if j.subject not in call.parameter_names:
            raise ValueError(
                f"{where}: {j.subject!r} is not a parameter of {call.name}; "
                f"it has {call.parameter_names}"
            )
    elif j.kind is Kind.SCOPE:
        allowed = ["root"]
    else:
        allowed = [""]
    if j.value not in allowed:
        raise ValueError(
            f"{where}: value {j.value!r} not allowed for {j.kind.value}; use {allowed}"
        )
    if not j.quote:
        raise ValueError(f"{where}: every judgment needs the survey's words it rests on")


def load_judgments() -> tuple[Judgment, ...]:
    """Read every judgment (framework ones included) from the package data, in file order.

    Raises
    ------
    ValueError
        If a row names an unknown call, kind, parameter or value, or has no quotation.
    """
    out = []
    for line, row in enumerate(csv_rows("survey_judgments.csv"), start=2):
        try:
            kind = Kind(row["kind"])
        except ValueError:
            allowed = [k.value for k in Kind]
            raise ValueError(
                f"survey_judgments.csv line {line}: kind {row['kind']!r} not in {allowed}"
            ) from None
        j = Judgment(
            name=row["name"] or None,
            row=row["row"],
            kind=kind,
            subject=row["subject"],
            value=row["value"],
            quote=row["quote"],
            notes=row["notes"],
        )
        _check(j, line)
        out.append(j)
    return tuple(out)


_ALL = load_judgments()
#: The survey's judgments about the calls, in file order.
JUDGMENTS: tuple[Judgment, ...] = tuple(j for j in _ALL if j.kind is not Kind.FRAMEWORK)
#: The survey's statements about the thesis's framework (see :data:`hvload.survey.profiles.THESIS`).
FRAMEWORK: tuple[Judgment, ...] = tuple(j for j in _ALL if j.kind is Kind.FRAMEWORK)
del _ALL


def for_call(call: Hypercall | str | int) -> tuple[Judgment, ...]:
    """The judgments about one call (a record, or a name or code for :func:`catalog.get`)."""
    name = call.name if isinstance(call, Hypercall) else catalog.get(call).name
    return tuple(j for j in JUDGMENTS if j.name == name)


def to_frame(judgments: Iterable[Judgment] | None = None) -> pd.DataFrame:
    """The judgments as a DataFrame, one row each (all of :data:`JUDGMENTS` by default)."""
    import pandas as pd

    rows = [j.to_dict() for j in (JUDGMENTS if judgments is None else judgments)]
    return pd.DataFrame(rows, columns=[*Judgment.__dataclass_fields__, "source"])
