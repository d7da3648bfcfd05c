"""The catalogue's records: the types of a hypercall's TLFS facts, and KVM's own calls.

The values come from the CSV files in ``hvload/survey/data`` (:mod:`hvload.survey._load`);
the public names are those of :mod:`hvload.survey.catalog`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

__all__ = [
    "FAST_INPUT_MAX",
    "KVM_ENOSYS",
    "KVM_EPERM",
    "Hypercall",
    "KvmHypercall",
    "Parameter",
    "Partition",
    "ValueKind",
]

#: KVM's refusal of an unknown hypercall number from CPL 0 (RAX = -KVM_ENOSYS).
KVM_ENOSYS = 1000
#: KVM's refusal of any hypercall from CPL 3 (RAX = -KVM_EPERM).
KVM_EPERM = 1
#: Input bytes the fast (register) convention carries in RDX and R8.
FAST_INPUT_MAX = 16


class ValueKind(str, enum.Enum):
    """What the TLFS says a parameter's value is (see the CSV header)."""

    #: The TLFS documents a value that does the job (a self ID, a flag, a VTL number), or
    #: says the field is ignored under a flag.
    CONSTANT = "constant"
    #: The caller chooses the value within a documented range or format.
    VALUE = "value"
    #: The value names an object someone else creates at run time (a connection, another
    #: partition, a host-assigned device, a nested guest's address space).
    RUNTIME = "runtime"


class Partition(str, enum.Enum):
    """What the TLFS page says about which partition a call addresses."""

    #: The page gives no restriction.
    UNSTATED = "unstated"
    #: The caller's own partition, or a child of the caller.
    SELF_OR_CHILD = "self_or_child"
    #: Another partition than the caller's.
    OTHER = "other"
    #: Only valid while nested virtualisation is active.
    NESTED = "nested"


class Parameter(NamedTuple):
    """One named input parameter: what kind of value it takes, and what the TLFS says it is."""

    name: str
    kind: ValueKind
    what: str


@dataclass(frozen=True)
class Hypercall:
    """One catalogue record: TLFS facts only.

    Attributes
    ----------
    name
        TLFS name.
    survey_name
        The survey's spelling in Table 7.1 where it differs from the TLFS, else ``None``.
    code
        Call code (bits 15:0 of the input value).
    rep
        True for a rep call, False for a simple call.
    variable_header
        True when the input header has a variable-size part.
    fast
        True when the call may use the fast (register) convention.
    input_bytes
        Size of the fixed part of the input header.
    input_element_bytes
        Size of one input list element of a rep call (0 otherwise).
    output_bytes
        Size of the fixed output.
    output_element_bytes
        Size of one output list element of a rep call (0 otherwise).
    partition
        Which partition the call addresses, as the TLFS page says.
    privilege
        The partition privilege the TLFS page names for the call ("" when none).
    parameters
        The named input parameters, each with its kind of value and what it is.
    description
        One sentence on what the call does (hvload's words).
    source
        Where the facts of this row come from.
    """

    name: str
    survey_name: str | None
    code: int
    rep: bool
    variable_header: bool
    fast: bool
    input_bytes: int
    input_element_bytes: int
    output_bytes: int
    output_element_bytes: int
    partition: Partition
    privilege: str
    parameters: tuple[Parameter, ...]
    description: str
    source: str

    @property
    def table_name(self) -> str:
        """The name as the survey's Table 7.1 prints it."""
        return self.survey_name or self.name

    @property
    def call_class(self) -> str:
        """``"rep"`` or ``"simple"``, as the TLFS classes the call."""
        return "rep" if self.rep else "simple"

    @property
    def needs_pages(self) -> bool:
        """Whether issuing the call takes guest-physical input or output pages.

        A call with neither input nor output needs none; a call marked fast whose input fits
        RDX and R8 (16 bytes) and that has no output can pass everything in registers. Every
        other call, and every rep call (its lists live in memory), uses the memory
        convention: RDX and R8 hold the GPAs of the input and output pages
        (platform-facts.md §4).
        """
        if self.rep or self.variable_header:
            return True
        if self.input_bytes == 0 and self.output_bytes == 0:
            return False
        return not (self.fast and self.input_bytes <= FAST_INPUT_MAX and self.output_bytes == 0)

    def parameter(self, name: str) -> Parameter:
        """The parameter called ``name``.

        Raises
        ------
        KeyError
            If the call has no such parameter.
        """
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}; it has {self.parameter_names}")

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the input parameters, in TLFS order."""
        return tuple(p.name for p in self.parameters)

    def to_dict(self) -> dict[str, object]:
        """Plain-Python form, with enums as their string values."""
        return {
            "name": self.name,
            "survey_name": self.table_name,
            "code": self.code,
            "class": self.call_class,
            "rep": self.rep,
            "variable_header": self.variable_header,
            "fast": self.fast,
            "input_bytes": self.input_bytes,
            "input_element_bytes": self.input_element_bytes,
            "output_bytes": self.output_bytes,
            "output_element_bytes": self.output_element_bytes,
            "needs_pages": self.needs_pages,
            "partition": self.partition.value,
            "privilege": self.privilege,
            "parameters": ";".join(f"{p.name}:{p.kind.value}" for p in self.parameters),
            "description": self.description,
            "source": self.source,
        }


@dataclass(frozen=True)
class KvmHypercall:
    """One of KVM's own hypercalls (``KVM_HC_*``).

    Attributes
    ----------
    number
        Value placed in RAX.
    name
        The ``KVM_HC_*`` macro name.
    x86
        True when KVM dispatches the number on x86 (from CPL 0).
    description
        One sentence on what the call does.
    """

    number: int
    name: str
    x86: bool
    description: str
