"""Bit layout of the Hyper-V hypercall input and result values (platform-facts.md §4)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hvload.survey import tlfs

U64 = (1 << 64) - 1


@st.composite
def input_fields(draw: st.DrawFn) -> dict[str, object]:
    rep_count = draw(st.integers(0, tlfs.REP_MAX))
    rep_start = draw(st.integers(0, rep_count - 1)) if rep_count else 0
    return {
        "code": draw(st.integers(0, tlfs.CALL_CODE_MAX)),
        "fast": draw(st.booleans()),
        "variable_header_size": draw(st.integers(0, tlfs.VARIABLE_HEADER_MAX)),
        "nested": draw(st.booleans()),
        "rep_count": rep_count,
        "rep_start": rep_start,
    }


@given(input_fields())
def test_input_round_trip(fields: dict[str, object]) -> None:
    value = tlfs.encode_input(**fields)  # type: ignore[arg-type]
    assert 0 <= value <= U64
    assert value & 0xF000_F000_7800_0000 == 0  # bits 27-30, 44-47, 60-63 stay reserved
    decoded = tlfs.decode_input(value)
    assert decoded == tlfs.HypercallInput(**fields)  # type: ignore[arg-type]
    assert tlfs.encode_input(**vars(decoded)) == value


@given(st.integers(0, tlfs.STATUS_MAX), st.integers(0, tlfs.REP_MAX))
def test_result_round_trip(status: int, reps: int) -> None:
    value = tlfs.encode_result(status, reps)
    assert value == status | (reps << 32)
    assert tlfs.decode_result(value) == tlfs.HypercallResult(status, reps)


def test_examples_match_bit_layout() -> None:
    assert tlfs.encode_input(0x0003, rep_count=5, rep_start=2) == 0x0002_0005_0000_0003
    assert tlfs.encode_input(0x0008, fast=True) == 0x0001_0008
    assert tlfs.encode_input(0x0013, variable_header_size=1) == (1 << 17) | 0x13
    assert (
        tlfs.encode_input(0x0013, variable_header_size=tlfs.VARIABLE_HEADER_MAX)
        == (0x3FF << 17) | 0x13
    )
    assert tlfs.encode_input(0x0002, nested=True) == (1 << 31) | 0x2
    assert tlfs.encode_result(tlfs.HvStatus.INVALID_HYPERCALL_CODE, 3) == 0x3_0000_0002


_RANGES = {
    "code": (0, tlfs.CALL_CODE_MAX),
    "variable_header_size": (0, tlfs.VARIABLE_HEADER_MAX),
    "rep_count": (0, tlfs.REP_MAX),
}


@given(st.sampled_from(sorted(_RANGES)), st.data())
def test_out_of_range_input_field_is_rejected(field: str, data: st.DataObject) -> None:
    lo, hi = _RANGES[field]
    value = data.draw(st.integers(max_value=lo - 1) | st.integers(min_value=hi + 1))
    kwargs: dict[str, int] = {"code": 1, field: value}
    with pytest.raises(ValueError, match=rf"^{field} must be in {lo}\.\.{hi}"):
        tlfs.encode_input(**kwargs)  # type: ignore[arg-type]


@given(st.integers(0, tlfs.REP_MAX), st.integers(0, 1 << 20))
def test_rep_start_not_below_rep_count_is_rejected(count: int, extra: int) -> None:
    start = count + extra
    if count == 0 and start == 0:
        start = 1
    with pytest.raises(ValueError, match=r"^rep_start must be"):
        tlfs.encode_input(0x3, rep_count=count, rep_start=start)


@given(st.integers(max_value=-1))
def test_negative_rep_start_is_rejected(start: int) -> None:
    with pytest.raises(ValueError, match=r"^rep_start must be in 0\.\.4095"):
        tlfs.encode_input(0x3, rep_count=5, rep_start=start)


@given(
    st.sampled_from(["status", "reps_completed"]),
    st.one_of(st.integers(max_value=-1), st.integers(min_value=1 << 16)),
)
def test_out_of_range_result_field_is_rejected(field: str, value: int) -> None:
    hi = tlfs.STATUS_MAX if field == "status" else tlfs.REP_MAX
    kwargs = {"status": 0, "reps_completed": 0, field: value}
    with pytest.raises(ValueError, match=rf"^{field} must be in 0\.\.{hi}"):
        tlfs.encode_result(**kwargs)


@pytest.mark.parametrize("field", ["fast", "nested"])
def test_flags_must_be_bool(field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} must be a bool"):
        tlfs.encode_input(1, **{field: 2})  # type: ignore[arg-type]


@given(st.integers(0, U64))
def test_decode_input_accepts_exactly_valid_values(value: int) -> None:
    reserved = value & 0xF000_F000_7800_0000
    count, start = (value >> 32) & 0xFFF, (value >> 48) & 0xFFF
    valid = not reserved and (start < count or start == count == 0)
    if valid:
        assert tlfs.decode_input(value).value == value
    else:
        with pytest.raises(ValueError):
            tlfs.decode_input(value)


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=1 << 64)))
def test_decode_rejects_values_outside_64_bits(value: int) -> None:
    with pytest.raises(ValueError, match="input value must be"):
        tlfs.decode_input(value)
    with pytest.raises(ValueError, match="result value must be"):
        tlfs.decode_result(value)


def test_decode_result_strictness() -> None:
    minus_one = U64  # plain KVM's answer to a user-mode hypercall
    with pytest.raises(ValueError, match="reserved bits"):
        tlfs.decode_result(minus_one)
    loose = tlfs.decode_result(minus_one, strict=False)
    assert loose == tlfs.HypercallResult(0xFFFF, 0xFFF)


def test_status_names_cover_platform_facts() -> None:
    facts = {
        0x0: "SUCCESS",
        0x2: "INVALID_HYPERCALL_CODE",
        0x12: "INVALID_CONNECTION_ID",
        0x33: "INSUFFICIENT_BUFFER",
        0x72: "NOT_ALLOWED_WITH_NESTED_VIRT_ACTIVE",
        0x86: "VTL_ALREADY_ENABLED",
    }
    for code, name in facts.items():
        assert tlfs.status_name(code) == f"HV_STATUS_{name}"
    assert len(tlfs.HvStatus) == 51
    assert tlfs.status_name(0x1) == "HV_STATUS_0x0001"
    assert tlfs.decode_result(0x6).status_name == "HV_STATUS_ACCESS_DENIED"
    assert tlfs.decode_result(0).ok
    with pytest.raises(ValueError, match=re.escape("status must be in 0..65535")):
        tlfs.status_name(0x10000)


def test_constants() -> None:
    assert tlfs.HV_FLUSH_ALL_PROCESSORS == 0x1
    assert tlfs.HV_FLUSH_ALL_VIRTUAL_ADDRESS_SPACES == 0x2
    assert tlfs.HV_FLUSH_NON_GLOBAL_MAPPINGS_ONLY == 0x4
    assert tlfs.HV_FLUSH_USE_EXTENDED_RANGE_FORMAT == 0x8
    assert tlfs.HV_PARTITION_ID_SELF == U64
    assert tlfs.HV_VP_INDEX_SELF == 0xFFFF_FFFE
    assert (tlfs.SYNTHETIC_IPI_VECTOR_MIN, tlfs.SYNTHETIC_IPI_VECTOR_MAX) == (0x10, 0xFF)
