/*
 * Reference for benchmarks/bench_exec.py: the same fenced sample sequence as the
 * Cython executor (it includes the same header), in a plain C loop that writes the
 * same six arrays. Usage: c_burst KIND N [GAP]; KIND is 0 null, 1 cpuid (leaf 0),
 * 2 vmcall, 3 vmmcall (Hyper-V convention, RCX = 0x10008). Prints one JSON object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "../hvload/measure/_asm.h"

/* numpy asks for transparent huge pages on large arrays; do the same so both sides
 * write to memory of the same kind. */
static void *alloc(size_t bytes)
{
    size_t huge = (size_t)2 << 20;
    void *p = aligned_alloc(huge, (bytes + huge - 1) / huge * huge);
#ifdef MADV_HUGEPAGE
    if (p)
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One loop per trap, the instruction fixed at compile time: the best plain C can do. */
#define DEFINE_LOOP(name, SAMPLE)                                                     \
    static __attribute__((noinline)) void name(                                        \
        long n, uint64_t gap, uint64_t first, const hvl_regs *r, int64_t *start,      \
        int64_t *cycles, int64_t *response, int64_t *rax, uint16_t *cpu0,            \
        uint16_t *cpu1)                                                               \
    {                                                                                 \
        hvl_sample s;                                                                 \
        uint64_t intended = 0;                                                        \
        (void)r;                                                                      \
        for (long i = 0; i < n; i++) {                                                \
            if (gap) {                                                                \
                intended = first + (uint64_t)i * gap;                                 \
                while (hvl_rdtsc() < intended)                                        \
                    hvl_pause();                                                      \
            }                                                                         \
            SAMPLE;                                                                   \
            start[i] = (int64_t)s.t0;                                                 \
            cycles[i] = (int64_t)(s.t1 - s.t0);                                       \
            response[i] = gap ? (int64_t)(s.t1 - intended) : (int64_t)(s.t1 - s.t0);  \
            rax[i] = (int64_t)s.rax;                                                  \
            cpu0[i] = (uint16_t)s.cpu0;                                               \
            cpu1[i] = (uint16_t)s.cpu1;                                               \
        }                                                                             \
    }

DEFINE_LOOP(loop_null, hvl_sample_null(&s))
DEFINE_LOOP(loop_cpuid, hvl_sample_cpuid(0, 0, &s))
DEFINE_LOOP(loop_vmcall, hvl_sample_vmcall(r, &s))
DEFINE_LOOP(loop_vmmcall, hvl_sample_vmmcall(r, &s))

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s KIND N [GAP]\n", argv[0]);
        return 2;
    }
    int kind = atoi(argv[1]);
    long n = atol(argv[2]);
    uint64_t gap = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    hvl_regs r = {0, 0, 0x10008, 0, 0, 0};
    int64_t *start = alloc(n * sizeof *start), *cycles = alloc(n * sizeof *cycles);
    int64_t *response = alloc(n * sizeof *response), *rax = alloc(n * sizeof *rax);
    uint16_t *cpu0 = alloc(n * sizeof *cpu0), *cpu1 = alloc(n * sizeof *cpu1);
    if (!start || !cycles || !response || !rax || !cpu0 || !cpu1)
        return 3;
    /* Touch every page first, as the Python side does, so no page fault is timed. */
    memset(start, 0, n * sizeof *start);
    memset(cycles, 0, n * sizeof *cycles);
    memset(response, 0, n * sizeof *response);
    memset(rax, 0, n * sizeof *rax);
    memset(cpu0, 0, n * sizeof *cpu0);
    memset(cpu1, 0, n * sizeof *cpu1);

    struct timespec a, b;
    uint64_t first = gap ? hvl_rdtsc() : 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    switch (kind) {
    case HVL_TRAP_CPUID:
        loop_cpuid(n, gap, first, &r, start, cycles, response, rax, cpu0, cpu1);
        break;
    case HVL_TRAP_VMCALL:
        loop_vmcall(n, gap, first, &r, start, cycles, response, rax, cpu0, cpu1);
        break;
    case HVL_TRAP_VMMCALL:
        loop_vmmcall(n, gap, first, &r, start, cycles, response, rax, cpu0, cpu1);
        break;
    default:
        loop_null(n, gap, first, &r, start, cycles, response, rax, cpu0, cpu1);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    qsort(cycles, (size_t)n, sizeof *cycles, cmp_i64);
    printf("{\"seconds\": %.9f, \"calls_per_s\": %.1f, \"min\": %lld, \"median\": %lld, "
           "\"rax0\": %lld}\n",
           secs, (double)n / secs, (long long)cycles[0], (long long)cycles[n / 2],
           (long long)rax[0]);
    return 0;
}
