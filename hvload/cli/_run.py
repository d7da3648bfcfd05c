"""``hvload run``: every argument checked before anything is measured, the run with its
progress bar, and the lines that say where the finished blocks are when a run is stopped.

The arguments are checked by the campaign package's CampaignSpec (:func:`run_request`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import TYPE_CHECKING, Any, cast

from ..errors import run_outcome
from ._analysis import analysis_config, summary
from ._errors import error_text

if TYPE_CHECKING:
    from ..model import Campaign

__all__ = ["cmd_run", "run_request"]


def _default_output() -> str:
    import socket
    import time

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return f"data/runs/{stamp}-{socket.gethostname()}.parquet"


def run_request(args: argparse.Namespace) -> dict[str, Any]:
    """Every ``hvload run`` argument checked before anything is measured or created.

    The run options go through :class:`~hvload.campaign.CampaignSpec`, as they do for
    :func:`hvload.prepare`, the remote prepare and the Explorer, so each is refused in
    the same words everywhere; the command line adds the output file and the analysis.
    """
    from .._optional import check_extra

    if args.output is not None and not args.output.strip():
        raise ValueError("--output '' is empty; give a campaign file name")
    # The campaign package (pandas) is lighter than the statistics (scipy): the run
    # options are checked first, so that most mistakes are refused quickly.
    from ..campaign import CampaignSpec

    spec = CampaignSpec.from_strings(
        probe=args.probe, load=args.load, levels=args.levels, cpu_levels=args.cpu_levels,
        probe_cpu=args.probe_cpu, load_cpus=args.load_cpus, samples=args.samples,
        warmup=args.warmup, rounds=args.rounds, probe_rate=args.probe_rate, seed=args.seed,
        quick=args.quick, baseline=args.baseline, controls=args.controls,
        scheduler=args.scheduler, vm_levels=args.vm_levels, vm_load=args.vm_load,
        vm_cpus=args.vm_cpus, agents=args.agents, lease=args.lease,
        agent_timeout=args.agent_timeout, until=args.until, max_rounds=args.max_rounds,
        looks=args.looks, max_time=args.max_time,
    )  # fmt: skip
    config = analysis_config(args)
    if spec.remote is not None:
        check_extra("distributed", "--scheduler (load from neighbour machines)")
    from ..campaign import Sequential

    # The looks at the analysis's own alpha and correction, before anything is measured.
    sequential = Sequential.for_spec(spec, config)
    return {"path": args.output or _default_output(), "config": config, "spec": spec,
            "sequential": sequential}  # fmt: skip


def _kept(exc: BaseException, path: str, total: int) -> str:
    """Where the finished blocks are after ``exc`` stopped a run, in words."""
    import shlex

    outcome = run_outcome(exc)
    camp = outcome.campaign if outcome else None
    finished = outcome.blocks_finished if outcome else None
    if camp is not None:
        return f"{len(camp.blocks)} of {total} blocks kept in {camp.path}"
    if not finished:
        return "no block had finished; nothing was written"
    close_error = outcome.close_error if outcome else None
    from ..store import PartsFolderError

    parts_error = next((e for e in (exc, close_error) if isinstance(e, PartsFolderError)), None)
    if parts_error is not None:
        # Its own line says where the blocks are; after a swapped folder recover would
        # refuse the link, so it is offered only for a folder that is still the run's.
        kept = parts_error.kept
        if kept is None:
            return "nothing was written"
        return (
            f"`hvload recover {shlex.quote(path)}` rebuilds the file from its {kept} whole blocks"
        )
    why = ""
    if close_error is not None and close_error is not exc:
        why = f"writing {path} failed ({error_text(close_error, hint=False)}); "
    return (
        f"{why}{finished} finished block{'s are' if finished != 1 else ' is'} in "
        f"{path}.parts; `hvload recover {shlex.quote(path)}` rebuilds the file"
    )


def _remote_plan(spec: Any, stack: contextlib.ExitStack) -> Any:
    """Connect to the agents (released when ``stack`` closes) and build the plan."""
    from ..campaign.remote import prepare
    from ..workload.remote import AgentPool

    remote = spec.remote
    options = {k: v for k, v in (("lease", remote.lease), ("timeout", remote.agent_timeout))
               if v is not None}  # fmt: skip
    pool = stack.enter_context(AgentPool(remote.scheduler, agents=remote.agents, **options))
    for line in pool.describe():
        sys.stderr.write(f"hvload run: {line}\n")
    keep = ("probe", "load", "probe_cpu", "load_cpus", "samples", "warmup", "rounds",
            "probe_rate", "seed", "quick", "controls", "baseline")  # fmt: skip
    options = {k: getattr(spec, k) for k in keep}
    if spec.until is not None:
        options["rounds"] = spec.sizes["rounds"]  # the most a sequential campaign runs
    return prepare(
        pool, remote.vm_levels, vm_load=remote.vm_load or "max", vm_cpus=remote.vm_cpus,
        **options,
    )  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    # Every argument is checked before the heavy imports, so a mistake is refused at once.
    request = run_request(args)

    from tqdm import tqdm

    from .. import stats
    from .._faultinject import checkpoint
    from ..campaign import prepare
    from ..store import claim

    config: stats.AnalysisConfig = request["config"]
    path = str(request["path"])
    # The output is owned (locked) before anything is measured; nothing is on disk before.
    spec = request["spec"]
    with claim(path) as lock, contextlib.ExitStack() as stack:
        try:
            checkpoint("setup")
            if spec.remote is None:
                plan = prepare(spec=spec)
            else:
                plan = _remote_plan(spec, stack)
        except BaseException as exc:
            exc.hvload_note = "nothing was measured or written"  # type: ignore[attr-defined]
            raise
        d = plan.design
        # The conditions that bias this run (hvload check), one line each, before measuring.
        for finding in plan.metadata.get("hygiene") or ():
            if finding.get("status") == "warn":
                sys.stderr.write(f"hvload run: warning: {finding['name']}: {finding['value']}\n")
        for note in plan.notes:
            sys.stderr.write(f"hvload run: note: {note}\n")
        sequential = request["sequential"]
        if sequential is None:
            check = stats.check_design(
                len(d.levels), d.rounds, alpha=config.alpha, correction=config.correction
            )
            if not check.can_decide:
                sys.stderr.write(f"hvload run: warning: {check.message}\n")
            rounds = f"{d.rounds} rounds"
        else:
            looks = sequential.looks
            rounds = (
                f"up to {d.rounds} rounds (sequential: looks at rounds "
                f"{', '.join(str(r) for r in looks.rounds)}, each at alpha "
                f"{looks.alpha_per_look:.4g})"
            )
        sys.stderr.write(
            f"hvload run: probe {d.probe.label} on CPU {d.probe_cpu}; {len(d.levels)} levels "
            f"({', '.join(lv.name for lv in d.levels)}) x {rounds}; "
            f"{d.warmup}+{d.samples} samples per block; seed {d.seed}\n"
        )
        bar = tqdm(total=d.blocks, unit="block", disable=args.no_progress, file=sys.stderr)
        try:
            # Without a stop event a run ends with every block written or with an
            # exception, so it never returns None (no block finished) here.
            # The samples stay in the file (verified block by block when it is written):
            # the summary reads them block by block, so memory does not grow with the run.
            camp = cast("Campaign", plan.run(
                path, progress=lambda block: bar.update(1), lock=lock, read_back=False,
                sequential=sequential,
            ))  # fmt: skip
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
