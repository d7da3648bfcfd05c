# cython: language_level=3
"""Compiled core of hvload: timed bursts of trap instructions into numpy arrays.

Thin binding over ``_asm.h``. Every argument is checked while the GIL is held; the
sample loop itself is ``noexcept nogil`` and cannot fail. Callers should use
:mod:`hvload.executor`, which adds the fork probe, chunking and user-facing errors.
"""

from libc.stdint cimport int16_t, int64_t, uint16_t, uint32_t, uint64_t


cdef extern from "_asm.h" nogil:
    int HVL_SUPPORTED
    int HVL_HAVE_FORK
    int HVL_TRAP_NULL
    int HVL_TRAP_CPUID
    int HVL_TRAP_VMCALL
    int HVL_TRAP_VMMCALL
    int HVL_TRAP_SYSCALL
    int HVL_HAVE_SYSCALL
    int HVL_TRAP_IPI
    int HVL_TRAP_TLB_FLUSH
    int HVL_HAVE_KERNEL

    ctypedef struct hvl_regs:
        uint64_t rax, rbx, rcx, rdx, rsi, r8

    ctypedef struct hvl_sample:
        uint64_t t0, t1, rax
        uint32_t cpu0, cpu1

    uint64_t hvl_rdtsc()
    void hvl_pause()
    void hvl_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t *out)
    void hvl_sample_null(hvl_sample *s)
    void hvl_sample_cpuid(uint32_t leaf, uint32_t subleaf, hvl_sample *s)
    void hvl_sample_vmcall(const hvl_regs *r, hvl_sample *s)
    void hvl_sample_vmmcall(const hvl_regs *r, hvl_sample *s)
    void hvl_sample_syscall(uint64_t nr, hvl_sample *s)
    void hvl_sample_ipi(hvl_sample *s)
    void hvl_sample_tlb_flush(hvl_sample *s)
    int64_t hvl_membarrier_query()
    int hvl_kernel_ready(int kind)
    int hvl_kernel_prepare(int kind)
    int hvl_probe_in_child(int kind, uint32_t leaf, uint32_t subleaf, const hvl_regs *r,
                           unsigned int timeout_s, int *wstatus, uint64_t *rax)


cdef extern from *:
    """
    #ifndef HVL_CYTHON_VERSION
    #define HVL_CYTHON_VERSION "unknown"
    #endif
    #if defined(__VERSION__)
    #define HVL_CC_VERSION __VERSION__
    #else
    #define HVL_CC_VERSION "unknown"
    #endif
    """
    const char *HVL_CYTHON_VERSION
    const char *HVL_CC_VERSION


SUPPORTED = bool(HVL_SUPPORTED)
#: How this extension was built: the Cython that generated it, the C compiler's version.
BUILD = {"cython": HVL_CYTHON_VERSION.decode(), "compiler": HVL_CC_VERSION.decode()}
HAVE_FORK = bool(HVL_HAVE_FORK)
TRAP_NULL = HVL_TRAP_NULL
TRAP_CPUID = HVL_TRAP_CPUID
TRAP_VMCALL = HVL_TRAP_VMCALL
TRAP_VMMCALL = HVL_TRAP_VMMCALL
TRAP_SYSCALL = HVL_TRAP_SYSCALL
#: Whether the syscall trap was built (Linux only: its call numbers are Linux's).
HAVE_SYSCALL = bool(HVL_HAVE_SYSCALL)
TRAP_IPI = HVL_TRAP_IPI
TRAP_TLB_FLUSH = HVL_TRAP_TLB_FLUSH
#: Whether the kernel-mediated traps (ipi, tlb-flush) were built (Linux on x86_64 only).
HAVE_KERNEL = bool(HVL_HAVE_KERNEL)
#: Bytes written per sample: start, cycles, response, rax (8 each), two CPU numbers (2 each).
BYTES_PER_SAMPLE = 4 * 8 + 2 * 2

_KINDS = (HVL_TRAP_NULL, HVL_TRAP_CPUID, HVL_TRAP_VMCALL, HVL_TRAP_VMMCALL, HVL_TRAP_SYSCALL,
          HVL_TRAP_IPI, HVL_TRAP_TLB_FLUSH)
_KERNEL_CALLS = {HVL_TRAP_IPI: "membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)",
                 HVL_TRAP_TLB_FLUSH: "mmap or madvise(MADV_DONTFORK) of the tlb-flush page"}


cdef int _require_supported() except -1:
    if not HVL_SUPPORTED:
        raise RuntimeError("hvload._exec was built without x86_64 support: nothing can be measured")
    return 0


cdef int _check_kind(int kind) except -1:
    if kind not in _KINDS:
        raise ValueError(f"trap kind {kind} is not one of {_KINDS}")
    if kind == HVL_TRAP_SYSCALL and not HVL_HAVE_SYSCALL:
        raise RuntimeError("the syscall trap is built on Linux only (its call numbers are Linux's)")
    if (kind == HVL_TRAP_IPI or kind == HVL_TRAP_TLB_FLUSH) and not HVL_HAVE_KERNEL:
        raise RuntimeError("the ipi and tlb-flush traps are built on Linux x86_64 only")
    return 0


cdef int _check_prepared(int kind) except -1:
    # Without its set-up a kernel-mediated trap would only time a refusal (-EPERM from an
    # unregistered membarrier, -ENOMEM from mprotect of no page): refuse before the loop.
    if not hvl_kernel_ready(kind):
        raise RuntimeError(f"trap kind {kind} needs kernel_prepare({kind}) first in this process")
    return 0


cdef int _fill_regs(object regs, hvl_regs *r) except -1:
    cdef tuple t = tuple(regs)
    if len(t) != 6:
        raise ValueError(f"regs must hold 6 values (rax, rbx, rcx, rdx, rsi, r8), got {len(t)}")
    # Conversion to uint64_t raises OverflowError for values outside 0..2**64-1.
    r.rax = t[0]
    r.rbx = t[1]
    r.rcx = t[2]
    r.rdx = t[3]
    r.rsi = t[4]
    r.r8 = t[5]
    return 0


def rdtsc():
    """Read the TSC after an ``lfence`` (0 where unsupported)."""
    return hvl_rdtsc()


def cpuid(uint32_t leaf, uint32_t subleaf=0):
    """Execute CPUID and return ``(eax, ebx, ecx, edx)``."""
    _require_supported()
    cdef uint32_t out[4]
    hvl_cpuid(leaf, subleaf, out)
    return (out[0], out[1], out[2], out[3])


def membarrier_query():
    """``membarrier(MEMBARRIER_CMD_QUERY)``: the supported commands' bit mask, or -errno."""
    if not HVL_HAVE_KERNEL:
        return -38  # ENOSYS, as a kernel without membarrier answers
    return hvl_membarrier_query()


def kernel_prepare(int kind):
    """Set up a kernel-mediated trap once per process (idempotent, GIL held).

    ``TRAP_IPI`` registers for ``MEMBARRIER_CMD_PRIVATE_EXPEDITED``; ``TRAP_TLB_FLUSH``
    maps and populates the page its flips change. Other kinds need nothing. Raises
    :class:`OSError` naming the call that failed.
    """
    _require_supported()
    _check_kind(kind)
    if kind != HVL_TRAP_IPI and kind != HVL_TRAP_TLB_FLUSH:
        return
    cdef int rc = hvl_kernel_prepare(kind)
    if rc < 0:
        import os
        raise OSError(-rc, f"{_KERNEL_CALLS[kind]} failed: {os.strerror(-rc)}")


def probe_in_child(int kind, uint32_t leaf, uint32_t subleaf, regs, unsigned int timeout_s=10):
    """Issue one sample of ``kind`` in a forked child.

    Returns ``(wait_status, rax)``; decode the status with :mod:`os` (``WIFSIGNALED``...).
    A kernel-mediated kind sets itself up in the child first; a refused set-up comes
    back as a negative errno in ``rax``, with no sample taken.
    """
    _require_supported()
    _check_kind(kind)
    cdef hvl_regs r
    _fill_regs(regs, &r)
    cdef int wstatus = 0
    cdef uint64_t rax = 0
    cdef int rc
    with nogil:
        rc = hvl_probe_in_child(kind, leaf, subleaf, &r, timeout_s, &wstatus, &rax)
    if rc < 0:
        import os
        raise OSError(-rc, f"fork probe failed: {os.strerror(-rc)}")
    return wstatus, <int64_t>rax


# One empty struct type per trap kind. The loops below are fused over them, so Cython
# emits one loop per kind with the instruction fixed at compile time: no dispatch and
# fewer register spills inside the loop (measured: a switch per sample cost ~10 ns).
cdef struct _null_tag:
    char unused
cdef struct _cpuid_tag:
    char unused
cdef struct _vmcall_tag:
    char unused
cdef struct _vmmcall_tag:
    char unused
cdef struct _syscall_tag:
    char unused
cdef struct _ipi_tag:
    char unused
cdef struct _tlb_flush_tag:
    char unused

ctypedef fused trap_t:
    _null_tag
    _cpuid_tag
    _vmcall_tag
    _vmmcall_tag
    _syscall_tag
    _ipi_tag
    _tlb_flush_tag


cdef inline void _sample(trap_t *tag, uint32_t leaf, uint32_t subleaf, const hvl_regs *r,
                         hvl_sample *s) noexcept nogil:
    if trap_t is _null_tag:
        hvl_sample_null(s)
    elif trap_t is _cpuid_tag:
        hvl_sample_cpuid(leaf, subleaf, s)
    elif trap_t is _vmcall_tag:
        hvl_sample_vmcall(r, s)
    elif trap_t is _syscall_tag:
        hvl_sample_syscall(r.rax, s)
    elif trap_t is _ipi_tag:
        hvl_sample_ipi(s)
    elif trap_t is _tlb_flush_tag:
        hvl_sample_tlb_flush(s)
    else:
        hvl_sample_vmmcall(r, s)


cdef void _loop(trap_t *tag, uint32_t leaf, uint32_t subleaf, const hvl_regs *r,
                uint64_t gap, uint64_t first, Py_ssize_t lo, Py_ssize_t hi,
                int64_t *start, int64_t *cycles, int64_t *response, int64_t *rax,
                uint16_t *cpu_begin, uint16_t *cpu_end) noexcept nogil:
    cdef hvl_sample s
    cdef uint64_t intended = 0
    cdef Py_ssize_t i
    for i in range(lo, hi):
        if gap:
            # Open loop: sample i is due at first + i*gap whatever happened before, so a
            # late start shows up in the response time instead of being hidden.
            intended = first + <uint64_t>i * gap
            while hvl_rdtsc() < intended:
                hvl_pause()
        _sample(tag, leaf, subleaf, r, &s)
        start[i] = <int64_t>s.t0
        cycles[i] = <int64_t>(s.t1 - s.t0)
        response[i] = <int64_t>(s.t1 - intended) if gap else <int64_t>(s.t1 - s.t0)
        rax[i] = <int64_t>s.rax
        cpu_begin[i] = <uint16_t>s.cpu0
        cpu_end[i] = <uint16_t>s.cpu1


ctypedef void (*_burst_loop_t)(
    uint32_t leaf, uint32_t subleaf, const hvl_regs *r, uint64_t gap, uint64_t first,
    Py_ssize_t lo, Py_ssize_t hi, int64_t *start, int64_t *cycles, int64_t *response,
    int64_t *rax, uint16_t *cpu_begin, uint16_t *cpu_end) noexcept nogil


cdef void _burst_null(uint32_t leaf, uint32_t subleaf, const hvl_regs *r, uint64_t gap,
                      uint64_t first, Py_ssize_t lo, Py_ssize_t hi, int64_t *start,
                      int64_t *cycles, int64_t *response, int64_t *rax, uint16_t *cpu_begin,
                      uint16_t *cpu_end) noexcept nogil:
    _loop(<_null_tag *>NULL, leaf, subleaf, r, gap, first, lo, hi, start, cycles, response,
          rax, cpu_begin, cpu_end)


cdef void _burst_cpuid(uint32_t leaf, uint32_t subleaf, const hvl_regs *r, uint64_t gap,
                       uint64_t first, Py_ssize_t lo, Py_ssize_t hi, int64_t *start,
                       int64_t *cycles, int64_t *response, int64_t *rax, uint16_t *cpu_begin,
                       uint16_t *cpu_end) noexcept nogil:
    _loop(<_cpuid_tag *>NULL, leaf, subleaf, r, gap, first, lo, hi, start, cycles, response,
          rax, cpu_begin, cpu_end)


cdef void _burst_vmcall(uint32_t leaf, uint32_t subleaf, const hvl_regs *r, uint64_t gap,
                        uint64_t first, Py_ssize_t lo, Py_ssize_t hi, int64_t *start,
                        int64_t *cycles, int64_t *response, int64_t *rax, uint16_t *cpu_begin,
                        uint16_t *cpu_end) noexcept nogil:
    _loop(<_vmcall_tag *>NULL, leaf, subleaf, r, gap, first, lo, hi, start, cycles, response,
          rax, cpu_begin, cpu_end)


cdef void _burst_vmmcall(uint32_t leaf, uint32_t subleaf, const hvl_regs *r, uint64_t gap,
                         uint64_t first, Py_ssize_t lo, Py_ssize_t hi, int64_t *start,
                         int64_t *cycles, int64_t *response, int64_t *rax, uint16_t *cpu_begin,
                         uint16_t *cpu_end) noexcept nogil:
    _loop(<_vmmcall_tag *>NULL, leaf, subleaf, r, gap, first, lo, hi, start, cycles, response,
          rax, cpu_begin, cpu_end)


cdef void _burst_syscall(uint32_t leaf, uint32_t subleaf, const hvl_regs *r, uint64_t gap,
                         uint64_t first, Py_ssize_t lo, Py_ssize_t hi, int64_t *start,
                         int64_t *cycles, int64_t *response, int64_t *rax, uint16_t *cpu_begin,
                         uint16_t *cpu_end) noexcept nogil:
    _loop(<_syscall_tag *>NULL, leaf, subleaf, r, gap, first, lo, hi, start, cycles, response,
          rax, cpu_begin, cpu_end)


cdef void _burst_ipi(uint32_t leaf, uint32_t subleaf, const hvl_regs *r, uint64_t gap,
                     uint64_t first, Py_ssize_t lo, Py_ssize_t hi, int64_t *start,
                     int64_t *cycles, int64_t *response, int64_t *rax, uint16_t *cpu_begin,
                     uint16_t *cpu_end) noexcept nogil:
    _loop(<_ipi_tag *>NULL, leaf, subleaf, r, gap, first, lo, hi, start, cycles, response,
          rax, cpu_begin, cpu_end)


cdef void _burst_tlb_flush(uint32_t leaf, uint32_t subleaf, const hvl_regs *r, uint64_t gap,
                           uint64_t first, Py_ssize_t lo, Py_ssize_t hi, int64_t *start,
                           int64_t *cycles, int64_t *response, int64_t *rax,
                           uint16_t *cpu_begin, uint16_t *cpu_end) noexcept nogil:
    _loop(<_tlb_flush_tag *>NULL, leaf, subleaf, r, gap, first, lo, hi, start, cycles,
          response, rax, cpu_begin, cpu_end)


# Called through this (writable, hence opaque) table so the compiler keeps each loop a
# function of its own: inlined into run_burst's large argument-handling body, the loop
# spilled its array pointers and index to the stack on every sample.
cdef _burst_loop_t _BURST_LOOPS[7]
_BURST_LOOPS[HVL_TRAP_NULL] = _burst_null
_BURST_LOOPS[HVL_TRAP_CPUID] = _burst_cpuid
_BURST_LOOPS[HVL_TRAP_VMCALL] = _burst_vmcall
_BURST_LOOPS[HVL_TRAP_VMMCALL] = _burst_vmmcall
_BURST_LOOPS[HVL_TRAP_SYSCALL] = _burst_syscall
_BURST_LOOPS[HVL_TRAP_IPI] = _burst_ipi
_BURST_LOOPS[HVL_TRAP_TLB_FLUSH] = _burst_tlb_flush


def run_burst(int kind, uint32_t leaf, uint32_t subleaf, regs, uint64_t gap, uint64_t first,
              int64_t[::1] start not None, int64_t[::1] cycles not None,
              int64_t[::1] response not None, int64_t[::1] rax not None,
              uint16_t[::1] cpu_begin not None, uint16_t[::1] cpu_end not None,
              Py_ssize_t lo, Py_ssize_t hi):
    """Fill samples ``lo:hi`` of the output arrays with timed traps, GIL released.

    With ``gap > 0`` sample ``i`` is due at TSC ``first + i*gap`` (busy-wait until then)
    and ``response[i]`` is measured from that due time; else ``response == cycles``.
    ``first == 0`` starts the schedule now, with sample ``lo`` due at once. Returns
    ``first``, to pass to the next chunk. A kernel-mediated kind needs
    :func:`kernel_prepare` first.
    """
    _require_supported()
    _check_kind(kind)
    _check_prepared(kind)
    cdef hvl_regs r
    _fill_regs(regs, &r)
    cdef Py_ssize_t n = start.shape[0]
    if not (0 <= lo <= hi <= n):
        raise ValueError(f"sample range {lo}:{hi} is outside the arrays' 0:{n}")
    for name, arr in (("cycles", cycles), ("response", response), ("rax", rax),
                      ("cpu_begin", cpu_begin), ("cpu_end", cpu_end)):
        if arr.shape[0] != n:
            raise ValueError(f"{name} has {arr.shape[0]} elements, start has {n}")
    if lo == hi:
        return first
    with nogil:
        # Read here, not by the caller, so the first sample is not late by a Python call.
        # The schedule is anchored so that sample lo is due now (unsigned arithmetic
        # wraps, so first + lo*gap is exact even when lo*gap exceeds the TSC).
        if gap and first == 0:
            first = hvl_rdtsc() - <uint64_t>lo * gap
        _BURST_LOOPS[kind](leaf, subleaf, &r, gap, first, lo, hi, &start[0], &cycles[0],
                           &response[0], &rax[0], &cpu_begin[0], &cpu_end[0])
    return first


#: Layout of a load worker's counters array (int64): the fixed slots, then a histogram of
#: lateness with bucket b counting lateness in [2**(b-1), 2**b) cycles (bucket 0: on time).
cdef enum:
    _CALLS = 0
    _FIRST_TSC = 1
    _LAST_TSC = 2
    _LATE_SUM = 3
    _LATE_MAX = 4
    _HIST = 5
    _HIST_BUCKETS = 64
    _COUNTERS = _HIST + _HIST_BUCKETS

LOAD_CALLS = _CALLS
LOAD_FIRST_TSC = _FIRST_TSC
LOAD_LAST_TSC = _LAST_TSC
LOAD_LATE_SUM = _LATE_SUM
LOAD_LATE_MAX = _LATE_MAX
LOAD_HIST = _HIST
LOAD_HIST_BUCKETS = _HIST_BUCKETS
LOAD_COUNTERS = _COUNTERS


cdef extern from *:
    """
    /* The stop flag is written by another thread; volatile forces a fresh load each time. */
    static inline int64_t hvl_read_flag(const int64_t *flag)
    {
        return *(const volatile int64_t *)flag;
    }
    static inline int hvl_log2_bucket(uint64_t x)
    {
        /* 64 buckets: lateness of 2**63 cycles or more shares the last one. */
        int b = x ? 64 - __builtin_clzll(x) : 0;
        return b > 63 ? 63 : b;
    }
    """
    int64_t hvl_read_flag(const int64_t *flag) noexcept nogil
    int hvl_log2_bucket(uint64_t x) noexcept nogil


cdef void _load_loop(trap_t *tag, uint32_t leaf, uint32_t subleaf, const hvl_regs *r,
                     const uint64_t *gaps, Py_ssize_t ngaps, const int64_t *stop,
                     int64_t *counters) noexcept nogil:
    cdef hvl_sample s
    cdef uint64_t now, late, intended = 0
    cdef Py_ssize_t k = 0
    cdef int64_t calls = 0
    cdef bint last = False
    cdef uint64_t first = hvl_rdtsc()
    intended = first
    while not last:
        last = hvl_read_flag(stop) != 0
        if ngaps:
            # Open loop: the schedule advances by its own gaps; a late call is issued at
            # once and its lateness counted, never used to push later calls back.
            now = hvl_rdtsc()
            while now < intended:
                if hvl_read_flag(stop):
                    # Read the clock again: a worker kept off its CPU since the last
                    # reading is late, and the call then due is issued as the last one
                    # with its lateness, so a shortfall at the very end is recorded too.
                    last = True
                    now = hvl_rdtsc()
                    break
                hvl_pause()
                now = hvl_rdtsc()
            if now < intended:
                break
            late = now - intended
            counters[_LATE_SUM] += <int64_t>late
            if <int64_t>late > counters[_LATE_MAX]:
                counters[_LATE_MAX] = <int64_t>late
            counters[_HIST + hvl_log2_bucket(late)] += 1
            intended += gaps[k]
            k += 1
            if k == ngaps:
                k = 0
        elif last:
            break
        _sample(tag, leaf, subleaf, r, &s)
        calls += 1
        # Published as it goes so a reader sees progress; the final values are exact.
        counters[_CALLS] = calls
    counters[_FIRST_TSC] = <int64_t>first
    counters[_LAST_TSC] = <int64_t>hvl_rdtsc()
    counters[_CALLS] = calls


def run_load(int kind, uint32_t leaf, uint32_t subleaf, regs, uint64_t[::1] gaps not None,
             int64_t[::1] stop not None, int64_t[::1] counters not None):
    """Issue ``kind`` until ``stop[0]`` becomes non-zero, GIL released; fill ``counters``.

    ``gaps`` holds the cycles between successive intended starts, used cyclically; an
    empty array issues back to back. A paced loop that is behind its schedule when it
    sees the stop still issues the call then due, with its lateness: time it spent off
    its CPU at the very end is recorded as lateness like anywhere else. See ``LOAD_*`` for the counters' layout. A
    kernel-mediated kind needs :func:`kernel_prepare` first.
    """
    _require_supported()
    _check_kind(kind)
    _check_prepared(kind)
    cdef hvl_regs r
    _fill_regs(regs, &r)
    if stop.shape[0] < 1:
        raise ValueError("stop must have at least one element")
    if counters.shape[0] != LOAD_COUNTERS:
        raise ValueError(f"counters must have {LOAD_COUNTERS} elements, got {counters.shape[0]}")
    cdef Py_ssize_t i
    for i in range(gaps.shape[0]):
        if gaps[i] == 0:
            raise ValueError(f"gaps[{i}] is 0; every gap must be at least 1 cycle")
    counters[:] = 0
    cdef const uint64_t *gp = &gaps[0] if gaps.shape[0] else NULL
    cdef Py_ssize_t ng = gaps.shape[0]
    cdef int64_t *p_stop = &stop[0]
    cdef int64_t *p_counters = &counters[0]
    with nogil:
        if kind == HVL_TRAP_CPUID:
            _load_loop(<_cpuid_tag *>NULL, leaf, subleaf, &r, gp, ng, p_stop, p_counters)
        elif kind == HVL_TRAP_VMCALL:
            _load_loop(<_vmcall_tag *>NULL, leaf, subleaf, &r, gp, ng, p_stop, p_counters)
        elif kind == HVL_TRAP_VMMCALL:
            _load_loop(<_vmmcall_tag *>NULL, leaf, subleaf, &r, gp, ng, p_stop, p_counters)
        elif kind == HVL_TRAP_SYSCALL:
            _load_loop(<_syscall_tag *>NULL, leaf, subleaf, &r, gp, ng, p_stop, p_counters)
        elif kind == HVL_TRAP_IPI:
            _load_loop(<_ipi_tag *>NULL, leaf, subleaf, &r, gp, ng, p_stop, p_counters)
        elif kind == HVL_TRAP_TLB_FLUSH:
            _load_loop(<_tlb_flush_tag *>NULL, leaf, subleaf, &r, gp, ng, p_stop, p_counters)
        else:
            _load_loop(<_null_tag *>NULL, leaf, subleaf, &r, gp, ng, p_stop, p_counters)
