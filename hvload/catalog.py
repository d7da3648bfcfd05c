"""The Hyper-V hypercall catalogue: the 26 calls of the thesis survey, as queryable data.

The records live in ``hvload/data/hyperv_hypercalls.csv`` (KVM's own calls in
``hvload/data/kvm_hypercalls.csv``); this module loads them into frozen
:class:`Hypercall` records at import and into a pandas DataFrame on request. Call codes,
classes and the fast/variable-header marks come from ``shared/reference/platform-facts.md``
§4; sizes and parameter names from the online TLFS reference pages; effects and parameter
knowledge from what the survey says about each call. The CSV header names the sources.

The records hold *facts* only. Whether a call suits repeated execution is decided by
:mod:`hvload.survey` from these facts and a framework's capabilities.

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
from typing import TYPE_CHECKING, NamedTuple

from . import tlfs
from .hypervisors import USER_MODE_HYPERCALL, UserModeHypercall, user_mode_hypercall

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HYPERCALLS",
    "KVM_ENOSYS",
    "KVM_EPERM",
    "KVM_HYPERCALLS",
    "USER_MODE_HYPERCALL",
    "Effect",
    "Hypercall",
    "HypercallRegisters",
    "Knowledge",
    "KvmHypercall",
    "Parameter",
    "Scope",
    "UserModeHypercall",
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


class Knowledge(str, enum.Enum):
    """Where the value of a parameter can come from, from least to most demanding."""

    #: The call takes no parameters at all (only used for a call's summary).
    NONE = "none"
    #: A constant or a self-referring value (e.g. ``HV_PARTITION_ID_SELF``) known in advance.
    KNOWN = "known"
    #: Any value of a documented range is accepted; nothing says which one does real work.
    RANGE = "range"
    #: Only known at run time; a hypercall monitor watching the guest could observe it.
    MONITOR = "monitor"
    #: Only known at run time, and nothing available to the caller reveals it.
    RUNTIME = "runtime"

    @property
    def rank(self) -> int:
        """Position in the order above (0 = least demanding)."""
        return list(Knowledge).index(self)


class Effect(str, enum.Enum):
    """What issuing a call again and again does to the system."""

    READ_ONLY = "read_only"
    IDEMPOTENT = "idempotent"
    CHANGES_STATE = "changes_state"
    DISRUPTS = "disrupts"
    #: The purpose is documented but the consequence of repeating the call is unclear.
    UNKNOWN = "unknown"
    #: The survey could not make out what the call is for.
    NOT_UNDERSTOOD = "not_understood"


class Scope(str, enum.Enum):
    """Which partitions may issue a call."""

    ANY = "any"
    ROOT = "root"
    NESTED = "nested"


class Parameter(NamedTuple):
    """One named input parameter and where its value can come from."""

    name: str
    knowledge: Knowledge


@dataclass(frozen=True)
class Hypercall:
    """One catalogue record.

    Attributes
    ----------
    name
        TLFS name.
    survey_name
        The survey's spelling where it differs from the TLFS, else ``None``.
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
    parameters
        The named input parameters with where their values come from.
    effect
        What repeating the call does.
    scope
        Which partitions may issue it.
    description
        One sentence on what the call does.
    basis
        What the effect and knowledge attributes were taken from.
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
    parameters: tuple[Parameter, ...]
    effect: Effect
    scope: Scope
    description: str
    basis: str

    @property
    def table_name(self) -> str:
        """The name as the survey's Table 7.1 prints it."""
        return self.survey_name or self.name

    @property
    def call_class(self) -> str:
        """``"rep"`` or ``"simple"``, as the TLFS classes the call."""
        return "rep" if self.rep else "simple"

    @property
    def knowledge(self) -> Knowledge:
        """The most demanding knowledge any parameter needs (``NONE`` without parameters)."""
        if not self.parameters:
            return Knowledge.NONE
        return max((p.knowledge for p in self.parameters), key=lambda k: k.rank)

    def needs(self, knowledge: Knowledge) -> tuple[str, ...]:
        """Names of the parameters whose values need ``knowledge``."""
        return tuple(p.name for p in self.parameters if p.knowledge is knowledge)

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
            "parameters": ";".join(f"{p.name}:{p.knowledge.value}" for p in self.parameters),
            "knowledge": self.knowledge.value,
            "effect": self.effect.value,
            "scope": self.scope.value,
            "description": self.description,
            "basis": self.basis,
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
    text = (resources.files("hvload") / "data" / filename).read_text(encoding="utf-8")
    # Comment lines are stripped before parsing so they may hold commas and quotes freely.
    body = "".join(line for line in io.StringIO(text) if not line.startswith("#"))
    yield from csv.DictReader(io.StringIO(body))


def _bool(field: str, text: str) -> bool:
    if text not in ("true", "false"):
        raise ValueError(f"catalogue field {field} must be 'true' or 'false', got {text!r}")
    return text == "true"


def _parameters(text: str) -> tuple[Parameter, ...]:
    if not text:
        return ()
    out = []
    for item in text.split(";"):
        name, _, knowledge = item.partition(":")
        out.append(Parameter(name, Knowledge(knowledge)))
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
            parameters=_parameters(row["parameters"]),
            effect=Effect(row["effect"]),
            scope=Scope(row["scope"]),
            description=row["description"],
            basis=row["basis"],
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
    """The catalogue as a DataFrame, one row per call, indexed by TLFS name.

    Parameters
    ----------
    calls
        Records to include; all of :data:`HYPERCALLS` by default.

    Returns
    -------
    pandas.DataFrame
        Columns as in :meth:`Hypercall.to_dict`; ``effect``, ``knowledge``, ``scope`` and
        ``class`` are categoricals.
    """
    import pandas as pd

    df = pd.DataFrame([c.to_dict() for c in (HYPERCALLS if calls is None else calls)])
    df = df.set_index("name")
    df["class"] = pd.Categorical(df["class"], categories=["simple", "rep"])
    df["effect"] = pd.Categorical(df["effect"], categories=[e.value for e in Effect])
    df["knowledge"] = pd.Categorical(
        df["knowledge"], categories=[k.value for k in Knowledge], ordered=True
    )
    df["scope"] = pd.Categorical(df["scope"], categories=[s.value for s in Scope])
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
