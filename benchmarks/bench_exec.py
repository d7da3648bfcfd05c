"""Cython executor against a plain C loop with the identical fenced sequence.

Builds ``benchmarks/c_burst.c`` with the system compiler (``cc -O3``), pins itself to one
CPU, and alternates C and Cython bursts of the same trap and size. Prints calls per
second, min and median cycles of each, and the Cython/C ratios. Targets (issue 2):
calls/s ratio >= 0.99 for hypercall and cpuid, null floor within 2 cycles of C's,
null per-sample cost within 5% of C's.

Usage: python benchmarks/bench_exec.py [--reps 5] [--cpu N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from hvload.measure import _exec, cpu, executor

HERE = Path(__file__).resolve().parent
CODES = {"null": 0, "cpuid": 1, "vmcall": 2, "vmmcall": 3}


def build() -> Path:
    out = HERE / "_build" / "c_burst"
    out.parent.mkdir(exist_ok=True)
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("no C compiler (cc/gcc) found")
    subprocess.run([cc, "-O3", "-o", str(out), str(HERE / "c_burst.c")], check=True)
    return out


def run_c(exe: Path, code: int, n: int) -> dict[str, float]:
    out = subprocess.run([str(exe), str(code), str(n)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def run_cython(trap: executor.Trap, code: int, n: int) -> dict[str, float]:
    arrays = list(executor.allocate(n).values())  # the same pre-faulted arrays burst() uses
    executor.probe(trap)
    t0 = time.perf_counter()
    _exec.run_burst(code, trap.leaf, trap.subleaf, trap.regs, 0, 0, *arrays, 0, n)
    secs = time.perf_counter() - t0
    cycles = arrays[1]  # start, cycles, response, rax, cpu_begin, cpu_end
    return {
        "seconds": secs,
        "calls_per_s": n / secs,
        "min": int(cycles.min()),
        "median": float(np.median(cycles)),
        "rax0": int(arrays[3][0]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: last allowed)")
    ap.add_argument("--n-null", type=int, default=1_000_000)
    ap.add_argument("--n-exit", type=int, default=50_000)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    pin = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {pin})
    exe = build()
    native = "vmmcall" if cpu.vendor() in ("AuthenticAMD", "HygonGenuine") else "vmcall"
    cases = [
        ("null", executor.null_trap(), CODES["null"], args.n_null),
        ("cpuid", executor.cpuid_trap(0), CODES["cpuid"], args.n_exit),
    ]
    hyper = executor.hyperv_hypercall(0x10008, instruction=native)
    if executor.probe(hyper).ok:
        cases.append((f"hypercall/{native}", hyper, CODES[native], args.n_exit))
    else:
        print(f"hypercall/{native} skipped: {executor.probe(hyper).reason}")

    print(
        f"pinned to CPU {pin}; {args.reps} alternating runs of each; {cpu.brand()}, "
        f"{cpu.hypervisor()}"
    )
    header = (
        f"{'trap':<18}{'n':>9}{'C calls/s':>13}{'Cy calls/s':>13}{'ratio':>8}"
        f"{'C min':>8}{'Cy min':>8}{'C med':>8}{'Cy med':>8}{'ns/sample C':>13}"
        f"{'Cy':>8}{'cost ratio':>11}"
    )
    print(header)
    report = {}
    for name, trap, code, n in cases:
        run_c(exe, code, min(n, 10_000))  # warm both paths before timing
        run_cython(trap, code, min(n, 10_000))
        c_runs, cy_runs = [], []
        for _ in range(args.reps):
            c_runs.append(run_c(exe, code, n))
            cy_runs.append(run_cython(trap, code, n))

        def med(runs: list[dict[str, float]], key: str) -> float:
            return statistics.median(r[key] for r in runs)

        c_rate, cy_rate = med(c_runs, "calls_per_s"), med(cy_runs, "calls_per_s")
        c_min, cy_min = min(r["min"] for r in c_runs), min(r["min"] for r in cy_runs)
        c_ns, cy_ns = 1e9 / c_rate, 1e9 / cy_rate
        row = {
            "n": n,
            "c_calls_per_s": c_rate,
            "cython_calls_per_s": cy_rate,
            "rate_ratio": cy_rate / c_rate,
            "c_min": c_min,
            "cython_min": cy_min,
            "c_median": med(c_runs, "median"),
            "cython_median": med(cy_runs, "median"),
            "cost_ratio": cy_ns / c_ns,
            # Best of the runs: the least disturbed estimate on a noisy shared host.
            "best_rate_ratio": max(r["calls_per_s"] for r in cy_runs)
            / max(r["calls_per_s"] for r in c_runs),
        }
        report[name] = row
        print(
            f"{name:<18}{n:>9}{c_rate:>13.0f}{cy_rate:>13.0f}{row['rate_ratio']:>8.3f}"
            f"{c_min:>8}{cy_min:>8}{row['c_median']:>8.0f}{row['cython_median']:>8.0f}"
            f"{c_ns:>13.1f}{cy_ns:>8.1f}{row['cost_ratio']:>11.3f}"
        )
    null = report["null"]
    print(
        f"\nnull floor: C min {null['c_min']} vs Cython min {null['cython_min']} cycles "
        f"(difference {null['cython_min'] - null['c_min']:+d}; target within 2)"
    )
    print(
        f"null per-sample cost: Cython/C = {null['cost_ratio']:.3f} median of runs, "
        f"{1 / null['best_rate_ratio']:.3f} best of runs (target <= 1.05)"
    )
    for name, row in report.items():
        if name != "null":
            print(
                f"{name} calls/s: Cython/C = {row['rate_ratio']:.3f} median of runs, "
                f"{row['best_rate_ratio']:.3f} best of runs (target >= 0.99)"
            )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
