"""Ready register values for the executor's Hyper-V convention, from a catalogue record.

RCX holds the control (input) value, built by :func:`control_value` and checked against
what the record allows; RDX and R8 hold the input (fast convention) or the input and output
GPAs (memory convention).
"""

from __future__ import annotations

from typing import NamedTuple

from . import tlfs
from ._load import get
from ._records import Hypercall

__all__ = [
    "HypercallRegisters",
    "control_value",
    "fast_call",
    "memory_call",
    "notify_long_spin_wait",
    "signal_event",
    "switch_virtual_address_space",
]


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
