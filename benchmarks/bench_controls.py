"""What interleaving control probes costs: a block's measuring time against its parts.

A block with controls measures the main probe (paced, open loop) and each control in
shuffled sub-bursts. Measured in the same run, alternating, pinned to one CPU:

* interleaved: one block's samples of every probe, as a campaign takes them;
* separate: the same samples of each probe as one burst of its own, one after another.

The ratio interleaved / separate is the cost of switching between probes (goal: at most
1.03, issue 11). Also printed: each probe's median cycles (null, syscall, main), and,
for a small campaign with controls, its wall time against the time spent measuring.

Usage: python benchmarks/bench_controls.py [--samples 5200] [--reps 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

import hvload
import hvload.campaign as campaign
from hvload.campaign.runner import _measure
from hvload.measure import executor
from hvload.measure.machine import tsc_frequency
from hvload.workload.schedule import Level


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5200, help="samples per probe per block")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--rate", type=float, default=20_000.0, help="main probe samples/s")
    args = ap.parse_args()
    hz = tsc_frequency()[0]
    cpu = min(os.sched_getaffinity(0))
    main_trap = hvload.make_trap("hypercall")
    if not executor.probe(main_trap).ok:
        main_trap = executor.cpuid_trap(0)
    controls = tuple(
        t for t in (executor.null_trap(), executor.syscall_trap()) if executor.probe(t).ok
    )
    gap = round(hz / args.rate)
    design = campaign.Design(
        probe=main_trap, levels=(Level("idle", 0.0),), probe_cpu=cpu, samples=args.samples,
        rounds=1, probe_gap=gap, controls=controls,
    )  # fmt: skip
    n = args.samples
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    inter, separate = [], []
    try:
        for rep in range(args.reps):
            rng = np.random.default_rng(rep)
            t0 = time.perf_counter_ns()
            outs, _ = _measure(design, rng, n)
            inter.append(time.perf_counter_ns() - t0)
            t0 = time.perf_counter_ns()
            for t, g in zip(design.probes, [gap] + [0] * len(controls), strict=True):
                executor.fill(t, executor.Burst(t, g, **executor.allocate(n)), 0, n, gap=g)
            separate.append(time.perf_counter_ns() - t0)
    finally:
        os.sched_setaffinity(0, saved)
    ratio = statistics.median(i / s for i, s in zip(inter, separate, strict=True))
    labels = [t.label for t in design.probes]
    print(
        f"probes: {labels}; {n} samples each; main paced at {args.rate:g}/s, controls "
        f"back to back in sub-bursts of {design.sub_burst}"
    )
    for o in outs:
        print(f"  {o.trap.label:20s} median {np.median(o.cycles):8.0f} cycles")
    # A preempted rep is slow whichever way it measured; the best reps show the cost of
    # switching itself, the medians what a busy machine adds.
    best = min(inter) / min(separate)
    print(
        f"interleaved block: median {statistics.median(inter) / 1e6:.2f} ms, best "
        f"{min(inter) / 1e6:.2f} ms; separate bursts: median "
        f"{statistics.median(separate) / 1e6:.2f} ms, best {min(separate) / 1e6:.2f} ms"
    )
    print(
        f"ratio interleaved / separate: median of reps {ratio:.4f}, best {best:.4f} (goal <= 1.03)"
    )

    plan = campaign.prepare(quick=True, rounds=3, seed=1)
    t0 = time.perf_counter()
    camp = plan.run(None)
    wall = time.perf_counter() - t0
    measuring = camp.blocks["probe_ns"].sum() / 1e9
    outside = 100 * (1 - measuring / wall)
    print(
        f"small campaign ({len(camp.blocks)} blocks, {len(plan.design.probes)} probes): "
        f"wall {wall:.2f} s, measuring {measuring:.2f} s ({outside:.1f} % outside "
        "measurement: platform timing, saturation, settle, load start/stop)"
    )


if __name__ == "__main__":
    main()
