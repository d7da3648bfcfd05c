"""What each hypervisor is called in CPUID and what it does with a user-mode hypercall.

The table is the single source for the executor's error messages, ``hvload info`` and the
catalogue. Every row names where the fact comes from (see
``shared/reference/platform-facts.md`` §1 in the project's reference folder).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

__all__ = [
    "SIGNATURES",
    "USER_MODE_HYPERCALL",
    "UserModeHypercall",
    "hypervisor_name",
    "native_instruction",
    "user_mode_hypercall",
]

#: CPUID 0x40000000 vendor signatures (EBX, ECX, EDX as 12 ASCII bytes) -> short name.
SIGNATURES: dict[str, str] = {
    "KVMKVMKVM\0\0\0": "KVM",
    "Microsoft Hv": "Hyper-V",
    "XenVMMXenVMM": "Xen",
    "VMwareVMware": "VMware",
    "VBoxVBoxVBox": "VirtualBox",
    "TCGTCGTCGTCG": "QEMU TCG",
    "ACRNACRNACRN": "ACRN",
    " lrpepyh  vr": "Parallels",
    "bhyve bhyve ": "bhyve",
}


def hypervisor_name(signature: str | None) -> str:
    """Return the short name for a CPUID hypervisor signature (``"none"`` without one)."""
    if not signature:
        return "none"
    return SIGNATURES.get(signature, f"unknown ({signature.strip(chr(0))!r})")


def native_instruction(vendor: str) -> str:
    """The hypercall instruction of a CPU vendor: ``vmmcall`` on AMD/Hygon, else ``vmcall``."""
    return "vmmcall" if vendor in ("AuthenticAMD", "HygonGenuine") else "vmcall"


@dataclass(frozen=True)
class UserModeHypercall:
    """What a CPL-3 hypercall does under one hypervisor.

    Attributes
    ----------
    hypervisor
        Short name as returned by :func:`hypervisor_name`.
    outcome
        ``"exit"`` (a real VM exit that returns to the caller) or ``"fault"``.
    signal
        The signal the process receives when ``outcome == "fault"``.
    rax
        The value the caller finds in RAX after an ``"exit"``.
    what_is_measured
        One sentence on what a latency sample of this call contains.
    source
        Where the fact was taken from.
    """

    hypervisor: str
    outcome: str
    signal: int | None
    rax: int | None
    what_is_measured: str
    source: str


USER_MODE_HYPERCALL: dict[str, UserModeHypercall] = {
    row.hypervisor: row
    for row in (
        UserModeHypercall(
            "KVM",
            "exit",
            None,
            -1,
            "one VM exit plus KVM's CPL check, which refuses the call with -KVM_EPERM "
            "(RAX = -1) before dispatching it; the call's own work is not measured",
            "linux arch/x86/kvm/x86.c, ____kvm_emulate_hypercall (if (cpl) ret = -KVM_EPERM)",
        ),
        UserModeHypercall(
            "KVM+Hyper-V",
            "fault",
            signal.SIGILL,
            None,
            "nothing: KVM injects #UD once the guest has enabled Hyper-V enlightenments",
            "linux arch/x86/kvm/hyperv.c, kvm_hv_hypercall",
        ),
        UserModeHypercall(
            "Hyper-V",
            "fault",
            signal.SIGILL,
            None,
            "nothing: Hyper-V raises #UD for hypercalls from CPL > 0",
            "Hyper-V TLFS, 'Legal Hypercall Environments'",
        ),
        UserModeHypercall(
            "Xen",
            "exit",
            None,
            -1,
            "one VM exit plus Xen's privilege check, which returns -EPERM (RAX = -1)",
            "xen/arch/x86/hvm/hypercall.c, hvm_hypercall",
        ),
        UserModeHypercall(
            "none",
            "fault",
            signal.SIGILL,
            None,
            "nothing: without a hypervisor vmcall/vmmcall raise #UD",
            "Intel SDM / AMD APM, VMCALL and VMMCALL",
        ),
    )
}

_WRONG_OPCODE = UserModeHypercall(
    "KVM",
    "fault",
    signal.SIGSEGV,
    None,
    "nothing: KVM does not pass the other vendor's opcode through from user mode; "
    "on the project's AMD machine vmcall ended in SIGSEGV",
    "measured on the project's AMD EPYC KVM guest; linux emulator_fix_hypercall",
)


def user_mode_hypercall(hypervisor: str, vendor: str, instruction: str) -> UserModeHypercall | None:
    """Return the expected behaviour of ``instruction`` from user mode, or None if unknown.

    Parameters
    ----------
    hypervisor
        Short hypervisor name (:func:`hypervisor_name`).
    vendor
        CPUID vendor string, e.g. ``"AuthenticAMD"``.
    instruction
        ``"vmcall"`` or ``"vmmcall"``.
    """
    if hypervisor == "KVM" and instruction != native_instruction(vendor):
        return _WRONG_OPCODE
    return USER_MODE_HYPERCALL.get(hypervisor)
