"""The Explorer: choose traps, load levels and sizes, measure a campaign, watch it come in.

:class:`Explorer` measures a campaign with the traps this machine can issue
(:func:`trap_choices`) in a background run (:class:`~hvload.widgets._session.Session`)
that a Stop button ends at the next block boundary; a progress bar counts blocks, and
the figure and the comparison table follow the blocks finished so far. Where nothing can
be measured it says why and opens stored campaign files instead. Every control calls a
plain method (``run``, ``stop``, ``open``, ...), so it is driven from tests without a
browser.
"""

from __future__ import annotations

import html
import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..campaign import Sequential
from ..campaign.spec import CampaignSpec
from ..errors import MeasurementError
from ..notebook import campaign_files, find_data_dir
from ..workload.schedule import parse_levels
from ._common import CampaignView, kept_note
from ._confine import confine, inside
from ._export import Downloads
from ._html import STYLE, error_html
from ._session import STOPPING, Session, new_path
from ._traps import trap_choices

if TYPE_CHECKING:
    from ..campaign import Campaign
    from ..measure.machine import PlatformInfo
    from ..stats import Analysis

__all__ = ["Explorer", "trap_choices"]


class Explorer(CampaignView):
    """Choose traps, load levels and sizes, run a campaign, and watch its figure and table.

    The campaign is measured in a background thread, so the notebook's kernel stays free:
    the progress bar counts blocks and estimates the time left (from the latest blocks'
    times), and after every finished block the figure and the comparison table show the
    blocks finished so far (their verdicts provisional). The figure, level, threshold,
    reference, unit and metric controls keep working on those data and answer at once;
    the controls of the design are disabled until the run ends. A new run shows its own
    levels and reference and says which other view settings it keeps. **Stop** ends the
    run at the next block boundary: the block being measured finishes, and every finished
    block is written to the campaign file, as at the end of a full run.

    The live analysis and its figure are made between two blocks, never during one, so
    they lengthen the run (by the time a figure takes to draw, per block) but do not
    disturb what is measured; the "live figure and table" box turns them off.
    A control changed while a block is measured redraws at once, on the CPUs the
    measurement uses.

    Parameters
    ----------
    data_dir
        Directory of campaign files to offer (default: :func:`hvload.notebook.find_data_dir`).
    levels
        Initial load levels, percents of the load trap's saturation.
    samples, rounds
        Initial sizes: samples per block and rounds.
    figure
        Initial figure, a key of ``hvload.plots.FIGURES``.
    threshold
        Practical threshold of the analysis, a fraction of the reference's statistic.
    seed
        Seed of the block order (None draws one per run).
    info
        A platform report to decide what can be measured (default: probe this machine).
    open_first
        Open the first campaign file at once; by default only when nothing can be measured.
    runs_dir
        Where measured campaigns are written (default: ``runs/`` inside the data
        directory, i.e. ``data/runs/`` as for ``hvload run``).
    root
        A folder to confine the explorer to (``hvload dashboard --data``): what it lists,
        opens and saves in must lie inside (see :func:`hvload.widgets._confine.confine`).

    Attributes
    ----------
    whole, campaign, analysis
        The campaign shown, the part of it for the chosen levels, and its analysis
        (None before the first run or open).
    choices, refused
        Traps offered (label -> Trap) and traps refused here (label -> reason).
    path
        The file the last (or current) run writes.
    widget
        The whole control as one ``ipywidgets.VBox``; the Explorer displays as it.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        levels: str = "0, 50, 100",
        samples: int = 2000,
        rounds: int = 12,
        figure: str = "ecdf",
        threshold: float = 0.01,
        seed: int | None = None,
        info: PlatformInfo | None = None,
        open_first: bool | None = None,
        runs_dir: str | os.PathLike[str] | None = None,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        #: The folder everything is confined to (resolved), or None.
        self.root = Path(root).expanduser().resolve(strict=True) if root is not None else None
        self._init_views(figure, threshold, "show levels")
        self.seed = seed
        self.path: Path | None = None
        self._running = False
        self._session: Session | None = None  # the last (or current) run
        self.choices, self.refused = trap_choices(info)
        labels = list(self.choices)
        trap_layout = {"layout": w.Layout(width="320px"), "style": {"description_width": "80px"}}
        self.probe = w.Dropdown(
            options=labels, description="probe trap", disabled=not labels, **trap_layout
        )
        self.load = w.Dropdown(
            options=labels, description="load trap", disabled=not labels, **trap_layout
        )
        self.levels = w.Text(value=levels, description="load %")
        self.samples = w.BoundedIntText(value=samples, min=1, max=10_000_000, description="samples")
        self.rounds = w.BoundedIntText(value=rounds, min=1, max=1000, description="rounds")
        self.until = w.Checkbox(
            value=False, description="until decided", indent=False,
            tooltip="sequential: add rounds, at most 'rounds', until every comparison is "
            "decided (hvload run --until decided; alpha split over 4 looks)",
        )  # fmt: skip
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.stop_button = w.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True,
            tooltip="end the run after the block being measured; finished blocks are kept",
        )  # fmt: skip
        self.progress = w.IntProgress(value=0, min=0, max=1, description="blocks")
        self.progress_text = w.HTML(value="")
        self.live = w.Checkbox(
            value=True, description="live figure and table", indent=False,
            tooltip="redraw after every block; the redraw happens between blocks, so it "
            "lengthens the run without disturbing what is measured",
        )  # fmt: skip
        self.status = w.HTML(value="")
        self.design_note = w.HTML(value="")
        self.fix_rounds = w.Button(
            description="", layout=w.Layout(display="none", width="auto"), button_style="info"
        )
        self.fix_rounds.on_click(lambda _: self._use_needed_rounds())
        self._needed_rounds = 0
        self.levels.observe(lambda change: self._check_design(), names="value")
        self.rounds.observe(lambda change: self._check_design(), names="value")
        self._check_design()
        self.notes = w.HTML(value=self._refused_html())
        self.reason = w.HTML(value="")
        if not self.can_measure:
            why = next(iter(self.refused.values()), "no trap can be issued here")
            self.run_button.disabled = True
            self.run_button.tooltip = why
            self.reason.value = (
                f"<b>Measuring is not possible here</b>: {html.escape(why)}<br>"
                "Open a stored campaign below instead."
            )
        self.run_button.on_click(self._on_run)
        self.stop_button.on_click(self._on_stop)
        self._refocus_run = False
        self._kept = ""  # the view settings a new run keeps from before, said

        if self.root is not None:  # never looked for elsewhere: the root or inside it
            self.data_dir: Path | None = confine(self.root, data_dir or self.root, "data_dir")
        else:
            try:
                self.data_dir = find_data_dir(data_dir)
            except FileNotFoundError:
                self.data_dir = Path(data_dir) if data_dir is not None else None
        if runs_dir is not None:
            runs_dir = confine(self.root, runs_dir, "runs_dir", must_exist=False)
        if runs_dir is None:
            runs_dir = (self.data_dir or Path("data")) / "runs"
        self.runs_dir = w.Text(
            value=str(runs_dir), description="save in", layout=w.Layout(width="640px"),
            tooltip="each run writes a new campaign file here",
        )  # fmt: skip
        self.runs_dir.observe(lambda _: self._guard(self._check_runs_dir), names="value")
        self.directory = w.Text(
            value=str(self.data_dir or ""), description="directory", placeholder="data/"
        )
        self.files = w.Dropdown(options=[], description="campaign", layout=w.Layout(width="360px"))
        self.scan_button = w.Button(description="Scan", icon="folder-open")
        self.open_button = w.Button(description="Open", icon="file")
        self.scan_button.on_click(lambda _: self._guard(self.scan))
        self.open_button.on_click(lambda _: self._guard(self.open))
        if self.data_dir is not None and self.data_dir.is_dir():
            self.scan(self.data_dir)

        measure_box = w.VBox(
            [
                w.HBox([self.probe, self.load], layout=w.Layout(flex_flow="row wrap")),
                self.notes,
                w.HBox([self.levels, self.samples, self.rounds, self.until]),
                self.design_note,
                self.fix_rounds,
                w.HBox([self.runs_dir, self.live]),
                w.HBox([self.run_button, self.stop_button, self.progress, self.progress_text]),
                self.reason,
            ]
        )
        open_box = w.VBox(
            [w.HBox([self.directory, self.scan_button]), w.HBox([self.files, self.open_button])]
        )
        self.downloads = Downloads(self, root=self.root)
        # The view's controls appear with the first data to act on.
        self._view_box = w.HBox([self.view_controls(), self.shown], layout=w.Layout(display="none"))
        self.widget = w.VBox(
            [
                w.HTML(STYLE + "<h4>Measure a campaign here</h4>"),
                measure_box,
                w.HTML("<h4>... or open a stored campaign</h4>"),
                open_box,
                self.status,
                self._view_box,
                self.info,
                self.downloads.widget,
                self.caption,
                self.output,
                self.table,
            ]
        )
        self.widget.add_class("hvload-explorer")
        for control, name in (
            (self.probe, "probe"), (self.load, "load"), (self.levels, "levels"),
            (self.samples, "samples"), (self.rounds, "rounds"), (self.run_button, "run"),
            (self.stop_button, "stop"), (self.progress, "progress"),
            (self.progress_text, "progress-text"), (self.status, "status"),
            (self.design_note, "design-note"), (self.fix_rounds, "fix-rounds"),
            (self.runs_dir, "runs-dir"), (self.files, "files"), (self.open_button, "open"),
            (self.live, "live"), (self.directory, "directory"), (self.scan_button, "scan"),
            (self.until, "until"),
        ):  # fmt: skip
            control.add_class(f"hvload-{name}")
        self._design_controls = [
            self.probe, self.load, self.levels, self.samples, self.rounds, self.fix_rounds,
            self.until, self.runs_dir, self.directory, self.files, self.scan_button,
            self.open_button,
        ]  # fmt: skip
        if open_first is None:
            open_first = not self.can_measure
        if open_first and self.files.options:
            self._guard(self.open)

    # -- the design ---------------------------------------------------------------------

    def _check_design(self) -> str:
        """Say under the sizes whether this design can reach a verdict (empty if it can).

        The rule is :func:`hvload.stats.check_design`'s; where more rounds would do, a
        button offers the number it gives.
        """
        from ..stats import check_design

        self._needed_rounds = 0
        self.fix_rounds.layout.display = "none"
        try:
            n_levels = len(parse_levels(self.levels.value))
            check = check_design(
                n_levels, int(self.rounds.value), alpha=self.config.alpha,
                correction=self.config.correction,
            )  # fmt: skip
        except ValueError as exc:
            self.design_note.value = f'<span style="color:#b00020">{html.escape(str(exc))}</span>'
            return str(exc)
        message = check.message
        self.design_note.value = (
            f'<span style="color:#b00020"><b>No verdict possible</b>: {html.escape(message)}</span>'
            if message
            else ""
        )
        if not check.can_decide and check.rounds_needed > int(self.rounds.value):
            self._needed_rounds = check.rounds_needed
            self.fix_rounds.description = f"use {check.rounds_needed} rounds"
            self.fix_rounds.layout.display = None
        return message

    def _use_needed_rounds(self) -> None:
        if self._needed_rounds:
            self.rounds.value = self._needed_rounds

    @property
    def can_measure(self) -> bool:
        """Whether at least one trap can be issued on this machine."""
        return bool(self.choices)

    @property
    def running(self) -> bool:
        """Whether a campaign is being measured now."""
        return self._running

    def _refused_html(self) -> str:
        if not self.refused:
            return ""
        items = "".join(
            f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>"
            for k, v in self.refused.items()
        )
        return (
            '<details style="font-size:small"><summary>Not offered here: '
            f"{', '.join(html.escape(k) for k in self.refused)}</summary><ul>{items}</ul></details>"
        )

    def _guard(self, action: Any, *args: Any) -> Any:
        try:
            return action(*args)
        except Exception as exc:  # shown in the widget: a button has no caller to raise to
            self.status.value = error_html(exc)
            return None

    # -- running ------------------------------------------------------------------------

    def _on_run(self, _button: w.Button | None = None) -> None:
        if self._running:  # a second click while the first run is on: one campaign only
            return
        self._guard(self.start)
        # The pressed button is disabled now and the browser would drop focus to the
        # page: a keyboard user is put on the button that acts next (only after a
        # click: a run started from code must not take the focus from a notebook).
        if self._running:
            self.stop_button.focus()

    def _on_stop(self, _button: w.Button | None = None) -> None:
        self._refocus_run = True  # Run, once the block ends and it is enabled again
        self.stop()

    def _set_running(self, running: bool) -> None:
        self._running = running
        for control in self._design_controls:
            control.disabled = running
        self.probe.disabled = self.load.disabled = running or not self.choices
        self.run_button.disabled = running or not self.can_measure
        self.stop_button.disabled = not running

    def start(
        self,
        *,
        probe: str | None = None,
        load: str | None = None,
        levels: str | Iterable[float] | None = None,
        samples: int | None = None,
        rounds: int | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> threading.Thread:
        """Start measuring a campaign in a background thread and return at once.

        The arguments override the controls (see :meth:`run`). The output file is
        claimed before this returns, so a bad or busy path raises here; errors while
        measuring are shown in the status line and raised again by :meth:`wait`.

        Raises
        ------
        MeasurementError
            When this machine cannot measure (the controls say why).
        RuntimeError
            When a campaign is being measured already.
        """
        from ..store import claim

        # Where to write is checked first: outside the root is refused even where nothing
        # can be measured.
        folder = confine(self.root, self.runs_dir.value, "save in", must_exist=False)
        given = None if path is None else confine(self.root, path, "path", must_exist=False)
        if not self.can_measure:
            raise MeasurementError(
                "nothing can be measured here: " + next(iter(self.refused.values()), "")
            )
        if self._running:
            raise RuntimeError("a campaign is being measured already; press Stop first")
        for control, value in (
            (self.probe, probe), (self.load, load), (self.samples, samples),
            (self.rounds, rounds),
        ):  # fmt: skip
            if value is not None:
                control.value = value
        if levels is not None:
            self.levels.value = (
                levels if isinstance(levels, str) else ", ".join(f"{v:g}" for v in levels)
            )
        n = int(self.samples.value)
        # Every option checked as `hvload run` and hvload.prepare check it, before the
        # output is claimed: a refused spec creates nothing.
        until = "decided" if self.until.value else None  # then rounds are the most it runs
        spec = CampaignSpec.from_strings(
            probe=self.choices[self.probe.value], load=self.choices[self.load.value],
            levels=self.levels.value, samples=n, warmup=min(500, max(n, 0) // 10),
            rounds=None if until else int(self.rounds.value), seed=self.seed, until=until,
            max_rounds=int(self.rounds.value) if until else None,
        )  # fmt: skip
        sequential = Sequential.for_spec(spec, self.config)
        target = given or new_path(folder)
        lock = claim(target, command="the hvload Explorer")
        self.path = target
        self._set_running(True)
        self.progress.value = 0
        self.progress.max = 1
        self.progress.bar_style = ""
        self.progress_text.value = ""
        # A new campaign is shown with all its levels and its own reference, not the
        # previous one's filter; the other view settings are kept, and said (design_notes).
        with self._view_lock:
            self._quiet = True
            try:
                self.shown.options = []
                self.reference.options = []
            finally:
                self._quiet = False
        self._kept = kept_note(self.view_defaults(), self._defaults)
        self.status.value = "preparing: measuring the platform and the load trap's saturation" + (
            f"<br><small>note: {html.escape(self._kept)}</small>" if self._kept else ""
        )
        self._session = Session({"spec": spec, "sequential": sequential}, target, lock, self)
        return self._session.start()

    def stop(self) -> None:
        """End the current run after the block being measured; finished blocks are kept."""
        if self._running and self._session is not None and self._session.stop():
            with self._view_lock:
                # A live update under way gives way: its figure is dropped before it is
                # rendered, so the merge of the finished blocks has the CPUs.
                self._live = None
                self._drawn += 1
            self.stop_button.disabled = True
            self.progress_text.value += STOPPING

    def wait(self, timeout: float | None = None) -> Campaign | None:
        """Wait for the current run to end; return its campaign (None if nothing finished).

        Raises
        ------
        TimeoutError
            If the run is still on after ``timeout`` seconds.
        Exception
            Whatever stopped the measurement (also shown in the status line).
        """
        if self._session is None:
            return None
        return self._session.wait(timeout)

    def run(self, **kwargs: Any) -> Campaign | None:
        """Measure a campaign with the controls' values and wait for it to end.

        What a press of Run does (:meth:`start`), then :meth:`wait`. The warm-up per
        block is a tenth of the samples, at most 500; the probe is paced at 20,000
        samples/s. Ctrl-C (Kernel > Interrupt) while waiting stops the run at the next
        block boundary, keeps the finished blocks in the file, and is raised again.

        Parameters
        ----------
        probe, load
            Trap labels among :attr:`choices`.
        levels
            Percents of saturation (text like ``"0, 50, 100"`` or numbers).
        samples, rounds
            Samples per block and rounds.
        path
            The campaign file to write (default: a new file in :attr:`runs_dir`).

        Returns
        -------
        Campaign or None
            The campaign read back from its file; None if it was stopped before the
            first block finished.
        """
        self.start(**kwargs)
        try:
            return self.wait()
        except KeyboardInterrupt:
            self.stop()
            if self._session is not None:
                self._session.done.wait()
            raise

    # -- what the run reports (the Listener of hvload.widgets._session) -----------------

    def on_status(self, text: str) -> None:
        """Show ``text`` (HTML) in the status line."""
        self.status.value = text

    def on_progress(
        self, *, value: int | None = None, maximum: int | None = None, text: str | None = None,
        style: str | None = None,
    ) -> None:  # fmt: skip
        """Move the progress bar; set its text (HTML) and bar style."""
        if maximum is not None:
            self.progress.max = maximum
        if value is not None:
            self.progress.value = value
        if style is not None:
            self.progress.bar_style = style
        if text is not None:
            self.progress_text.value = text

    def design_notes(self) -> list[str]:
        """The design's warning (see :meth:`_check_design`), if it has one."""
        warning = self._check_design()
        return [n for n in (warning, self._kept) if n]

    def wants_live(self) -> bool:
        """Whether the "live figure and table" box is ticked."""
        return bool(self.live.value)

    def view_idle(self) -> threading.Event:
        """Set unless a redraw asked for by a control is under way."""
        return self._view_idle

    def on_follow(self, session: Session | None) -> None:
        """Show the live updates of ``session`` only (None: of no run)."""
        with self._view_lock:
            self._live = session

    def on_campaign(
        self, campaign: Campaign, *, levels: Sequence[str] | None = None, partial: str = "",
        live: object = None,
    ) -> None:  # fmt: skip
        """Show a campaign the run measured: the blocks so far (``partial``) or all."""
        self._set_whole(campaign, levels=levels, partial=partial, live=live)

    def on_live_failed(self, exc: Exception) -> None:
        """Say in the table's place that the live view failed; the run goes on."""
        self.table.value = f"<p>live view failed: {html.escape(str(exc))}</p>"

    def on_end(self, session: Session) -> None:
        """The run is over: the design controls work again."""
        self._set_running(False)
        # The run is over: "stopping after this block" would be stale beside "stopped".
        self.progress_text.value = self.progress_text.value.replace(STOPPING, "")
        if self._refocus_run:
            self._refocus_run = False
            self.run_button.focus()

    # -- stored campaigns ---------------------------------------------------------------

    def _check_runs_dir(self) -> None:
        """Say at once when "save in" leads out of the root (:meth:`start` refuses it)."""
        confine(self.root, self.runs_dir.value, "save in", must_exist=False)
        if "OutsideError" in self.status.value:
            self.status.value = ""  # a refusal that no longer holds

    def scan(self, directory: str | os.PathLike[str] | None = None) -> list[Path]:
        """List the campaign files of ``directory`` (default: the directory control) to open."""
        if directory is not None:
            self.directory.value = str(directory)
        self.files.options = []  # nothing from before stays on offer if this one is refused
        root = confine(self.root, self.directory.value, "directory")
        found = campaign_files(root)
        if self.root is not None:
            found = [p for p in found if inside(self.root, p)]
        self.files.options = [(p.name, str(p)) for p in found]
        if found:
            self.files.value = str(found[0])
        self.status.value = f"{len(found)} campaign file(s) in {html.escape(str(root))}"
        return found

    def open(self, path: str | os.PathLike[str] | None = None) -> Campaign:
        """Load a campaign file (default: the one chosen in :attr:`files`) and show it."""
        from ..store import load

        if self._running:
            raise RuntimeError("a campaign is being measured; stop it before opening another")
        target = path if path is not None else self.files.value
        if not target:
            raise FileNotFoundError("no campaign file chosen; scan a directory first")
        campaign = load(confine(self.root, target, "campaign file"))
        self.show(campaign, f"opened {Path(target).name}")
        return campaign

    def show(self, campaign: Campaign, source: str = "") -> Analysis | None:
        """Show ``campaign``: all its levels, the figure and the comparison table."""
        self._set_whole(campaign)
        self.status.value = html.escape(source)
        return self.analysis
