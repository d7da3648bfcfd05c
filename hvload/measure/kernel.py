"""Hypercalls the guest kernel issues for user space: the ``ipi`` and ``tlb-flush`` traps.

User mode cannot issue a working hypercall, but some system calls make the guest kernel
issue real ones: on a KVM guest with PV IPIs every IPI to another vCPU is a
``KVM_HC_SEND_IPI``. ``membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`` (the ``ipi`` trap)
interrupts every other CPU running a thread of this process, and flipping a page's
protection with ``mprotect`` (the ``tlb-flush`` trap) sends a TLB shootdown to the CPUs
in the process's mm mask. A CPU running no thread of the process gets nothing, so these
kinds need a :class:`Helper`, a thread spinning on the target CPU. The receiving CPU
counts the interrupts in ``/proc/interrupts`` (:func:`ipi_counts`); the delivered count,
not the calls made, is the hypercall rate (:func:`delivered`).

This module holds the helper thread, the counters, the refusals checked before anything
is measured (:func:`check_kernel_mediated`) and the CPUID rules telling which hypercall
the kernel issues here (:func:`kernel_hypercalls`). See the project's
``shared/reference/platform-facts.md`` section 7.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType

import numpy as np

from ..errors import MeasurementError, UnsupportedPlatformError
from . import _exec
from . import cpu as _cpu

__all__ = [
    "COUNTER",
    "COUNTERS",
    "HELPER_COMM",
    "IPIS_PER_SAMPLE",
    "KERNEL_HYPERCALL_RULES",
    "KERNEL_KINDS",
    "Helper",
    "HypercallRule",
    "away_from",
    "check_kernel_mediated",
    "delivered",
    "helper_cpus",
    "ipi_counts",
    "kernel_hypercalls",
    "online_cpus",
    "prepare",
    "require_helper",
]

#: The trap kinds whose work the guest kernel does: the kind names of :mod:`.executor`.
KERNEL_KINDS = ("ipi", "tlb-flush")
#: The ``/proc/interrupts`` lines read: function-call IPIs, TLB shootdowns, reschedules.
COUNTERS = ("CAL", "TLB", "RES")
#: The line on which each kind's interrupts arrive at the target CPU.
COUNTER = {"ipi": "CAL", "tlb-flush": "TLB"}
#: Interrupts one sample sends to each target CPU: one membarrier; a flip is two
#: mprotect calls, each changing the page's PTE and so each flushing.
IPIS_PER_SAMPLE = {"ipi": 1, "tlb-flush": 2}
_CODES = {"ipi": _exec.TRAP_IPI, "tlb-flush": _exec.TRAP_TLB_FLUSH}
# MEMBARRIER_CMD_QUERY answers with a mask in which each command is its own bit.
_MEMBARRIER_PRIVATE_EXPEDITED = 8
_MEMBARRIER_REGISTER_PRIVATE_EXPEDITED = 16


def _check_kind(kind: str) -> None:
    if kind not in KERNEL_KINDS:
        raise ValueError(f"kind={kind!r} is not kernel-mediated; use one of {KERNEL_KINDS}")


def prepare(kind: str) -> None:
    """Set ``kind`` up once per process (membarrier registration, the flip page).

    Raises :class:`OSError` naming the call the kernel refused.
    """
    _check_kind(kind)
    _exec.kernel_prepare(_CODES[kind])


# --- /proc/interrupts ----------------------------------------------------------------


def ipi_counts(
    cpus: Iterable[int] | None = None, *, path: str = "/proc/interrupts"
) -> dict[str, dict[int, int]]:
    """The CAL, TLB and RES interrupt counts of each CPU (all online CPUs, or ``cpus``).

    A counter whose line is missing (another architecture, a kernel without it, no
    ``/proc``) is missing from the result, and so is a CPU without a column: never a
    zero that would read as "nothing delivered".
    """
    wanted = None if cpus is None else set(cpus)
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError:
        return {}
    if not lines:
        return {}
    # The header names the columns: only online CPUs have one, so column k need not be CPU k.
    columns = [int(tok[3:]) for tok in lines[0].split() if tok[3:].isdigit()]
    out: dict[str, dict[int, int]] = {}
    for line in lines[1:]:
        name, sep, rest = line.partition(":")
        name = name.strip()
        if not sep or name not in COUNTERS:
            continue
        per_cpu: dict[int, int] = {}
        for c, tok in zip(columns, rest.split(), strict=False):
            if not tok.isdigit():
                break
            if wanted is None or c in wanted:
                per_cpu[c] = int(tok)
        out[name] = per_cpu
    return out


def delivered(
    before: Mapping[str, Mapping[int, int]],
    after: Mapping[str, Mapping[int, int]],
    cpus: Iterable[int],
) -> dict[str, int]:
    """Interrupts each counter gained on ``cpus`` between two :func:`ipi_counts` reads.

    A counter missing in either read, or lacking one of the CPUs, is left out.
    """
    cpus = list(cpus)
    out = {}
    for name in COUNTERS:
        b, a = before.get(name), after.get(name)
        if b is None or a is None or any(c not in b or c not in a for c in cpus):
            continue
        out[name] = sum(a[c] - b[c] for c in cpus)
    return out


# --- CPUs ----------------------------------------------------------------------------


def _parse_cpu_list(text: str) -> set[int]:
    found: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        found.update(range(int(lo), int(hi or lo) + 1))
    return found


def online_cpus() -> set[int]:
    """The online CPUs (``/sys/devices/system/cpu/online``; else ``0..cpu_count-1``)."""
    try:
        with open("/sys/devices/system/cpu/online") as fh:
            return _parse_cpu_list(fh.read())
    except (OSError, ValueError):
        return set(range(os.cpu_count() or 1))


def check_kernel_mediated(kind: str, target_cpu: int) -> None:
    """Refuse, in one line and before anything is measured, what cannot work here.

    Raises :class:`~hvload.errors.UnsupportedPlatformError` on a platform that cannot
    (not Linux on x86_64, a single CPU, membarrier missing or refusing PRIVATE_EXPEDITED
    for ``ipi``) and :class:`ValueError` for a bad ``kind`` or ``target_cpu`` (not an
    online CPU this process may run on, or the only one it may run on).
    """
    _check_kind(kind)
    if not sys.platform.startswith("linux") or not _exec.HAVE_KERNEL:
        raise UnsupportedPlatformError(
            f"the {kind} trap needs Linux on x86_64 (its system calls are Linux's); "
            f"this is {sys.platform}"
        )
    _cpu.require_measuring()
    if isinstance(target_cpu, bool) or not isinstance(target_cpu, (int, np.integer)):
        raise ValueError(f"target_cpu={target_cpu!r} is not a CPU number")
    target = int(target_cpu)
    online = online_cpus()
    if len(online) < 2:
        raise UnsupportedPlatformError(
            f"the {kind} trap needs two CPUs (an IPI goes to another CPU); this machine has "
            f"{len(online)} online"
        )
    if target not in online:
        raise ValueError(f"target CPU {target} is not online; online: {sorted(online)}")
    allowed = os.sched_getaffinity(0)
    if target not in allowed:
        raise ValueError(
            f"target CPU {target} is not allowed for this process; allowed: {sorted(allowed)}"
        )
    if not allowed - {target}:
        raise ValueError(
            f"target CPU {target} is the only CPU this process may run on; the caller needs "
            "another one"
        )
    if kind == "ipi":
        mask = _exec.membarrier_query()
        if mask < 0:
            raise UnsupportedPlatformError(
                f"membarrier(MEMBARRIER_CMD_QUERY) failed: {os.strerror(-mask)}; this kernel "
                "has no membarrier, so the ipi trap cannot work"
            )
        need = _MEMBARRIER_PRIVATE_EXPEDITED | _MEMBARRIER_REGISTER_PRIVATE_EXPEDITED
        if mask & need != need:
            raise UnsupportedPlatformError(
                f"this kernel's membarrier does not offer MEMBARRIER_CMD_PRIVATE_EXPEDITED "
                f"(QUERY mask {mask:#x}), which the ipi trap issues"
            )


# --- the helper thread ---------------------------------------------------------------

_ACTIVE: weakref.WeakSet[Helper] = weakref.WeakSet()
#: The OS thread name (``/proc/<pid>/task/<tid>/comm``) of every helper thread.
HELPER_COMM = "hvload-helper"
_NO_REGS = (0, 0, 0, 0, 0, 0)


@atexit.register
def _stop_all() -> None:
    for helper in list(_ACTIVE):
        helper.stop()


class Helper:
    """A thread of this process spinning on ``cpu``, the target of ``ipi``/``tlb-flush``.

    The thread pins itself to ``cpu`` and runs the compiled load loop with the null
    trap and the GIL released until stopped: while it runs, the kernel has a thread of
    this process on ``cpu`` to interrupt. Use it as a context manager; it stops on
    leaving (normally, on an exception or on Ctrl-C), and an ``atexit`` guard stops any
    helper still running when the interpreter ends.

    Examples
    --------
    >>> with Helper(1), away_from(1):                    # doctest: +SKIP
    ...     b = burst(ipi_trap(), 5000)
    """

    #: How long :meth:`start` waits for the thread's first spin before going on anyway.
    START_TIMEOUT_S = 2.0

    def __init__(self, cpu: int) -> None:
        if isinstance(cpu, bool) or not isinstance(cpu, (int, np.integer)):
            raise ValueError(f"cpu={cpu!r} is not a CPU number")
        allowed = os.sched_getaffinity(0)
        if int(cpu) not in allowed:
            raise ValueError(f"helper CPU {cpu} is not allowed here; allowed: {sorted(allowed)}")
        self.cpu = int(cpu)
        self._stop = np.zeros(1, dtype=np.int64)
        self._counters = np.zeros(_exec.LOAD_COUNTERS, dtype=np.int64)
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def spins(self) -> int:
        """Null samples the thread has run so far (it spun if this is above 0)."""
        return int(self._counters[_exec.LOAD_CALLS])

    def start(self) -> Helper:
        """Start the thread; return once it is pinned and spinning."""
        if self._thread is not None:
            raise RuntimeError(f"the helper on CPU {self.cpu} is already running")
        _cpu.require_measuring()
        self._stop[0] = 0
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(
            target=self._run, name=f"hvload-helper-cpu{self.cpu}", daemon=True
        )
        _ACTIVE.add(self)
        try:
            self._thread.start()
            self._ready.wait()
            deadline = time.monotonic() + self.START_TIMEOUT_S
            while self._error is None and self.spins == 0 and time.monotonic() < deadline:
                time.sleep(0.0002)
        except BaseException:
            # Ctrl-C while starting: the with-block's __exit__ will not run, so stop here.
            self.stop()
            raise
        if self._error is not None:
            error = self._error
            self.stop()
            raise error
        return self

    def _run(self) -> None:
        try:
            os.sched_setaffinity(0, {self.cpu})
        except OSError as exc:
            self._error = OSError(
                exc.errno, f"helper could not pin itself to CPU {self.cpu}: {exc.strerror}"
            )
            self._ready.set()
            return
        # The OS name makes the helper visible in top -H and ps, and countable in tests.
        with contextlib.suppress(OSError), open("/proc/thread-self/comm", "w") as fh:
            fh.write(HELPER_COMM)
        self._ready.set()
        try:
            _exec.run_load(
                _exec.TRAP_NULL, 0, 0, _NO_REGS, np.empty(0, dtype=np.uint64),
                self._stop, self._counters,
            )  # fmt: skip
        except BaseException as exc:  # kept for start(), which re-raises it
            self._error = exc

    def stop(self) -> None:
        """Stop and join the thread (a no-op when it is not running)."""
        self._stop[0] = 1
        thread = self._thread
        try:
            if thread is not None:
                thread.join()
        finally:
            self._thread = None
            _ACTIVE.discard(self)

    def __enter__(self) -> Helper:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Helper(cpu={self.cpu}, {state}, spins={self.spins})"


def helper_cpus() -> set[int]:
    """The CPUs on which a :class:`Helper` of this process is running now."""
    return {h.cpu for h in list(_ACTIVE) if h.running}


def require_helper(kind: str) -> None:
    """Raise :class:`~hvload.errors.MeasurementError` unless a burst of ``kind`` can
    reach a helper: one is running, on a CPU the calling thread is not confined to."""
    cpus = helper_cpus()
    if not cpus:
        raise MeasurementError(
            f"bursts of {kind} need a helper thread spinning on the target CPU (with "
            "hvload.measure.kernel.Helper(cpu): ...); without one the kernel sends no IPI "
            "and issues no hypercall"
        )
    if os.sched_getaffinity(0) <= cpus:
        raise MeasurementError(
            f"the calling thread may run only on the helper CPUs {sorted(cpus)}; bursts of "
            f"{kind} must run on another CPU (with hvload.measure.kernel.away_from(cpu): ...)"
        )


@contextlib.contextmanager
def away_from(cpu: int) -> Iterator[set[int]]:
    """Keep the calling thread off ``cpu`` inside the block; yields the CPUs it may use.

    The thread's affinity is restored on leaving, whatever happens.
    """
    before = os.sched_getaffinity(0)
    rest = before - {int(cpu)}
    if not rest:
        raise ValueError(f"CPU {cpu} is the only CPU this thread may run on")
    os.sched_setaffinity(0, rest)
    try:
        yield rest
    finally:
        os.sched_setaffinity(0, before)


# --- which hypercall the kernel issues: CPUID rules ----------------------------------


@dataclass(frozen=True)
class HypercallRule:
    """When the guest kernel turns a kind's IPIs into a hypercall (or avoids one).

    ``needs`` names flags of :data:`_FLAGS` that must all hold (``!`` negates).
    """

    kind: str
    hypervisor: str
    needs: tuple[str, ...]
    hypercall: str
    what: str
    source: str


# Flag -> (hypervisor signature, leaf offset from the signature's base, register, bit).
# Sources: linux arch/x86/include/uapi/asm/kvm_para.h (KVM_FEATURE_*, KVM_HINTS_REALTIME in
# 0x40000001 EDX); the Hyper-V TLFS definitions (arch/x86/include/asm/hyperv-tlfs.h:
# HV_X64_*_RECOMMENDED, leaf 0x40000004 EAX); CPUID.1:ECX bit 3 is MONITOR/MWAIT.
_FLAGS: dict[str, tuple[str | None, int, int, int]] = {
    "kvm.STEAL_TIME": ("KVMKVMKVM\0\0\0", 1, 0, 5),
    "kvm.PV_TLB_FLUSH": ("KVMKVMKVM\0\0\0", 1, 0, 9),
    "kvm.PV_SEND_IPI": ("KVMKVMKVM\0\0\0", 1, 0, 11),
    "kvm.PV_SCHED_YIELD": ("KVMKVMKVM\0\0\0", 1, 0, 13),
    "kvm.HINTS_REALTIME": ("KVMKVMKVM\0\0\0", 1, 3, 0),
    "hyperv.REMOTE_TLB_FLUSH_RECOMMENDED": ("Microsoft Hv", 4, 0, 2),
    "hyperv.CLUSTER_IPI_RECOMMENDED": ("Microsoft Hv", 4, 0, 10),
    "hyperv.EX_PROCESSOR_MASKS_RECOMMENDED": ("Microsoft Hv", 4, 0, 11),
    "cpu.MWAIT": (None, 1, 2, 3),
}

_KVM_C = "linux arch/x86/kernel/kvm.c"
#: The rules, one row per (kind, hypercall); every row of a kind that applies is listed.
KERNEL_HYPERCALL_RULES: tuple[HypercallRule, ...] = (
    HypercallRule(
        "ipi", "KVM", ("kvm.PV_SEND_IPI",), "KVM_HC_SEND_IPI",
        "each IPI to other vCPUs is one hypercall (kvm_send_ipi_mask)",
        f"{_KVM_C} pv_ipi_supported, kvm_setup_pv_ipi",
    ),
    HypercallRule(
        "ipi", "KVM",
        ("kvm.PV_SCHED_YIELD", "kvm.STEAL_TIME", "!kvm.HINTS_REALTIME", "!cpu.MWAIT"),
        "KVM_HC_SCHED_YIELD",
        "after a function-call IPI, one more hypercall per target vCPU that is preempted "
        "(kvm_smp_send_call_func_ipi)",
        f"{_KVM_C} pv_sched_yield_supported",
    ),
    HypercallRule(
        "tlb-flush", "KVM", ("kvm.PV_SEND_IPI",), "KVM_HC_SEND_IPI",
        "the shootdown IPIs to running target vCPUs are hypercalls (kvm_send_ipi_mask)",
        f"{_KVM_C} pv_ipi_supported",
    ),
    HypercallRule(
        "tlb-flush", "KVM",
        ("kvm.PV_TLB_FLUSH", "kvm.STEAL_TIME", "!kvm.HINTS_REALTIME", "!cpu.MWAIT"),
        "deferred flush (no hypercall)",
        "a preempted target vCPU gets no IPI: a flush flag in its steal-time area, done "
        "at its next entry (kvm_flush_tlb_multi)",
        f"{_KVM_C} pv_tlb_flush_supported",
    ),
    HypercallRule(
        "ipi", "Hyper-V", ("hyperv.CLUSTER_IPI_RECOMMENDED",), "HvCallSendSyntheticClusterIpi",
        "each IPI to other vCPUs is one hypercall (the Ex form for vCPU numbers from 64, "
        "with EX_PROCESSOR_MASKS recommended)",
        "linux arch/x86/hyperv/hv_apic.c hv_apic_init, __send_ipi_mask",
    ),
    HypercallRule(
        "tlb-flush", "Hyper-V", ("hyperv.REMOTE_TLB_FLUSH_RECOMMENDED",),
        "HvFlushVirtualAddressList",
        "the shootdown is one flush hypercall instead of IPIs: a list for a flip's one page "
        "(HvFlushVirtualAddressSpace for a whole-space flush; Ex forms with sparse "
        "processor sets)",
        "linux arch/x86/hyperv/mmu.c hyperv_setup_mmu_ops, hyperv_flush_tlb_multi",
    ),
    HypercallRule(
        "tlb-flush", "Hyper-V",
        ("hyperv.CLUSTER_IPI_RECOMMENDED", "!hyperv.REMOTE_TLB_FLUSH_RECOMMENDED"),
        "HvCallSendSyntheticClusterIpi",
        "without the flush hypercall the shootdown IPIs go out as IPI hypercalls",
        "linux arch/x86/hyperv/hv_apic.c, mmu.c",
    ),
)  # fmt: skip

_NO_HYPERCALL = "plain APIC IPIs, no hypercall"


def _flags() -> tuple[dict[str, bool], dict[str, str]]:
    """Each flag's value where its leaf exists, and the raw leaves read (hex strings)."""
    bases = {sig: (base, top) for base, sig, top in _cpu.hypervisor_leaves()}
    values: dict[str, bool] = {}
    raw: dict[str, str] = {}
    for name, (sig, off, reg, bit) in _FLAGS.items():
        if sig is None:
            leaf = off
        elif sig in bases and bases[sig][0] + off <= bases[sig][1]:
            leaf = bases[sig][0] + off
        else:
            continue
        regs = _cpu.cpuid(leaf)
        raw[f"{leaf:#x}"] = " ".join(
            f"{r}={v:#010x}" for r, v in zip(("eax", "ebx", "ecx", "edx"), regs, strict=True)
        )
        values[name] = bool(regs[reg] >> bit & 1)
    return values, raw


def _holds(need: str, flags: Mapping[str, bool]) -> bool:
    if need.startswith("!"):
        return need[1:] in flags and not flags[need[1:]]
    return flags.get(need, False)


def kernel_hypercalls() -> dict[str, object]:
    """Which hypercall the guest kernel issues here for each kernel-mediated kind.

    Reads the hypervisor's CPUID leaves (KVM 0x40000001; Hyper-V 0x40000004) and applies
    :data:`KERNEL_HYPERCALL_RULES`. Plain data (JSON-ready): ``hypervisor``, ``cpuid``
    (the leaves read), ``flags`` (each rule input found), and ``kinds``: for ``ipi`` and
    ``tlb-flush`` the ``hypercalls`` issued (or ``["plain APIC IPIs, no hypercall"]``)
    with each applying rule's ``what`` and ``source``. Where both KVM and Hyper-V
    leaves are present, both rule sets are listed: the guest kernel uses the interface
    it enabled at boot (its log says which).
    """
    if not _exec.SUPPORTED:
        return {"hypervisor": "unknown", "cpuid": {}, "flags": {}, "kinds": {
            k: {"hypercalls": [], "rules": [], "reason": "CPUID is not available here"}
            for k in KERNEL_KINDS
        }}  # fmt: skip
    flags, raw = _flags()
    multi_cpu = len(online_cpus()) > 1  # kvm.c enables PV IPIs only with several CPUs
    kinds: dict[str, object] = {}
    for kind in KERNEL_KINDS:
        rows = [
            r for r in KERNEL_HYPERCALL_RULES
            if r.kind == kind and multi_cpu and all(_holds(n, flags) for n in r.needs)
        ]  # fmt: skip
        kinds[kind] = {
            "hypercalls": [r.hypercall for r in rows] or [_NO_HYPERCALL],
            "rules": [
                {
                    "hypervisor": r.hypervisor,
                    "hypercall": r.hypercall,
                    "needs": list(r.needs),
                    "what": r.what,
                    "source": r.source,
                }
                for r in rows
            ],
        }
    return {"hypervisor": _cpu.hypervisor(), "cpuid": raw, "flags": flags, "kinds": kinds}
