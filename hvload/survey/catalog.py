"""The Hyper-V hypercall catalogue: TLFS facts about the 26 calls of the thesis survey.

The records live in ``hvload/data/hyperv_hypercalls.csv`` (KVM's own calls in
``hvload/data/kvm_hypercalls.csv``); this module loads them into frozen :class:`Hypercall`
records at import and into a pandas DataFrame on request. Call codes, classes and the
fast/variable-header marks come from ``shared/reference/platform-facts.md`` §4; sizes,
parameter names, what each parameter is, which partition a call addresses and the privilege
it needs come from the online TLFS reference pages. Every row names its source.

The records hold *facts* only: nothing here says whether a call suits repeated execution.
The survey's judgments (what the thesis could not understand, what it expected to crash,
which values it could only guess) are kept apart, each with the sentence of the survey it
rests on, in :mod:`hvload.judgments`; :mod:`hvload.survey` derives each verdict from both
and a framework's profile (:mod:`hvload.profiles`).

What a user-mode hypercall does under each hypervisor is kept in :mod:`hvload.hypervisors`
and re-exported here, so that the catalogue is the one place to look things up.

The helpers at the end (:func:`control_value`, :func:`fast_call`, :func:`memory_call`,
:func:`notify_long_spin_wait`, ...) turn a record into the register values of the
executor's Hyper-V convention: RCX = control (input) value, RDX and R8 = input.
"""

from __future__ import annotations

import csv
import enum
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from ..measure.hypervisors import USER_MODE_HYPERCALL, UserModeHypercall, user_mode_hypercall
from . import tlfs

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FAST_INPUT_MAX",
    "HYPERCALLS",
    "KVM_ENOSYS",
    "KVM_EPERM",
    "KVM_HYPERCALLS",
    "USER_MODE_HYPERCALL",
    "Hypercall",
    "HypercallRegisters",
    "KvmHypercall",
    "Parameter",
    "Partition",
    "UserModeHypercall",
    "ValueKind",
    "control_value",
    "fast_call",
    "get",
    "kvm_frame",
    "load_hypercalls",
    "memory_call",
    "notify_long_spin_wait",
    "signal_event",
    "switch_virtual_address_space",
    "to_frame",
    "user_mode_hypercall",
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


def _rows(filename: str) -> Iterator[dict[str, str]]:
    text = (resources.files("hvload.survey") / "data" / filename).read_text(encoding="utf-8")
    # Comment lines are stripped before parsing so they may hold commas and quotes freely.
    body = "".join(line for line in io.StringIO(text) if not line.startswith("#"))
    yield from csv.DictReader(io.StringIO(body))


def _bool(field: str, text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"catalogue field {field} must be 'true' or 'false', got {text!r}")
    return text == "true"


_E = TypeVar("_E", bound=enum.Enum)


def _enum(kind: type[_E], field: str, text: str) -> _E:
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(repr(k.value) for k in kind)
        raise ValueError(
            f"catalogue field {field} must be one of {allowed}, got {text!r}"
        ) from None


def _parameters(text: str) -> tuple[Parameter, ...]:
    if not text:
        return ()
    out = []
    for item in text.split(";"):
        name, _, rest = item.partition(":")
        kind, _, what = rest.partition(":")
        out.append(Parameter(name, _enum(ValueKind, "parameters", kind), what))
    return tuple(out)


def _class_is_rep(text: str) -> bool:
    if text not in ("simple", "rep"):
        raise ValueError(f"catalogue field class must be 'simple' or 'rep', got {text!r}")
    return text == "rep"


def load_hypercalls() -> tuple[Hypercall, ...]:
    """Read the Hyper-V catalogue from the package data, in call-code order.

    Returns
    -------
    tuple of Hypercall
        One record per surveyed call.

    Raises
    ------
    ValueError
        If the data file holds a malformed field.
    """
    calls = tuple(
        Hypercall(
            name=row["name"],
            survey_name=row["survey_name"] or None,
            code=int(row["code"], 16),
            rep=_class_is_rep(row["class"]),
            variable_header=_bool("variable_header", row["variable_header"]),
            fast=_bool("fast", row["fast"]),
            input_bytes=int(row["input_bytes"]),
            input_element_bytes=int(row["input_element_bytes"]),
            output_bytes=int(row["output_bytes"]),
            output_element_bytes=int(row["output_element_bytes"]),
            partition=_enum(Partition, "partition", row["partition"]),
            privilege=row["privilege"],
            parameters=_parameters(row["parameters"]),
            description=row["description"],
            source=row["source"],
        )
        for row in _rows("hyperv_hypercalls.csv")
    )
    return tuple(sorted(calls, key=lambda c: c.code))


def _load_kvm() -> tuple[KvmHypercall, ...]:
    return tuple(
        KvmHypercall(int(row["number"]), row["name"], _bool("x86", row["x86"]), row["description"])
        for row in _rows("kvm_hypercalls.csv")
    )


#: The 26 surveyed Hyper-V hypercalls, in call-code order.
HYPERCALLS: tuple[Hypercall, ...] = load_hypercalls()
#: KVM's own hypercalls, by number.
KVM_HYPERCALLS: tuple[KvmHypercall, ...] = _load_kvm()

_BY_KEY: dict[str, Hypercall] = {}
for _call in HYPERCALLS:
    _BY_KEY[_call.name.lower()] = _call
    _BY_KEY[_call.table_name.lower()] = _call
    # "HvCallX" is how the TLFS pages and Linux spell most of these names.
    _BY_KEY["hvcall" + _call.name[2:].lower()] = _call
del _call


def get(key: str | int) -> Hypercall:
    """Look a call up by TLFS name, survey name, ``HvCall...`` spelling or call code.

    Parameters
    ----------
    key
        A name (case-insensitive) or an integer call code.

    Returns
    -------
    Hypercall

    Raises
    ------
    KeyError
        If no surveyed call matches.
    """
    if isinstance(key, int):
        for call in HYPERCALLS:
            if call.code == key:
                return call
        raise KeyError(f"no surveyed hypercall has code 0x{key:04X}")
    try:
        return _BY_KEY[key.lower()]
    except KeyError:
        raise KeyError(f"no surveyed hypercall is called {key!r}") from None


def to_frame(calls: Iterable[Hypercall] | None = None) -> pd.DataFrame:
    """The catalogue's TLFS facts as a DataFrame, one row per call, indexed by TLFS name.

    Parameters
    ----------
    calls
        Records to include; all of :data:`HYPERCALLS` by default.

    Returns
    -------
    pandas.DataFrame
        Columns as in :meth:`Hypercall.to_dict`; ``class`` and ``partition`` are
        categoricals.
    """
    import pandas as pd

    df = pd.DataFrame([c.to_dict() for c in (HYPERCALLS if calls is None else calls)])
    df = df.set_index("name")
    df["class"] = pd.Categorical(df["class"], categories=["simple", "rep"])
    df["partition"] = pd.Categorical(df["partition"], categories=[p.value for p in Partition])
    return df


def kvm_frame() -> pd.DataFrame:
    """KVM's own hypercalls as a DataFrame indexed by number."""
    import pandas as pd

    return pd.DataFrame([vars(k) for k in KVM_HYPERCALLS]).set_index("number")


# --- ready register values for the executor -------------------------------------------------


class HypercallRegisters(NamedTuple):
    """Register values for one Hyper-V hypercall: RCX = ``control``, then RDX and R8.

    Under the fast convention RDX and R8 hold the first and second 8 bytes of the input;
    under the memory convention they hold the input and output GPAs.
    """

    control: int
    rdx: int = 0
    r8: int = 0


def _as_call(call: Hypercall | str | int) -> Hypercall:
    return call if isinstance(call, Hypercall) else get(call)


def control_value(
    call: Hypercall | str | int,
    *,
    fast: bool = False,
    rep_count: int | None = None,
    rep_start: int = 0,
    variable_header_size: int = 0,
    nested: bool = False,
) -> int:
    """Build the input value (RCX) for a catalogue entry, checked against what the entry allows.

    Parameters
    ----------
    call
        A record, or a name or code for :func:`get`.
    fast
        Use the register convention; only for calls marked ``fast``.
    rep_count
        Elements of a rep call (default 1); must stay ``None`` or 0 for a simple call.
    rep_start
        First element to process.
    variable_header_size
        Variable header size in 8-byte units; only for calls with a variable header.
    nested
        Set the nested bit.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If a field does not fit the call or its bit range.
    """
    c = _as_call(call)
    if fast and not c.fast:
        raise ValueError(f"fast must be False for {c.name}: it is not marked as a fast call")
    if variable_header_size and not c.variable_header:
        raise ValueError(
            f"variable_header_size must be 0 for {c.name}: it has no variable header, "
            f"got {variable_header_size}"
        )
    if c.rep:
        count = 1 if rep_count is None else rep_count
        if count < 1:
            raise ValueError(
                f"rep_count must be in 1..{tlfs.REP_MAX} for the rep call {c.name}, got {count}"
            )
    else:
        count = 0 if rep_count is None else rep_count
        if count != 0 or rep_start != 0:
            raise ValueError(
                f"rep_count and rep_start must be 0 for the simple call {c.name}, "
                f"got {count} and {rep_start}"
            )
    return tlfs.encode_input(
        c.code,
        fast=fast,
        variable_header_size=variable_header_size,
        nested=nested,
        rep_count=count,
        rep_start=rep_start,
    )


def _u64(field: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 64:
        raise ValueError(f"{field} must be in 0..2**64-1, got {value!r}")
    return value


def fast_call(
    call: Hypercall | str | int, rdx: int = 0, r8: int = 0, *, nested: bool = False
) -> HypercallRegisters:
    """Registers for a call under the fast convention, its input already packed in RDX/R8.

    Parameters
    ----------
    call
        A record marked ``fast``, or a name or code for :func:`get`.
    rdx, r8
        Input bytes 0-7 and 8-15, little-endian.
    nested
        Set the nested bit.

    Returns
    -------
    HypercallRegisters

    Raises
    ------
    ValueError
        If the call may not be issued fast or a register value does not fit 64 bits.
    """
    return HypercallRegisters(
        control_value(call, fast=True, nested=nested), _u64("rdx", rdx), _u64("r8", r8)
    )


def memory_call(
    call: Hypercall | str | int,
    input_gpa: int = 0,
    output_gpa: int = 0,
    *,
    rep_count: int | None = None,
    rep_start: int = 0,
    variable_header_size: int = 0,
    nested: bool = False,
) -> HypercallRegisters:
    """Registers for a call under the memory convention.

    Parameters
    ----------
    call
        A record, or a name or code for :func:`get`.
    input_gpa, output_gpa
        Guest-physical addresses of the input and output pages (RDX, R8). User mode cannot
        learn real GPAs; the defaults of 0 give a call the hypervisor will reject after
        decoding it.
    rep_count, rep_start, variable_header_size, nested
        As for :func:`control_value`.

    Returns
    -------
    HypercallRegisters
    """
    control = control_value(
        call,
        rep_count=rep_count,
        rep_start=rep_start,
        variable_header_size=variable_header_size,
        nested=nested,
    )
    return HypercallRegisters(control, _u64("input_gpa", input_gpa), _u64("output_gpa", output_gpa))


def notify_long_spin_wait(spin_count: int) -> HypercallRegisters:
    """HvNotifyLongSpinWait as a fast call reporting ``spin_count`` spins.

    Parameters
    ----------
    spin_count
        The spin count, ``0..0xFFFFFFFF`` (a 4-byte field followed by 4 reserved bytes).

    Returns
    -------
    HypercallRegisters
        ``control`` = 0x10008, ``rdx`` = ``spin_count``, ``r8`` = 0.
    """
    if isinstance(spin_count, bool) or not 0 <= spin_count <= 0xFFFF_FFFF:
        raise ValueError(f"spin_count must be in 0..0xFFFFFFFF, got {spin_count!r}")
    return fast_call("HvNotifyLongSpinWait", spin_count)


def signal_event(connection_id: int, flag_number: int = 0) -> HypercallRegisters:
    """HvSignalEvent as a fast call.

    Parameters
    ----------
    connection_id
        The connection, ``0..0xFFFFFFFF`` (input bytes 0-3).
    flag_number
        Event flag relative to the port's base, ``0..0xFFFF`` (input bytes 4-5).

    Returns
    -------
    HypercallRegisters
    """
    if isinstance(connection_id, bool) or not 0 <= connection_id <= 0xFFFF_FFFF:
        raise ValueError(f"connection_id must be in 0..0xFFFFFFFF, got {connection_id!r}")
    if isinstance(flag_number, bool) or not 0 <= flag_number <= 0xFFFF:
        raise ValueError(f"flag_number must be in 0..0xFFFF, got {flag_number!r}")
    return fast_call("HvSignalEvent", connection_id | (flag_number << 32))


def switch_virtual_address_space(address_space: int) -> HypercallRegisters:
    """HvSwitchVirtualAddressSpace as a fast call; ``address_space`` is the new table root.

    The survey judges this call disruptive: do not issue it in a running guest's kernel
    context with an arbitrary value.
    """
    return fast_call("HvSwitchVirtualAddressSpace", _u64("address_space", address_space))
