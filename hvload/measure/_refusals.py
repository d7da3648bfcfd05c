"""Why a trap was refused: the fork probe's explanation of the signal that killed its child."""

from __future__ import annotations

import signal as _signal
from typing import TYPE_CHECKING

from . import cpu
from .hypervisors import native_instruction, user_mode_hypercall

if TYPE_CHECKING:
    from .executor import Trap

__all__ = ["explain_refusal"]


def _signal_name(signum: int) -> str:
    try:
        return _signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def explain_refusal(trap: Trap, signum: int) -> str:
    """One paragraph: what killed the probe child, what it means here, what works instead."""
    vend, hyp = cpu.vendor(), cpu.hypervisor()
    sig = _signal_name(signum)
    what = f"{trap.label} was refused: the probe child died of {sig}"
    if signum == _signal.SIGALRM:
        return f"{what}: the instruction did not return within the probe's time limit."
    meaning = ""
    if trap.kind == "hypercall":
        row = user_mode_hypercall(hyp, vend, trap.instruction)
        if row is not None and row.outcome == "fault":
            why = row.what_is_measured.removeprefix("nothing: ")
            meaning = f" On this {vend} CPU under {hyp} that is expected: {why}."
        elif signum == _signal.SIGILL:
            meaning = f" SIGILL is #UD: {hyp} does not accept {trap.instruction} from user mode."
        native = native_instruction(vend)
        instead = ["the 'cpuid' trap, which exits to the hypervisor on every call in a VM"]
        if trap.instruction != native:
            instead.insert(0, f"instruction='{native}', this CPU's own hypercall instruction")
        meaning += " What works instead: " + "; or ".join(instead) + "."
    elif trap.convention == "linux":  # syscall, ipi and tlb-flush: system calls
        meaning = " A system call should return to user mode on any Linux kernel."
    elif signum == _signal.SIGILL:
        meaning = " SIGILL is #UD: this CPU or hypervisor does not allow the instruction here."
    return what + "." + meaning
