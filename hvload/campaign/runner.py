"""Campaigns: a probe measured under every load level, in randomized complete blocks.

A :class:`Design` names the probe trap and CPU, the load levels, and the sizes. Each
round measures every level once, in a fresh random order drawn from the seed, so slow
drift of the host falls on all levels alike; one level in one round is a *block*.
:func:`iter_blocks` runs a design and yields one :class:`BlockResult` (tidy sample rows
and one block row) per block; :func:`run` writes them to a campaign file as they come.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..measure import noise
from .._faultinject import checkpoint
from ..errors import MeasurementError
from ..measure.executor import Burst, Trap, allocate, fill, require
from ..measure.hypervisors import user_mode_hypercall
from ..workload.driver import LoadDriver, LoadOutcome
from ..workload.generator import LoadGenerator, WorkerStats
from ..model import (
    FORMAT_VERSION,
    SAMPLE_COLUMNS,
    BlockResult,
    Campaign,
    Design,
    check_sizes,
    lean_campaign,
)

if TYPE_CHECKING:
    from ..workload.schedule import Level
    from ..store.core import OutputLock

__all__ = [
    "SAMPLE_COLUMNS",
    "BlockResult",
    "Campaign",
    "Design",
    "LoadDriver",
    "LoadOutcome",
    "LocalLoad",
    "applied_load_text",
    "iter_blocks",
    "left_out",
    "run",
    "usable",
]


def applied_load_text(blocks: pd.DataFrame) -> str:
    """Per-level applied load from a campaign's block table, as text."""
    if blocks.empty:
        return "no finished blocks\n"
    g = blocks.groupby(["level_index", "level"], sort=True)
    table = pd.DataFrame(
        {
            "blocks": g.size(),
            "target/s": g["target_rate"].mean(),
            "achieved/s": g["achieved_rate"].mean(),
            "achieved load": g["achieved_load"].mean(),
            "lateness p99 (cycles)": g["lateness_p99"].max(),
        }
    ).reset_index(level="level_index", drop=True)
    return "Applied load per level (mean over blocks; load = achieved / saturation)\n" + (
        table.to_string(float_format=lambda x: f"{x:,.3f}" if abs(x) < 10 else f"{x:,.0f}") + "\n"
    )


def _git_commit() -> str | None:
    # A copy of the tree without .git (e.g. on a lent test machine) can name its commit.
    if os.environ.get("HVLOAD_GIT_COMMIT"):
        return os.environ["HVLOAD_GIT_COMMIT"]
    here = Path(__file__).resolve().parent
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if out.returncode == 0:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here, capture_output=True, text=True, timeout=5,
            ).stdout.strip()  # fmt: skip
            return out.stdout.strip() + ("-dirty" if dirty else "")
    return None


def _rax_meaning(probe: Trap, info: dict[str, Any]) -> str:
    if probe.kind == "hypercall":
        hyp = info.get("hypervisor") or "unknown"
        row = user_mode_hypercall(hyp, info.get("cpu_vendor") or "", probe.instruction)
        return (
            f"RAX after {probe.instruction} from user mode under {hyp}: "
            f"{row.what_is_measured if row else 'behaviour not in hvload.hypervisors'}"
        )
    if probe.kind == "cpuid":
        return f"EAX returned by CPUID leaf {probe.leaf:#x} subleaf {probe.subleaf:#x}"
    if probe.kind == "syscall":
        return f"the value the system call returned ({probe.label}; a guest-kernel round trip)"
    return "0: the null trap issues no instruction"


def metadata_for(design: Design, tsc_hz: float, platform_info: dict[str, Any]) -> dict[str, Any]:
    """The metadata recorded with every campaign (pyperf-style keys)."""
    platform_info = {**platform_info, "system": noise.system_state()}
    return {
        "format": "hvload-campaign",
        "format_version": FORMAT_VERSION,
        "campaign": uuid.uuid4().hex[:12],
        "start_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tsc_hz": tsc_hz,
        "hypervisor": platform_info.get("hypervisor"),
        "cpu": f"{platform_info.get('cpu_vendor')} {platform_info.get('cpu_brand')}",
        "hostname": platform_info.get("hostname"),
        "rax_meaning": _rax_meaning(design.probe, platform_info),
        "control_rax_meaning": {t.label: _rax_meaning(t, platform_info) for t in design.controls},
        "measured": (
            "cycles: TSC ticks from 'lfence; rdtsc' before the probe instruction to "
            "'rdtscp; lfence' after it; response: from the intended start when paced. "
            "Controls (probe_index > 0) alternate with the main probe in sub-bursts."
        ),
        "noise_columns": dict(noise.NOISE_COLUMNS),
        "git_commit": _git_commit(),
        "versions": platform_info.get("versions"),
        "platform": platform_info,
        "design": design.to_dict(),
    }


def _block_row(
    meta: dict[str, Any], design: Design, rnd: int, position: int, index: int, block: int,
    t: tuple[int, int], stats: Sequence[WorkerStats], saturation: float | None,
    context: dict[str, float], probe_ns: int,
) -> dict[str, Any]:  # fmt: skip
    level = design.levels[index]
    target = sum(s.target_rate or 0.0 for s in stats)
    achieved = sum(s.achieved_rate for s in stats)
    return {
        "campaign": meta["campaign"],
        "round": rnd,
        "level": level.name,
        "level_index": index,
        "level_value": level.value,
        "block": block,
        "position": position,
        "start_ns": t[0],
        "end_ns": t[1],
        "workers": len(stats),
        "target_rate": target if any(s.target_rate for s in stats) else np.nan,
        "achieved_rate": achieved,
        # Unknown (NaN) where no saturation was measured, e.g. levels by CPU count.
        "achieved_load": (
            achieved / (saturation * len(stats))
            if saturation and stats
            else (0.0 if not stats else np.nan)
        ),
        "lateness_mean": max((s.lateness_mean for s in stats), default=0.0),
        "lateness_p99": max((s.lateness_p99 for s in stats), default=0.0),
        "lateness_max": max((s.lateness_max for s in stats), default=0),
        "worker_stats": [s.to_dict() for s in stats],
        "probe_ns": probe_ns,
        **context,
    }


class LocalLoad:
    """Load workers as threads of this process, one :class:`LoadGenerator` per level."""

    def __init__(self) -> None:
        self._generators: list[LoadGenerator] = []

    def metadata(self) -> dict[str, Any]:
        return {}

    def open(self, design: Design, tsc_hz: float) -> None:
        remote = sorted(
            {w.agent for lv in design.levels for w in lv.workers if w.agent is not None}
        )
        if remote:
            raise ValueError(
                f"the design has load workers on remote agents {remote}; run it with "
                "load=hvload.remote.AgentPool(...)"
            )
        self._generators = [LoadGenerator(level.workers, tsc_hz) for level in design.levels]

    def start(self, index: int) -> None:
        self._generators[index].start()

    def stop(self, index: int, window: tuple[int, int] | None) -> LoadOutcome:
        return LoadOutcome(list(self._generators[index].stop()))

    def close(self) -> None:
        for gen in self._generators:
            # A worker's error was raised when its block stopped; here only stop.
            with contextlib.suppress(Exception):
                gen.stop()


def usable(camp: Campaign) -> Campaign:
    """``camp`` without the blocks flagged ``load_ok = False``; what the analysis takes.

    A block is flagged when its load is not known to have run as designed over its
    whole probe window: a remote agent was lost, its load started late or stopped
    early, or a paced remote worker fell short of its target rate
    (:mod:`hvload.remote`). Such blocks stay in the file; :func:`left_out` says which
    were left out and why, and ``hvload report`` and ``hvload run`` print it.
    Campaigns without the flag (local load only) come back unchanged.
    """
    blocks = camp.blocks
    if blocks.empty or "load_ok" not in blocks.columns:
        return camp
    bad = blocks["load_ok"].eq(False)
    if not bad.any():
        return camp
    dropped = blocks.loc[bad]
    notes = [
        f"block {int(b['block'])} (round {int(b['round'])}, level {b['level']!r}): "
        f"{b['load_problem'] if isinstance(b.get('load_problem'), str) else 'load not as designed'}"
        for _, b in dropped.iterrows()
    ]
    keep = ~camp.samples["block"].isin(dropped["block"])
    return Campaign(
        camp.samples.loc[keep].reset_index(drop=True),
        blocks.loc[~bad].reset_index(drop=True),
        {**camp.metadata, "left_out": notes},
        camp.path,
    )


def left_out(camp: Campaign) -> str:
    """What :func:`usable` left out of ``camp``, as text (empty when nothing was)."""
    notes = camp.metadata.get("left_out") or []
    if not notes:
        return ""
    head = (
        f"Left out of the analysis: {len(notes)} block{'s' if len(notes) != 1 else ''} "
        "whose load did not run as designed over the probe window (kept in the file)\n"
    )
    return head + "".join(f"  {n}\n" for n in notes)


def _measure(design: Design, rng: np.random.Generator, n: int) -> tuple[list[Burst], int]:
    """One block's samples of every probe; returns them and the ns spent measuring.

    The main probe alone is one burst. With controls, every probe's ``n`` samples are
    cut into sub-bursts of ``design.sub_burst``; in each turn the probes take one
    sub-burst each, in an order drawn afresh, so no probe is always first after a
    load change or always last before the block ends.
    """
    probes = design.probes
    outs = [Burst(t, 0, **allocate(n)) for t in probes]
    gaps = [design.probe_gap] + [design.control_gap] * len(design.controls)
    spent = 0
    if len(probes) == 1:
        t0 = time.perf_counter_ns()
        fill(design.probe, outs[0], 0, n, gap=design.probe_gap)
        return outs, time.perf_counter_ns() - t0
    step = design.sub_burst
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        for p in rng.permutation(len(probes)).tolist():
            t0 = time.perf_counter_ns()
            fill(probes[p], outs[p], lo, hi, gap=gaps[p])
            spent += time.perf_counter_ns() - t0
    return outs, spent


def _block_samples(
    meta: dict[str, Any], design: Design, rnd: int, index: int, block: int, outs: list[Burst]
) -> pd.DataFrame:
    """A block's sample rows: probe by probe, each in its own sample order."""
    n = outs[0].n
    k = len(outs)
    warm = np.zeros(n, dtype=bool)
    warm[: design.warmup] = True
    total = n * k

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(o, name) for o in outs]) if k > 1 else getattr(outs[0], name)

    cpu_begin, cpu_end = cat("cpu_begin"), cat("cpu_end")
    return pd.DataFrame(
        {
            "campaign": meta["campaign"],
            "round": np.full(total, rnd, dtype=np.int32),
            "level": design.levels[index].name,
            "level_index": np.full(total, index, dtype=np.int32),
            "block": np.full(total, block, dtype=np.int32),
            "probe_index": np.repeat(np.arange(k, dtype=np.int16), n),
            "sample": np.tile(np.arange(n, dtype=np.int64), k),
            "start": cat("start"),
            "cycles": cat("cycles"),
            "response": cat("response"),
            "rax": cat("rax"),
            "cpu": cpu_begin.astype(np.int16),
            "migrated": cpu_begin != cpu_end,
            "warmup": np.tile(warm, k),
        }
    )


def iter_blocks(
    design: Design,
    meta: dict[str, Any],
    *,
    saturation: float | None = None,
    stop: threading.Event | None = None,
    load: LoadDriver | None = None,
) -> Iterator[BlockResult]:
    """Run ``design`` block by block, yielding each block as soon as it is measured.

    The calling thread is pinned to the probe CPU while it runs and restored after.
    Load workers never outlive their block: they stop when the block ends, also on an
    exception or Ctrl-C (which propagate after the workers have stopped). The noise the
    block ran in (:mod:`hvload.noise`) is read just before and after its samples. Once
    ``stop`` is set, no further block starts and the iteration ends normally: a
    cooperative stop from another thread (a Stop button), where a signal cannot reach.
    ``load`` starts and stops each level's workers (default :class:`LocalLoad`); when
    it reports an error for a block (a remote agent lost), that block is yielded first,
    flagged, and the error is raised after it.
    """
    for trap in design.probes:
        require(trap)
    tsc_hz = float(meta["tsc_hz"])
    n = design.warmup + design.samples
    load = LocalLoad() if load is None else load
    # Opened before the pinning below, which would hide the load CPUs from their checks
    # (and would pin any helper thread a driver starts to the probe CPU).
    load.open(design, tsc_hz)
    saved = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {design.probe_cpu})
        block = 0
        for rnd, order in enumerate(design.order()):
            for position, index in enumerate(order):
                if stop is not None and stop.is_set():
                    return
                level = design.levels[index]
                # The sub-burst order of each block comes from the design's seed too.
                rng = np.random.default_rng([design.seed, block])
                t0 = time.time_ns()
                window: tuple[int, int] | None = None
                load.start(int(index))
                try:
                    if level.workers and design.settle:
                        time.sleep(design.settle)
                    checkpoint("measure")
                    before = noise.snapshot(design.probe_cpu)
                    p0 = time.time_ns()
                    outs, spent = _measure(design, rng, n)
                    window = (p0, time.time_ns())
                    after = noise.snapshot(design.probe_cpu)
                finally:
                    outcome = load.stop(int(index), window)
                t1 = time.time_ns()
                samples = _block_samples(meta, design, rnd, int(index), block, outs)
                context = noise.block_noise(design.probe_cpu, before, after)
                row = _block_row(
                    meta, design, rnd, position, int(index), block, (t0, t1), outcome.stats,
                    saturation, context, spent,
                )  # fmt: skip
                row.update(outcome.row)
                yield BlockResult(samples, row)
                block += 1
                if outcome.error is not None:
                    raise outcome.error
    finally:
        try:
            load.close()
        finally:
            os.sched_setaffinity(0, saved)


def run(
    design: Design,
    path: str | os.PathLike[str] | None = None,
    *,
    meta: dict[str, Any] | None = None,
    saturation: float | None = None,
    progress: Callable[[BlockResult], None] | None = None,
    lock: OutputLock | None = None,
    stop: threading.Event | None = None,
    load: LoadDriver | None = None,
) -> Campaign:
    """Run ``design``, writing each finished block to ``path`` (if given) at once.

    On an exception or Ctrl-C the load stops, the finished blocks are merged into the
    campaign file, and the exception propagates with three attributes: ``campaign``
    (what was measured, read back from the file; None when no block had finished or the
    merge failed), ``blocks_finished`` (how many blocks were measured and stored), and,
    when the merge failed, ``close_error`` (then the finished blocks are in
    ``<path>.parts`` and :func:`hvload.store.recover` writes the file from them).

    Parameters
    ----------
    design
        What to measure.
    path
        Campaign file to write (Parquet); None keeps the data in memory only.
    meta
        Metadata to record; by default :func:`metadata_for` with a fresh platform report.
    saturation
        Saturation rate of the load trap, to report achieved load as a fraction.
    progress
        Called with each finished block (e.g. to advance a progress bar).
    lock
        The lock on ``path`` taken before anything was measured
        (:func:`hvload.store.claim`); without it the writer takes the lock itself.
    stop
        An event another thread may set to end the run at the next block boundary:
        the block being measured finishes, no other starts, and the finished blocks
        are written as at the end of a full run, with ``metadata["stopped"]`` saying
        how many of the design's blocks there are. A file is only written if at least
        one block finished; otherwise the result is None (with ``path``) or empty.
    load
        What starts and stops each level's load: :class:`LocalLoad` (the default), or
        :class:`hvload.remote.AgentPool` for levels with workers on neighbour machines
        (its agents' platforms go into the metadata as ``agents``).
    """
    from ..store.core import CampaignWriter

    if meta is None:
        from ..measure.machine import platform

        info = platform(probe_samples=1000).to_dict()
        if not info.get("tsc_hz"):
            raise MeasurementError("the TSC frequency could not be determined on this machine")
        meta = metadata_for(design, float(info["tsc_hz"]), info)
    # Each run is its own campaign, also when one Plan (one metadata dict) runs twice.
    meta = {
        **meta,
        "campaign": uuid.uuid4().hex[:12],
        "start_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "end_utc": None,
        **(load.metadata() if load is not None else {}),
    }
    writer = CampaignWriter(path, meta, lock=lock) if path is not None else None
    parts: list[BlockResult] = []
    finished = 0
    merging = False
    try:
        try:
            blocks_iter = iter_blocks(design, meta, saturation=saturation, stop=stop, load=load)
            with contextlib.closing(blocks_iter) as blocks:
                for result in blocks:
                    if writer is not None:
                        writer.write_block(result)
                    else:
                        parts.append(result)
                    finished += 1
                    checkpoint("block")
                    if progress is not None:
                        progress(result)
            if stop is not None and stop.is_set() and finished < design.blocks:
                meta["stopped"] = f"stop requested: {finished} of {design.blocks} blocks measured"
            # The merge is inside this protection too: whatever stops it, the finished
            # blocks end in the file or stay in the parts folder, and the caller is told.
            merging = True
            return _finish(parts, meta, writer)
        except BaseException as exc:
            try:
                if merging and not isinstance(exc, KeyboardInterrupt):
                    raise exc  # the merge itself failed; trying again would fail again
                camp: Campaign | None = _finish(parts, meta, writer)
            except BaseException as close_error:
                # Keep the first exception; the finished blocks stay in the parts folder.
                camp = None
                exc.close_error = close_error  # type: ignore[attr-defined]
            exc.campaign = camp  # type: ignore[attr-defined]
            # The writer's count includes a block stored while the signal was held back.
            stored = writer.blocks_written if writer is not None else finished
            exc.blocks_finished = stored  # type: ignore[attr-defined]
            raise
    finally:
        if writer is not None:
            writer.release()


def _finish(parts: list[BlockResult], meta: dict[str, Any], writer: Any) -> Campaign | None:
    if meta.get("end_utc") is None:
        meta["end_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if writer is not None:
        return writer.close()
    samples = (
        pd.concat([p.samples for p in parts], ignore_index=True)
        if parts
        else pd.DataFrame({c: [] for c in SAMPLE_COLUMNS})
    )
    # Lean, as a campaign read from its file would be.
    return lean_campaign(samples, pd.DataFrame([p.block for p in parts]), meta)


#: Sizes of the default campaign (about a minute on the project's 2-vCPU machine) and of
#: ``quick`` (a few seconds, for tests and smoke checks; too small for any verdict).
# Rounds, not samples, are what the tests average host noise over: on the project's
# machines the sampling part of the block noise is a third of it or less, so for the
# same minute 40 rounds of 5,000 samples find a 2 % median change where 12 rounds of
# 20,000 find only 4 % (hvload plan on data/amd-epyc-2vcpu-default.parquet).
DEFAULT_SIZES = {"samples": 5_000, "warmup": 200, "rounds": 40, "probe_rate": 20_000.0}
QUICK_SIZES = {"samples": 2_000, "warmup": 100, "rounds": 2, "probe_rate": 20_000.0}
DEFAULT_FRACTIONS = (0.0, 0.25, 0.5, 0.75, 1.0)
QUICK_FRACTIONS = (0.0, 0.5, 1.0)


@dataclass(frozen=True)
class Plan:
    """A ready-to-run campaign: the design, its metadata and the measured saturation.

    ``notes`` says what :func:`prepare` changed about the request (e.g. levels sorted
    into load order). Whether the design can reach a verdict is for the analysis to
    say: :func:`hvload.stats.check_design`.
    """

    design: Design
    metadata: dict[str, Any]
    saturation: float | None
    notes: tuple[str, ...] = ()
    #: The load driver the design needs (:class:`hvload.remote.AgentPool` for remote
    #: levels); None runs every worker in this process.
    load: LoadDriver | None = None

    def run(self, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Campaign:
        """Run the design (see :func:`run`)."""
        kwargs.setdefault("load", self.load)
        return run(self.design, path, meta=self.metadata, saturation=self.saturation, **kwargs)


def _trap_for(kind: str | Trap) -> Trap:
    from ..measure.executor import make_trap, probe

    if isinstance(kind, Trap):
        return kind
    if kind == "auto":
        hyper = make_trap("hypercall")
        return hyper if probe(hyper).ok else make_trap("cpuid")
    return make_trap(kind)


def prepare(
    *,
    probe: str | Trap = "auto",
    load: str | Trap | None = None,
    fractions: Sequence[float] | None = None,
    cpu_counts: Sequence[int] | None = None,
    probe_cpu: int | None = None,
    load_cpus: Sequence[int] | None = None,
    samples: int | None = None,
    warmup: int | None = None,
    rounds: int | None = None,
    probe_rate: float | None = None,
    seed: int | None = None,
    quick: bool = False,
    baseline: float | str | None = None,
    controls: str | Sequence[str | Trap] | None = "auto",
    saturation_seconds: float = 0.2,
) -> Plan:
    """Build the standard campaign for this machine, measuring what it needs first.

    The probe trap ``"auto"`` is ``hypercall`` where its fork probe succeeds, else
    ``cpuid``; the load trap defaults to the probe's. Levels are ``fractions`` of the
    load trap's saturation rate on every load CPU (default 0/25/50/75/100 %), or, with
    ``cpu_counts``, the number of loaded CPUs. CPUs default to the lowest allowed CPU
    for the probe and all the others for load. ``probe_rate`` is probe samples per
    second (0 = back to back). A seed is drawn and recorded when none is given.

    Levels are put in order of increasing load whatever order they are given in, and
    ``notes`` says so; ``baseline`` (a load value as given, e.g. ``0.5`` or ``4``, or a
    level name) picks the reference level, by default the lowest load.

    ``controls`` are measured beside the probe in every block (see :class:`Design`):
    ``"auto"`` takes the null trap (the timer floor) and a system call (a guest-kernel
    round trip without a VM exit) where this machine can issue them; ``None`` or
    ``()`` measures the probe alone; or give trap kinds or traps.
    """
    from ..workload.generator import saturation_rate
    from ..measure.machine import platform
    from ..workload.schedule import cpu_count_levels, fraction_levels

    sizes = dict(QUICK_SIZES if quick else DEFAULT_SIZES)
    for name, value in (("samples", samples), ("warmup", warmup), ("rounds", rounds),
                        ("probe_rate", probe_rate)):  # fmt: skip
        if value is not None:
            sizes[name] = value
    rate = sizes["probe_rate"]
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate < math.inf:
        raise ValueError(f"probe_rate={rate!r} must be a finite number >= 0")
    if fractions is not None and cpu_counts is not None:
        raise ValueError("give either fractions or cpu_counts, not both")
    allowed = sorted(os.sched_getaffinity(0))
    probe_cpu = allowed[0] if probe_cpu is None else probe_cpu
    if probe_cpu not in allowed:
        raise ValueError(f"probe_cpu={probe_cpu} is not allowed here; allowed: {allowed}")
    if load_cpus is None:
        load_cpus = [c for c in allowed if c != probe_cpu]
    # Sizes that cannot fit are refused before anything is measured.
    default_levels = QUICK_FRACTIONS if quick else DEFAULT_FRACTIONS
    n_levels = len(cpu_counts if cpu_counts is not None else fractions or default_levels)
    check_sizes(sizes["rounds"], max(n_levels, 1), sizes["samples"], sizes["warmup"])
    probe_trap = _trap_for(probe)
    load_trap = _trap_for(load) if load is not None else probe_trap
    notes: list[str] = []
    control_traps = _controls_for(controls, probe_trap, notes)
    n_probes = 1 + len(control_traps)
    check_sizes(sizes["rounds"], max(n_levels, 1), sizes["samples"] * n_probes,
                sizes["warmup"] * n_probes)  # fmt: skip
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**32)

    if cpu_counts is not None:
        cpu_counts = _load_order("cpu_counts", cpu_counts, notes)
    if fractions is not None:
        fractions = _load_order("fractions", fractions, notes)

    info = platform(probe_samples=1000).to_dict()
    tsc_hz = info["tsc_hz"]
    if not tsc_hz:
        raise MeasurementError("the TSC frequency could not be determined on this machine")
    saturation = None
    if cpu_counts is not None:
        levels = cpu_count_levels(cpu_counts, load_cpus, load_trap)
    else:
        fractions = (
            tuple(QUICK_FRACTIONS if quick else DEFAULT_FRACTIONS)
            if fractions is None
            else tuple(fractions)
        )
        if any(f > 0 for f in fractions):
            if not load_cpus:
                raise ValueError(
                    f"no CPU is left for load: the probe has CPU {probe_cpu} and only "
                    f"{allowed} are allowed"
                )
            checkpoint("saturation")
            saturation = saturation_rate(load_trap, load_cpus[0], tsc_hz, saturation_seconds)
        levels = fraction_levels(fractions, load_cpus, load_trap, saturation or 1.0)
    gap = round(tsc_hz / sizes["probe_rate"]) if sizes["probe_rate"] else 0
    design = Design(
        probe=probe_trap,
        levels=levels,
        probe_cpu=probe_cpu,
        samples=sizes["samples"],
        rounds=sizes["rounds"],
        warmup=sizes["warmup"],
        probe_gap=gap,
        seed=seed,
        extra={"probe_rate": sizes["probe_rate"], "load_trap": load_trap.label,
               "saturation_rate": saturation},
        baseline=_baseline_name(baseline, levels),
        controls=control_traps,
    )  # fmt: skip
    return Plan(design, metadata_for(design, tsc_hz, info), saturation, tuple(notes))


#: The controls ``controls="auto"`` measures where this machine can issue them.
AUTO_CONTROLS = ("null", "syscall")


def _controls_for(
    controls: str | Sequence[str | Trap] | None, probe: Trap, notes: list[str]
) -> tuple[Trap, ...]:
    """The control traps asked for, without the probe itself and without repeats."""
    from ..measure.executor import probe as fork_probe

    if controls is None or (isinstance(controls, str) and controls in ("none", "")):
        return ()
    auto = isinstance(controls, str) and controls == "auto"
    names = AUTO_CONTROLS if auto else ([controls] if isinstance(controls, str) else controls)
    out: list[Trap] = []
    for item in names:
        trap = item if isinstance(item, Trap) else _trap_for(str(item))
        if trap.label == probe.label or trap.label in [t.label for t in out]:
            continue
        if auto:
            result = fork_probe(trap)
            if not result.ok:
                notes.append(f"control {trap.label} left out: {result.reason}")
                continue
        out.append(trap)
    return tuple(out)


def _load_order(name: str, values: Sequence[float], notes: list[str]) -> tuple[float, ...]:
    """``values`` in increasing order (stable, so A/A repeats keep their order)."""
    values = tuple(values)
    if not values:
        raise ValueError(f"{name} is empty; give at least one load level")
    try:
        ordered = tuple(sorted(values))
    except TypeError:
        raise ValueError(f"{name}={list(values)!r} must be numbers") from None
    if ordered != values:
        notes.append(
            f"levels sorted into order of increasing load: {list(values)} -> {list(ordered)} "
            "(trend tests and neighbour comparisons follow the load)"
        )
    return ordered


def _baseline_name(baseline: float | str | None, levels: Sequence[Level]) -> str | None:
    """The level name ``baseline`` refers to: a level name, or a level's load value
    (a fraction of saturation, or a CPU count)."""
    if baseline is None:
        return None
    names = [lv.name for lv in levels]
    if isinstance(baseline, str) and baseline in names:
        return baseline
    try:
        value = float(baseline)
    except (TypeError, ValueError):
        raise ValueError(f"baseline={baseline!r} is not a level; levels: {names}") from None
    for lv in levels:
        if math.isclose(lv.value, value, abs_tol=1e-12):
            return lv.name
    raise ValueError(f"baseline={baseline!r} matches no level; levels: {names}")
