"""``hvload run``: every argument checked before anything is measured, the run with its
progress bar, and the lines that say where the finished blocks are when a run is stopped.

Checking the arguments moves into the campaign package (a CampaignSpec); its call belongs in
:func:`run_request`.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from ._analysis import analysis_config, summary
from ._errors import error_text
from ._values import fraction, int_list

__all__ = ["PROBE_RATE_RANGE", "cmd_run", "run_request"]

#: Probe rates allowed (samples/s): below the lowest, the gap between samples exceeds the
#: executor's 2**36 cycles even at a 10 GHz TSC; above the highest, it rounds to nothing.
PROBE_RATE_RANGE = (0.15, 1e8)


def _default_output() -> str:
    import socket
    import time

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"data/runs/{stamp}-{socket.gethostname()}.parquet"


def _remote_request(
    args: argparse.Namespace, probe_cpu: int, load_cpus: list[int]
) -> dict[str, object] | None:
    """The ``hvload run`` options of remote load, checked before anything is contacted."""
    import math

    given = [
        f"--{name.replace('_', '-')}"
        for name in ("agents", "vm_load", "vm_cpus", "lease", "agent_timeout")
        if getattr(args, name) is not None
    ]
    if args.scheduler is None and args.vm_levels is None:
        if given:
            raise ValueError(f"{given[0]} needs --scheduler and --vm-levels (remote load)")
        return None
    if args.scheduler is None or args.vm_levels is None:
        raise ValueError("--scheduler and --vm-levels go together: where the agents are, and "
                         "which machines each level loads")  # fmt: skip
    if args.levels is not None or args.cpu_levels is not None:
        raise ValueError(
            "give either --vm-levels or --levels/--cpu-levels, not both (a VM level loads "
            "this machine too where it names 'local', e.g. local+vm-b)"
        )
    address = args.scheduler.strip()
    if not address or any(c.isspace() for c in address):
        raise ValueError(f"--scheduler {args.scheduler!r} is not an address; write e.g. "
                         "tcp://10.0.0.1:8786 or tls://10.0.0.1:8786")  # fmt: skip
    from ..workload.remote import parse_load, parse_vm_levels

    levels = parse_vm_levels(args.vm_levels)
    vm_load = parse_load(args.vm_load, "--vm-load") if args.vm_load is not None else ("max", None)
    vm_cpus = int_list(args.vm_cpus, "--vm-cpus") if args.vm_cpus is not None else None
    if vm_cpus is not None and (min(vm_cpus) < 0 or len(set(vm_cpus)) != len(vm_cpus)):
        raise ValueError(f"--vm-cpus {args.vm_cpus!r}: CPUs are distinct integers >= 0")
    agents = None
    if args.agents is not None:
        agents = [tok.strip() for tok in args.agents.split(",") if tok.strip()]
        if not agents or len(set(agents)) != len(agents):
            raise ValueError(
                f"--agents {args.agents!r}: give distinct agent names, comma-separated"
            )
    for name, value, low in (
        ("--lease", args.lease, 0.2),
        ("--agent-timeout", args.agent_timeout, 0.1),
    ):
        if value is not None and not (math.isfinite(value) and value >= low):
            raise ValueError(f"{name} {value!r} is not allowed; use seconds >= {low}")
    if any(part == "local" for lv in levels for part, _ in lv.parts) and not load_cpus:
        raise ValueError(f"--vm-levels {args.vm_levels!r} loads 'local', but no CPU other than the "
                         f"probe's ({probe_cpu}) is allowed here")  # fmt: skip
    baseline = None
    if args.baseline is not None:
        text = args.baseline.strip()
        names = [(f"{lv.count} VM" + ("" if lv.count == 1 else "s")) if lv.count is not None
                 else lv.text for lv in levels]  # fmt: skip
        baseline = f"{text} VM" + ("" if text == "1" else "s") if text.isdigit() else text
        if baseline not in names:
            raise ValueError(f"--baseline {args.baseline!r} is not one of the VM levels {names}")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ValueError(
            "--scheduler needs Dask distributed, which is not installed: "
            "pip install 'hvload[cluster]'"
        ) from None
    return {
        "scheduler": address, "levels": args.vm_levels, "n_levels": len(levels),
        "vm_load": vm_load, "vm_cpus": vm_cpus, "agents": agents, "baseline": baseline,
        "lease": args.lease, "timeout": args.agent_timeout,
    }  # fmt: skip


def run_request(args: argparse.Namespace) -> dict[str, object]:
    """Every ``hvload run`` argument checked before anything is measured or created."""
    import math
    import os

    from ..campaign import DEFAULT_FRACTIONS, DEFAULT_SIZES, QUICK_FRACTIONS, QUICK_SIZES
    from ..measure.executor import null_trap
    from ..model import check_sizes
    from ..workload.schedule import cpu_count_levels, fraction_levels, parse_levels

    config = analysis_config(args)
    exclude = config.exclude
    if args.output is not None and not args.output.strip():
        raise ValueError("--output '' is empty; give a campaign file name")
    if args.levels is not None and args.cpu_levels is not None:
        raise ValueError("give either --levels or --cpu-levels, not both")
    fractions = parse_levels(args.levels) if args.levels is not None else None
    counts = int_list(args.cpu_levels, "--cpu-levels") if args.cpu_levels is not None else None
    allowed = sorted(os.sched_getaffinity(0))
    probe_cpu = allowed[0] if args.probe_cpu is None else args.probe_cpu
    if probe_cpu not in allowed:
        raise ValueError(f"--probe-cpu {probe_cpu} is not allowed here; allowed: {allowed}")
    if args.load_cpus is not None:
        load_cpus = int_list(args.load_cpus, "--load-cpus")
        bad = [c for c in load_cpus if c not in allowed or c == probe_cpu]
        if bad:
            raise ValueError(
                f"--load-cpus {args.load_cpus!r}: CPU(s) {bad} not allowed; use CPUs of "
                f"{allowed} other than the probe's ({probe_cpu})"
            )
    else:
        load_cpus = [c for c in allowed if c != probe_cpu]
    remote = _remote_request(args, probe_cpu, load_cpus)
    # Levels are built here only to check them; prepare() builds the real ones.
    if remote is not None:
        pass
    elif counts is not None:
        cpu_count_levels(counts, load_cpus, null_trap())
    else:
        levels = fractions or (QUICK_FRACTIONS if args.quick else DEFAULT_FRACTIONS)
        fraction_levels(levels, load_cpus, null_trap(), 1.0)
    sizes = dict(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    for name, low in (("samples", 1), ("warmup", 0), ("rounds", 1)):
        value = getattr(args, name)
        if value is not None and value < low:
            raise ValueError(f"--{name} {value} is not allowed; it must be an integer >= {low}")
        sizes[name] = sizes[name] if value is None else value
    rate = sizes["probe_rate"] if args.probe_rate is None else args.probe_rate
    low, high = PROBE_RATE_RANGE
    if not math.isfinite(rate) or rate < 0 or (rate and not low <= rate <= high):
        raise ValueError(
            f"--probe-rate {rate!r} is not allowed; use 0 (back to back) or a rate of "
            f"{low} to {high:,.0f} samples/s"
        )
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"--seed {args.seed} is not allowed; it must be an integer >= 0")
    if remote is not None:
        n_levels = int(remote["n_levels"])  # type: ignore[call-overload]
    else:
        n_levels = len(counts if counts is not None else fractions or levels)
    check_sizes(int(sizes["rounds"]), n_levels, int(sizes["samples"]), int(sizes["warmup"]))
    controls: str | tuple[str, ...] = "auto"
    if args.controls is not None:
        from ..measure.executor import TRAP_KINDS

        text = args.controls.strip().lower()
        if text in ("none", ""):
            if not args.controls.strip():
                raise ValueError("--controls '' is empty; give trap kinds, 'auto' or 'none'")
            controls = ()
        elif text != "auto":
            controls = tuple(tok.strip() for tok in text.split(",") if tok.strip())
            bad = [c for c in controls if c not in TRAP_KINDS]
            if bad or not controls:
                raise ValueError(
                    f"--controls {args.controls!r}: {bad} not allowed; give a comma list of "
                    f"{list(TRAP_KINDS)}, 'auto' or 'none'"
                )
    baseline = None
    if args.baseline is not None and remote is None:
        # Written like the levels: a percent of saturation, or a CPU count.
        value = fraction(args.baseline.rstrip("%"), "--baseline")
        baseline = value if counts is not None else value / 100
        chosen = counts if counts is not None else fractions or levels
        if not any(math.isclose(baseline, float(v), abs_tol=1e-12) for v in chosen):
            shown = [f"{100 * v:g}" for v in chosen] if counts is None else chosen
            raise ValueError(f"--baseline {args.baseline!r} is not one of the levels {shown}")
    return {
        "path": args.output or _default_output(),
        "exclude": exclude,
        "config": config,
        "remote": remote,
        "prepare": {
            "probe": args.probe, "load": args.load, "fractions": fractions,
            "cpu_counts": counts, "probe_cpu": probe_cpu,
            "load_cpus": load_cpus if args.load_cpus is not None else None,
            "samples": sizes["samples"], "warmup": sizes["warmup"], "rounds": sizes["rounds"],
            "probe_rate": rate, "seed": args.seed, "quick": args.quick, "baseline": baseline,
            "controls": controls,
        },
    }  # fmt: skip


def _kept(exc: BaseException, path: str, total: int) -> str:
    """Where the finished blocks are after ``exc`` stopped a run, in words."""
    import shlex

    camp = getattr(exc, "campaign", None)
    finished = getattr(exc, "blocks_finished", None)
    if camp is not None:
        return f"{len(camp.blocks)} of {total} blocks kept in {camp.path}"
    if not finished:
        return "no block had finished; nothing was written"
    close_error = getattr(exc, "close_error", None)
    why = ""
    if close_error is not None and close_error is not exc:
        why = f"writing {path} failed ({error_text(close_error, hint=False)}); "
    return (
        f"{why}{finished} finished block{'s are' if finished != 1 else ' is'} in "
        f"{path}.parts; `hvload recover {shlex.quote(path)}` rebuilds the file"
    )


def _remote_plan(remote: dict[str, Any], local: dict[str, Any], stack: contextlib.ExitStack) -> Any:
    """Connect to the agents (released when ``stack`` closes) and build the plan."""
    from ..campaign.remote import prepare
    from ..workload.remote import AgentPool

    options = {k: v for k, v in (("lease", remote["lease"]), ("timeout", remote["timeout"]))
               if v is not None}  # fmt: skip
    pool = stack.enter_context(
        AgentPool(remote["scheduler"], agents=remote["agents"], **options)
    )
    for line in pool.describe():
        sys.stderr.write(f"hvload run: {line}\n")
    keep = ("probe", "load", "probe_cpu", "load_cpus", "samples", "warmup", "rounds",
            "probe_rate", "seed", "quick", "controls")  # fmt: skip
    return prepare(
        pool, remote["levels"], vm_load=remote["vm_load"], vm_cpus=remote["vm_cpus"],
        baseline=remote["baseline"], **{k: local[k] for k in keep},
    )  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .. import stats
    from .._faultinject import checkpoint
    from ..campaign import prepare
    from ..store import claim

    request = run_request(args)
    config: stats.AnalysisConfig = request["config"]  # type: ignore[assignment]
    path = str(request["path"])
    # The output is owned (locked) before anything is measured; nothing is on disk before.
    remote: dict | None = request["remote"]  # type: ignore[assignment]
    with claim(path) as lock, contextlib.ExitStack() as stack:
        try:
            checkpoint("setup")
            if remote is None:
                plan = prepare(**request["prepare"])  # type: ignore[arg-type]
            else:
                plan = _remote_plan(remote, request["prepare"], stack)  # type: ignore[arg-type]
        except BaseException as exc:
            exc.hvload_note = "nothing was measured or written"  # type: ignore[attr-defined]
            raise
        d = plan.design
        for note in plan.notes:
            sys.stderr.write(f"hvload run: note: {note}\n")
        check = stats.check_design(
            len(d.levels), d.rounds, alpha=config.alpha, correction=config.correction
        )
        if not check.can_decide:
            sys.stderr.write(f"hvload run: warning: {check.message}\n")
        sys.stderr.write(
            f"hvload run: probe {d.probe.label} on CPU {d.probe_cpu}; {len(d.levels)} levels "
            f"({', '.join(lv.name for lv in d.levels)}) x {d.rounds} rounds; "
            f"{d.warmup}+{d.samples} samples per block; seed {d.seed}\n"
        )
        bar = tqdm(total=d.blocks, unit="block", disable=args.no_progress, file=sys.stderr)
        try:
            camp = plan.run(path, progress=lambda block: bar.update(1), lock=lock)
        except BaseException as exc:
            bar.close()
            note = _kept(exc, path, d.blocks)
            if isinstance(exc, KeyboardInterrupt):
                note = "load stopped; " + note
            exc.hvload_note = note  # type: ignore[attr-defined]
            raise
        bar.close()
    try:
        checkpoint("summary")
        sys.stdout.write(summary(camp, config))
        sys.stdout.write(f"\ncampaign written to {camp.path}\n")
    except BaseException as exc:
        exc.hvload_note = (  # type: ignore[attr-defined]
            f"the campaign is complete in {camp.path} (`hvload report` summarises it)"
        )
        raise
    return 0
