"""Cost of the kernel-mediated traps against a plain system call, with the delivered share.

A helper thread spins on the target CPU (the last allowed one) while this thread, kept
off it, issues interleaved bursts of ``syscall/getppid``, ``ipi`` (membarrier) and
``tlb-flush`` (an mprotect flip), rotating their order each round. For each it prints
the median and p99 cycles per sample, and for the kernel-mediated kinds the share of
the interrupts sent that reached the target CPU (its CAL or TLB line in
``/proc/interrupts``), less the machine's own rate on that CPU measured over an equal
idle time in the same round. On a KVM guest with PV IPIs each delivered interrupt is a
``KVM_HC_SEND_IPI`` hypercall.

Usage: python benchmarks/bench_kernel.py [--n 5000] [--rounds 5] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from hvload.measure import executor, kernel
from hvload.measure.machine import tsc_frequency


def _gain(counter: str, target: int, before: dict[str, dict[int, int]]) -> int | None:
    return kernel.delivered(before, kernel.ipi_counts([target]), [target]).get(counter)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="samples per burst")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    ap.add_argument("--json", help="write the figures here as JSON")
    args = ap.parse_args()

    target = max(os.sched_getaffinity(0))
    for kind in kernel.KERNEL_KINDS:
        kernel.check_kernel_mediated(kind, target)
    hz = tsc_frequency()[0] or 1.0
    traps = [executor.syscall_trap("getppid"), executor.ipi_trap(), executor.tlb_flush_trap()]
    cycles: dict[str, list[np.ndarray]] = {t.label: [] for t in traps}
    seconds = dict.fromkeys(cycles, 0.0)
    sent = dict.fromkeys(cycles, 0)
    got = dict.fromkeys(cycles, 0)
    background = dict.fromkeys(cycles, 0)
    with kernel.Helper(target), kernel.away_from(target):
        for t in traps:
            executor.burst(t, 10)  # probe and set-up outside the measured rounds
        for r in range(args.rounds):
            for t in traps[r % 3 :] + traps[: r % 3]:
                counter = kernel.COUNTER.get(t.kind, "CAL")
                before = kernel.ipi_counts([target])
                t0 = time.perf_counter()
                b = executor.burst(t, args.n)
                secs = time.perf_counter() - t0
                gain = _gain(counter, target, before)
                idle_before = kernel.ipi_counts([target])
                time.sleep(secs)
                idle = _gain(counter, target, idle_before)
                cycles[t.label].append(b.cycles)
                seconds[t.label] += secs
                if gain is not None and idle is not None:
                    got[t.label] += gain
                    background[t.label] += idle
                sent[t.label] += b.n * kernel.IPIS_PER_SAMPLE.get(t.kind, 0)

    rows = []
    print(f"helper on CPU {target}; {args.rounds} rounds of {args.n}; TSC {hz / 1e9:.3f} GHz;"
          f" load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(f"{'trap':<22}{'median':>8}{'p99':>9}{'median ns':>11}{'calls/s':>10}"
          f"{'delivered':>11}{'background/s':>14}")  # fmt: skip
    for t in traps:
        c = np.concatenate(cycles[t.label])
        median, p99 = float(np.median(c)), float(np.percentile(c, 99))
        rate = c.size / seconds[t.label]
        mediated = t.kind in kernel.COUNTER
        counter = kernel.COUNTER.get(t.kind, "CAL")
        share = (got[t.label] - background[t.label]) / sent[t.label] if mediated else None
        bg_rate = background[t.label] / seconds[t.label]
        rows.append({
            "trap": t.label, "samples": int(c.size), "median_cycles": median,
            "p99_cycles": p99, "median_ns": median / hz * 1e9, "calls_per_s": rate,
            "counter": counter, "delivered": got[t.label], "sent": sent[t.label],
            "background": background[t.label], "delivered_share": share,
            "background_per_s": bg_rate,
        })  # fmt: skip
        shown = f"{share:.1%} {counter}" if share is not None else "-"
        print(f"{t.label:<22}{median:>8.0f}{p99:>9.0f}{median / hz * 1e9:>11.0f}{rate:>10.0f}"
              f"{shown:>11}{bg_rate:>11.0f} {counter}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"target_cpu": target, "tsc_hz": hz, "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
