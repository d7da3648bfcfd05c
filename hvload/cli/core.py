"""The ``hvload`` command line: one subcommand per job, each a thin call into the package."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import MeasurementError

if TYPE_CHECKING:
    from .. import stats
    from ..campaign.runner import Campaign

__all__ = ["main"]


def _cmd_info(args: argparse.Namespace) -> int:
    from ..measure.machine import format_platform, platform

    if not 1 <= args.samples <= 10_000_000:
        raise ValueError(f"--samples {args.samples} is not allowed; use 1 to 10,000,000")
    info = platform(probe_samples=args.samples)
    if args.json:
        json.dump(info.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_platform(info))
    return 0


def _cmd_survey(args: argparse.Namespace) -> int:
    from ..survey import (
        THESIS,
        catalog,
        changes,
        classify,
        explain,
        format_report,
        get_profile,
        survey,
    )

    profile = get_profile(args.framework)
    if args.explain is not None:
        key = args.explain.strip()
        try:
            call = catalog.get(int(key, 0) if key[:1].isdigit() else key)
        except (KeyError, ValueError):
            raise ValueError(
                f"--explain {args.explain!r}: no surveyed hypercall has that name or code; give "
                "a TLFS or Table 7.1 name (e.g. HvVtlCall) or a call code (e.g. 0x0011); "
                "`hvload survey` lists all 26"
            ) from None
        if args.json:
            json.dump(classify(call, profile).to_dict(detail=True), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(explain(call, profile))
        return 0
    if args.json:
        # Rows are compared against the thesis's framework, the profile Table 7.1 was made for.
        changed = {c.after.call.name: c.before for c in changes(THESIS, profile)}
        objects = [a.to_dict() for a in survey(profile)]
        for obj in objects:
            before = changed.get(str(obj["name"]))
            obj["changed_from"] = before.verdict.value if before else None
            obj["framework_description"] = profile.description
        json.dump(objects, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(format_report(profile, THESIS))
    return 0


def _int_list(text: str, what: str) -> list[int]:
    try:
        values = [int(tok) for tok in text.split(",") if tok.strip()]
    except ValueError:
        raise ValueError(f"{what}={text!r} is not a comma-separated list of integers") from None
    if not values:
        raise ValueError(f"{what}={text!r} is empty; give a comma-separated list of integers")
    return values


def _default_output() -> str:
    import socket
    import time

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"data/runs/{stamp}-{socket.gethostname()}.parquet"


def _exclude(text: str) -> tuple[str, ...]:
    from ..stats import EXCLUDABLE

    if text.strip().lower() == "none":
        return ()
    flags = tuple(tok.strip() for tok in text.split(",") if tok.strip())
    bad = [f for f in flags if f not in EXCLUDABLE]
    if bad:
        raise ValueError(f"--exclude {text!r}: {bad} not allowed; use 'none' or {EXCLUDABLE}")
    return flags


def _config(args: argparse.Namespace) -> stats.AnalysisConfig:
    """The analysis configuration the options ask for (validated before any measuring)."""
    from .. import stats

    changes = {"exclude": _exclude(args.exclude)}
    # `hvload run --baseline` names a level to measure, not an analysis option.
    names = ("threshold", "correction", "alpha", "metric") + (
        ("baseline",) if args.command != "run" else ()
    )
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    return stats.DEFAULT.replace(**changes)


def _fraction(text: str, what: str) -> float:
    """A fraction from ``"0.02"`` or ``"2%"``."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"{what}={text!r} is not a number; write e.g. 0.02 or 2%") from None
    return value


def _summary(camp: Campaign, config: stats.AnalysisConfig) -> str:
    from .. import stats
    from ..campaign import applied_load_text, left_out, usable

    # Blocks whose (remote) load did not run as designed are left out, with a note.
    camp = usable(camp)
    analysis = stats.analyze(camp, config)
    return (
        stats.to_text(analysis, brief=True) + "\n" + left_out(camp)
        + applied_load_text(camp.blocks) + _remote_text(camp)
    )  # fmt: skip


def _remote_text(camp: Campaign) -> str:
    if not camp.metadata.get("load_agents"):
        return ""
    from ..workload.remote import coverage_text

    return "\n" + coverage_text(camp)


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
    vm_cpus = _int_list(args.vm_cpus, "--vm-cpus") if args.vm_cpus is not None else None
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


#: Probe rates allowed (samples/s): below the lowest, the gap between samples exceeds the
#: executor's 2**36 cycles even at a 10 GHz TSC; above the highest, it rounds to nothing.
PROBE_RATE_RANGE = (0.15, 1e8)


def _run_request(args: argparse.Namespace) -> dict[str, object]:
    """Every ``hvload run`` argument checked before anything is measured or created."""
    import math
    import os

    from ..campaign import DEFAULT_FRACTIONS, DEFAULT_SIZES, QUICK_FRACTIONS, QUICK_SIZES
    from ..measure.executor import null_trap
    from ..model import check_sizes
    from ..workload.schedule import cpu_count_levels, fraction_levels, parse_levels

    config = _config(args)
    exclude = config.exclude
    if args.output is not None and not args.output.strip():
        raise ValueError("--output '' is empty; give a campaign file name")
    if args.levels is not None and args.cpu_levels is not None:
        raise ValueError("give either --levels or --cpu-levels, not both")
    fractions = parse_levels(args.levels) if args.levels is not None else None
    counts = _int_list(args.cpu_levels, "--cpu-levels") if args.cpu_levels is not None else None
    allowed = sorted(os.sched_getaffinity(0))
    probe_cpu = allowed[0] if args.probe_cpu is None else args.probe_cpu
    if probe_cpu not in allowed:
        raise ValueError(f"--probe-cpu {probe_cpu} is not allowed here; allowed: {allowed}")
    if args.load_cpus is not None:
        load_cpus = _int_list(args.load_cpus, "--load-cpus")
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
        value = _fraction(args.baseline.rstrip("%"), "--baseline")
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
        why = f"writing {path} failed ({_error_text(close_error, hint=False)}); "
    return (
        f"{why}{finished} finished block{'s are' if finished != 1 else ' is'} in "
        f"{path}.parts; `hvload recover {shlex.quote(path)}` rebuilds the file"
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .. import stats
    from .._faultinject import checkpoint
    from ..campaign import prepare
    from ..store import claim

    request = _run_request(args)
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
        sys.stdout.write(_summary(camp, config))
        sys.stdout.write(f"\ncampaign written to {camp.path}\n")
    except BaseException as exc:
        exc.hvload_note = (  # type: ignore[attr-defined]
            f"the campaign is complete in {camp.path} (`hvload report` summarises it)"
        )
        raise
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from ..widgets.dashboard import serve

    try:
        serve(
            port=args.port, ip=args.ip, token=args.token, data_dir=args.data,
            open_browser=args.open,
        )  # fmt: skip
    except ModuleNotFoundError as exc:
        sys.stderr.write(f"hvload dashboard: error: {exc}\n")
        return 2
    return 0  # not reached: the server replaces this process


def _remote_plan(remote: dict[str, Any], local: dict[str, Any], stack: contextlib.ExitStack) -> Any:
    """Connect to the agents (released when ``stack`` closes) and build the plan."""
    from ..campaign.remote import prepare as prepare_remote
    from ..workload import remote as rm

    options = {k: v for k, v in (("lease", remote["lease"]), ("timeout", remote["timeout"]))
               if v is not None}  # fmt: skip
    pool = stack.enter_context(
        rm.AgentPool(remote["scheduler"], agents=remote["agents"], **options)
    )
    for line in pool.describe():
        sys.stderr.write(f"hvload run: {line}\n")
    keep = ("probe", "load", "probe_cpu", "load_cpus", "samples", "warmup", "rounds",
            "probe_rate", "seed", "quick", "controls")  # fmt: skip
    return prepare_remote(
        pool, remote["levels"], vm_load=remote["vm_load"], vm_cpus=remote["vm_cpus"],
        baseline=remote["baseline"], **{k: local[k] for k in keep},
    )  # fmt: skip


def _cmd_agent(args: argparse.Namespace) -> int:
    from ..workload.remote import serve_agent

    address = args.scheduler.strip()
    if not address or any(c.isspace() for c in address):
        raise ValueError(f"scheduler {args.scheduler!r} is not an address; write e.g. "
                         "tcp://10.0.0.1:8786")  # fmt: skip
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not allowed; use 0 (any free port) to 65535")
    cpus = _int_list(args.cpus, "--cpus") if args.cpus is not None else None
    if cpus is not None:
        import os

        allowed = sorted(os.sched_getaffinity(0))
        bad = [c for c in cpus if c not in allowed]
        if bad:
            raise ValueError(
                f"--cpus {args.cpus!r}: CPU(s) {bad} not allowed here; allowed: {allowed}"
            )
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ValueError(
            "hvload agent needs Dask distributed, which is not installed: "
            "pip install 'hvload[cluster]'"
        ) from None
    serve_agent(
        address, name=args.name, host=args.host, port=args.port, cpus=cpus,
        death_timeout=args.timeout,
        report=lambda line: (sys.stderr.write(line + "\n"), sys.stderr.flush()),
    )  # fmt: skip
    return 0


def _cmd_recover(args: argparse.Namespace) -> int:
    from ..store import recover

    camp = recover(args.path)
    design = camp.metadata.get("design") or {}
    total = int(design.get("rounds", 0)) * len(design.get("levels") or ())
    sys.stdout.write(f"recovered {len(camp.blocks)} of {total} blocks into {camp.path}\n")
    for line in camp.metadata.get("recover_skipped") or ():
        sys.stderr.write(f"hvload recover: left out (kept in {args.path}.parts): {line}\n")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .. import stats
    from ..campaign import applied_load_text, left_out, usable
    from ..store import load

    config = _config(args)
    # Blocks whose (remote) load did not run as designed are left out, with a note.
    camp = usable(load(args.file))
    analysis = stats.analyze(camp, config)
    if args.json:
        out = stats.to_dict(analysis)
        if camp.metadata.get("left_out"):
            out["left_out"] = list(camp.metadata["left_out"])
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(stats.to_text(analysis))
        sys.stdout.write(
            "\n" + left_out(camp) + applied_load_text(camp.blocks) + _remote_text(camp)
        )
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from .. import stats
    from ..store import load

    config = _config(args)
    if args.power is not None:
        config = config.replace(power=_fraction(args.power, "--power"))
    camp = load(args.file)
    result = stats.plan(
        camp,
        _fraction(args.effect, "--effect"),
        on=args.on,
        n_levels=args.levels,
        samples_per_block=args.samples,
        config=config,
    )
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.to_text())
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..datasets.compare import compare

    config = _config(args)
    if args.probe is not None:
        config = config.replace(probe=args.probe)
    result = compare(args.paths, by=args.by, reference=args.reference, unit=args.unit,
                     config=config)  # fmt: skip
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        result.figure().savefig(args.figure, dpi=110)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.to_text())
        if args.figure:
            sys.stdout.write(f"figure written to {args.figure}\n")
    return 0


def _add_analysis(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="practical threshold as a fraction of the reference's statistic (default 0.01)",
    )
    p.add_argument(
        "--correction",
        default=None,
        choices=["holm", "bh", "none"],
        help="multiple-comparison correction (default holm)",
    )
    p.add_argument("--alpha", type=float, default=None, help="significance level (default 0.05)")
    _add_exclude(p)


def _add_metric(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metric",
        default=None,
        choices=["cycles", "response"],
        help="cycles: service time (default); response: open-loop response time from "
        "each sample's intended start",
    )


def _add_exclude(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--exclude",
        default="warmup",
        help="flagged samples to leave out of the statistics: a comma list of warmup, "
        "migrated, outlier, or 'none' (default: warmup, the samples the design declared "
        "warm-up)",
    )


def _build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="hvload",
        description="Measure hypercall and VM-exit latency from inside a virtual machine.",
    )
    parser.add_argument("--version", action="version", version=f"hvload {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="what this machine is and which traps it can issue")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--samples", type=int, default=2000, help="samples per trap in each probe burst")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "survey", help="which Hyper-V hypercalls suit repeated execution (thesis Table 7.1)"
    )
    p.add_argument(
        "--framework",
        choices=["thesis", "ring0-hypothetical", "hvload"],
        default="thesis",
        help="whose capabilities to judge for (default: thesis, i.e. Table 7.1): hvload is "
        "hvload itself on this machine; ring0-hypothetical is a framework that does not exist "
        "(the thesis's plus rep calls and variable headers); changed rows are marked",
    )
    p.add_argument(
        "--explain",
        metavar="NAME",
        default=None,
        help="for one call (name or code): each TLFS fact and survey judgment, and which "
        "decided its verdict, with sources",
    )
    p.add_argument("--json", action="store_true", help="JSON on stdout (an array of objects)")
    p.set_defaults(func=_cmd_survey)

    p = sub.add_parser("run", help="measure a probe trap under load levels (a campaign)")
    p.add_argument(
        "--probe",
        default="auto",
        choices=["auto", "hypercall", "cpuid", "null"],
        help="trap to measure (auto: hypercall where it works here, else cpuid)",
    )
    p.add_argument(
        "--load",
        default=None,
        choices=["hypercall", "cpuid", "null"],
        help="trap the load workers issue (default: the probe's kind)",
    )
    p.add_argument(
        "--levels", default=None, help="load levels in percent of saturation, e.g. 0,25,50,75,100"
    )
    p.add_argument(
        "--cpu-levels",
        default=None,
        help="load levels as numbers of loaded CPUs, e.g. 0,1,2,4,8,15",
    )
    p.add_argument("--probe-cpu", type=int, default=None, help="CPU of the probe")
    p.add_argument("--load-cpus", default=None, help="CPUs for load, e.g. 1,2,3")
    p.add_argument("--samples", type=int, default=None, help="measured samples per block")
    p.add_argument("--warmup", type=int, default=None, help="warm-up samples per block")
    p.add_argument("--rounds", type=int, default=None, help="rounds (each runs every level)")
    p.add_argument(
        "--probe-rate", type=float, default=None, help="probe samples per second (0: back to back)"
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the block order")
    p.add_argument(
        "--output",
        "-o",
        default=None,
        help="campaign file (default data/runs/<UTC time>-<host>.parquet)",
    )
    p.add_argument(
        "--baseline",
        default=None,
        help="reference level, written like the levels (a percent, or a CPU count); "
        "default: the lowest load",
    )
    p.add_argument(
        "--controls",
        default=None,
        help="control probes measured beside the probe in every block, e.g. null,syscall; "
        "'none' for the probe alone (default auto: null and syscall where they work)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds: 3 levels, 2 rounds (a smoke test: too small for any verdict)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group(
        "load from neighbour machines (hvload agent on each; needs 'hvload[cluster]')"
    )
    g.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="the Dask scheduler the load agents are connected to, e.g. tcp://10.0.0.1:8786",
    )  # fmt: skip
    g.add_argument(
        "--vm-levels", default=None, metavar="LEVELS",
        help="levels over machines: counts of loaded agents (0,1,2,4), or agent names joined "
        "by + with an optional @load each (0,vm-b,vm-b+vm-c@50%%); 'local' is this machine",
    )  # fmt: skip
    g.add_argument(
        "--agents", default=None, metavar="NAMES",
        help="which agents, in this order (default: every connected agent, by name)",
    )  # fmt: skip
    g.add_argument(
        "--vm-load", default=None, metavar="LOAD",
        help="each loaded machine's load per CPU: max (back to back, the default), a percent "
        "of its saturation (50%%) or a rate (20000/s)",
    )  # fmt: skip
    g.add_argument(
        "--vm-cpus", default=None, metavar="CPUS",
        help="CPUs of each agent's machine to load, e.g. 1 (default: all it offers)",
    )  # fmt: skip
    g.add_argument(
        "--lease", type=float, default=None, metavar="SECONDS",
        help="agents stop their load by themselves after this long without word from this "
        "run (default 3)",
    )  # fmt: skip
    g.add_argument(
        "--agent-timeout", type=float, default=None, metavar="SECONDS",
        help="an agent that does not answer within this long is lost: the campaign stops, "
        "keeping its blocks (default 10)",
    )  # fmt: skip
    _add_analysis(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "agent",
        help="run this machine's load agent for campaigns measured on another machine "
        "(a Dask worker; needs 'hvload[cluster]')",
    )
    p.add_argument("scheduler", help="the Dask scheduler's address, e.g. tcp://10.0.0.1:8786")
    p.add_argument("--name", default=None, help="the agent's name (default: the host name)")
    p.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; give the address "
        "the measuring machine reaches this one at)",
    )  # fmt: skip
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free)")
    p.add_argument("--cpus", default=None, help="CPUs offered for load (default: all allowed)")
    p.add_argument(
        "--timeout", type=float, default=60.0,
        help="seconds to keep trying to reach the scheduler before giving up (default 60)",
    )  # fmt: skip
    p.set_defaults(func=_cmd_agent)

    p = sub.add_parser("report", help="summaries, tests and verdicts for a campaign file")
    p.add_argument("file", help="campaign file (.parquet) written by hvload run")
    _add_metric(p)
    p.add_argument(
        "--baseline", default=None, help="reference level by name (default: the recorded one)"
    )
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _add_analysis(p)
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "plan", help="rounds (and samples per block) a campaign needs to find a given change"
    )
    p.add_argument("file", help="a stored or pilot campaign (.parquet) from this machine")
    p.add_argument(
        "--effect", default="2%", help="change to detect, e.g. 2%% or 0.02 (default 2%%)"
    )
    p.add_argument(
        "--on", default="median", choices=["median", "p99"], help="block statistic (median)"
    )
    p.add_argument("--power", default=None, help="wanted power, e.g. 80%% (default 80%%)")
    p.add_argument(
        "--levels", type=int, default=None, help="levels of the planned design (the pilot's)"
    )
    p.add_argument(
        "--samples", type=float, default=None, help="samples per block planned (the pilot's)"
    )
    _add_metric(p)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _add_analysis(p)
    p.set_defaults(func=_cmd_plan)

    p = sub.add_parser(
        "compare",
        help="campaigns (or groups of them) against each other, level by level",
        description="Compare campaign files, or every campaign in folders, level by level: "
        "typical block median and p99 side by side, Mann-Whitney tests treating campaigns "
        "as independent, verdicts with the practical threshold, and what cannot be "
        "compared (different level sets, probes, clocks). Needs pip install 'hvload[dataset]'.",
    )
    p.add_argument("paths", nargs="+", help="campaign files (.parquet) or folders of them")
    p.add_argument(
        "--by",
        default=None,
        help="group campaigns by this metadata column (cpu_brand, host, kernel, hypervisor, "
        "probe, date, ...); default: every file is its own group",
    )
    p.add_argument("--reference", default=None, help="the group compared against (the first)")
    p.add_argument(
        "--unit",
        default="auto",
        choices=["auto", "block", "campaign"],
        help="unit of replication of the tests (auto: campaigns where every group has "
        "enough of them, else blocks)",
    )
    p.add_argument(
        "--probe",
        default=None,
        help="compare this probe of every campaign, by label (a control such as null or "
        "syscall/getppid); default: each campaign's main probe",
    )
    _add_metric(p)
    p.add_argument("--figure", default=None, help="also draw the figure to this file (.png)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _add_analysis(p)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser(
        "recover", help="write a campaign file from the finished blocks of a cut-off run"
    )
    p.add_argument("path", help="the campaign file the run was writing (its .parts folder exists)")
    p.set_defaults(func=_cmd_recover)

    p = sub.add_parser(
        "dashboard",
        help="serve the explorer and browser as a web app (needs: pip install 'hvload[dashboard]')",
    )
    p.add_argument("--port", type=int, default=8866, help="port to listen on (default 8866)")
    p.add_argument(
        "--ip", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )  # fmt: skip
    p.add_argument(
        "--token", default=None,
        help="the token the page asks for (default: a new random one, printed with the URL)",
    )  # fmt: skip
    p.add_argument("--data", default=None, help="directory of stored campaigns (default data/)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.set_defaults(func=_cmd_dashboard)

    return parser


def _error_text(exc: BaseException | None, *, hint: bool = True) -> str:
    """An OSError as one line: what failed and on which file; other errors as they are."""
    import errno

    if not isinstance(exc, OSError) or exc.errno is None:
        return str(exc)
    text = exc.strerror or str(exc)
    if exc.filename is not None:
        text += f": {exc.filename}"
    hints = {
        errno.ENOSPC: "free some space",
        errno.EDQUOT: "free some space",
        errno.EACCES: "choose a file and folder you may use",
        errno.EROFS: "choose a writable folder",
        errno.ENAMETOOLONG: "choose a shorter name",
    }
    return text + (f" ({hints[exc.errno]})" if hint and exc.errno in hints else "")


def _quiet_stdout() -> None:
    # After a broken pipe, point stdout at /dev/null so the final flush cannot fail again.
    import os

    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Errors end in one line on stderr and an exit status: 2 for a bad argument or a file
    that is not a valid campaign, 1 for a failure of the system (disk full, permission,
    broken pipe, another run owning the file), 130 after SIGINT and 143 after SIGTERM.
    Where finished blocks exist, the line says where and how to rebuild the file.
    """
    import signal

    from ..errors import CampaignBusyError, MissingExtraError

    parser = _build_parser()
    args = parser.parse_args(argv)
    stopped_by: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        # The first SIGINT/SIGTERM stops the command; later ones are ignored so that
        # they cannot cut short the flush of the finished blocks.
        if not stopped_by:
            stopped_by.append(signum)
            raise KeyboardInterrupt

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    except ValueError:  # not the main thread: leave signals alone
        pass
    prefix = f"hvload {args.command}"
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe fails here, inside the mapping below
        return code
    except KeyboardInterrupt as exc:
        term = bool(stopped_by) and stopped_by[0] == signal.SIGTERM
        note = getattr(exc, "hvload_note", None)
        sys.stderr.write(
            f"{prefix}: stopped by {'SIGTERM' if term else 'SIGINT'}"
            + (f"; {note}" if note else "")
            + "\n"
        )
        return 143 if term else 130
    except BrokenPipeError as exc:
        _quiet_stdout()
        note = getattr(exc, "hvload_note", None)
        parser.exit(
            1, f"{prefix}: output closed early (broken pipe)" + (f"; {note}" if note else "") + "\n"
        )
    except (CampaignBusyError, OSError, ValueError, MeasurementError, MissingExtraError) as exc:
        usage = isinstance(exc, (ValueError, FileExistsError, MeasurementError))
        note = getattr(exc, "hvload_note", None)
        parser.exit(
            2 if usage else 1,
            f"{prefix}: error: {_error_text(exc)}" + (f"; {note}" if note else "") + "\n",
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
