"""Interactive controls for notebooks: run a small campaign, or browse a stored one.

:class:`Explorer` measures a campaign with the traps this machine can issue, shows a
progress bar per block, then a figure and the comparison table; where nothing can be
measured it says why and opens campaign files instead. :class:`Browser` shows one stored
campaign: which levels, which figure, which practical threshold, and the verdicts that follow.

Every control calls a plain method (``run``, ``open``, ``set_threshold``, ...), and every
observer reacts to ``widget.value``, so both are driven from tests without a browser. The
figures are rendered to PNG and placed in an ``ipywidgets.Output`` directly, which needs
neither a running kernel nor an interactive matplotlib backend.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import numpy as np
import pandas as pd

from .errors import MeasurementError
from .notebook import campaign_files, find_data_dir
from .schedule import parse_levels

if TYPE_CHECKING:
    from .campaign import BlockResult, Campaign
    from .executor import Trap
    from .machine import PlatformInfo
    from .stats import Analysis

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
    from .executor import DEFAULT_HYPERCALL_CONTROL, cpuid_trap, hyperv_hypercall, null_trap

    traps = [
        hyperv_hypercall(DEFAULT_HYPERCALL_CONTROL, instruction="vmmcall"),
        hyperv_hypercall(DEFAULT_HYPERCALL_CONTROL, instruction="vmcall"),
        cpuid_trap(0),
        null_trap(),
    ]
    if info is None:
        from .machine import platform

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


def comparisons_html(analysis: Analysis, *, unit: str = "cycles") -> str:
    """The comparison table of ``analysis`` as HTML, one row per comparison.

    Columns: level against reference, block statistic, the change in percent of the
    reference's own statistic with its interval, the same change in ``unit`` with its
    interval, common-language effect size, adjusted p-value and the verdict, coloured
    by kind (its message on hover).
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
    warning = (
        f'<p style="color:#b00020"><b>This design cannot reach a verdict</b>: '
        f"{html.escape(check.message)}</p>"
        if check is not None and not check.can_decide
        else ""
    )
    return (
        f"{warning}<p>Change = Hodges-Lehmann estimate of the per-round ratio of block "
        f"statistics, in % of the reference's own median or p99; practical threshold "
        f"{100 * threshold:.2f} %; {summary}.</p>"
        '<table style="border-collapse:collapse" border="1" cellpadding="3">'
        "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table>"
    )


def _figure_names() -> list[str]:
    from . import plots

    return list(plots.FIGURES)


def _subset(campaign: Campaign, levels: Sequence[str]) -> Campaign:
    from .campaign import Campaign

    samples = campaign.samples
    keep = samples["level"].isin(list(levels))
    blocks = campaign.blocks
    if "level" in blocks:
        blocks = blocks[blocks["level"].isin(list(levels))]
    return Campaign(samples[keep], blocks, campaign.metadata, campaign.path)


def _level_names(campaign: Campaign) -> list[str]:
    s = campaign.samples[["level_index", "level"]].drop_duplicates().sort_values("level_index")
    return [str(v) for v in s["level"]]


class _Shows:
    """What both widgets share: the analysis, the figure output and the table."""

    campaign: Campaign | None
    analysis: Analysis | None
    widget: w.Widget

    def _init_views(self, figure: str, threshold: float) -> None:
        names = _figure_names()
        self.figure = w.Dropdown(
            options=names, value=figure if figure in names else names[0], description="figure"
        )
        self.output = w.Output(layout=w.Layout(min_height="120px"))
        self.table = w.HTML(value="")
        from .stats import DEFAULT

        self.config = DEFAULT.replace(threshold=float(threshold))
        self.campaign = None
        self.analysis = None
        self.figure.observe(lambda change: self.draw(), names="value")

    def _unit(self) -> str:
        tsc = self.campaign.metadata.get("tsc_hz") if self.campaign is not None else None
        return "ns" if tsc else "cycles"

    def _levels(self) -> list[str] | None:
        return None

    def draw(self) -> None:
        """Render the chosen figure into :attr:`output` (a message if there is no data)."""
        if self.campaign is None:
            self.output.outputs = (_text_output("no campaign yet: run one or open a file"),)
            return
        from .reproduce import figure_png

        try:
            png = figure_png(
                self.figure.value, self.campaign, analysis=self.analysis, unit=self._unit(),
                levels=self._levels(), config=self.config,
            )  # fmt: skip
        except Exception as exc:  # a figure that cannot be drawn must not break the controls
            self.output.outputs = (_text_output(f"figure {self.figure.value!r} failed: {exc}"),)
            return
        self.output.outputs = (_png_output(png, f"<hvload figure {self.figure.value}>"),)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)


class Explorer(_Shows):
    """Choose traps, load levels and sizes, run a campaign, and see its figure and table.

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
        Practical threshold of the analysis, a fraction of the reference median.
    seed
        Seed of the block order (None draws one per run).
    info
        A platform report to decide what can be measured (default: probe this machine).
    open_first
        Open the first campaign file at once; by default only when nothing can be measured.

    Attributes
    ----------
    campaign, analysis
        The campaign shown and its analysis (None before the first run or open).
    choices, refused
        Traps offered (label -> Trap) and traps refused here (label -> reason).
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
    ) -> None:
        self._init_views(figure, threshold)
        self.seed = seed
        self.choices, self.refused = trap_choices(info)
        labels = list(self.choices)
        self.probe = w.Dropdown(options=labels, description="probe trap", disabled=not labels)
        self.load = w.Dropdown(options=labels, description="load trap", disabled=not labels)
        self.levels = w.Text(value=levels, description="load %")
        self.samples = w.BoundedIntText(value=samples, min=1, max=10_000_000, description="samples")
        self.rounds = w.BoundedIntText(value=rounds, min=1, max=1000, description="rounds")
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="blocks")
        self.status = w.HTML(value="")
        self.design_note = w.HTML(value="")
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

        try:
            self.data_dir: Path | None = find_data_dir(data_dir)
        except FileNotFoundError:
            self.data_dir = Path(data_dir) if data_dir is not None else None
        self.directory = w.Text(
            value=str(self.data_dir or ""), description="directory", placeholder="data/"
        )
        self.files = w.Dropdown(options=[], description="campaign")
        self.scan_button = w.Button(description="Scan", icon="folder-open")
        self.open_button = w.Button(description="Open", icon="file")
        self.scan_button.on_click(lambda _: self._guard(self.scan))
        self.open_button.on_click(lambda _: self._guard(self.open))
        if self.data_dir is not None and self.data_dir.is_dir():
            self.scan(self.data_dir)

        measure_box = w.VBox(
            [
                w.HBox([w.VBox([self.probe, self.load]), self.notes]),
                w.HBox([self.levels, self.samples, self.rounds]),
                self.design_note,
                w.HBox([self.run_button, self.progress]),
                self.reason,
            ]
        )
        open_box = w.VBox(
            [w.HBox([self.directory, self.scan_button]), w.HBox([self.files, self.open_button])]
        )
        self.widget = w.VBox(
            [
                w.HTML("<h4>Measure a campaign here</h4>"),
                measure_box,
                w.HTML("<h4>... or open a stored campaign</h4>"),
                open_box,
                self.status,
                self.figure,
                self.output,
                self.table,
            ]
        )
        if open_first is None:
            open_first = not self.can_measure
        if open_first and self.files.options:
            self._guard(self.open)

    def _check_design(self) -> str:
        """Say under the sizes whether this design can reach a verdict (empty if it can)."""
        from .stats import check_design

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
        return message

    @property
    def can_measure(self) -> bool:
        """Whether at least one trap can be issued on this machine."""
        return bool(self.choices)

    def _refused_html(self) -> str:
        if not self.refused:
            return ""
        items = "".join(
            f"<li><code>{html.escape(k)}</code>: {html.escape(v)}</li>"
            for k, v in self.refused.items()
        )
        return f"<small>Not offered here:<ul>{items}</ul></small>"

    def _guard(self, action: Any, *args: Any) -> Any:
        try:
            return action(*args)
        except Exception as exc:  # shown in the widget: a button has no caller to raise to
            self.status.value = (
                f'<span style="color:#b00020"><b>{type(exc).__name__}</b>: '
                f"{html.escape(str(exc))}</span>"
            )
            return None

    def _on_run(self, _button: w.Button | None = None) -> None:
        self.run_button.disabled = True
        try:
            self._guard(self.run)
        finally:
            self.run_button.disabled = not self.can_measure

    def run(
        self,
        *,
        probe: str | None = None,
        load: str | None = None,
        levels: str | Iterable[float] | None = None,
        samples: int | None = None,
        rounds: int | None = None,
        path: str | os.PathLike[str] | None = None,
    ) -> Campaign:
        """Measure a campaign with the controls' values (each argument overrides its control).

        The progress bar advances once per finished block; afterwards the figure and the
        comparison table show the new campaign. The warm-up per block is a tenth of the
        samples, at most 500; the probe is paced at 20,000 samples/s.

        Parameters
        ----------
        probe, load
            Trap labels among :attr:`choices`.
        levels
            Percents of saturation (text like ``"0, 50, 100"`` or numbers).
        samples, rounds
            Samples per block and rounds.
        path
            Also write the campaign to this file.

        Raises
        ------
        MeasurementError
            When this machine cannot measure (the controls say why).
        """
        from .campaign import prepare

        if not self.can_measure:
            raise MeasurementError(
                "nothing can be measured here: " + next(iter(self.refused.values()), "")
            )
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
        self.status.value = "preparing: measuring the platform and the load trap's saturation"
        plan = prepare(
            probe=self.choices[self.probe.value],
            load=self.choices[self.load.value],
            fractions=fractions,
            samples=n,
            warmup=min(500, n // 10),
            rounds=int(self.rounds.value),
            seed=self.seed,
        )
        self.progress.max = plan.design.blocks
        self.progress.value = 0
        warning = self._check_design()
        notes = [*plan.notes, *([warning] if warning else [])]
        self.status.value = (
            f"measuring {plan.design.blocks} blocks: {len(plan.design.levels)} levels x "
            f"{plan.design.rounds} rounds"
            + "".join(f"<br><small>note: {html.escape(n)}</small>" for n in notes)
        )
        campaign = plan.run(path, progress=self._advance)
        self.show(campaign, f"measured now, seed {plan.design.seed}")
        return campaign

    def _advance(self, _block: BlockResult) -> None:
        self.progress.value += 1

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
        from .store import load

        target = path if path is not None else self.files.value
        if not target:
            raise FileNotFoundError("no campaign file chosen; scan a directory first")
        campaign = load(target)
        self.show(campaign, f"opened {Path(target).name}")
        return campaign

    def show(self, campaign: Campaign, source: str = "") -> Analysis:
        """Analyse ``campaign`` and update the figure and the comparison table."""
        from . import stats

        self.campaign = campaign
        self.analysis = stats.analyze(campaign, self.config)
        self.table.value = comparisons_html(self.analysis, unit=self._unit())
        self.draw()
        self.status.value = html.escape(source)
        return self.analysis


class Browser(_Shows):
    """Browse one stored campaign: levels, figure type, practical threshold, verdicts.

    Parameters
    ----------
    campaign_or_path
        A campaign, or a campaign file (a path, or a name inside the data directory).
    threshold
        Initial practical threshold, a fraction of the reference median (the slider shows
        percent).
    figure
        Initial figure, a key of ``hvload.plots.FIGURES``.
    levels
        Initially chosen levels (default: all); the first chosen one is the reference.
    data_dir
        Where to look up a bare file name.

    Attributes
    ----------
    campaign
        The whole campaign.
    analysis
        The analysis of the chosen levels at the chosen threshold (None with no level).
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
        from .notebook import resolve_campaign
        from .store import load

        self._init_views(figure, threshold)
        if isinstance(campaign_or_path, (str, os.PathLike)):
            campaign = load(resolve_campaign(campaign_or_path, data_dir))
        else:
            campaign = campaign_or_path
        self.whole: Campaign = campaign
        names = _level_names(campaign)
        self.levels = w.SelectMultiple(
            options=names, value=tuple(levels) if levels is not None else tuple(names),
            description="levels", rows=min(8, len(names)),
        )  # fmt: skip
        self.threshold = w.FloatSlider(
            value=100 * threshold, min=0.0, max=10.0, step=0.1, description="threshold %",
            readout_format=".1f", continuous_update=False,
        )  # fmt: skip
        self.title = w.HTML(value=self._title_html())
        self._cache: dict[tuple[str, ...], Campaign] = {}
        self.levels.observe(lambda change: self.refresh(), names="value")
        self.threshold.observe(lambda change: self.refresh(), names="value")
        self.widget = w.VBox(
            [
                self.title,
                w.HBox([self.levels, w.VBox([self.figure, self.threshold])]),
                self.output,
                self.table,
            ]
        )
        self.refresh()

    def _title_html(self) -> str:
        meta = self.whole.metadata
        name = self.whole.path.name if self.whole.path is not None else "campaign"
        probe = meta.get("design", {}).get("probe_label")
        return (
            f"<b>{html.escape(name)}</b>: probe <code>{html.escape(str(probe))}</code>, "
            f"{html.escape(str(meta.get('cpu')))}, hypervisor "
            f"{html.escape(str(meta.get('hypervisor')))}"
        )

    def _levels(self) -> list[str] | None:
        return list(self.levels.value)

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

    def refresh(self) -> None:
        """Re-analyse the chosen levels at the slider's threshold; redraw figure and table."""
        from . import stats

        self.config = self.config.replace(threshold=float(self.threshold.value) / 100)
        chosen = tuple(self.levels.value)
        if not chosen:
            self.campaign = None
            self.analysis = None
            self.table.value = "<p>Choose at least one level.</p>"
            self.draw()
            return
        if chosen not in self._cache:
            every = len(chosen) == len(self.levels.options)
            self._cache[chosen] = self.whole if every else _subset(self.whole, chosen)
        self.campaign = self._cache[chosen]
        self.analysis = stats.analyze(self.campaign, self.config)
        self.table.value = comparisons_html(self.analysis, unit=self._unit())
        self.draw()
