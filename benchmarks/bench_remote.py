"""Coordination cost of remote load per block, against local load workers in the same run.

Starts a Dask cluster on this machine (``hvload.workload.remote.local_cluster``: worker processes
on 127.0.0.1 that play neighbour VMs) and, interleaved block by block, starts and stops
the same load (one paced cpuid worker on the highest CPU per machine) as a local
``LoadGenerator`` and through 1 and 2 agents, talking to the agents' workers directly
(the default) and through the scheduler. Each start returns once every worker has
issued its first call; each stop returns with every worker's stats. Prints the median
and 90th percentile of start, stop and start+stop per block, the overhead against local
load, and the agent's own share (the rest is the network and the event loops).
Goal (issue 15): under 5 ms per block of coordination overhead on loopback.

Usage: python benchmarks/bench_remote.py [--blocks 60] [--hold 0.01] [--rate 20000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import hvload
import hvload.campaign as campaign
from hvload.measure.machine import tsc_frequency
from hvload.workload import remote, schedule


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=60, help="start/stop pairs per configuration")
    ap.add_argument("--hold", type=float, default=0.01, help="seconds the load runs per block")
    ap.add_argument("--rate", type=float, default=20_000.0, help="calls/s of each worker")
    args = ap.parse_args()

    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("needs at least two CPUs: one for the probe, one for load")
    probe_cpu, cpu = cpus[0], cpus[-1]
    hz = tsc_frequency()[0]
    trap = hvload.make_trap("cpuid")
    sched = schedule.Constant(args.rate)

    def level(name: str, agents: list[str | None], on: list[int] | None = None) -> schedule.Level:
        on = on or [cpu] * len(agents)
        specs = [schedule.WorkerSpec(c, trap, sched, a) for a, c in zip(agents, on, strict=True)]
        return schedule.Level(name, len(agents), tuple(specs))

    local_design = hvload.Design(probe=trap, levels=(level("local", [None]),),
                                 probe_cpu=probe_cpu, samples=1, rounds=1)  # fmt: skip
    remote_design = hvload.Design(
        probe=trap, levels=(
            level("1 VM", ["0"]), level("2 VMs", ["0", "1"]),
            # Separate VMs load separate CPUs; where this machine has a spare one, so do the
            # two agents here (else the second start waits for the CPU the first one spins on).
            *([level("2 VMs, own CPUs", ["0", "1"], [cpus[-1], cpus[-2]])]
              if len(cpus) >= 3 else []),
        ),
        probe_cpu=probe_cpu, samples=1, rounds=1,
    )  # fmt: skip
    t0 = time.perf_counter()
    with remote.local_cluster(2) as cluster:
        print(f"cluster of 2 agents up in {time.perf_counter() - t0:.1f} s; load: one cpuid "
              f"worker at {args.rate:,.0f}/s on CPU {cpu} per machine; {args.blocks} blocks "
              f"per configuration, {args.hold * 1e3:g} ms of load each")  # fmt: skip
        with remote.AgentPool(cluster) as direct, remote.AgentPool(cluster, direct=False) as via:
            local = campaign.LocalLoad()
            local.open(local_design, hz)
            direct.open(remote_design, hz)
            via.open(remote_design, hz)
            configs = {
                "local workers": (local, 0),
                "1 agent, direct": (direct, 0),
                "2 agents, direct": (direct, 1),
                "1 agent, via scheduler": (via, 0),
            }
            if len(remote_design.levels) > 2:
                configs["2 agents, own CPUs"] = (direct, 2)
            times: dict[str, list[tuple[float, float]]] = {k: [] for k in configs}
            agent_ms: dict[str, list[float]] = {k: [] for k in configs}
            for b in range(args.blocks + 3):
                for name, (driver, index) in configs.items():
                    a = time.perf_counter()
                    driver.start(index)
                    started = time.perf_counter()
                    time.sleep(args.hold)
                    c = time.perf_counter()
                    out = driver.stop(index, None)
                    stopped = time.perf_counter()
                    if b < 3:  # warm-up: first starts fork-probe the trap, import, connect
                        continue
                    times[name].append(((started - a) * 1e3, (stopped - c) * 1e3))
                    for w in out.row.get("agent_windows", []):
                        agent_ms[name].append(w["agent_start_ms"] + w["agent_stop_ms"])
            # Round trips of an empty call to agent 1, with no load running and while its
            # own load spins on the load CPU (a paced worker busy-waits between calls).
            pings: dict[str, list[float]] = {"no load": [], "its load running": []}
            for phase in pings:
                if phase != "no load":
                    spec = list(remote_design.levels[1].workers[1:])
                    direct._send("1", "start", spec, 60.0).result(30)
                for _ in range(args.blocks):
                    a = time.perf_counter()
                    direct._call_all({"1": ("clock", ())})
                    pings[phase].append((time.perf_counter() - a) * 1e3)
            direct._send("1", "stop").result(30)
            for d in (local, direct, via):
                d.close()

    ref = statistics.median(s + t for s, t in times["local workers"])
    print(f"\n{'':24}{'start ms':>18}{'stop ms':>18}{'start+stop ms':>18}{'overhead ms':>13}"
          f"{'agent ms':>10}")  # fmt: skip
    print(f"{'':24}{'median   p90':>18}{'median   p90':>18}{'median   p90':>18}{'median':>13}"
          f"{'median':>10}")  # fmt: skip
    for name, pairs in times.items():
        st = [p[0] for p in pairs]
        sp = [p[1] for p in pairs]
        tot = [p[0] + p[1] for p in pairs]
        own = f"{statistics.median(agent_ms[name]):10.2f}" if agent_ms[name] else f"{'-':>10}"
        print(f"{name:24}{statistics.median(st):9.2f}{_pct(st, 0.9):9.2f}"
              f"{statistics.median(sp):9.2f}{_pct(sp, 0.9):9.2f}"
              f"{statistics.median(tot):9.2f}{_pct(tot, 0.9):9.2f}"
              f"{statistics.median(tot) - ref:13.2f}{own}")  # fmt: skip
    print()
    for phase, values in pings.items():
        print(f"round trip of an empty call to one agent (direct), {phase}: median "
              f"{statistics.median(values):.2f} ms, p90 {_pct(values, 0.9):.2f} ms")  # fmt: skip
    print(
        "overhead = median start+stop minus that of local workers; goal < 5 ms per block. "
        "agent ms: start and stop inside the agents (sum over agents of a block)."
    )
    load = os.getloadavg()
    print(f"load average during the run: {load[0]:.2f} (this machine has {len(cpus)} CPUs)")


if __name__ == "__main__":
    main()
