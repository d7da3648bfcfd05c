"""Interactive controls for notebooks: run a small campaign, or browse a stored one.

:class:`Explorer` measures a campaign with the traps this machine can issue, in a
background thread that a Stop button ends at the next block boundary; a progress bar
counts blocks, and the figure and the comparison table follow the blocks finished so
far. Where nothing can be measured it says why and opens campaign files instead.
:class:`Browser` shows one stored campaign: which levels, which figure, which practical
threshold, and the verdicts that follow.

Every control calls a plain method (``run``, ``open``, ``set_threshold``, ...), and every
observer reacts to ``widget.value``, so both are driven from tests without a browser. The
figures are rendered to PNG and placed in an ``ipywidgets.Output`` directly, which needs
neither a running kernel nor an interactive matplotlib backend.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import numpy as np
import pandas as pd

from ..errors import MeasurementError
from ..notebook import campaign_files, find_data_dir
from ..workload.schedule import parse_levels

if TYPE_CHECKING:
    from ..campaign.runner import BlockResult, Campaign
    from ..measure.executor import Trap
    from ..measure.machine import PlatformInfo
    from ..stats import Analysis

__all__ = [
    "Browser",
    "Explorer",
    "comparisons_html",
    "parse_levels",
    "trap_choices",
]

_VERDICT_COLOURS = {
    "slower": "#f4c7c3",
    "faster": "#c8e6c9",
    "negligible": "#fff3c4",
    "inconclusive": "#ffe0b2",
    "no evidence": "#eeeeee",
    "not enough data": "#e0e0e0",
}


def trap_choices(
    info: PlatformInfo | None = None,
) -> tuple[dict[str, Trap], dict[str, str]]:
    """The traps this machine can issue, and why each other one is refused.

    Parameters
    ----------
    info
        A platform report; by default a fresh one with fork probes only.

    Returns
    -------
    choices, refused
        ``label -> Trap`` for the traps whose probe succeeded (the hypercalls first, then
        ``cpuid``, then ``null``), and ``label -> reason`` for the others.
    """
    from ..measure.executor import DEFAULT_HYPERCALL_CONTROL, cpuid_trap, hyperv_hypercall, null_trap

    traps = [
        hyperv_hypercall(DEFAULT_HYPERCALL_CONTROL, instruction="vmmcall"),
        hyperv_hypercall(DEFAULT_HYPERCALL_CONTROL, instruction="vmcall"),
        cpuid_trap(0),
        null_trap(),
    ]
    if info is None:
        from ..measure.machine import platform

        try:
            info = platform(probe_samples=0)
        except Exception as exc:  # any failure to describe the machine means: do not measure
            return {}, {t.label: f"the platform could not be examined: {exc}" for t in traps}
    reports = {t.name: t for t in info.traps}
    choices: dict[str, Trap] = {}
    refused: dict[str, str] = {}
    for t in traps:
        report = reports.get(t.label)
        if report is not None and report.supported:
            choices[t.label] = t
        else:
            refused[t.label] = report.reason if report is not None else "not probed on this machine"
    return choices, refused


def _png_output(png: bytes, text: str) -> dict[str, Any]:
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text},
        "metadata": {},
    }


def _text_output(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text + "\n"}


def _fmt(value: float, digits: int = 0) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:,.{digits}f}"


def _interval(low: float, high: float, scale: float, digits: int, sign: bool = True) -> str:
    if not (np.isfinite(low) and np.isfinite(high)):
        return "-"
    fmt = f"{{:+,.{digits}f}}" if sign else f"{{:,.{digits}f}}"
    return f"{fmt.format(scale * low)} .. {fmt.format(scale * high)}"


def comparisons_html(
    analysis: Analysis, *, unit: str = "cycles", partial: str = "", stopped: str = ""
) -> str:
    """The comparison table of ``analysis`` as HTML, one row per comparison.

    Columns: level against reference, block statistic, the change in percent of the
    reference's own statistic with its interval, the same change in ``unit`` with its
    interval, common-language effect size, adjusted p-value and the verdict, coloured
    by kind (its message on hover).

    ``partial`` describes data still being measured (e.g. ``"7 of 36 blocks"``): the
    table then says that its verdicts are provisional, and a lack of rounds is put as
    "not yet" rather than as a fault of the design. ``stopped`` is the campaign's
    ``metadata["stopped"]``: a lack of rounds is then put down to the stop.
    """
    comp = analysis.comparisons
    st = analysis.settings
    threshold = st.get("threshold", float("nan"))
    ci = f"{round(100 * st.get('confidence', 0.95), 6):g}% CI"
    if comp.empty:
        return (
            "<p><b>No comparisons</b>: at least two load levels are needed "
            "(the lowest load is the reference).</p>"
        )
    ns = unit == "ns" and comp["change_ns"].notna().any()
    col = "change_ns" if ns else "change"
    digits = 1 if ns else 0
    head = [
        "level vs reference", "on", "change %", ci, f"change ({'ns' if ns else 'cycles'})", ci,
        "CLES", "p (adj.)", "verdict",
    ]  # fmt: skip
    rows = []
    for _, r in comp.iterrows():
        verdict = str(r["verdict"])
        colour = _VERDICT_COLOURS.get(verdict, "#ffffff")
        rel = r["relative_change"]
        cells = [
            f"{html.escape(str(r['level']))} vs {html.escape(str(r['reference']))}",
            html.escape(str(r["on"])),
            f"{100 * rel:+.2f}" if np.isfinite(rel) else "-",
            _interval(r["relative_change_low"], r["relative_change_high"], 100, 2),
            f"{r[col]:+,.{digits}f}" if np.isfinite(r[col]) else "-",
            _interval(r[f"{col}_low"], r[f"{col}_high"], 1, digits),
            _fmt(r["cles"], 3),
            _fmt(r["pvalue_adjusted"], 4),
        ]
        tds = "".join(f"<td>{c}</td>" for c in cells)
        title = html.escape(str(r.get("message") or ""), quote=True)
        tds += f'<td style="background:{colour}" title="{title}"><b>{html.escape(verdict)}</b></td>'
        rows.append(f"<tr>{tds}</tr>")
    counts = comp["verdict"].value_counts()
    summary = ", ".join(f"{n} {html.escape(str(v))}" for v, n in counts.items())
    check = analysis.design_check
    warning = ""
    if partial:
        warning = (
            f'<p style="color:#6a4c00"><b>Live, {html.escape(partial)} so far</b>: '
            "computed on the finished blocks; verdicts are provisional"
            + (
                f" (no verdict is possible before {check.rounds_needed} complete rounds)"
                if check is not None and not check.can_decide and check.rounds_needed
                else ""
            )
            + ".</p>"
        )
    elif stopped and check is not None and not check.can_decide:
        warning = (
            f'<p style="color:#b00020"><b>Too few rounds for a verdict</b>: the run was '
            f"stopped ({html.escape(stopped)}); {check.n_rounds} complete round"
            f"{'s' if check.n_rounds != 1 else ''}, at least {check.rounds_needed} needed.</p>"
        )
    elif check is not None and not check.can_decide:
        warning = (
            f'<p style="color:#b00020"><b>This design cannot reach a verdict</b>: '
            f"{html.escape(check.message)}</p>"
        )
    return (
        f"{warning}<p>Change = Hodges-Lehmann estimate of the per-round ratio of block "
        f"statistics, in % of the reference's own median or p99; practical threshold "
        f"{100 * threshold:.2f}&nbsp;%; {summary}.</p>"
        '<table style="border-collapse:collapse" border="1" cellpadding="3">'
        "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table>"
    )


def _figure_names() -> list[str]:
    from .. import plots

    return list(plots.FIGURES)


def _subset(campaign: Campaign, levels: Sequence[str]) -> Campaign:
    from ..campaign.runner import Campaign

    samples = campaign.samples
    keep = samples["level"].isin(list(levels))
    blocks = campaign.blocks
    if "level" in blocks:
        blocks = blocks[blocks["level"].isin(list(levels))]
    return Campaign(samples[keep], blocks, campaign.metadata, campaign.path)


def _level_names(campaign: Campaign) -> list[str]:
    s = campaign.samples[["level_index", "level"]].drop_duplicates().sort_values("level_index")
    return [str(v) for v in s["level"]]


def _error_html(exc: BaseException) -> str:
    return (
        f'<span style="color:#b00020"><b>{type(exc).__name__}</b>: {html.escape(str(exc))}</span>'
    )


# Text in HTML widgets at the widgets' control height (28 px a line) reads as double
# spaced once it wraps; the widgets' own prose gets ordinary spacing.
_STYLE = (
    "<style>.hvload-explorer .widget-html-content, .hvload-browser .widget-html-content "
    "{line-height: 1.45;} .hvload-explorer .widget-html-content p, .hvload-browser "
    ".widget-html-content p {margin: 0.35em 0;}</style>"
)

_PLACEHOLDER = (
    '<p style="color:#555"><i>No campaign shown yet: press <b>Run</b> to measure one, or open '
    "a stored campaign. The figure and the comparison table appear here.</i></p>"
)


class _Shows:
    """What both widgets share: the chosen figure, levels and threshold, and their views.

    The figure, level and threshold controls act on :attr:`whole`, the campaign shown,
    also while the Explorer is still measuring it (then on the blocks finished so far).
    A lock keeps a redraw asked for by a control and one that follows a finished block
    from mixing their results; each analysis runs outside it, so a control answers
    while another analysis is under way.
    """

    whole: Campaign | None
    campaign: Campaign | None
    analysis: Analysis | None
    widget: w.Widget

    def _init_views(self, figure: str, threshold: float, levels_label: str) -> None:
        from ..stats import DEFAULT

        names = _figure_names()
        self._view_lock = threading.RLock()
        self._quiet = False
        self._partial = ""
        self.figure = w.Dropdown(
            options=names, value=figure if figure in names else names[0], description="figure"
        )
        self.shown = w.SelectMultiple(
            options=[], description=levels_label, rows=5,
            layout=w.Layout(width="260px"), style={"description_width": "90px"},
        )  # fmt: skip
        self.threshold = w.FloatSlider(
            value=100 * threshold, min=0.0, max=10.0, step=0.1, description="threshold %",
            readout_format=".1f", continuous_update=False,
        )  # fmt: skip
        # Hidden until there is something to draw: no empty figure area before a run.
        self.output = w.Output(layout=w.Layout(display="none"))
        self.caption = w.HTML(value="")
        self.table = w.HTML(value=_PLACEHOLDER)
        for control, name in (
            (self.figure, "figure"), (self.shown, "levels-shown"), (self.threshold, "threshold"),
            (self.output, "output"), (self.caption, "caption"), (self.table, "table"),
        ):  # fmt: skip
            control.add_class(f"hvload-{name}")
        self.config = DEFAULT.replace(threshold=float(threshold))
        self._view_box: w.Box | None = None
        self._live: object = None  # the run whose live updates are shown
        self.whole = None
        self.campaign = None
        self.analysis = None
        self._cache: dict[tuple[int, tuple[str, ...]], Campaign] = {}
        # Figures are drawn outside the lock and numbered: the newest request is shown,
        # an older render that finishes later is dropped.
        self._drawn = 0
        self._shown_draw = 0
        # Clear while a control's redraw is under way: a run's live update then leaves the
        # figure to it, and the next block waits for it (see Explorer._measure).
        self._view_idle = threading.Event()
        self._view_idle.set()
        self.figure.observe(lambda change: self._control(self.draw), names="value")
        self.shown.observe(lambda change: self._changed(), names="value")
        self.threshold.observe(lambda change: self._changed(), names="value")

    def _control(self, action: Any) -> None:
        self._view_idle.clear()
        try:
            action()
        finally:
            self._view_idle.set()

    def _changed(self) -> None:
        if not self._quiet:
            self._control(self.refresh)

    def _unit(self) -> str:
        c = self.whole if self.whole is not None else self.campaign
        tsc = c.metadata.get("tsc_hz") if c is not None else None
        return "ns" if tsc else "cycles"

    def _levels(self) -> list[str] | None:
        return None if self.campaign is None else _level_names(self.campaign)

    def _set_whole(
        self, campaign: Campaign, *, levels: Sequence[str] | None = None, partial: str = "",
        live: object = None,
    ) -> None:  # fmt: skip
        """Show ``campaign``; the level choice is reset only when the levels change.

        ``live`` marks an update from a run: it is dropped unless that run is still the
        one whose updates are shown (a late one must not cover the final campaign).
        """
        names = list(levels) if levels is not None else _level_names(campaign)
        with self._view_lock:
            if live is not None and live is not self._live:
                return
            self._quiet = True
            try:
                if tuple(self.shown.options) != tuple(names):
                    self.shown.options = names
                    self.shown.value = tuple(names)
                    self.shown.rows = max(2, min(8, len(names)))
            finally:
                self._quiet = False
            self.whole = campaign
            self._partial = partial
            if self._view_box is not None:
                self._view_box.layout.display = None
        self.refresh(live=bool(partial))

    def refresh(self, *, live: bool = False) -> None:
        """Re-analyse the chosen levels at the slider's threshold; redraw figure and table.

        ``live`` (an update after a block): leave the figure to a redraw that a control
        has under way, so the control is answered first; the next block redraws it.
        """
        # Each try analyses a snapshot of the data and the controls; when either changed
        # meanwhile, the result is stale and the newest state is analysed again.
        for _ in range(4):
            if self._refresh_once():
                break
        if not (live and not self._view_idle.is_set()):
            self.draw()

    def _refresh_once(self) -> bool:
        from .. import stats

        with self._view_lock:
            whole = self.whole
            partial = self._partial
            wanted = tuple(self.shown.value)
            self.config = self.config.replace(threshold=float(self.threshold.value) / 100)
            config = self.config
        if whole is None:
            return True
        present = set(_level_names(whole))
        chosen = tuple(n for n in wanted if n in present)
        analysis = None
        subset = None
        if chosen:
            key = (id(whole), chosen)
            subset = self._cache.get(key)
            if subset is None:
                subset = whole if len(chosen) == len(present) else _subset(whole, chosen)
                self._cache = {k: v for k, v in self._cache.items() if k[0] == id(whole)}
                self._cache[key] = subset
            # Live data: the power simulation behind the detectable effect waits for the end.
            analysis = stats.analyze(subset, config.replace(n_sim=0) if partial else config)
        with self._view_lock:
            if (
                self.whole is not whole
                or tuple(self.shown.value) != wanted
                or float(self.threshold.value) / 100 != config.threshold
            ):
                return False
            self.campaign = subset
            self.analysis = analysis
            stopped = "" if partial else str(whole.metadata.get("stopped") or "")
            self.table.value = (
                comparisons_html(analysis, unit=self._unit(), partial=partial, stopped=stopped)
                if analysis is not None
                else "<p>Choose at least one level.</p>"
            )
        return True

    def draw(self) -> None:
        """Render the chosen figure into :attr:`output` (hidden while there is no data)."""
        from ..reproduce import figure

        with self._view_lock:
            self._drawn += 1
            number = self._drawn
            campaign, analysis, config = self.campaign, self.analysis, self.config
            name, partial, unit = self.figure.value, self._partial, self._unit()
        if campaign is None:
            outputs: tuple[dict[str, Any], ...] = ()
        else:
            try:
                fig = figure(
                    name, campaign, analysis=analysis, unit=unit,
                    levels=_level_names(campaign), config=config,
                )  # fmt: skip
                # Superseded while it was built (a control asked for another figure, or
                # another block came in): rendering it would only delay the newer one.
                if number < self._drawn:
                    return
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=90)
            except Exception as exc:  # a figure that cannot be drawn must not break the controls
                outputs = (_text_output(f"figure {name!r} failed: {exc}"),)
            else:
                outputs = (_png_output(buf.getvalue(), f"<hvload figure {name}>"),)
        with self._view_lock:
            if number < self._shown_draw:
                return  # a newer figure is on the page already
            self._shown_draw = number
            self.output.outputs = outputs
            self.output.layout.display = None if outputs else "none"
            if campaign is None:
                self.caption.value = ""
                return
            # Said after the image is sent, so a reader (or a test) that sees the caption
            # sees its figure.
            source = "the blocks finished so far" if partial else "the whole campaign"
            if campaign.path is not None:
                source = html.escape(campaign.path.name)
            self.caption.value = (
                f'<span style="color:#555">figure <b>{html.escape(name)}</b> of {source}'
                + (f" ({html.escape(partial)})" if partial else "")
                + "</span>"
            )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


def _new_path(directory: Path) -> Path:
    """A fresh campaign file name in ``directory``, as ``hvload run`` names its output."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    host = socket.gethostname()
    for i in range(1, 1000):
        path = directory / f"{stamp}-{host}{'' if i == 1 else f'-{i}'}.parquet"
        if not path.exists() and not path.with_name(path.name + ".parts").exists():
            return path
    raise FileExistsError(f"no free campaign file name in {directory}")


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


class Explorer(_Shows):
    """Choose traps, load levels and sizes, run a campaign, and watch its figure and table.

    The campaign is measured in a background thread, so the notebook's kernel stays free:
    the progress bar counts blocks and estimates the time left, and after every finished
    block the figure and the comparison table show the blocks finished so far (their
    verdicts provisional). The figure, level and threshold controls keep working on those
    data; the controls of the design are disabled until the run ends. **Stop** ends the
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
    ) -> None:
        self._init_views(figure, threshold, "show levels")
        self.seed = seed
        self.path: Path | None = None
        self._running = False
        self._stop = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._error: BaseException | None = None
        self._result: Campaign | None = None
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
        self.stop_button.on_click(lambda _: self.stop())

        try:
            self.data_dir: Path | None = find_data_dir(data_dir)
        except FileNotFoundError:
            self.data_dir = Path(data_dir) if data_dir is not None else None
        if runs_dir is None:
            runs_dir = (self.data_dir or Path("data")) / "runs"
        self.runs_dir = w.Text(
            value=str(runs_dir), description="save in", layout=w.Layout(width="640px"),
            tooltip="each run writes a new campaign file here",
        )  # fmt: skip
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
                w.HBox([self.levels, self.samples, self.rounds]),
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
        # The view's controls appear with the first data to act on.
        self._view_box = w.HBox(
            [w.VBox([self.figure, self.threshold]), self.shown],
            layout=w.Layout(display="none"),
        )
        self.widget = w.VBox(
            [
                w.HTML(_STYLE + "<h4>Measure a campaign here</h4>"),
                measure_box,
                w.HTML("<h4>... or open a stored campaign</h4>"),
                open_box,
                self.status,
                self._view_box,
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
            (self.live, "live"),
        ):  # fmt: skip
            control.add_class(f"hvload-{name}")
        self._design_controls = [
            self.probe, self.load, self.levels, self.samples, self.rounds, self.fix_rounds,
            self.runs_dir, self.directory, self.files, self.scan_button, self.open_button,
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
            self.status.value = _error_html(exc)
            return None

    # -- running ------------------------------------------------------------------------

    def _on_run(self, _button: w.Button | None = None) -> None:
        if self._running:  # a second click while the first run is on: one campaign only
            return
        self._guard(self.start)

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
        fractions = parse_levels(self.levels.value)
        n = int(self.samples.value)
        target = Path(path) if path is not None else _new_path(Path(self.runs_dir.value))
        lock = claim(target, command="the hvload Explorer")
        self.path = target
        self._stop = threading.Event()
        self._done = threading.Event()
        self._error = None
        self._result = None
        self._set_running(True)
        self.progress.value = 0
        self.progress.max = 1
        self.progress.bar_style = ""
        self.progress_text.value = ""
        self.status.value = "preparing: measuring the platform and the load trap's saturation"
        request = {
            "probe": self.choices[self.probe.value], "load": self.choices[self.load.value],
            "fractions": fractions, "samples": n, "warmup": min(500, n // 10),
            "rounds": int(self.rounds.value), "seed": self.seed,
        }  # fmt: skip
        thread = threading.Thread(
            target=self._measure, args=(request, target, lock), name="hvload-explorer",
            daemon=True,
        )  # fmt: skip
        thread.start()
        return thread

    def stop(self) -> None:
        """End the current run after the block being measured; finished blocks are kept."""
        if self._running and not self._stop.is_set():
            self._stop.set()
            with self._view_lock:
                # A live update under way gives way: its figure is dropped before it is
                # rendered, so the merge of the finished blocks has the CPUs.
                self._live = None
                self._drawn += 1
            self.stop_button.disabled = True
            self.progress_text.value += " · <b>stopping after this block</b>"

    def wait(self, timeout: float | None = None) -> Campaign | None:
        """Wait for the current run to end; return its campaign (None if nothing finished).

        Raises
        ------
        TimeoutError
            If the run is still on after ``timeout`` seconds.
        Exception
            Whatever stopped the measurement (also shown in the status line).
        """
        if not self._done.wait(timeout):
            raise TimeoutError(f"the run is still measuring after {timeout} s")
        if self._error is not None:
            raise self._error
        return self._result

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
            self._done.wait()
            raise

    def _measure(self, request: dict[str, Any], path: Path, lock: Any) -> None:
        """The background thread: prepare, run block by block, and say how it ended."""
        from ..campaign.runner import prepare

        total = 0
        try:
            plan = prepare(**request)
            design = plan.design
            total = design.blocks
            self.progress.max = total
            if self._stop.is_set():
                self.status.value = "stopped before the first block: nothing was measured"
                return
            warning = self._check_design()
            notes = [*plan.notes, *([warning] if warning else [])]
            self.status.value = (
                f"measuring {total} blocks: {len(design.levels)} levels x {design.rounds} "
                f"rounds of {design.samples:,} samples, into <code>{html.escape(str(path))}"
                "</code>" + "".join(f"<br><small>note: {html.escape(n)}</small>" for n in notes)
            )
            parts: list[BlockResult] = []
            names = [lv.name for lv in design.levels]
            started = time.monotonic()

            def on_block(block: BlockResult) -> None:
                parts.append(block)
                self._advance(len(parts), total, time.monotonic() - started)
                # The live view is made before the next block starts, in a thread of its
                # own, so that a Stop pressed meanwhile ends the run without waiting for it.
                if self.live.value and not self._stop.is_set():
                    done = threading.Event()
                    threading.Thread(
                        target=self._show_live, args=(list(parts), plan.metadata, names, total),
                        kwargs={"done": done, "run": run}, name="hvload-live", daemon=True,
                    ).start()  # fmt: skip
                    self._unless_stopped(done)
                # So does a redraw asked for by a control: it shares the CPUs with what is
                # measured no longer than the block under way.
                self._unless_stopped(self._view_idle)

            run = object()
            with self._view_lock:
                self._live = run
            try:
                camp = plan.run(path, progress=on_block, lock=lock, stop=self._stop)
            finally:
                with self._view_lock:
                    self._live = None  # from now on, only the campaign read back
            done = 0 if camp is None else len(camp.blocks)
            if camp is None:
                self.status.value = "stopped before the first block finished: nothing was written"
            elif done < total:
                self.progress.bar_style = "warning"
                self.status.value = (
                    f"<b>stopped</b> after {done} of {total} blocks: the {done} blocks measured "
                    f"are written to <code>{html.escape(str(camp.path))}</code>"
                )
            else:
                self.progress.bar_style = "success"
                self.status.value = (
                    f"<b>finished</b>: {done} blocks written to "
                    f"<code>{html.escape(str(camp.path))}</code> (seed {design.seed})"
                )
            self.progress_text.value = (
                f"{done} of {total} blocks in {_duration(time.monotonic() - started)}"
            )
            self._result = camp
            if camp is not None:
                self._set_whole(camp, levels=names)
        except BaseException as exc:  # the thread has no caller: say it, keep it for wait()
            self._error = exc
            self.progress.bar_style = "danger"
            kept = getattr(exc, "campaign", None)
            finished = getattr(exc, "blocks_finished", 0)
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
            self.status.value = f"{_error_html(exc)}<br>{where}"
            if kept is not None:
                self._result = kept
                with contextlib.suppress(Exception):
                    self._set_whole(kept)
        finally:
            lock.release()
            self._set_running(False)
            self._done.set()

    def _advance(self, done: int, total: int, elapsed: float) -> None:
        self.progress.value = done
        left = elapsed / done * (total - done)
        text = f"{done} of {total} blocks · {_duration(elapsed)}"
        if done < total:
            text += f" · about {_duration(left)} left"
        if self._stop.is_set():
            text += " · <b>stopping after this block</b>"
        self.progress_text.value = text

    def _unless_stopped(self, event: threading.Event, timeout: float = 60.0) -> None:
        """Wait for ``event``, but no longer than a Stop (or ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        while not event.wait(0.02):
            if self._stop.is_set() or time.monotonic() > deadline:
                return

    def _show_live(
        self, parts: Sequence[BlockResult], meta: dict[str, Any], names: list[str], total: int,
        *, done: threading.Event, run: object,
    ) -> None:  # fmt: skip
        from ..campaign.runner import Campaign

        try:
            samples = pd.concat([p.samples for p in parts], ignore_index=True)
            blocks = pd.DataFrame([p.block for p in parts])
            live = Campaign(samples, blocks, meta)
            self._set_whole(live, levels=names, partial=f"{len(parts)} of {total} blocks", live=run)
        except Exception as exc:  # the measurement goes on whatever a live view does
            self.table.value = f"<p>live view failed: {html.escape(str(exc))}</p>"
        finally:
            done.set()

    # -- stored campaigns ---------------------------------------------------------------

    def scan(self, directory: str | os.PathLike[str] | None = None) -> list[Path]:
        """List the campaign files of ``directory`` (default: the directory control) to open."""
        if directory is not None:
            self.directory.value = str(directory)
        root = Path(self.directory.value).expanduser()
        found = campaign_files(root)
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
        campaign = load(target)
        self.show(campaign, f"opened {Path(target).name}")
        return campaign

    def show(self, campaign: Campaign, source: str = "") -> Analysis | None:
        """Show ``campaign``: all its levels, the figure and the comparison table."""
        self._set_whole(campaign)
        self.status.value = html.escape(source)
        return self.analysis


class Browser(_Shows):
    """Browse one stored campaign: levels, figure type, practical threshold, verdicts.

    Parameters
    ----------
    campaign_or_path
        A campaign, or a campaign file (a path, or a name inside the data directory).
    threshold
        Initial practical threshold, a fraction of the reference's statistic (the slider
        shows percent).
    figure
        Initial figure, a key of ``hvload.plots.FIGURES``.
    levels
        Initially chosen levels (default: all); the first chosen one is the reference.
    data_dir
        Where to look up a bare file name.

    Attributes
    ----------
    whole
        The whole campaign.
    campaign, analysis
        The chosen levels and their analysis at the chosen threshold (None with no level).
    levels, threshold, figure
        The controls.
    widget
        The control as one ``ipywidgets.VBox``; the Browser displays as it.
    """

    def __init__(
        self,
        campaign_or_path: Campaign | str | os.PathLike[str],
        *,
        threshold: float = 0.01,
        figure: str = "ecdf",
        levels: Sequence[str] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        from ..notebook import resolve_campaign
        from ..store import load

        self._init_views(figure, threshold, "levels")
        if isinstance(campaign_or_path, (str, os.PathLike)):
            campaign = load(resolve_campaign(campaign_or_path, data_dir))
        else:
            campaign = campaign_or_path
        self.levels = self.shown
        names = _level_names(campaign)
        self._quiet = True
        self.shown.options = names
        self.shown.value = tuple(levels) if levels is not None else tuple(names)
        self.shown.rows = max(2, min(8, len(names)))
        self._quiet = False
        self.whole = campaign
        self.title = w.HTML(value=_STYLE + self._title_html())
        self.widget = w.VBox(
            [
                self.title,
                w.HBox([self.shown, w.VBox([self.figure, self.threshold])]),
                self.caption,
                self.output,
                self.table,
            ]
        )
        self.widget.add_class("hvload-browser")
        self.refresh()

    def _title_html(self) -> str:
        assert self.whole is not None
        meta = self.whole.metadata
        name = self.whole.path.name if self.whole.path is not None else "campaign"
        probe = meta.get("design", {}).get("probe_label")
        return (
            f"<b>{html.escape(name)}</b>: probe <code>{html.escape(str(probe))}</code>, "
            f"{html.escape(str(meta.get('cpu')))}, hypervisor "
            f"{html.escape(str(meta.get('hypervisor')))}"
        )

    @property
    def verdicts(self) -> pd.DataFrame:
        """Comparisons of the current analysis: reference, level, on, change, p, verdict."""
        if self.analysis is None:
            return pd.DataFrame(columns=["reference", "level", "on", "verdict"])
        cols = ["reference", "level", "on", "relative_change", "pvalue_adjusted", "verdict"]
        return self.analysis.comparisons[cols].reset_index(drop=True)

    def baseline_verdicts(self, on: str = "median") -> Mapping[str, str]:
        """``level -> verdict`` against the reference (first chosen) level, on ``on``."""
        v = self.verdicts
        if v.empty:
            return {}
        reference = _level_names(self.campaign)[0] if self.campaign is not None else None
        v = v[(v["on"] == on) & (v["reference"] == reference)]
        return dict(zip(v["level"].astype(str), v["verdict"].astype(str), strict=True))

    def set_levels(self, levels: Sequence[str]) -> None:
        """Choose the levels to show; the first in campaign order is the reference."""
        self.levels.value = tuple(levels)

    def set_figure(self, name: str) -> None:
        """Choose the figure type (a key of ``hvload.plots.FIGURES``)."""
        self.figure.value = name

    def set_threshold(self, fraction: float) -> None:
        """Set the practical threshold as a fraction of the median (0.02 = 2 %)."""
        self.threshold.value = 100 * fraction
