"""Timed bursts of trap instructions: the Python face of the compiled executor.

A *trap* is one instruction that leaves the guest (or at least the CPU's normal flow):
``null`` (nothing, the timer floor), ``cpuid`` (an unconditional VM exit in a guest) and
``hypercall`` (``vmcall`` on Intel, ``vmmcall`` on AMD/Hygon), and the kernel-mediated
``ipi`` and ``tlb-flush`` (system calls after which the guest kernel sends IPIs, which it
may issue as hypercalls: :mod:`.kernel`). :func:`burst` issues ``n``
of them back to back or paced, each bracketed by ``rdtscp; lfence; rdtsc`` ...
``rdtscp; lfence``, and returns the samples as numpy arrays.

Before the first burst of a trap kind and instruction in a process, the trap is tried
once in a forked child (:func:`probe`). If the child dies of a signal, the parent raises
:class:`~hvload.errors.TrapFaultError` and never executes that instruction itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypedDict

import numpy as np

from ..errors import BurstInterrupted, TrapFaultError
from . import _exec, cpu, kernel
from ._refusals import explain_refusal
from .hypervisors import native_instruction

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SYSCALLS",
    "TRAP_KINDS",
    "Burst",
    "ProbeResult",
    "Trap",
    "allocate",
    "burst",
    "cpuid_trap",
    "fill",
    "hyperv_hypercall",
    "ipi_trap",
    "kvm_hypercall",
    "make_trap",
    "null_trap",
    "probe",
    "require",
    "syscall_trap",
    "tlb_flush_trap",
]

TRAP_KINDS = ("null", "cpuid", "syscall", "hypercall", "ipi", "tlb-flush")
_U64_MAX = 2**64 - 1
_U32_MAX = 2**32 - 1
_KIND_CODES = {
    "none": _exec.TRAP_NULL,
    "cpuid": _exec.TRAP_CPUID,
    "vmcall": _exec.TRAP_VMCALL,
    "vmmcall": _exec.TRAP_VMMCALL,
    "syscall": _exec.TRAP_SYSCALL,
    "membarrier": _exec.TRAP_IPI,
    "mprotect": _exec.TRAP_TLB_FLUSH,
}
#: Linux x86-64 system call numbers the syscall trap names (arch/x86/entry/syscalls/
#: syscall_64.tbl): calls that read a value and change nothing.
SYSCALLS = {"getppid": 110, "getpid": 39, "getuid": 102}
#: Samples per nogil call: between chunks the GIL is taken back so Ctrl-C is seen.
DEFAULT_CHUNK = 1 << 18
#: Largest gap between paced samples, in cycles (about 26 s at 2.6 GHz): one sample's
#: wait runs without the GIL, and first + n*gap must stay far from 2**64.
MAX_GAP = 2**36

Instruction = Literal["auto", "vmcall", "vmmcall"]
Convention = Literal["none", "hyperv", "kvm"]


def _check_u(name: str, value: int, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}={value!r} is not an integer; allowed: 0..{limit:#x}")
    if not 0 <= int(value) <= limit:
        raise ValueError(f"{name}={value:#x} is outside 0..{limit:#x}")
    return int(value)


@dataclass(frozen=True)
class Trap:
    """One trap instruction with its register inputs.

    Build traps with :func:`null_trap`, :func:`cpuid_trap`, :func:`hyperv_hypercall`,
    :func:`kvm_hypercall` or :func:`make_trap` rather than directly.

    Attributes
    ----------
    kind
        ``"null"``, ``"cpuid"``, ``"syscall"``, ``"hypercall"``, ``"ipi"`` or ``"tlb-flush"``.
    instruction
        ``"none"``, ``"cpuid"``, ``"syscall"``, ``"vmcall"``, ``"vmmcall"``, or the system
        call of a kernel-mediated kind: ``"membarrier"`` (ipi), ``"mprotect"`` (tlb-flush).
    convention
        ``"hyperv"`` (RCX = control, RDX, R8), ``"kvm"`` (RAX = nr, RBX, RCX, RDX, RSI),
        ``"linux"`` (RAX = system call number) or ``"none"``.
    leaf, subleaf
        CPUID inputs (EAX, ECX).
    regs
        Hypercall inputs ``(rax, rbx, rcx, rdx, rsi, r8)``.
    """

    kind: str
    instruction: str
    convention: str = "none"
    leaf: int = 0
    subleaf: int = 0
    regs: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``hypercall/vmmcall`` or ``cpuid(0x0)``."""
        if self.kind == "cpuid":
            return f"cpuid({self.leaf:#x},{self.subleaf:#x})"
        if self.kind == "hypercall":
            return f"hypercall/{self.instruction}"
        if self.kind == "syscall":
            names = {v: k for k, v in SYSCALLS.items()}
            return f"syscall/{names.get(self.regs[0], self.regs[0])}"
        if self.kind in kernel.KERNEL_KINDS:
            return f"{self.kind}/{self.instruction}"
        return "null"

    def to_dict(self) -> dict[str, object]:
        """Plain-data description for metadata and JSON."""
        return {
            "kind": self.kind,
            "instruction": self.instruction,
            "convention": self.convention,
            "leaf": self.leaf,
            "subleaf": self.subleaf,
            "regs": dict(zip(("rax", "rbx", "rcx", "rdx", "rsi", "r8"), self.regs, strict=True)),
        }


def null_trap() -> Trap:
    """The empty trap: the cost of the timing sequence itself."""
    return Trap("null", "none")


def cpuid_trap(leaf: int = 0, subleaf: int = 0) -> Trap:
    """CPUID with ``EAX = leaf``, ``ECX = subleaf``; it always exits to the hypervisor."""
    return Trap(
        "cpuid", "cpuid", leaf=_check_u("leaf", leaf, _U32_MAX),
        subleaf=_check_u("subleaf", subleaf, _U32_MAX),
    )  # fmt: skip


def syscall_trap(call: str | int = "getppid") -> Trap:
    """A Linux system call with no side effect: a guest-kernel round trip, no VM exit.

    ``call`` is a name from :data:`SYSCALLS` or a number; only the listed calls are
    allowed, since the trap repeats the call millions of times.
    """
    if isinstance(call, str):
        if call not in SYSCALLS:
            raise ValueError(f"call={call!r} is not allowed; choose from {sorted(SYSCALLS)}")
        nr = SYSCALLS[call]
    elif (
        isinstance(call, (int, np.integer))
        and not isinstance(call, bool)
        and (int(call) in SYSCALLS.values())
    ):
        nr = int(call)
    else:
        raise ValueError(
            f"call={call!r} is not allowed; choose from {sorted(SYSCALLS)} "
            f"(numbers {sorted(SYSCALLS.values())})"
        )
    return Trap("syscall", "syscall", "linux", regs=(nr, 0, 0, 0, 0, 0))


def ipi_trap() -> Trap:
    """``membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)``: an IPI to every other CPU running
    a thread of this process (a ``KVM_HC_SEND_IPI`` each on a KVM guest with PV IPIs).

    Its bursts need a :class:`~hvload.measure.kernel.Helper` on the target CPU. RAX is
    the system call number (324); the call's arguments are fixed in ``_asm.h``.
    """
    return Trap("ipi", "membarrier", "linux", regs=(324, 0, 0, 0, 0, 0))


def tlb_flush_trap() -> Trap:
    """One flip of a private page, ``mprotect`` read-only then read-write: a TLB
    shootdown per call to the CPUs running this process's threads.

    Its bursts need a :class:`~hvload.measure.kernel.Helper` on the target CPU. RAX is
    the system call number (10); the page and protections are fixed in ``_asm.h``.
    """
    return Trap("tlb-flush", "mprotect", "linux", regs=(10, 0, 0, 0, 0, 0))


def _resolve_instruction(instruction: str) -> str:
    if instruction == "auto":
        return native_instruction(cpu.vendor())
    if instruction not in ("vmcall", "vmmcall"):
        raise ValueError(
            f"instruction={instruction!r} is not allowed; use 'auto', 'vmcall' or 'vmmcall'"
        )
    return instruction


def hyperv_hypercall(
    control: int, rdx: int = 0, r8: int = 0, *, instruction: Instruction = "auto"
) -> Trap:
    """A hypercall in Hyper-V's convention: RCX = control value, RDX and R8 = input.

    Parameters
    ----------
    control
        The 64-bit hypercall input value (call code, fast bit, rep fields), 0..2**64-1.
    rdx, r8
        Input and output GPAs (memory convention) or input data (fast convention).
    instruction
        ``"auto"`` picks ``vmmcall`` on AMD/Hygon and ``vmcall`` elsewhere.
    """
    regs = (
        0,
        0,
        _check_u("control", control, _U64_MAX),
        _check_u("rdx", rdx, _U64_MAX),
        0,
        _check_u("r8", r8, _U64_MAX),
    )
    return Trap("hypercall", _resolve_instruction(instruction), "hyperv", regs=regs)


def kvm_hypercall(
    nr: int, a0: int = 0, a1: int = 0, a2: int = 0, a3: int = 0, *,
    instruction: Instruction = "auto",
) -> Trap:  # fmt: skip
    """A hypercall in KVM's convention: RAX = call number, RBX, RCX, RDX, RSI = arguments."""
    regs = (
        _check_u("nr", nr, _U64_MAX),
        _check_u("a0", a0, _U64_MAX),
        _check_u("a1", a1, _U64_MAX),
        _check_u("a2", a2, _U64_MAX),
        _check_u("a3", a3, _U64_MAX),
        0,
    )
    return Trap("hypercall", _resolve_instruction(instruction), "kvm", regs=regs)


#: The default hypercall: HvNotifyLongSpinWait (code 0x0008) as a fast call (bit 16) with a
#: spin count of 0: harmless wherever it is honoured, and refused from user mode elsewhere.
DEFAULT_HYPERCALL_CONTROL = 0x0001_0008


def make_trap(kind: str, **params: object) -> Trap:
    """Build a trap from its kind name and keyword parameters (as the CLI does).

    ``make_trap("hypercall")`` is :data:`DEFAULT_HYPERCALL_CONTROL` in Hyper-V's
    convention; ``convention="kvm"`` takes ``nr``, ``a0``..``a3`` instead.
    """
    if kind == "null":
        if params:
            raise ValueError(f"the null trap takes no parameters, got {sorted(params)}")
        return null_trap()
    if kind == "cpuid":
        return cpuid_trap(**params)  # type: ignore[arg-type]
    if kind == "syscall":
        return syscall_trap(**params)  # type: ignore[arg-type]
    if kind in kernel.KERNEL_KINDS:
        if params:
            raise ValueError(f"the {kind} trap takes no parameters, got {sorted(params)}")
        return ipi_trap() if kind == "ipi" else tlb_flush_trap()
    if kind == "hypercall":
        convention = params.pop("convention", "hyperv")
        if convention == "hyperv":
            params.setdefault("control", DEFAULT_HYPERCALL_CONTROL)
            return hyperv_hypercall(**params)  # type: ignore[arg-type]
        if convention == "kvm":
            params.setdefault("nr", 0)
            return kvm_hypercall(**params)  # type: ignore[arg-type]
        raise ValueError(f"convention={convention!r} is not allowed; use 'hyperv' or 'kvm'")
    raise ValueError(f"unknown trap kind {kind!r}; allowed: {', '.join(TRAP_KINDS)}")


@dataclass(frozen=True)
class ProbeResult:
    """How the fork probe of one trap kind and instruction ended.

    Attributes
    ----------
    ok
        True if the child ran the trap and exited normally.
    signal
        Signal number that killed the child, else None.
    rax
        RAX the child saw after the trap (None if it died).
    reason
        One paragraph: what happened, what it means here, what works instead.
    """

    ok: bool
    signal: int | None
    rax: int | None
    reason: str


_PROBES: dict[tuple[str, str], ProbeResult] = {}


def probe(trap: Trap, *, refresh: bool = False) -> ProbeResult:
    """Try ``trap`` once in a forked child and cache the outcome for this process.

    The cache key is the trap's kind and instruction: register inputs do not decide
    whether an instruction faults. ``refresh=True`` forks again.
    """
    cpu.require_measuring()
    key = (trap.kind, trap.instruction)
    if not refresh and key in _PROBES:
        return _PROBES[key]
    if trap.kind == "syscall" and not _exec.HAVE_SYSCALL:
        return ProbeResult(
            False, None, None, f"{trap.label}: the syscall trap is built on Linux only"
        )
    mediated = trap.kind in kernel.KERNEL_KINDS
    if mediated and not _exec.HAVE_KERNEL:
        return ProbeResult(
            False, None, None, f"{trap.label}: the {trap.kind} trap is built on Linux only"
        )
    status, rax = _exec.probe_in_child(
        _KIND_CODES[trap.instruction], trap.leaf, trap.subleaf, trap.regs
    )
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        result = ProbeResult(False, signum, None, explain_refusal(trap, signum))
    elif mediated and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and rax < 0:
        # The kernel refused the call (or its set-up): every sample would time a refusal.
        why = os.strerror(-rax)
        result = ProbeResult(False, None, rax, f"{trap.label}: the kernel refused it: {why}")
    elif os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        result = ProbeResult(True, None, rax, f"{trap.label} ran in the probe child (RAX={rax})")
    else:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else status
        result = ProbeResult(False, None, None, f"{trap.label}: probe child ended with {code}")
    _PROBES[key] = result
    return result


def require(trap: Trap) -> None:
    """Raise :class:`TrapFaultError` unless ``trap`` survived its (cached) fork probe.

    A kernel-mediated trap is then set up in this process (:func:`.kernel.prepare`,
    which raises :class:`OSError` naming a refused call), so it can run as a burst, a
    control or a load trap.
    """
    result = probe(trap)
    if not result.ok:
        raise TrapFaultError(result.reason, trap=trap, signal=result.signal or 0)
    if trap.kind in kernel.KERNEL_KINDS:
        kernel.prepare(trap.kind)


@dataclass(frozen=True)
class Burst:
    """Samples of one burst; all arrays have length :attr:`n`.

    Attributes
    ----------
    trap
        What was issued.
    gap
        Requested cycles between intended starts (0 = back to back).
    start
        TSC at the start of each sample (after ``lfence; rdtsc``).
    cycles
        Service time: end TSC minus start TSC.
    response
        End TSC minus the intended start (equals ``cycles`` when ``gap == 0``).
    rax
        RAX after the trap (CPUID: the EAX it returned; null: 0).
    cpu_begin, cpu_end
        CPU number from TSC_AUX before and after the sample.
    """

    trap: Trap
    gap: int
    start: np.ndarray
    cycles: np.ndarray
    response: np.ndarray
    rax: np.ndarray
    cpu_begin: np.ndarray
    cpu_end: np.ndarray
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.cycles.shape[0])

    @property
    def migrated(self) -> np.ndarray:
        """True where the sample began and ended on different CPUs."""
        return self.cpu_begin != self.cpu_end

    def to_frame(self) -> pd.DataFrame:
        """The samples as a DataFrame, one row each."""
        import pandas as pd

        return pd.DataFrame(
            {
                "start": self.start,
                "cycles": self.cycles,
                "response": self.response,
                "rax": self.rax,
                "cpu_begin": self.cpu_begin,
                "cpu_end": self.cpu_end,
                "migrated": self.migrated,
            }
        )

    def _head(self, n: int) -> Burst:
        arrays = {k: getattr(self, k)[:n] for k in _ARRAYS}
        return Burst(self.trap, self.gap, meta=self.meta, **arrays)


_ARRAYS = ("start", "cycles", "response", "rax", "cpu_begin", "cpu_end")


class BurstArrays(TypedDict):
    """The sample arrays of a :class:`Burst`, by field name: ``Burst(trap, gap, **arrays)``."""

    start: np.ndarray
    cycles: np.ndarray
    response: np.ndarray
    rax: np.ndarray
    cpu_begin: np.ndarray
    cpu_end: np.ndarray


def allocate(n: int) -> BurstArrays:
    """Output arrays for ``n`` samples, keyed by :class:`Burst` field, every page touched.

    Writing zeros faults every page in now, so the sample loop never enters the kernel
    for a first touch between samples; a zero ``start`` also marks a sample not yet
    taken, which lets an interrupted burst tell a finished chunk from an unfinished one.
    """

    def touched(dtype: type[np.integer]) -> np.ndarray:
        a = np.empty(n, dtype=dtype)
        a.fill(0)
        return a

    return BurstArrays(
        start=touched(np.int64),
        cycles=touched(np.int64),
        response=touched(np.int64),
        rax=touched(np.int64),
        cpu_begin=touched(np.uint16),
        cpu_end=touched(np.uint16),
    )


def _check_n(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"n={n!r} is not an integer; allowed: a positive number of samples")
    n = int(n)
    if n <= 0:
        raise ValueError(f"n={n} is not allowed; the number of samples must be at least 1")
    need = n * _exec.BYTES_PER_SAMPLE
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):  # not every OS has these names
        avail = None
    if avail is not None and need > avail:
        raise ValueError(
            f"n={n} needs {need / 2**30:.1f} GiB for its sample arrays, more than the "
            f"{avail / 2**30:.1f} GiB of memory available; measure in several bursts"
        )
    return n


def burst(
    trap: Trap | str,
    n: int,
    *,
    gap: int = 0,
    chunk: int = DEFAULT_CHUNK,
) -> Burst:
    """Issue ``n`` timed traps and return their samples.

    Parameters
    ----------
    trap
        A :class:`Trap` or a kind name (``"null"``, ``"cpuid"``, ``"hypercall"``...) for the
        kind's default. ``ipi`` and ``tlb-flush`` need a running
        :class:`~hvload.measure.kernel.Helper` on a CPU the caller can stay off.
    n
        Number of samples, at least 1 and small enough for memory (36 bytes each).
    gap
        Cycles between intended starts; 0 issues the traps back to back. With a gap the
        schedule is open-loop: sample ``k`` is due at ``first + k*gap`` however late the
        previous one finished, and ``response`` is measured from that due time.
    chunk
        Samples per call into the nogil loop; Ctrl-C is noticed between chunks.

    Returns
    -------
    Burst

    Raises
    ------
    ValueError
        For a bad ``n``, ``gap``, ``chunk`` or trap name.
    TrapFaultError
        If the trap's fork probe died of a signal (now or earlier in this process).
    MeasurementError
        For ``ipi`` or ``tlb-flush`` without a running helper.
    UnsupportedPlatformError
        On a machine without x86_64 or RDTSCP.
    BurstInterrupted
        On Ctrl-C; its ``partial`` attribute holds the samples measured so far.
    """
    if isinstance(trap, str):
        trap = make_trap(trap)
    if not isinstance(trap, Trap):
        raise ValueError(f"trap={trap!r} is not a Trap or one of {', '.join(TRAP_KINDS)}")
    n = _check_n(n)
    if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ValueError(f"gap={gap!r} is not allowed; use 0 (back to back) or a positive int")
    gap = int(gap)
    if gap > MAX_GAP:
        raise ValueError(
            f"gap={gap} cycles is not allowed; the most is {MAX_GAP} (2**36, about 26 s at "
            "2.6 GHz), since each wait runs without the GIL"
        )
    if n * gap > 2**62:
        raise ValueError(
            f"n={n} samples every gap={gap} cycles span more than 2**62 TSC ticks; "
            "measure in several bursts"
        )
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ValueError(f"chunk={chunk!r} is not allowed; use a positive number of samples")
    if trap.kind in kernel.KERNEL_KINDS:
        kernel.require_helper(trap.kind)
    require(trap)
    if gap:
        # Keep each nogil stretch near 1e8 cycles (~40 ms) so Ctrl-C is noticed promptly.
        chunk = min(int(chunk), max(1, 100_000_000 // gap))

    out = Burst(trap, gap, **allocate(n))
    progress = [0, 0]  # samples done, and the end of the chunk in flight
    try:
        _run_chunks(trap, out, 0, n, gap, int(chunk), progress)
    except KeyboardInterrupt as exc:
        done, hi = progress
        if hi > done and out.start[hi - 1] != 0:
            done = hi
        raise BurstInterrupted(out._head(done)) from exc
    return out


def _run_chunks(
    trap: Trap, out: Burst, lo: int, hi: int, gap: int, chunk: int, progress: list[int]
) -> None:
    """Fill ``out[lo:hi]`` in nogil chunks of one open-loop schedule starting now.

    ``progress`` holds (samples done, end of the chunk in flight), so a caller that
    catches Ctrl-C knows which samples were measured.
    """
    code = _KIND_CODES[trap.instruction]
    first = 0  # the compiled loop starts the schedule and hands its start back
    progress[0] = lo
    while progress[0] < hi:
        progress[1] = min(hi, progress[0] + chunk)
        first = _exec.run_burst(
            code, trap.leaf, trap.subleaf, trap.regs, gap, first,
            out.start, out.cycles, out.response, out.rax, out.cpu_begin, out.cpu_end,
            progress[0], progress[1],
        )  # fmt: skip
        progress[0] = progress[1]


def fill(trap: Trap, out: Burst, lo: int, hi: int, *, gap: int = 0) -> None:
    """Measure samples ``lo:hi`` of ``out`` with ``trap``: one sub-burst into shared arrays.

    Campaigns that alternate several probes inside a block write each probe's sub-bursts
    into one preallocated :class:`Burst` per probe, so switching probes costs a call, not
    an allocation. With ``gap`` the sub-burst's open-loop schedule starts now. The trap
    must have passed :func:`require`; ``out.trap`` is not consulted. For ``ipi`` and
    ``tlb-flush`` the caller keeps a helper running: unlike :func:`burst`, this does not check.
    """
    if not 0 <= lo <= hi <= out.n:
        raise ValueError(f"sample range {lo}:{hi} is outside the burst's 0:{out.n}")
    chunk = DEFAULT_CHUNK if not gap else max(1, 100_000_000 // gap)
    _run_chunks(trap, out, lo, hi, gap, chunk, [lo, lo])
