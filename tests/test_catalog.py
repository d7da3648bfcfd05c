"""The hypercall catalogue's TLFS facts against platform-facts.md §4-5, and its register helpers."""

from __future__ import annotations

import dataclasses
import re

import pytest
from catalog_transcription import CODES, TLFS, mismatches
from survey_text import CALL_CODES

from hvload.measure import hypervisors
from hvload.survey import _load, catalog, tlfs
from hvload.survey.catalog import Partition, ValueKind


def test_codes_classes_and_marks_match_platform_facts() -> None:
    got = {c.name: (c.code, c.call_class, c.variable_header, c.fast) for c in catalog.HYPERCALLS}
    assert got == CODES


def test_codes_match_platform_facts_text() -> None:
    # The paragraph of platform-facts.md §4 ships in tests/data, so this runs in any clone.
    text = " ".join(CALL_CODES.read_text(encoding="utf-8").split())
    listed = {
        name: (int(code, 16), rest)
        for name, code, rest in re.findall(r"(Hv\w+) (0x[0-9A-F]{4}) ([a-z, VH]+?)[;.]", text)
    }
    assert len(listed) == 26
    for call in catalog.HYPERCALLS:
        code, rest = listed[call.name]
        assert call.code == code
        marks = {m.strip() for m in rest.split(",")}
        assert call.call_class in marks
        assert call.variable_header == ("VH" in marks)
        assert call.fast == ("fast" in marks)


def test_rule_read_facts_match_the_transcription() -> None:
    assert mismatches(catalog.HYPERCALLS) == []
    assert set(TLFS) == set(CODES)
    edited = dataclasses.replace(catalog.get("HvVtlCall"), input_bytes=8)
    others = [c for c in catalog.HYPERCALLS if c.name != "HvVtlCall"]
    assert mismatches([*others, edited]) == [
        "HvVtlCall: catalogue (17, 'simple', False, False, 8, 0, 'unstated', '') != "
        "transcription (17, 'simple', False, False, 0, 0, 'unstated', '')"
    ]


def test_survey_spellings() -> None:
    renamed = {c.name: c.survey_name for c in catalog.HYPERCALLS if c.survey_name}
    assert renamed == {
        "HvFlushVirtualAddressList": "HvFlushVirtualAddressSpaceList",
        "HvFlushVirtualAddressListEx": "HvFlushVirtualAddressSpaceListEx",
        "HvFlushGuestPhysicalAddressList": "HvFlushGuestPhysicalAddressSpaceList",
    }
    for call in catalog.HYPERCALLS:
        assert catalog.get(call.table_name) is call
        assert catalog.get(call.name.upper()) is call
        assert catalog.get(call.code) is call
    assert catalog.get("HvCallNotifyLongSpinWait").code == 0x8
    with pytest.raises(KeyError):
        catalog.get("HvCallDoesNotExist")
    with pytest.raises(KeyError):
        catalog.get(0x4242)


def test_records_are_consistent() -> None:
    for call in catalog.HYPERCALLS:
        assert call.description and call.source.startswith("TLFS ")
        assert (call.input_element_bytes > 0 or call.output_element_bytes > 0) == call.rep
        # The fast convention carries at most 16 bytes of input and no output.
        if call.fast:
            assert call.input_bytes <= catalog.FAST_INPUT_MAX and call.output_bytes == 0
            assert not call.needs_pages
        assert len({p.name for p in call.parameters}) == len(call.parameters)
        assert all(p.what for p in call.parameters)
    nested = {c.name for c in catalog.HYPERCALLS if c.partition is Partition.NESTED}
    assert nested == {"HvFlushGuestPhysicalAddressSpace", "HvFlushGuestPhysicalAddressList"}
    assert catalog.get("HvAssertVirtualInterrupt").partition is Partition.OTHER
    assert catalog.get("HvTranslateVirtualAddress").partition is Partition.UNSTATED
    assert catalog.get("HvPostMessage").parameter("ConnectionId").kind is ValueKind.RUNTIME
    assert catalog.get("HvPostMessage").privilege == "PostMessages"
    assert catalog.get("HvVtlCall").parameters == ()
    with pytest.raises(KeyError, match="has no parameter 'Nope'"):
        catalog.get("HvVtlCall").parameter("Nope")


def test_which_calls_need_guest_physical_pages() -> None:
    without = {c.name for c in catalog.HYPERCALLS if not c.needs_pages}
    # No input and no output, or fast with input in RDX/R8 and no output.
    assert without == {
        "HvSwitchVirtualAddressSpace",
        "HvNotifyLongSpinWait",
        "HvVtlCall",
        "HvVtlReturn",
        "HvSignalEvent",
    }
    # The extended calls have no input but write their output to a page.
    assert catalog.get("HvExtCallQueryCapabilities").needs_pages


def test_malformed_fields_are_refused_with_the_allowed_values() -> None:
    with pytest.raises(ValueError, match="partition must be one of 'unstated'"):
        _load._enum(Partition, "partition", "root")
    with pytest.raises(ValueError, match="parameters must be one of 'constant', 'value'"):
        _load._parameters("X:guessed:what")
    assert _load._parameters("A:value:a: colon") == (
        catalog.Parameter("A", ValueKind.VALUE, "a: colon"),
    )


def test_frame() -> None:
    df = catalog.to_frame()
    assert len(df) == 26 and df.index.is_unique
    expected = {"code", "class", "rep", "variable_header", "fast", "partition", "needs_pages"}
    assert expected <= set(df.columns)
    # Facts only: no column holds a judgment of the survey.
    assert not {"effect", "knowledge", "scope", "basis", "verdict"} & set(df.columns)
    assert df.loc["HvPostMessage", "privilege"] == "PostMessages"
    assert (df["class"] == "rep").sum() == 7
    kvm = catalog.kvm_frame()
    assert kvm.loc[5, "name"] == "KVM_HC_KICK_CPU"


def test_kvm_numbers_match_platform_facts() -> None:
    got = {k.number: k.name.removeprefix("KVM_HC_") for k in catalog.KVM_HYPERCALLS}
    assert got == {
        1: "VAPIC_POLL_IRQ",
        2: "MMU_OP",
        3: "FEATURES",
        4: "PPC_MAP_MAGIC_PAGE",
        5: "KICK_CPU",
        9: "CLOCK_PAIRING",
        10: "SEND_IPI",
        11: "SCHED_YIELD",
        12: "MAP_GPA_RANGE",
    }
    assert catalog.KVM_ENOSYS == 1000 and catalog.KVM_EPERM == 1


def test_user_mode_table_is_the_hypervisors_one() -> None:
    assert catalog.USER_MODE_HYPERCALL is hypervisors.USER_MODE_HYPERCALL
    assert catalog.user_mode_hypercall("KVM", "AuthenticAMD", "vmmcall").rax == -1


def test_notify_long_spin_wait_registers() -> None:
    regs = catalog.notify_long_spin_wait(1000)
    assert regs == (0x0001_0008, 1000, 0)
    assert regs.control == tlfs.encode_input(0x8, fast=True)
    with pytest.raises(ValueError, match=re.escape("spin_count must be in 0..0xFFFFFFFF")):
        catalog.notify_long_spin_wait(1 << 32)


def test_signal_event_and_switch_registers() -> None:
    assert catalog.signal_event(0x1234, 3) == (0x0001_005D, (3 << 32) | 0x1234, 0)
    assert catalog.switch_virtual_address_space(0x1000) == (0x0001_0001, 0x1000, 0)
    with pytest.raises(ValueError, match="flag_number"):
        catalog.signal_event(1, 1 << 16)


def test_control_value_checks_against_record() -> None:
    assert catalog.control_value("HvFlushVirtualAddressList", rep_count=5, rep_start=2) == (
        0x0002_0005_0000_0003
    )
    assert catalog.control_value("HvGetVpRegisters") == 0x0001_0000_0050
    assert catalog.control_value("HvFlushVirtualAddressSpaceEx", variable_header_size=2) == (
        (2 << 17) | 0x13
    )
    with pytest.raises(ValueError, match="fast must be False"):
        catalog.control_value("HvPostMessage", fast=True)
    with pytest.raises(ValueError, match="variable_header_size must be 0"):
        catalog.control_value("HvPostMessage", variable_header_size=1)
    with pytest.raises(ValueError, match="rep_count and rep_start must be 0"):
        catalog.control_value("HvPostMessage", rep_count=1)
    with pytest.raises(ValueError, match=re.escape("rep_count must be in 1..4095")):
        catalog.control_value("HvGetVpRegisters", rep_count=0)
    with pytest.raises(ValueError, match=re.escape("rep_start must be in 0..4")):
        catalog.control_value("HvGetVpRegisters", rep_count=5, rep_start=5)


def test_memory_and_fast_call() -> None:
    regs = catalog.memory_call("HvExtCallQueryCapabilities", 0x2000, 0x3000)
    assert regs == (0x8001, 0x2000, 0x3000)
    assert catalog.fast_call(catalog.get(0x8), 7).control == 0x1_0008
    with pytest.raises(ValueError, match="rdx must be in"):
        catalog.fast_call("HvNotifyLongSpinWait", -1)
