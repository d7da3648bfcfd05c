/*
 * hvload/_asm.h: every instruction hvload issues, in one place.
 *
 * One timed sample is a single asm block:
 *
 *     rdtscp            ; ECX = TSC_AUX, the CPU at the start (its TSC is discarded)
 *     lfence
 *     rdtsc             ; t0
 *     <trap>            ; nothing, cpuid, syscall, vmcall, vmmcall, or a system call
 *                       ; that makes the guest kernel send IPIs (ipi, tlb-flush)
 *     rdtscp            ; t1, ECX = TSC_AUX, the CPU at the end
 *     lfence
 *
 * Keeping the whole sequence in one block fixes the instructions between t0 and t1:
 * the compiler cannot move loads, stores or register shuffles into the timed window.
 * The benchmark's plain C program includes this header, so Cython and C time the
 * identical sequence. Linux stores (node << 12) | cpu in TSC_AUX, hence the 0xfff mask.
 *
 * x86_64 with GCC or Clang gets the real code; anything else gets stubs and
 * HVL_SUPPORTED == 0, and the Python layer refuses to measure before calling them.
 */
#ifndef HVLOAD_ASM_H
#define HVLOAD_ASM_H

#include <stdint.h>

enum {
    HVL_TRAP_NULL = 0,
    HVL_TRAP_CPUID = 1,
    HVL_TRAP_VMCALL = 2,
    HVL_TRAP_VMMCALL = 3,
    HVL_TRAP_SYSCALL = 4,
    HVL_TRAP_IPI = 5,
    HVL_TRAP_TLB_FLUSH = 6
};

/* Register inputs of a hypercall. Hyper-V: RCX control, RDX, R8.
 * KVM: RAX call number, RBX, RCX, RDX, RSI. Unused registers are zero. */
typedef struct {
    uint64_t rax, rbx, rcx, rdx, rsi, r8;
} hvl_regs;

typedef struct {
    uint64_t t0, t1;
    uint64_t rax;
    uint32_t cpu0, cpu1;
} hvl_sample;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#define HVL_SUPPORTED 1

#define HVL_BEGIN                   \
    "rdtscp\n\t"                    \
    "movl %%ecx, %k[c0]\n\t"        \
    "lfence\n\t"                    \
    "rdtsc\n\t"                     \
    "shlq $32, %%rdx\n\t"           \
    "orq %%rdx, %%rax\n\t"          \
    "movq %%rax, %[t0]\n\t"

#define HVL_END                     \
    "rdtscp\n\t"                    \
    "lfence\n\t"                    \
    "shlq $32, %%rdx\n\t"           \
    "orq %%rdx, %%rax\n\t"

static inline uint64_t hvl_rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline void hvl_pause(void)
{
    __asm__ __volatile__("pause" ::: "memory");
}

static inline void hvl_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    uint32_t a, b, c, d;
    __asm__ __volatile__("cpuid"
                         : "=a"(a), "=b"(b), "=c"(c), "=d"(d)
                         : "a"(leaf), "c"(subleaf));
    out[0] = a;
    out[1] = b;
    out[2] = c;
    out[3] = d;
}

static inline void hvl_sample_null(hvl_sample *s)
{
    uint64_t t0, t1, c1;
    uint32_t c0;
    __asm__ __volatile__(HVL_BEGIN HVL_END
                         : [t0] "=&r"(t0), [c0] "=&r"(c0), "=&a"(t1), "=&c"(c1)
                         :
                         : "rdx", "memory", "cc");
    s->t0 = t0;
    s->t1 = t1;
    s->rax = 0;
    s->cpu0 = c0 & 0xfff;
    s->cpu1 = (uint32_t)c1 & 0xfff;
}

/* RAX of a cpuid sample is the EAX it returned: the leaf's first output word. */
static inline void hvl_sample_cpuid(uint32_t leaf, uint32_t subleaf, hvl_sample *s)
{
    uint64_t t0, t1, c1, ret;
    uint32_t c0;
    __asm__ __volatile__(HVL_BEGIN
                         "movl %[leaf], %%eax\n\t"
                         "movl %[sub], %%ecx\n\t"
                         "cpuid\n\t"
                         "movq %%rax, %[ret]\n\t"
                         HVL_END
                         : [t0] "=&r"(t0), [c0] "=&r"(c0), [ret] "=&r"(ret),
                           "=&a"(t1), "=&c"(c1)
                         : [leaf] "r"(leaf), [sub] "r"(subleaf)
                         : "rbx", "rdx", "memory", "cc");
    s->t0 = t0;
    s->t1 = t1;
    s->rax = (uint32_t)ret;
    s->cpu0 = c0 & 0xfff;
    s->cpu1 = (uint32_t)c1 & 0xfff;
}

/*
 * A system call: a round trip into the guest kernel and back with no VM exit, the
 * control that tells the cost of entering a privileged layer from the cost of an exit.
 * RAX = the call number (a side-effect-free one such as getppid); the kernel returns
 * its result in RAX and, by the x86-64 SYSCALL convention, clobbers RCX (return RIP)
 * and R11 (RFLAGS); every other register is preserved. The numbers are Linux's, so
 * this is built on Linux only (HVL_HAVE_SYSCALL).
 */
#if defined(__linux__)
#define HVL_HAVE_SYSCALL 1
static inline void hvl_sample_syscall(uint64_t nr, hvl_sample *s)
{
    uint64_t t0, t1, c1, ret;
    uint32_t c0;
    __asm__ __volatile__(HVL_BEGIN
                         "movq %[nr], %%rax\n\t"
                         "syscall\n\t"
                         "movq %%rax, %[ret]\n\t"
                         HVL_END
                         : [t0] "=&r"(t0), [c0] "=&r"(c0), [ret] "=&r"(ret),
                           "=&a"(t1), "=&c"(c1)
                         : [nr] "r"(nr)
                         : "rdx", "r11", "memory", "cc");
    s->t0 = t0;
    s->t1 = t1;
    s->rax = ret;
    s->cpu0 = c0 & 0xfff;
    s->cpu1 = (uint32_t)c1 & 0xfff;
}
#else
#define HVL_HAVE_SYSCALL 0
static inline void hvl_sample_syscall(uint64_t nr, hvl_sample *s)
{
    (void)nr;
    s->t0 = s->t1 = s->rax = 0;
    s->cpu0 = s->cpu1 = 0;
}
#endif

/*
 * RAX, RCX and RDX are loaded after rdtsc (which overwrites RAX and RDX), so three
 * register moves sit inside the timed window; RBX, RSI and R8 are loaded before it.
 * RBX, RSI and R8 are in/out because a hypervisor may return values in them; XMM0-5
 * carry Hyper-V's XMM fast-call output.
 */
#define HVL_DEFINE_HYPERCALL(name, insn)                                           \
    static inline void name(const hvl_regs *r, hvl_sample *s)                      \
    {                                                                              \
        uint64_t t0, t1, c1, ret;                                                  \
        uint32_t c0;                                                               \
        uint64_t rbx = r->rbx, rsi = r->rsi;                                       \
        register uint64_t r8 __asm__("r8") = r->r8;                                \
        __asm__ __volatile__(HVL_BEGIN                                             \
                             "movq %[a], %%rax\n\t"                                \
                             "movq %[c], %%rcx\n\t"                                \
                             "movq %[d], %%rdx\n\t"                                \
                             insn "\n\t"                                           \
                             "movq %%rax, %[ret]\n\t"                              \
                             HVL_END                                               \
                             : [t0] "=&r"(t0), [c0] "=&r"(c0), [ret] "=&r"(ret),   \
                               "=&a"(t1), "=&c"(c1), "+b"(rbx), "+S"(rsi), "+r"(r8) \
                             : [a] "r"(r->rax), [c] "r"(r->rcx), [d] "r"(r->rdx)   \
                             : "rdx", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",      \
                               "xmm5", "memory", "cc");                            \
        s->t0 = t0;                                                                \
        s->t1 = t1;                                                                \
        s->rax = ret;                                                              \
        s->cpu0 = c0 & 0xfff;                                                      \
        s->cpu1 = (uint32_t)c1 & 0xfff;                                            \
    }

HVL_DEFINE_HYPERCALL(hvl_sample_vmcall, "vmcall")
HVL_DEFINE_HYPERCALL(hvl_sample_vmmcall, "vmmcall")

#else /* not x86_64 with GCC/Clang: stubs that never run (HVL_SUPPORTED is 0) */

#define HVL_SUPPORTED 0

static inline uint64_t hvl_rdtsc(void) { return 0; }
static inline void hvl_pause(void) {}
static inline void hvl_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4])
{
    (void)leaf;
    (void)subleaf;
    out[0] = out[1] = out[2] = out[3] = 0;
}
static inline void hvl_stub_sample(hvl_sample *s)
{
    s->t0 = s->t1 = s->rax = 0;
    s->cpu0 = s->cpu1 = 0;
}
static inline void hvl_sample_null(hvl_sample *s) { hvl_stub_sample(s); }
static inline void hvl_sample_cpuid(uint32_t leaf, uint32_t subleaf, hvl_sample *s)
{
    (void)leaf;
    (void)subleaf;
    hvl_stub_sample(s);
}
static inline void hvl_sample_vmcall(const hvl_regs *r, hvl_sample *s)
{
    (void)r;
    hvl_stub_sample(s);
}
static inline void hvl_sample_vmmcall(const hvl_regs *r, hvl_sample *s)
{
    (void)r;
    hvl_stub_sample(s);
}
#define HVL_HAVE_SYSCALL 0
static inline void hvl_sample_syscall(uint64_t nr, hvl_sample *s)
{
    (void)nr;
    hvl_stub_sample(s);
}

#endif /* x86_64 */

/*
 * Kernel-mediated traps: system calls after which the guest kernel interrupts the other
 * CPUs that run a thread of this process. On a KVM guest with PV IPIs every such IPI is a
 * KVM_HC_SEND_IPI hypercall, on Hyper-V a HvCallSendSyntheticClusterIpi or a remote TLB
 * flush hypercall: real hypercalls, issued at ring 0 on the caller's behalf. Only CPUs
 * running a thread of the process are interrupted, so a helper thread must spin on the
 * target CPU (hvload.measure.kernel.Helper); the delivered count in /proc/interrupts,
 * not the calls made, is the hypercall rate.
 *
 *   ipi        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0): a function-call IPI
 *              to every other CPU running a thread of the process, waited for.
 *   tlb-flush  one flip of a private page: mprotect(page, 4096, PROT_READ) then
 *              mprotect(page, 4096, PROT_READ|PROT_WRITE), both in the timed window.
 *              Each call changes the page's PTE, so each sends a TLB shootdown to the
 *              CPUs of the process's mm mask; the flip leaves the page as it found it,
 *              so every sample does the same work.
 *
 * RAX of an ipi sample is membarrier's return (0 or -errno). A tlb-flush sample records
 * the first call's return if it is nonzero (the failure that matters), else the second's.
 *
 * The page is one anonymous page the extension maps once per process and never unmaps:
 * a TLB shootdown goes to the whole mm mask whatever page changed, so any page of the
 * process serves; a page of its own can never be a page another thread is writing (a
 * read-only flip of the Python heap would fault it); and mapping it once keeps mmap,
 * munmap and their own flushes out of every burst. It is written once when mapped: an
 * unpopulated page has no PTE, and mprotect of no PTE flushes nothing. It is marked
 * MADV_DONTFORK: a fork (every fork probe) would otherwise share it copy-on-write,
 * leaving the parent's PTE read-only for good; mprotect would then change nothing and
 * send no shootdown, and the trap would time a call that flushes nothing.
 *
 * System call numbers and MEMBARRIER_* commands are the x86-64 Linux ABI, spelled out
 * here rather than taken from <linux/membarrier.h>, which not every build host has.
 * The timed asm issues `syscall` itself, like the syscall trap: the kernel clobbers
 * RCX and R11 and preserves RDI, RSI and RDX, so the arguments can sit in those.
 */
#define HVL_NR_MPROTECT 10
#define HVL_NR_MEMBARRIER 324
#define HVL_MEMBARRIER_CMD_QUERY 0
#define HVL_MEMBARRIER_CMD_PRIVATE_EXPEDITED 8
#define HVL_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED 16
#define HVL_PAGE_BYTES 4096

#if HVL_SUPPORTED && defined(__linux__)
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#define HVL_HAVE_KERNEL 1

/* Process-wide state of the kernel-mediated traps, set by hvl_kernel_prepare (which
 * the Python layer calls with the GIL held, so never from two threads at once). */
static char *hvl_kernel_page = NULL;
static int hvl_membarrier_registered = 0;

static inline void hvl_sample_ipi(hvl_sample *s)
{
    uint64_t t0, t1, c1, ret;
    uint32_t c0;
    __asm__ __volatile__(HVL_BEGIN
                         "movl %[nr], %%eax\n\t"
                         "xorl %%edx, %%edx\n\t"
                         "syscall\n\t"
                         "movq %%rax, %[ret]\n\t"
                         HVL_END
                         : [t0] "=&r"(t0), [c0] "=&r"(c0), [ret] "=&r"(ret),
                           "=&a"(t1), "=&c"(c1)
                         : [nr] "i"(HVL_NR_MEMBARRIER),
                           "D"((uint64_t)HVL_MEMBARRIER_CMD_PRIVATE_EXPEDITED),
                           "S"((uint64_t)0)
                         : "rdx", "r11", "memory", "cc");
    s->t0 = t0;
    s->t1 = t1;
    s->rax = ret;
    s->cpu0 = c0 & 0xfff;
    s->cpu1 = (uint32_t)c1 & 0xfff;
}

static inline void hvl_sample_tlb_flush(hvl_sample *s)
{
    uint64_t t0, t1, c1, ret1, ret2;
    uint32_t c0;
    __asm__ __volatile__(HVL_BEGIN
                         "movl %[nr], %%eax\n\t"
                         "movl %[ro], %%edx\n\t"
                         "syscall\n\t"
                         "movq %%rax, %[r1]\n\t"
                         "movl %[nr], %%eax\n\t"
                         "movl %[rw], %%edx\n\t"
                         "syscall\n\t"
                         "movq %%rax, %[r2]\n\t"
                         HVL_END
                         : [t0] "=&r"(t0), [c0] "=&r"(c0), [r1] "=&r"(ret1),
                           [r2] "=&r"(ret2), "=&a"(t1), "=&c"(c1)
                         : [nr] "i"(HVL_NR_MPROTECT), [ro] "i"(PROT_READ),
                           [rw] "i"(PROT_READ | PROT_WRITE), "D"(hvl_kernel_page),
                           "S"((uint64_t)HVL_PAGE_BYTES)
                         : "rdx", "r11", "memory", "cc");
    s->t0 = t0;
    s->t1 = t1;
    s->rax = ret1 ? ret1 : ret2;
    s->cpu0 = c0 & 0xfff;
    s->cpu1 = (uint32_t)c1 & 0xfff;
}

/* Raw system call outside any timed window: returns the result or -errno. */
static inline int64_t hvl_syscall3(uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
    uint64_t ret;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(nr), "D"(a0), "S"(a1), "d"(a2)
                         : "rcx", "r11", "memory", "cc");
    return (int64_t)ret;
}

/* MEMBARRIER_CMD_QUERY: the bit mask of supported commands, or -errno (-ENOSYS: a
 * kernel built without membarrier). */
static inline int64_t hvl_membarrier_query(void)
{
    return hvl_syscall3(HVL_NR_MEMBARRIER, HVL_MEMBARRIER_CMD_QUERY, 0, 0);
}

/* Whether hvl_kernel_prepare(kind) has succeeded in this process. */
static inline int hvl_kernel_ready(int kind)
{
    if (kind == HVL_TRAP_IPI)
        return hvl_membarrier_registered;
    if (kind == HVL_TRAP_TLB_FLUSH)
        return hvl_kernel_page != NULL;
    return 1;
}

/* Once per process: register for PRIVATE_EXPEDITED (the kernel refuses it with EPERM
 * before), or map and populate the flip page. 0, or -errno of the call that failed. */
static inline int hvl_kernel_prepare(int kind)
{
    if (kind == HVL_TRAP_IPI && !hvl_membarrier_registered) {
        int64_t rc = hvl_syscall3(HVL_NR_MEMBARRIER,
                                  HVL_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
        if (rc < 0)
            return (int)rc;
        hvl_membarrier_registered = 1;
    }
    if (kind == HVL_TRAP_TLB_FLUSH && hvl_kernel_page == NULL) {
        void *p = mmap(NULL, HVL_PAGE_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return -errno;
        if (madvise(p, HVL_PAGE_BYTES, MADV_DONTFORK) != 0) {
            int err = errno;
            munmap(p, HVL_PAGE_BYTES);
            return -err;
        }
        *(volatile char *)p = 1;
        hvl_kernel_page = (char *)p;
    }
    return 0;
}

/* In the fork probe's child: registration belongs to the mm, and whether a forked mm
 * inherits it is the kernel's business, so the child registers for itself (the call is
 * idempotent); the parent's page is not mapped in the child (MADV_DONTFORK), so the
 * child maps one of its own. */
static inline int hvl_kernel_prepare_child(int kind)
{
    if (kind == HVL_TRAP_IPI) {
        int64_t rc = hvl_syscall3(HVL_NR_MEMBARRIER,
                                  HVL_MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
        return rc < 0 ? (int)rc : 0;
    }
    if (kind == HVL_TRAP_TLB_FLUSH)
        hvl_kernel_page = NULL;
    return hvl_kernel_prepare(kind);
}
#else
#define HVL_HAVE_KERNEL 0
static inline void hvl_sample_ipi(hvl_sample *s)
{
    s->t0 = s->t1 = s->rax = 0;
    s->cpu0 = s->cpu1 = 0;
}
static inline void hvl_sample_tlb_flush(hvl_sample *s) { hvl_sample_ipi(s); }
static inline int64_t hvl_membarrier_query(void) { return -38; /* ENOSYS */ }
static inline int hvl_kernel_ready(int kind) { (void)kind; return 0; }
static inline int hvl_kernel_prepare(int kind) { (void)kind; return -38; }
static inline int hvl_kernel_prepare_child(int kind) { (void)kind; return -38; }
#endif /* kernel-mediated traps */

/* One sample of any trap kind; a switch the compiler unswitches out of loops. */
static inline void hvl_sample_trap(int kind, uint32_t leaf, uint32_t subleaf,
                                   const hvl_regs *r, hvl_sample *s)
{
    switch (kind) {
    case HVL_TRAP_CPUID:
        hvl_sample_cpuid(leaf, subleaf, s);
        break;
    case HVL_TRAP_VMCALL:
        hvl_sample_vmcall(r, s);
        break;
    case HVL_TRAP_VMMCALL:
        hvl_sample_vmmcall(r, s);
        break;
    case HVL_TRAP_SYSCALL:
        hvl_sample_syscall(r->rax, s);
        break;
    case HVL_TRAP_IPI:
        hvl_sample_ipi(s);
        break;
    case HVL_TRAP_TLB_FLUSH:
        hvl_sample_tlb_flush(s);
        break;
    default:
        hvl_sample_null(s);
        break;
    }
}

/*
 * The fork probe: run one sample of a trap in a child process and report how the
 * child ended. A trap the platform refuses (SIGILL for #UD, SIGSEGV for the other
 * vendor's opcode under KVM) kills only the child. The child restores default signal
 * actions first, so a Python faulthandler inherited across fork() cannot print a
 * traceback for it, drops core dumps, and is killed by SIGALRM if the trap never
 * returns. Only async-signal-safe calls run in the child.
 *
 * Returns 0 and fills *wstatus (waitpid's status) and *rax (RAX the child saw, valid
 * when it exited with status 0), or a negative errno when fork/pipe/waitpid failed.
 */
#if defined(__unix__) || defined(__APPLE__)
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define HVL_HAVE_FORK 1

static inline int hvl_probe_in_child(int kind, uint32_t leaf, uint32_t subleaf,
                                     const hvl_regs *r, unsigned int timeout_s,
                                     int *wstatus, uint64_t *rax)
{
    int fds[2];
    pid_t pid;
    hvl_sample s;
    ssize_t got = 0, n;
    unsigned char *p = (unsigned char *)rax;

    if (pipe(fds) != 0)
        return -errno;
    /* Another thread forking meanwhile must not inherit the write end, or the read
     * below would wait for that process too. */
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pid = fork();
    if (pid < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return -err;
    }
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        close(fds[0]);
        signal(SIGILL, SIG_DFL);
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        signal(SIGFPE, SIG_DFL);
        signal(SIGALRM, SIG_DFL);
        setrlimit(RLIMIT_CORE, &no_core);
        alarm(timeout_s);
        s.rax = 0;
        if (kind == HVL_TRAP_IPI || kind == HVL_TRAP_TLB_FLUSH) {
            /* A refused set-up is reported as the sample's RAX: a negative errno. */
            int rc = hvl_kernel_prepare_child(kind);
            if (rc < 0)
                s.rax = (uint64_t)(int64_t)rc;
        }
        if (s.rax == 0)
            hvl_sample_trap(kind, leaf, subleaf, r, &s);
        if (write(fds[1], &s.rax, sizeof s.rax) != (ssize_t)sizeof s.rax)
            _exit(3);
        _exit(0);
    }
    close(fds[1]);
    *rax = 0;
    while (got < (ssize_t)sizeof *rax) {
        n = read(fds[0], p + got, sizeof *rax - (size_t)got);
        if (n > 0)
            got += n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    close(fds[0]);
    while (waitpid(pid, wstatus, 0) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}
#else
#define HVL_HAVE_FORK 0
static inline int hvl_probe_in_child(int kind, uint32_t leaf, uint32_t subleaf,
                                     const hvl_regs *r, unsigned int timeout_s,
                                     int *wstatus, uint64_t *rax)
{
    (void)kind; (void)leaf; (void)subleaf; (void)r; (void)timeout_s;
    *wstatus = 0;
    *rax = 0;
    return -38; /* ENOSYS */
}
#endif

#endif /* HVLOAD_ASM_H */
