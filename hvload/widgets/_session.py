"""One campaign measured in a background thread, with a Stop that acts between blocks.

:class:`Session` prepares a campaign (:func:`hvload.campaign.prepare`), runs it block by
block in a thread of its own and reports to a :class:`Listener`: the status line, the
progress (blocks done, time left, how the run ended), and after each finished block the
campaign so far. :meth:`Session.stop` ends the run at the next block boundary; the
finished blocks are written as at the end of a full run. Nothing here imports ipywidgets:
the Explorer is one listener, a test's recorder can be another.
"""

from __future__ import annotations

import contextlib
import html
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from ..errors import run_outcome
from ._html import error_html

if TYPE_CHECKING:
    from ..campaign import BlockResult, Campaign
    from ..store import OutputLock

__all__ = [
    "RECENT_BLOCKS", "STOPPING", "Listener", "Session", "duration", "new_path", "time_left",
]  # fmt: skip

#: Added to the progress text once a Stop is asked for.
STOPPING = " · <b>stopping after this block</b>"


def new_path(directory: Path) -> Path:
    """A fresh campaign file name in ``directory``, as ``hvload run`` names its output."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    host = socket.gethostname()
    for i in range(1, 1000):
        path = directory / f"{stamp}-{host}{'' if i == 1 else f'-{i}'}.parquet"
        if not path.exists() and not path.with_name(path.name + ".parts").exists():
            return path
    raise FileExistsError(f"no free campaign file name in {directory}")


def duration(seconds: float) -> str:
    """``seconds`` as the progress line says it: "42 s", "3 min 05 s"."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


#: How many of the latest blocks the time left is estimated from.
RECENT_BLOCKS = 5


def time_left(ends: Sequence[float], total: int) -> float:
    """Seconds the rest of a run of ``total`` blocks will take, from the measured ones.

    ``ends`` are the times of the finished blocks' ends, counted from the start of the
    first block. The estimate is the median time of the latest :data:`RECENT_BLOCKS`
    blocks (each from the end of the one before) times the blocks to come. Not the mean
    over all blocks so far: the first blocks are quicker than the rest (their live view
    has one level, nothing to compare, and little data), so that mean starts some 3x low
    and grows (measured here: 2000-sample blocks took 0.3-0.4 s in the first round, then
    2.5-4 s each with the live view). Not a trend line either: fitted to a few noisy
    blocks it overshoots by as much. The median of the latest blocks follows a slowly
    growing live view a few blocks behind, and one slow block does not move it.
    """
    done = len(ends)
    if done == 0 or done >= total:
        return 0.0
    times = np.diff(np.concatenate(([0.0], np.asarray(ends, dtype=float))))
    return float(np.median(times[-RECENT_BLOCKS:]) * (total - done))


class Listener(Protocol):
    """What a :class:`Session` reports to.

    Every method is called on the session's thread, except :meth:`on_campaign` for the
    blocks finished so far, which runs on a thread of its own (see :class:`Session`).
    """

    def on_status(self, text: str) -> None:
        """The status line (HTML): what the run is doing, or how it ended."""

    def on_progress(
        self, *, value: int | None = None, maximum: int | None = None, text: str | None = None,
        style: str | None = None,
    ) -> None:  # fmt: skip
        """The progress bar: blocks done, blocks in all, its text (HTML), its bar style."""

    def design_notes(self) -> list[str]:
        """Notes on the design, shown with the plan's own when measuring begins."""

    def wants_live(self) -> bool:
        """Whether to show the blocks finished so far after each block."""

    def view_idle(self) -> threading.Event:
        """Set unless a redraw asked for by a control is under way; the next block waits."""

    def on_follow(self, session: Session | None) -> None:
        """Show the live updates of ``session`` from now on (None: of no run)."""

    def on_campaign(
        self, campaign: Campaign, *, levels: Sequence[str] | None = None, partial: str = "",
        live: object = None,
    ) -> None:  # fmt: skip
        """Show ``campaign``: ``partial`` and ``live`` (the session) mark the blocks so far."""

    def on_live_failed(self, exc: Exception) -> None:
        """Showing the blocks so far failed; the measurement goes on."""

    def on_end(self, session: Session) -> None:
        """The run is over, whichever way; called before :attr:`Session.done` is set."""


class _Lean:
    """The blocks finished so far, each kept lean (as a loaded campaign holds its samples:
    about 23 bytes a sample, against some 60 as measured) for the live view."""

    def __init__(self, meta: dict[str, Any], names: Sequence[str]) -> None:
        self.meta = meta
        self.names = list(names)
        self.samples: list[pd.DataFrame] = []
        self.blocks: list[dict[str, Any]] = []

    def add(self, block: BlockResult) -> None:
        from ..model import lean_samples

        frame = getattr(block, "samples", None)
        if not isinstance(frame, pd.DataFrame):  # nothing measured to show (a stand-in)
            return
        columns = {c: frame[c].to_numpy() for c in frame.columns}
        lean, origins = lean_samples(columns, levels=self.names, campaign=self.meta.get("campaign"))
        self.samples.append(lean)
        self.blocks.append({**block.block, "start_tsc": origins.get(int(block.block["block"]))})

    def __len__(self) -> int:
        return len(self.blocks)

    def view(self) -> Campaign:
        """The campaign so far: the same tables :func:`hvload.load` would give."""
        from ..campaign import Campaign
        from ..model import concat_lean

        n = len(self.samples)
        samples = concat_lean(self.samples[:n], levels=self.names,
                              campaign=self.meta.get("campaign"))  # fmt: skip
        blocks = pd.DataFrame(self.blocks[:n])
        if len(blocks):
            blocks["start_tsc"] = blocks["start_tsc"].astype("Int64")
        return Campaign(samples, blocks, self.meta)


def _so_far(parts: _Lean, meta: dict[str, Any]) -> Campaign:
    return parts.view()


class Session:
    """One campaign measured in a background thread.

    After each finished block the listener gets the progress, then (when it
    :meth:`~Listener.wants_live`) the campaign so far, made in a thread of its own so that
    a Stop meanwhile ends the run without waiting for it; the next block starts once that
    view is made, so the view lengthens the run but never shares the CPUs with a block.

    Parameters
    ----------
    request
        The keyword arguments of :func:`hvload.campaign.prepare`.
    path
        The campaign file to write.
    lock
        The claim on ``path`` (:func:`hvload.store.claim`); released when the run ends.
    listener
        What the run reports to.

    Attributes
    ----------
    done
        Set once the run has ended, whichever way.
    result
        The campaign read back from its file, or kept after an error; None if no block
        finished.
    error
        What ended the run, if anything did (also shown in the status line).
    """

    def __init__(
        self, request: Mapping[str, Any], path: str | Path, lock: OutputLock, listener: Listener
    ) -> None:
        self.request = dict(request)
        self.path = Path(path)
        self.listener = listener
        self._lock = lock
        self._stop = threading.Event()
        self.done = threading.Event()
        self.result: Campaign | None = None
        self.error: BaseException | None = None

    @property
    def stopping(self) -> bool:
        """Whether a Stop was asked for."""
        return self._stop.is_set()

    def start(self) -> threading.Thread:
        """Start measuring in a daemon thread; return the thread."""
        thread = threading.Thread(target=self._measure, name="hvload-explorer", daemon=True)
        thread.start()
        return thread

    def stop(self) -> bool:
        """Ask the run to end after the block being measured; False if it was asked already."""
        if self._stop.is_set():
            return False
        self._stop.set()
        return True

    def wait(self, timeout: float | None = None) -> Campaign | None:
        """Wait for the run to end; return its campaign (None if nothing finished).

        Raises
        ------
        TimeoutError
            If the run is still on after ``timeout`` seconds.
        Exception
            Whatever stopped the measurement.
        """
        if not self.done.wait(timeout):
            raise TimeoutError(f"the run is still measuring after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    def wait_unless_stopped(self, event: threading.Event, timeout: float = 60.0) -> None:
        """Wait for ``event``, but no longer than a Stop (or ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not event.wait(0.02):
            if self._stop.is_set() or time.monotonic() > deadline:
                return

    def _measure(self) -> None:
        """The background thread: prepare, run block by block, and say how it ended."""
        from ..campaign import prepare

        listener = self.listener
        path = self.path
        total = 0
        try:
            sequential = self.request.get("sequential")  # hvload.campaign.Sequential
            plan = prepare(**{k: v for k, v in self.request.items() if k != "sequential"})
            design = plan.design
            total = design.blocks
            listener.on_progress(maximum=total)
            if self._stop.is_set():
                listener.on_status("stopped before the first block: nothing was measured")
                return
            notes = [*plan.notes, *listener.design_notes()]
            listener.on_status(
                f"measuring {total} blocks: {len(design.levels)} levels x {design.rounds} "
                f"rounds of {design.samples:,} samples, into <code>{html.escape(str(path))}"
                "</code>" + "".join(f"<br><small>note: {html.escape(n)}</small>" for n in notes)
            )
            names = [lv.name for lv in design.levels]
            parts = _Lean(plan.metadata, names)
            started = time.monotonic()

            finished = 0
            ends: list[float] = []

            def on_block(block: BlockResult) -> None:
                nonlocal finished
                parts.add(block)
                finished += 1
                ends.append(time.monotonic() - started)
                self._advance(finished, total, ends)
                # The live view is made before the next block starts, in a thread of its
                # own, so that a Stop pressed meanwhile ends the run without waiting for it.
                if listener.wants_live() and not self._stop.is_set():
                    done = threading.Event()
                    threading.Thread(
                        target=self._show_live, args=(parts, plan.metadata, names, total),
                        kwargs={"done": done}, name="hvload-live", daemon=True,
                    ).start()  # fmt: skip
                    self.wait_unless_stopped(done)
                # So does a redraw asked for by a control: it shares the CPUs with what is
                # measured no longer than the block under way.
                self.wait_unless_stopped(listener.view_idle())

            listener.on_follow(self)
            try:
                more = {} if sequential is None else {"sequential": sequential}
                camp = plan.run(path, progress=on_block, lock=self._lock, stop=self._stop, **more)
            finally:
                listener.on_follow(None)  # from now on, only the campaign read back
            done = 0 if camp is None else len(camp.blocks)
            if camp is None:
                listener.on_status("stopped before the first block finished: nothing was written")
            elif done < total and not (sequential and sequential.taken[-1:] and
                                       sequential.taken[-1].stop):  # fmt: skip
                listener.on_progress(style="warning")
                listener.on_status(
                    f"<b>stopped</b> after {done} of {total} blocks: the {done} blocks measured "
                    f"are written to <code>{html.escape(str(camp.path))}</code>"
                )
            else:
                listener.on_progress(style="success")
                listener.on_status(
                    f"<b>finished</b>: {done} blocks written to "
                    f"<code>{html.escape(str(camp.path))}</code> (seed {design.seed})"
                )
            listener.on_progress(
                text=f"{done} of {total} blocks in {duration(time.monotonic() - started)}"
            )
            self.result = camp
            if camp is not None:
                listener.on_campaign(camp, levels=names)
        except BaseException as exc:  # the thread has no caller: say it, keep it for wait()
            self.error = exc
            listener.on_progress(style="danger")
            kept = getattr(exc, "campaign", None)
            outcome = run_outcome(exc)
            finished = outcome.blocks_finished if outcome else 0
            where = (
                f"{len(kept.blocks)} of {total} blocks kept in <code>{kept.path}</code>"
                if kept is not None
                else (
                    f"{finished} finished blocks are in <code>{path}.parts</code>; "
                    f"<code>hvload recover {path}</code> writes the file"
                    if finished
                    else "nothing was written"
                )
            )
            listener.on_status(f"{error_html(exc)}<br>{where}")
            if kept is not None:
                self.result = kept
                with contextlib.suppress(Exception):
                    listener.on_campaign(kept)
        finally:
            try:
                self._lock.release()
                listener.on_end(self)
            finally:
                self.done.set()

    def _advance(self, done: int, total: int, ends: Sequence[float]) -> None:
        text = f"{done} of {total} blocks · {duration(ends[-1])}"
        if done < total:
            recent = min(done, RECENT_BLOCKS)
            how = (
                f"an estimate: the median time of the last {recent} block"
                f"{'s' if recent != 1 else ''} (with the live view after each) times the "
                f"{total - done} blocks to come; refined after every block"
            )
            text += (
                f' · <span class="hvload-eta" title="{how}">about '
                f"{duration(time_left(ends, total))} left (estimate)</span>"
            )
        if self._stop.is_set():
            text += STOPPING
        self.listener.on_progress(value=done, text=text)

    def _show_live(
        self, parts: _Lean, meta: dict[str, Any], names: list[str],
        total: int, *, done: threading.Event,
    ) -> None:  # fmt: skip
        try:
            live = _so_far(parts, meta)
            self.listener.on_campaign(
                live, levels=names, partial=f"{len(parts)} of {total} blocks", live=self
            )
        except Exception as exc:  # the measurement goes on whatever a live view does
            self.listener.on_live_failed(exc)
        finally:
            done.set()
