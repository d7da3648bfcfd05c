"""Campaigns: a probe measured under every load level, in randomized complete blocks.

A :class:`Design` names the probe trap and CPU, the load levels, and the sizes. Each
round measures every level once, in a fresh random order drawn from the seed, so slow
drift of the host falls on all levels alike; one level in one round is a *block*.
:func:`iter_blocks` runs a design and yields one :class:`BlockResult` (tidy sample rows
and one block row) per block; :func:`run` writes them to a campaign file as they come.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd

from .._faultinject import checkpoint
from ..errors import MeasurementError, RunOutcome, attach_outcome
from ..measure import noise
from ..measure.executor import Burst, allocate, fill, require
from ..model import (
    SAMPLE_COLUMNS,
    BlockResult,
    Campaign,
    Design,
    lean_campaign,
)
from ..workload.driver import LoadDriver, LoadOutcome
from ..workload.generator import LoadGenerator, WorkerStats, shortfalls
from ._kernel import KernelBlocks
from ._metadata import metadata_for

if TYPE_CHECKING:
    from ..store import OutputLock
    from ._sequential import Sequential

__all__ = [
    "LoadDriver",
    "LoadOutcome",
    "LocalLoad",
    "iter_blocks",
    "run",
]


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


def _load_flags(
    driver: dict[str, Any], delivered: dict[str, Any], stats: Sequence[WorkerStats]
) -> dict[str, Any]:
    """The block's ``load_ok``/``load_problem``: every check's verdict, none overriding another.

    A remote driver (``driver``) and the kernel's delivered count (``delivered``) each
    judge the block; this process's own paced workers are judged here, by their achieved
    rate (:func:`~hvload.workload.generator.shortfalls`), except where the kernel's count
    judged them already: kernel-mediated load is what reaches the probe CPU, its levels
    are fractions of the delivered saturation, so its calls made are not judged twice.
    Any one falling short flags the block. Nothing is added where nothing was judged.
    """
    local = [s for s in stats if s.agent is None] if "load_ok" not in delivered else []
    judged = [r for r in (driver, delivered) if "load_ok" in r]
    if not judged and not any(s.target_rate for s in local):
        return {}
    problems = [r.get("load_problem") or "load not as designed" for r in judged
                if r["load_ok"] is False]  # fmt: skip
    problems += [f"local load: {p}" for p in shortfalls(local)]
    return {"load_ok": not problems, "load_problem": "; ".join(problems) or None}


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
                "load=hvload.workload.remote.AgentPool(...)"
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


def _check_probe_cpu(design: Design) -> None:
    # A Design does not check this machine (one read from a file rebuilds anywhere), so
    # running one does, before any load starts or any file is made, in Design's old words.
    allowed = os.sched_getaffinity(0)
    if design.probe_cpu not in allowed:
        raise ValueError(f"probe_cpu={design.probe_cpu} is not allowed; allowed: {sorted(allowed)}")


def iter_blocks(
    design: Design,
    meta: dict[str, Any],
    *,
    saturation: float | None = None,
    stop: threading.Event | None = None,
    load: LoadDriver | None = None,
) -> Generator[BlockResult, None, None]:
    """Run ``design`` block by block, yielding each block as soon as it is measured.

    The calling thread is pinned to the probe CPU while it runs and restored after.
    Load workers never outlive their block: they stop when the block ends, also on an
    exception or Ctrl-C (which propagate after the workers have stopped). The noise the
    block ran in (:mod:`hvload.measure.noise`) is read just before and after its samples. Once
    ``stop`` is set, no further block starts and the iteration ends normally: a
    cooperative stop from another thread (a Stop button), where a signal cannot reach.
    ``load`` starts and stops each level's workers (default :class:`LocalLoad`); when
    it reports an error for a block (a remote agent lost), that block is yielded first,
    flagged, and the error is raised after it.
    """
    _check_probe_cpu(design)
    for trap in design.probes:
        require(trap)
    tsc_hz = float(meta["tsc_hz"])
    n = design.warmup + design.samples
    load = LocalLoad() if load is None else load
    kernel_blocks = KernelBlocks(design, n)
    stack = contextlib.ExitStack()
    # Opened before the pinning below, which would hide the load CPUs from their checks
    # (and would pin any helper thread a driver starts to the probe CPU).
    load.open(design, tsc_hz)
    saved = os.sched_getaffinity(0)
    try:
        stack.enter_context(kernel_blocks.running())
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
                    delivered_before = kernel_blocks.snapshot()
                    p0 = time.time_ns()
                    outs, spent = _measure(design, rng, n)
                    window = (p0, time.time_ns())
                    delivered_after = kernel_blocks.snapshot()
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
                delivered: dict[str, Any] = {}
                if window is not None:
                    delivered = kernel_blocks.row(
                        delivered_before, delivered_after, window, level.value, outcome.stats
                    )
                    row.update(delivered)
                row.update(_load_flags(outcome.row, delivered, outcome.stats))
                yield BlockResult(samples, row)
                block += 1
                if outcome.error is not None:
                    raise outcome.error
    finally:
        try:
            load.close()
        finally:
            try:
                stack.close()  # the kernel helper thread, if any
            finally:
                os.sched_setaffinity(0, saved)


# In memory, a run always returns a campaign (empty if stopped before any block); with
# a file, None when no block finished (nothing was written).
@overload
def run(
    design: Design,
    path: None = None,
    *,
    meta: dict[str, Any] | None = None,
    saturation: float | None = None,
    progress: Callable[[BlockResult], None] | None = None,
    lock: OutputLock | None = None,
    stop: threading.Event | None = None,
    load: LoadDriver | None = None,
    read_back: bool = True,
    sequential: Sequential | None = None,
) -> Campaign: ...
@overload
def run(
    design: Design,
    path: str | os.PathLike[str],
    *,
    meta: dict[str, Any] | None = None,
    saturation: float | None = None,
    progress: Callable[[BlockResult], None] | None = None,
    lock: OutputLock | None = None,
    stop: threading.Event | None = None,
    load: LoadDriver | None = None,
    read_back: bool = True,
    sequential: Sequential | None = None,
) -> Campaign | None: ...
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
    read_back: bool = True,
    sequential: Sequential | None = None,
) -> Campaign | None:
    """Run ``design``, writing each finished block to ``path`` (if given) at once.

    On an exception or Ctrl-C the load stops, the finished blocks are merged into the
    campaign file, and the exception propagates carrying a
    :class:`~hvload.errors.RunOutcome` (read it with :func:`hvload.errors.run_outcome`):
    the ``campaign`` measured, read back from the file (None when no block had finished
    or the merge failed), ``blocks_finished`` (measured and stored), and, when the merge
    failed, ``close_error`` (then the finished blocks are in ``<path>.parts`` and
    :func:`hvload.store.recover` writes the file from them).

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
        :class:`hvload.workload.remote.AgentPool` for levels with workers on neighbour machines
        (its agents' platforms go into the metadata as ``agents``).
    read_back
        With ``path``: whether the campaign returned holds its samples read back from the
        file (the default), or is a :class:`hvload.store.StoredCampaign` whose samples
        stay in the file until asked for. Either way each block leaves memory once it is
        written; without reading back, the run's memory does not grow with its length.
    sequential
        A sequential campaign (``hvload run --until decided``,
        :class:`hvload.campaign._sequential.Sequential`): the design holds the most
        rounds; after each round that is a planned look the blocks so far are analysed
        and the run ends at the first look where every comparison is decided. It keeps
        the analysed sample columns of every block in memory, and records its looks in
        ``metadata["sequential"]``.
    """
    from ..store import CampaignWriter

    _check_probe_cpu(design)
    if meta is None:
        from ..measure.machine import platform

        machine = platform(probe_samples=1000)
        if not machine.tsc_hz:
            raise MeasurementError("the TSC frequency could not be determined on this machine")
        meta = metadata_for(design, float(machine.tsc_hz), machine.to_dict())
    # Each run is its own campaign, also when one Plan (one metadata dict) runs twice.
    meta = {
        **meta,
        "campaign": uuid.uuid4().hex[:12],
        "start_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "end_utc": None,
        **(load.metadata() if load is not None else {}),
    }
    if sequential is not None:
        sequential.start(meta)
    writer = (
        CampaignWriter(path, meta, lock=lock, read_back=read_back) if path is not None else None
    )
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
                    if sequential is not None and sequential.after_block(result):
                        break
            if stop is not None and stop.is_set() and finished < design.blocks:
                meta["stopped"] = f"stop requested: {finished} of {design.blocks} blocks measured"
            # The merge is inside this protection too: whatever stops it, the finished
            # blocks end in the file or stay in the parts folder, and the caller is told.
            merging = True
            return _finish(parts, meta, writer)
        except BaseException as exc:
            close_error: BaseException | None = None
            try:
                if merging and not isinstance(exc, KeyboardInterrupt):
                    raise exc  # the merge itself failed; trying again would fail again
                camp: Campaign | None = _finish(parts, meta, writer)
            except BaseException as failed:
                # Keep the first exception; the finished blocks stay in the parts folder.
                camp, close_error = None, failed
            # The writer's count includes a block stored while the signal was held back.
            stored = writer.blocks_written if writer is not None else finished
            attach_outcome(exc, RunOutcome(
                path=None if path is None else os.fspath(path), blocks_finished=stored,
                campaign=camp, close_error=close_error,
            ))  # fmt: skip
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
