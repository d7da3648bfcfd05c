"""The catalogue's rule-read TLFS facts, transcribed a second time, for the tests to pin.

Every column of ``hvload/data/hyperv_hypercalls.csv`` that the survey's rules read is written
down here once more, by hand, from its source: call code, class, variable-header and fast
marks from platform-facts.md §4 (shipped as ``tests/data/platform_facts_call_codes.txt`` and
parsed by ``test_catalog``); fixed input and output sizes, the partition a call addresses and
the kind of each parameter's value from the TLFS page the catalogue row names. A change to the
catalogue that could move a verdict therefore fails :func:`mismatches` until this transcription
is changed with it, deliberately (``test_survey`` checks that every such change is caught).
"""

from __future__ import annotations

from collections.abc import Iterable

from hvload.survey.catalog import Hypercall

#: platform-facts.md §4: name -> (code, class, variable header, fast).
CODES = {
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

#: TLFS pages: name -> (fixed input bytes, fixed output bytes, partition, "Param=kind ...").
TLFS = {
    "HvSwitchVirtualAddressSpace": (8, 0, "unstated", "AddressSpace=value"),
    "HvFlushVirtualAddressSpace": (
        24,
        0,
        "unstated",
        "AddressSpace=constant Flags=constant ProcessorMask=constant",
    ),
    "HvFlushVirtualAddressList": (
        24,
        0,
        "unstated",
        "AddressSpace=constant Flags=constant ProcessorMask=constant GvaRange=value",
    ),
    "HvNotifyLongSpinWait": (8, 0, "unstated", "SpinCount=value"),
    "HvSendSyntheticClusterIpi": (
        16,
        0,
        "unstated",
        "Vector=value TargetVtl=constant ProcessorMask=value",
    ),
    "HvModifyVtlProtectionMask": (
        16,
        0,
        "unstated",
        "TargetPartitionId=constant MapFlags=value TargetVtl=constant GpaPage=value",
    ),
    "HvEnablePartitionVtl": (
        16,
        0,
        "unstated",
        "TargetPartitionId=constant TargetVtl=constant Flags=constant",
    ),
    "HvEnableVpVtl": (
        240,
        0,
        "unstated",
        "TargetPartitionId=constant VpIndex=value TargetVtl=constant VpVtlContext=value",
    ),
    "HvVtlCall": (0, 0, "unstated", ""),
    "HvVtlReturn": (0, 0, "unstated", ""),
    "HvFlushVirtualAddressSpaceEx": (
        16,
        0,
        "unstated",
        "AddressSpace=constant Flags=constant ProcessorSet=value",
    ),
    "HvFlushVirtualAddressListEx": (
        16,
        0,
        "unstated",
        "AddressSpace=constant Flags=constant ProcessorSet=value GvaRange=value",
    ),
    "HvSendSyntheticClusterIpiEx": (
        8,
        0,
        "unstated",
        "Vector=value TargetVtl=constant ProcessorSet=value",
    ),
    "HvGetVpRegisters": (
        16,
        0,
        "self_or_child",
        "PartitionId=constant VpIndex=constant InputVtl=constant RegisterName=constant",
    ),
    "HvSetVpRegisters": (
        16,
        0,
        "self_or_child",
        "PartitionId=constant VpIndex=constant "
        "InputVtl=constant RegisterName=constant RegisterValue=value",
    ),
    "HvTranslateVirtualAddress": (
        32,
        16,
        "unstated",
        "PartitionId=constant VpIndex=constant ControlFlags=constant GvaPage=value",
    ),
    "HvPostMessage": (
        256,
        0,
        "unstated",
        "ConnectionId=runtime MessageType=value PayloadSize=value Message=value",
    ),
    "HvSignalEvent": (8, 0, "unstated", "ConnectionId=runtime FlagNumber=value"),
    "HvRetargetDeviceInterrupt": (
        56,
        0,
        "unstated",
        "PartitionId=constant DeviceId=runtime InterruptEntry=runtime InterruptTarget=value",
    ),
    "HvAssertVirtualInterrupt": (
        32,
        0,
        "other",
        "TargetPartition=runtime InterruptControl=constant "
        "DestinationAddress=value RequestedVector=value TargetVtl=constant",
    ),
    "HvStartVirtualProcessor": (
        240,
        0,
        "unstated",
        "PartitionId=constant VpIndex=value TargetVtl=constant VpContext=value",
    ),
    "HvGetVpIndexFromApicId": (
        16,
        0,
        "unstated",
        "PartitionId=constant TargetVtl=constant ApicId=value",
    ),
    "HvFlushGuestPhysicalAddressSpace": (16, 0, "nested", "AddressSpace=runtime Flags=constant"),
    "HvFlushGuestPhysicalAddressList": (
        16,
        0,
        "nested",
        "AddressSpace=runtime Flags=constant GpaRange=value",
    ),
    "HvExtCallQueryCapabilities": (0, 8, "unstated", ""),
    "HvExtCallGetBootZeroedMemory": (0, 4088, "unstated", ""),
}


def facts(call: Hypercall) -> tuple[object, ...]:
    """The rule-read facts of one record, in the shape of :data:`CODES` + :data:`TLFS`."""
    params = " ".join(f"{p.name}={p.kind.value}" for p in call.parameters)
    return (
        call.code,
        call.call_class,
        call.variable_header,
        call.fast,
        call.input_bytes,
        call.output_bytes,
        call.partition.value,
        params,
    )


def mismatches(calls: Iterable[Hypercall]) -> list[str]:
    """Records whose rule-read facts differ from this transcription (none: [])."""
    expected = {name: CODES[name] + TLFS[name] for name in CODES}
    got = {c.name: facts(c) for c in calls}
    problems = [f"{name}: missing" for name in expected if name not in got]
    problems += [f"{name}: not transcribed" for name in got if name not in expected]
    problems += [
        f"{name}: catalogue {got[name]} != transcription {expected[name]}"
        for name in expected
        if name in got and got[name] != expected[name]
    ]
    return problems
