"""Bit-level encoding of Hyper-V hypercalls, after the Hypervisor Top-Level Functional Spec.

A Hyper-V hypercall takes a 64-bit *input value* in RCX and returns a 64-bit *result value*
in RAX. This module builds and parses both, names the status codes and holds the flag and
special-ID constants that the surveyed calls take. Every number comes from
``shared/reference/platform-facts.md`` §4, which cites the TLFS and Linux
``include/hyperv/hvgdk_mini.h``.

Input value layout (the one hvload follows)::

    bits  15:0   call code
    bit   16     fast (register) calling convention
    bits  26:17  variable header size, in 8-byte units
    bit   31     nested: address the L0 hypervisor from an L1 guest hypervisor
    bits  43:32  rep count
    bits  59:48  rep start index
    all other bits reserved, must be zero

Where the sources disagree: the TLFS v6.0b PDF gives the variable header size as bits 25:17
and puts the nested flag at bit 26. The online TLFS and Linux (``HV_HYPERCALL_VARHEAD_OFFSET``
17 with a 10-bit field, ``HV_HYPERCALL_NESTED`` bit 31) use 26:17 and bit 31. hvload follows
the online TLFS and Linux, because that is what running hypervisors and guests implement.

Result value layout: bits 15:0 status (an ``HV_STATUS`` code), bits 43:32 reps completed,
all other bits reserved.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "CALL_CODE_MAX",
    "HV_FLUSH_ALL_PROCESSORS",
    "HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES",
    "HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY",
    "HV_FLUSH_USE_EXTENDED_RANGE_FORMAT",
    "HV_PARTITION_ID_SELF",
    "HV_VP_INDEX_SELF",
    "REP_MAX",
    "STATUS_MAX",
    "SYNTHETIC_IPI_VECTOR_MAX",
    "SYNTHETIC_IPI_VECTOR_MIN",
    "VARIABLE_HEADER_MAX",
    "HvFlushFlags",
    "HvStatus",
    "HypercallInput",
    "HypercallResult",
    "decode_input",
    "decode_result",
    "encode_input",
    "encode_result",
    "status_name",
]

# Field positions and widths of the input value (online TLFS / Linux layout).
_CODE_SHIFT, _CODE_BITS = 0, 16
_FAST_BIT = 16
_VARHEAD_SHIFT, _VARHEAD_BITS = 17, 10
_NESTED_BIT = 31
_REP_COUNT_SHIFT, _REP_BITS = 32, 12
_REP_START_SHIFT = 48

# Field positions of the result value.
_STATUS_SHIFT, _STATUS_BITS = 0, 16
_REPS_DONE_SHIFT = 32

_U64_MAX = (1 << 64) - 1

#: Largest call code (bits 15:0).
CALL_CODE_MAX = (1 << _CODE_BITS) - 1
#: Largest variable header size in 8-byte units (bits 26:17).
VARIABLE_HEADER_MAX = (1 << _VARHEAD_BITS) - 1
#: Largest rep count, rep start index and reps-completed value (12-bit fields).
REP_MAX = (1 << _REP_BITS) - 1
#: Largest status value (bits 15:0 of the result).
STATUS_MAX = (1 << _STATUS_BITS) - 1


def _mask(shift: int, bits: int) -> int:
    return ((1 << bits) - 1) << shift


_INPUT_DEFINED = (
    _mask(_CODE_SHIFT, _CODE_BITS)
    | (1 << _FAST_BIT)
    | _mask(_VARHEAD_SHIFT, _VARHEAD_BITS)
    | (1 << _NESTED_BIT)
    | _mask(_REP_COUNT_SHIFT, _REP_BITS)
    | _mask(_REP_START_SHIFT, _REP_BITS)
)
_INPUT_RESERVED = _U64_MAX & ~_INPUT_DEFINED
_RESULT_DEFINED = _mask(_STATUS_SHIFT, _STATUS_BITS) | _mask(_REPS_DONE_SHIFT, _REP_BITS)
_RESULT_RESERVED = _U64_MAX & ~_RESULT_DEFINED


class HvFlushFlags(enum.IntFlag):
    """Flags of the virtual-address flush calls (platform-facts.md §4, from the TLFS)."""

    ALL_PROCESSORS = 0x1
    ALL_VIRTUAL_ADDRESS_SPACES = 0x2
    NON_GLOBAL_MAPPINGS_ONLY = 0x4
    USE_EXTENDED_RANGE_FORMAT = 0x8


HV_FLUSH_ALL_PROCESSORS = int(HvFlushFlags.ALL_PROCESSORS)
HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES = int(HvFlushFlags.ALL_VIRTUAL_ADDRESS_SPACES)
HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY = int(HvFlushFlags.NON_GLOBAL_MAPPINGS_ONLY)
HV_FLUSH_USE_EXTENDED_RANGE_FORMAT = int(HvFlushFlags.USE_EXTENDED_RANGE_FORMAT)

#: Partition ID meaning "the caller's own partition": (u64)-1.
HV_PARTITION_ID_SELF = _U64_MAX
#: Virtual processor index meaning "the calling VP": (u32)-2.
HV_VP_INDEX_SELF = 0xFFFF_FFFE
#: Lowest and highest vector a synthetic cluster IPI may carry.
SYNTHETIC_IPI_VECTOR_MIN = 0x10
SYNTHETIC_IPI_VECTOR_MAX = 0xFF


class HvStatus(enum.IntEnum):
    """``HV_STATUS`` codes, as listed in Linux ``include/hyperv/hvgdk_mini.h``.

    The member name is the C name without its ``HV_STATUS_`` prefix; :func:`status_name`
    gives the full C name of any 16-bit value.
    """

    SUCCESS = 0x0
    INVALID_HYPERCALL_CODE = 0x2
    INVALID_HYPERCALL_INPUT = 0x3
    INVALID_ALIGNMENT = 0x4
    INVALID_PARAMETER = 0x5
    ACCESS_DENIED = 0x6
    INVALID_PARTITION_STATE = 0x7
    OPERATION_DENIED = 0x8
    UNKNOWN_PROPERTY = 0x9
    PROPERTY_VALUE_OUT_OF_RANGE = 0xA
    INSUFFICIENT_MEMORY = 0xB
    PARTITION_TOO_DEEP = 0xC
    INVALID_PARTITION_ID = 0xD
    INVALID_VP_INDEX = 0xE
    NOT_FOUND = 0x10
    INVALID_PORT_ID = 0x11
    INVALID_CONNECTION_ID = 0x12
    INSUFFICIENT_BUFFERS = 0x13
    NOT_ACKNOWLEDGED = 0x14
    INVALID_VP_STATE = 0x15
    ACKNOWLEDGED = 0x16
    INVALID_SAVE_RESTORE_STATE = 0x17
    INVALID_SYNIC_STATE = 0x18
    OBJECT_IN_USE = 0x19
    INVALID_PROXIMITY_DOMAIN_INFO = 0x1A
    NO_DATA = 0x1B
    INACTIVE = 0x1C
    NO_RESOURCES = 0x1D
    FEATURE_UNAVAILABLE = 0x1E
    PARTIAL_PACKET = 0x1F
    PROCESSOR_FEATURE_NOT_SUPPORTED = 0x20
    PROCESSOR_CACHE_LINE_FLUSH_SIZE_INCOMPATIBLE = 0x30
    INSUFFICIENT_BUFFER = 0x33
    INCOMPATIBLE_PROCESSOR = 0x37
    INSUFFICIENT_DEVICE_DOMAINS = 0x38
    CPUID_FEATURE_VALIDATION_ERROR = 0x3C
    CPUID_XSAVE_FEATURE_VALIDATION_ERROR = 0x3D
    PROCESSOR_STARTUP_TIMEOUT = 0x3E
    SMX_ENABLED = 0x3F
    INVALID_LP_INDEX = 0x41
    INVALID_REGISTER_VALUE = 0x50
    NX_NOT_DETECTED = 0x55
    INVALID_DEVICE_ID = 0x57
    INVALID_DEVICE_STATE = 0x58
    PENDING_PAGE_REQUESTS = 0x59
    PAGE_REQUEST_INVALID = 0x60
    OPERATION_FAILED = 0x71
    NOT_ALLOWED_WITH_NESTED_VIRT_ACTIVE = 0x72
    TIME_OUT = 0x78
    CALL_PENDING = 0x79
    VTL_ALREADY_ENABLED = 0x86


def status_name(status: int) -> str:
    """Return the C name of an ``HV_STATUS`` value, e.g. ``"HV_STATUS_ACCESS_DENIED"``.

    Parameters
    ----------
    status
        A 16-bit status, as found in bits 15:0 of a result value.

    Returns
    -------
    str
        ``"HV_STATUS_<NAME>"`` for a listed code, otherwise ``"HV_STATUS_0x<hex>"`` so that
        an unlisted code still prints as something recognisable.

    Raises
    ------
    ValueError
        If ``status`` is outside ``0..0xFFFF``.
    """
    _check("status", status, 0, STATUS_MAX)
    try:
        return f"HV_STATUS_{HvStatus(status).name}"
    except ValueError:
        return f"HV_STATUS_0x{status:04X}"


def _check(field: str, value: int, lo: int, hi: int) -> None:
    # bool is an int subclass; a stray True for a count would otherwise encode silently.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field} must be an integer in {lo}..{hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{field} must be in {lo}..{hi} (0x{lo:X}..0x{hi:X}), got {value}")


def _check_reps(rep_count: int, rep_start: int) -> None:
    _check("rep_count", rep_count, 0, REP_MAX)
    _check("rep_start", rep_start, 0, REP_MAX)
    if rep_count == 0 and rep_start != 0:
        raise ValueError(
            f"rep_start must be 0 for a simple call (rep_count 0), got {rep_start}; "
            f"for a rep call rep_start must be in 0..rep_count-1"
        )
    if rep_count > 0 and rep_start >= rep_count:
        raise ValueError(
            f"rep_start must be in 0..{rep_count - 1} (below rep_count {rep_count}), "
            f"got {rep_start}"
        )


@dataclass(frozen=True)
class HypercallInput:
    """The fields of a hypercall input value.

    Attributes
    ----------
    code
        Call code, ``0..0xFFFF``.
    fast
        True for the register convention (input in RDX/R8), False for the memory
        convention (RDX/R8 hold the input and output GPAs).
    variable_header_size
        Size of the variable part of the input header in 8-byte units, ``0..1023``.
    nested
        True to direct the call at the L0 hypervisor when running under a nested one.
    rep_count
        Number of list elements of a rep call, ``0..4095``; 0 means a simple call.
    rep_start
        Index of the first element to process, below ``rep_count``; 0 for a simple call.
    """

    code: int
    fast: bool = False
    variable_header_size: int = 0
    nested: bool = False
    rep_count: int = 0
    rep_start: int = 0

    def __post_init__(self) -> None:
        _check("code", self.code, 0, CALL_CODE_MAX)
        _check("variable_header_size", self.variable_header_size, 0, VARIABLE_HEADER_MAX)
        _check_reps(self.rep_count, self.rep_start)
        if not isinstance(self.fast, bool):
            raise ValueError(f"fast must be a bool (0..1), got {self.fast!r}")
        if not isinstance(self.nested, bool):
            raise ValueError(f"nested must be a bool (0..1), got {self.nested!r}")

    @property
    def rep(self) -> bool:
        """True when the value describes a rep call (``rep_count > 0``)."""
        return self.rep_count > 0

    @property
    def value(self) -> int:
        """The 64-bit input value for RCX."""
        return (
            (self.code << _CODE_SHIFT)
            | (int(self.fast) << _FAST_BIT)
            | (self.variable_header_size << _VARHEAD_SHIFT)
            | (int(self.nested) << _NESTED_BIT)
            | (self.rep_count << _REP_COUNT_SHIFT)
            | (self.rep_start << _REP_START_SHIFT)
        )


def encode_input(
    code: int,
    *,
    fast: bool = False,
    variable_header_size: int = 0,
    nested: bool = False,
    rep_count: int = 0,
    rep_start: int = 0,
) -> int:
    """Build a 64-bit hypercall input value.

    Parameters
    ----------
    code
        Call code, ``0..0xFFFF``.
    fast
        Use the register (fast) convention.
    variable_header_size
        Variable header size in 8-byte units, ``0..1023``.
    nested
        Set the nested bit (bit 31).
    rep_count
        Element count of a rep call, ``0..4095``; leave 0 for a simple call.
    rep_start
        First element to process; must be below ``rep_count`` (0 for a simple call).

    Returns
    -------
    int
        The value for RCX; reserved bits are zero.

    Raises
    ------
    ValueError
        Naming the field and its allowed range when a field is out of range.

    Examples
    --------
    >>> hex(encode_input(0x0003, rep_count=5, rep_start=2))
    '0x2000500000003'
    """
    return HypercallInput(code, fast, variable_header_size, nested, rep_count, rep_start).value


def decode_input(value: int) -> HypercallInput:
    """Split a 64-bit input value into its fields.

    Parameters
    ----------
    value
        The value as it would be placed in RCX, ``0..2**64-1``.

    Returns
    -------
    HypercallInput
        The fields; ``decode_input(encode_input(...))`` gives back what was encoded.

    Raises
    ------
    ValueError
        If the value is not a 64-bit unsigned integer, sets reserved bits, or has a rep
        start index that is not below its rep count.
    """
    _check("input value", value, 0, _U64_MAX)
    if value & _INPUT_RESERVED:
        raise ValueError(
            f"reserved bits of the input value must be zero (only bits 0-16, 17-26, 31, "
            f"32-43, 48-59 are defined), got 0x{value:016X}"
        )
    return HypercallInput(
        code=(value >> _CODE_SHIFT) & CALL_CODE_MAX,
        fast=bool((value >> _FAST_BIT) & 1),
        variable_header_size=(value >> _VARHEAD_SHIFT) & VARIABLE_HEADER_MAX,
        nested=bool((value >> _NESTED_BIT) & 1),
        rep_count=(value >> _REP_COUNT_SHIFT) & REP_MAX,
        rep_start=(value >> _REP_START_SHIFT) & REP_MAX,
    )


@dataclass(frozen=True)
class HypercallResult:
    """The fields of a hypercall result value.

    Attributes
    ----------
    status
        ``HV_STATUS`` code, ``0..0xFFFF``.
    reps_completed
        Number of rep elements processed, ``0..4095``.
    """

    status: int
    reps_completed: int = 0

    def __post_init__(self) -> None:
        _check("status", self.status, 0, STATUS_MAX)
        _check("reps_completed", self.reps_completed, 0, REP_MAX)

    @property
    def value(self) -> int:
        """The 64-bit result value as found in RAX."""
        return (self.status << _STATUS_SHIFT) | (self.reps_completed << _REPS_DONE_SHIFT)

    @property
    def status_name(self) -> str:
        """C name of :attr:`status` (see :func:`status_name`)."""
        return status_name(self.status)

    @property
    def ok(self) -> bool:
        """True for ``HV_STATUS_SUCCESS``."""
        return self.status == HvStatus.SUCCESS


def encode_result(status: int, reps_completed: int = 0) -> int:
    """Build a 64-bit result value (as a hypervisor would return it).

    Parameters
    ----------
    status
        ``HV_STATUS`` code, ``0..0xFFFF``.
    reps_completed
        Rep elements processed, ``0..4095``.

    Returns
    -------
    int
        The value for RAX.

    Raises
    ------
    ValueError
        Naming the field and its range when a field is out of range.
    """
    return HypercallResult(status, reps_completed).value


def decode_result(value: int, *, strict: bool = True) -> HypercallResult:
    """Split a 64-bit result value into status and reps completed.

    Parameters
    ----------
    value
        RAX after the call, as an unsigned 64-bit integer.
    strict
        Reject values with reserved bits set. Pass False to read only the defined fields,
        e.g. when the value did not come from Hyper-V at all (plain KVM answers a user-mode
        hypercall with RAX = -1, see :mod:`hvload.measure.hypervisors`).

    Returns
    -------
    HypercallResult

    Raises
    ------
    ValueError
        If the value is not a 64-bit unsigned integer, or (``strict``) sets reserved bits.
    """
    _check("result value", value, 0, _U64_MAX)
    if strict and value & _RESULT_RESERVED:
        raise ValueError(
            f"reserved bits of the result value must be zero (only bits 0-15 and 32-43 are "
            f"defined), got 0x{value:016X}"
        )
    return HypercallResult(
        status=(value >> _STATUS_SHIFT) & STATUS_MAX,
        reps_completed=(value >> _REPS_DONE_SHIFT) & REP_MAX,
    )
