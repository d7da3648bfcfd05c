"""The hypercall catalogue against platform-facts.md §4-5, and its register helpers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hvload import catalog, hypervisors, tlfs
from hvload.catalog import Effect, Knowledge, Scope

FACTS = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "platform-facts.md"

# platform-facts.md §4, transcribed: code, class, variable header, fast.
EXPECTED = {
    "HvSwitchVirtualAddressSpace": (0x0001, "simple", False, True),
    "HvFlushVirtualAddressSpace": (0x0002, "simple", False, False),
    "HvFlushVirtualAddressList": (0x0003, "rep", False, False),
    "HvNotifyLongSpinWait": (0x0008, "simple", False, True),
    "HvSendSyntheticClusterIpi": (0x000B, "simple", False, False),
    "HvModifyVtlProtectionMask": (0x000C, "rep", False, False),
    "HvEnablePartitionVtl": (0x000D, "simple", False, False),
    "HvEnableVpVtl": (0x000F, "simple", False, False),
    "HvVtlCall": (0x0011, "simple", False, False),
    "HvVtlReturn": (0x0012, "simple", False, False),
    "HvFlushVirtualAddressSpaceEx": (0x0013, "simple", True, False),
    "HvFlushVirtualAddressListEx": (0x0014, "rep", True, False),
    "HvSendSyntheticClusterIpiEx": (0x0015, "simple", True, False),
    "HvGetVpRegisters": (0x0050, "rep", False, False),
    "HvSetVpRegisters": (0x0051, "rep", False, False),
    "HvTranslateVirtualAddress": (0x0052, "simple", False, False),
    "HvPostMessage": (0x005C, "simple", False, False),
    "HvSignalEvent": (0x005D, "simple", False, True),
    "HvRetargetDeviceInterrupt": (0x007E, "simple", True, False),
    "HvAssertVirtualInterrupt": (0x0094, "simple", False, False),
    "HvStartVirtualProcessor": (0x0099, "simple", False, False),
    "HvGetVpIndexFromApicId": (0x009A, "rep", False, False),
    "HvFlushGuestPhysicalAddressSpace": (0x00AF, "simple", False, False),
    "HvFlushGuestPhysicalAddressList": (0x00B0, "rep", False, False),
    "HvExtCallQueryCapabilities": (0x8001, "simple", False, False),
    "HvExtCallGetBootZeroedMemory": (0x8002, "simple", False, False),
}


def test_codes_classes_and_marks_match_platform_facts() -> None:
    got = {c.name: (c.code, c.call_class, c.variable_header, c.fast) for c in catalog.HYPERCALLS}
    assert got == EXPECTED


@pytest.mark.skipif(not FACTS.exists(), reason="shared/reference not present")
def test_codes_match_platform_facts_text() -> None:
    text = " ".join(FACTS.read_text(encoding="utf-8").split())
    section = text[text.index("Call codes of the 26") : text.index("The survey's table spells")]
    listed = {
        name: (int(code, 16), rest)
        for name, code, rest in re.findall(r"(Hv\w+) (0x[0-9A-F]{4}) ([a-z, VH]+?)[;.]", section)
    }
    assert len(listed) == 26
    for call in catalog.HYPERCALLS:
        code, rest = listed[call.name]
        assert call.code == code
        marks = {m.strip() for m in rest.split(",")}
        assert call.call_class in marks
        assert call.variable_header == ("VH" in marks)
        assert call.fast == ("fast" in marks)


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
        assert call.description and call.basis
        assert (call.input_element_bytes > 0 or call.output_element_bytes > 0) == call.rep
        # The fast convention carries at most 16 bytes of input and no output.
        if call.fast:
            assert call.input_bytes <= 16 and call.output_bytes == 0
        assert len({p.name for p in call.parameters}) == len(call.parameters)
    assert catalog.get("HvFlushGuestPhysicalAddressSpace").scope is Scope.NESTED
    assert catalog.get("HvAssertVirtualInterrupt").scope is Scope.ROOT
    assert catalog.get("HvPostMessage").needs(Knowledge.MONITOR) == ("ConnectionId",)
    assert catalog.get("HvVtlCall").knowledge is Knowledge.NONE
    assert catalog.get("HvRetargetDeviceInterrupt").effect is Effect.NOT_UNDERSTOOD


def test_frame() -> None:
    df = catalog.to_frame()
    assert len(df) == 26 and df.index.is_unique
    assert {"code", "class", "rep", "variable_header", "fast", "effect", "knowledge"} <= set(
        df.columns
    )
    assert df.loc["HvPostMessage", "knowledge"] == "monitor"
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
