from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

SUPPORTED: bool
HAVE_FORK: bool
TRAP_NULL: int
TRAP_CPUID: int
TRAP_VMCALL: int
TRAP_VMMCALL: int
TRAP_SYSCALL: int
HAVE_SYSCALL: bool
TRAP_IPI: int
TRAP_TLB_FLUSH: int
HAVE_KERNEL: bool
BYTES_PER_SAMPLE: int
BUILD: dict[str, str]

def rdtsc() -> int: ...
def cpuid(leaf: int, subleaf: int = 0) -> tuple[int, int, int, int]: ...
def membarrier_query() -> int: ...
def kernel_prepare(kind: int) -> None: ...
def probe_in_child(
    kind: int, leaf: int, subleaf: int, regs: Sequence[int], timeout_s: int = 10
) -> tuple[int, int]: ...
def run_burst(
    kind: int,
    leaf: int,
    subleaf: int,
    regs: Sequence[int],
    gap: int,
    first: int,
    start: npt.NDArray[np.int64],
    cycles: npt.NDArray[np.int64],
    response: npt.NDArray[np.int64],
    rax: npt.NDArray[np.int64],
    cpu_begin: npt.NDArray[np.uint16],
    cpu_end: npt.NDArray[np.uint16],
    lo: int,
    hi: int,
) -> int: ...

LOAD_CALLS: int
LOAD_FIRST_TSC: int
LOAD_LAST_TSC: int
LOAD_LATE_SUM: int
LOAD_LATE_MAX: int
LOAD_HIST: int
LOAD_HIST_BUCKETS: int
LOAD_COUNTERS: int

def run_load(
    kind: int,
    leaf: int,
    subleaf: int,
    regs: Sequence[int],
    gaps: npt.NDArray[np.uint64],
    stop: npt.NDArray[np.int64],
    counters: npt.NDArray[np.int64],
) -> None: ...
