"""What the Explorer and the Browser share: the figure, level and threshold controls and views.

:class:`CampaignView` holds the controls that act on the campaign shown (which figure,
which levels, which practical threshold), analyses the chosen levels as ``hvload report``
does (:class:`hvload.report.CampaignReport`: the block policy applied, so the table shows
the same numbers and the figure the same blocks) and renders the figure as a PNG into an
``ipywidgets.Output``; the helpers below it pick levels out of a campaign and wrap images
and text as notebook outputs.
"""

from __future__ import annotations

import base64
import html
import io
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ..stats.config import METRICS
from ._hover import hover_html
from ._html import PLACEHOLDER, comparisons_html, left_out_html
from ._info import SECTIONS, info_sections, warnings

if TYPE_CHECKING:
    from ..campaign import Campaign
    from ..stats import Analysis

__all__ = [
    "CampaignView", "figure_output", "kept_note", "level_names", "png_output", "select_levels",
    "text_output",
]  # fmt: skip


def png_output(png: bytes, text: str) -> dict[str, Any]:
    """A PNG image as a notebook display output (what ``Output.outputs`` holds)."""
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text},
        "metadata": {},
    }


def figure_output(fig: Any, text: str, alt: str) -> dict[str, Any]:
    """A drawn figure as a display output: its PNG at 90 dpi, with its values on hover
    (:mod:`._hover`) as the HTML a page shows first."""
    buf = io.BytesIO()
    # Drawn at the dpi it is saved at: the hover points' pixels are the PNG's.
    fig.set_dpi(90)
    fig.savefig(buf, format="png", dpi=90)
    output = png_output(buf.getvalue(), text)
    output["data"]["text/html"] = hover_html(buf.getvalue(), fig, alt)
    return output


def text_output(text: str) -> dict[str, Any]:
    """A line of text as a notebook stream output."""
    return {"output_type": "stream", "name": "stdout", "text": text + "\n"}


def threshold_box(threshold: float, against: str) -> w.BoundedFloatText:
    """The practical-threshold box (in %) of a view; ``against``: whose statistic it is of."""
    # A number box, not a slider: its <label> names it for screen readers (a slider's
    # handle has no accessible name in ipywidgets 8), and the value it shows is the one
    # the table was computed with once Enter is pressed.
    return w.BoundedFloatText(
        value=100 * threshold, min=0.0, max=10.0, step=0.1, description="threshold %",
        tooltip=f"practical threshold: changes smaller than this many % of the {against} "
        "statistic count as negligible",
        layout=w.Layout(width="200px"), style={"description_width": "90px"},
    )  # fmt: skip


def _figure_names() -> list[str]:
    from .. import plots

    return list(plots.FIGURES)


def select_levels(campaign: Campaign, levels: Sequence[str]) -> Campaign:
    """The part of ``campaign`` measured at ``levels`` (samples and blocks)."""
    from ..campaign import Campaign

    samples = campaign.samples
    keep = samples["level"].isin(list(levels))
    blocks = campaign.blocks
    if "level" in blocks:
        blocks = blocks[blocks["level"].isin(list(levels))]
    return Campaign(samples[keep], blocks, campaign.metadata, campaign.path)


def level_names(campaign: Campaign) -> list[str]:
    """The level names of ``campaign`` in level order (the first is the reference)."""
    s = campaign.samples[["level_index", "level"]].drop_duplicates().sort_values("level_index")
    return [str(v) for v in s["level"]]


def kept_note(kept: dict[str, object], defaults: dict[str, object]) -> str:
    """One line saying which view settings a new campaign keeps from before (empty: none)."""
    if not kept:
        return ""

    def say(name: str, value: object) -> str:
        return f"threshold {float(value):.2f} %" if name == "threshold" else f"{name} {value}"  # type: ignore[arg-type]

    return (
        "the view keeps "
        + ", ".join(say(k, v) for k, v in kept.items())
        + " from before (a new view starts at "
        + ", ".join(say(k, defaults[k]) for k in kept)
        + "); the levels shown and the reference level start from this run's"
    )


class CampaignView:
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

    @property
    def _quiet(self) -> bool:
        """Whether this thread is fitting the controls to the data: their observers then
        stay silent. Per thread: a run's live update fits the reference control while
        the user may change the threshold, and that change must not be swallowed."""
        return bool(getattr(self._local, "quiet", False))

    @_quiet.setter
    def _quiet(self, value: bool) -> None:
        self._local.quiet = value

    def _init_views(self, figure: str, threshold: float, levels_label: str) -> None:
        from ..stats import DEFAULT

        names = _figure_names()
        self._view_lock = threading.RLock()
        self._local = threading.local()
        self._quiet = False
        self._partial = ""
        self.figure = w.Dropdown(
            options=names, value=figure if figure in names else names[0], description="figure"
        )
        self.shown = w.SelectMultiple(
            options=[], description=levels_label, rows=5,
            layout=w.Layout(width="260px"), style={"description_width": "90px"},
        )  # fmt: skip
        self.threshold = threshold_box(threshold, "reference's")
        # An explicit reference: a multi-select has no order, so "the first chosen" meant
        # nothing to a reader. Its options follow the levels shown.
        self.reference = w.Dropdown(
            options=[], description="reference level", layout=w.Layout(width="260px"),
            style={"description_width": "110px"},
            tooltip="the level every other level is compared with (each level is also "
            "compared with its lower neighbour)",
        )  # fmt: skip
        small = {"style": {"button_width": "auto", "description_width": "70px"}}
        self.unit = w.ToggleButtons(
            options=[("ns", "ns"), ("cycles", "cycles")], value="ns", description="unit",
            tooltips=["nanoseconds, from the TSC frequency the campaign recorded",
                      "TSC ticks, as measured"], **small,
        )  # fmt: skip
        self.metric = w.ToggleButtons(
            options=[("service", "cycles"), ("response", "response")], value="cycles",
            description="metric", layout=w.Layout(display="none"),
            tooltips=[METRICS["cycles"], METRICS["response"]], **small,
        )  # fmt: skip
        self.statistic = w.ToggleButtons(
            options=[("both", "both"), ("median", "median"), ("p99", "p99"),
                     ("level p99", "level_p99")], value="both",
            description="table rows",
            tooltips=["every comparison of the typical block (median and p99)",
                      "the typical block median only",
                      "the typical-block p99 only (not the level p99)",
                      "the level p99 (all samples pooled): its own comparisons and family"],
            **small,
        )  # fmt: skip
        # Said while a control's redraw is under way, cleared once table and figure follow.
        self.pending = w.HTML(value="")
        self.info = w.Accordion(
            children=[w.HTML() for _ in SECTIONS], titles=SECTIONS, selected_index=None,
            layout=w.Layout(display="none"),
        )  # fmt: skip
        # Hidden until there is something to draw: no empty figure area before a run.
        self.output = w.Output(layout=w.Layout(display="none"))
        self.caption = w.HTML(value="")
        self.table = w.HTML(value=PLACEHOLDER)
        for control, name in (
            (self.figure, "figure"), (self.shown, "levels-shown"), (self.threshold, "threshold"),
            (self.output, "output"), (self.caption, "caption"), (self.table, "table"),
            (self.reference, "reference"), (self.unit, "unit"), (self.metric, "metric"),
            (self.statistic, "statistic"), (self.pending, "pending"), (self.info, "info"),
        ):  # fmt: skip
            control.add_class(f"hvload-{name}")
        self.config = DEFAULT.replace(threshold=float(threshold))
        #: The view's settings a new campaign starts from (see :meth:`view_defaults`).
        self._defaults = {"threshold": 100 * float(threshold), "unit": "ns", "metric": "cycles",
                          "statistic": "both", "figure": self.figure.value}  # fmt: skip
        # The last analysis, with what it was made from: a change of unit or of the rows
        # shown needs no new one.
        self._analysed: tuple[object, Campaign | None, Analysis | None] | None = None
        self._view_box: w.Box | None = None
        self._live: object = None  # the run whose live updates are shown
        #: Called after a new campaign (or a live update of one) is shown, in order.
        self.on_shown: list[Callable[[], None]] = []
        self.whole = None
        self.campaign = None
        self.analysis = None
        self._cache: dict[tuple[int, tuple[str, ...]], Campaign] = {}
        # Figures are drawn outside the lock and numbered: the newest request is shown,
        # an older render that finishes later is dropped.
        self._drawn = 0
        self._shown_draw = 0
        # Clear while a control's redraw is under way: a run's live update then leaves the
        # figure to it, and the next block waits for it (see Session._measure).
        self._view_idle = threading.Event()
        self._view_idle.set()
        self.figure.observe(lambda change: self._control(self.draw), names="value")
        for control in (self.shown, self.threshold, self.reference, self.unit, self.metric,
                        self.statistic):  # fmt: skip
            control.observe(lambda change: self._changed(), names="value")

    def view_controls(self) -> w.Box:
        """The view's controls in one box: figure, threshold, reference, unit, metric, rows."""
        wrap = w.Layout(flex_flow="row wrap")
        return w.VBox(
            [
                w.HBox([self.figure, self.threshold, self.reference], layout=wrap),
                w.HBox([self.unit, self.metric, self.statistic], layout=wrap),
                self.pending,
            ]
        )

    def view_defaults(self) -> dict[str, object]:
        """The view's settings that differ from those a new view starts with."""
        now = {"threshold": float(self.threshold.value), "unit": self.unit.value,
               "metric": self.metric.value, "statistic": self.statistic.value,
               "figure": self.figure.value}  # fmt: skip
        return {k: v for k, v in now.items() if v != self._defaults[k]}

    def _control(self, action: Any) -> None:
        self._view_idle.clear()
        # Said at once, before the analysis: the box and the table never disagree unsaid.
        self.pending.value = (
            '<span style="color:#6a4c00"><i>updating the table and figure for threshold '
            f"{float(self.threshold.value):.2f} %, unit {html.escape(str(self.unit.value))}"
            "...</i></span>"
        )
        try:
            action()
        finally:
            self.pending.value = ""
            self._view_idle.set()

    def _changed(self) -> None:
        if not self._quiet:
            self._control(self.refresh)

    def _unit(self) -> str:
        c = self.whole if self.whole is not None else self.campaign
        tsc = c.metadata.get("tsc_hz") if c is not None else None
        return str(self.unit.value) if tsc else "cycles"

    def _sync_controls(self, campaign: Campaign, names: Sequence[str]) -> None:
        """Fit the unit, metric and reference controls to ``campaign`` (under the lock,
        quiet): ns only with a TSC frequency, the metric switch only with response times,
        the reference among the levels shown."""
        if not campaign.metadata.get("tsc_hz"):
            self.unit.value = "cycles"
            self.unit.disabled = True
            self.unit.description_tooltip = "no TSC frequency recorded: cycles only"
        else:
            self.unit.disabled = False
        samples = campaign.samples
        has_response = "response" in samples and bool(samples["response"].notna().any())
        self.metric.layout.display = None if has_response else "none"
        if not has_response:
            self.metric.value = "cycles"
        self._sync_reference(names, campaign)

    def _sync_reference(self, names: Sequence[str], campaign: Campaign | None = None) -> None:
        chosen = [n for n in self.shown.options if n in set(self.shown.value)]
        current = self.reference.value
        if tuple(self.reference.options) != tuple(chosen):
            self.reference.options = chosen
        if current in chosen:
            self.reference.value = current
        elif chosen:
            self.reference.value = self._default_reference(chosen, campaign)

    def _default_reference(self, chosen: Sequence[str], campaign: Campaign | None = None) -> str:
        """The reference the analysis picks by itself: the campaign's recorded baseline
        where it is shown, else the lowest load shown."""
        whole = campaign if campaign is not None else self.whole
        recorded = (whole.metadata.get("design") or {}).get("baseline") if whole else None
        return str(recorded) if recorded in chosen else chosen[0]

    def _levels(self) -> list[str] | None:
        return None if self.campaign is None else level_names(self.campaign)

    def _set_whole(
        self, campaign: Campaign, *, levels: Sequence[str] | None = None, partial: str = "",
        live: object = None,
    ) -> None:  # fmt: skip
        """Show ``campaign``; the level choice is reset only when the levels change.

        ``live`` marks an update from a run: it is dropped unless that run is still the
        one whose updates are shown (a late one must not cover the final campaign).
        """
        names = list(levels) if levels is not None else level_names(campaign)
        with self._view_lock:
            if live is not None and live is not self._live:
                return
            self._quiet = True
            try:
                if tuple(self.shown.options) != tuple(names):
                    self.shown.options = names
                    self.shown.value = tuple(names)
                    self.shown.rows = max(2, min(8, len(names)))
                if self.whole is None or self.whole.metadata is not campaign.metadata:
                    self._sync_controls(campaign, names)
            finally:
                self._quiet = False
            self.whole = campaign
            self._partial = partial
            if self._view_box is not None:
                self._view_box.layout.display = None
        for hook in self.on_shown:
            hook()
        self.refresh(live=bool(partial))

    def refresh(self, *, live: bool = False) -> None:
        """Re-analyse the chosen levels at the threshold box's value; redraw figure and table.

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

    def _wanted(self) -> tuple[tuple[str, ...], float, str | None, str, str, str]:
        """The controls' state a table and figure are made for (a snapshot)."""
        return (
            tuple(self.shown.value), float(self.threshold.value), self.reference.value,
            str(self.metric.value), str(self.unit.value), str(self.statistic.value),
        )  # fmt: skip

    def _refresh_once(self) -> bool:
        from ..report import CampaignReport

        with self._view_lock:
            self._quiet = True
            try:
                self._sync_reference(list(self.shown.options))
            finally:
                self._quiet = False
            whole = self.whole
            partial = self._partial
            wanted = self._wanted()
            shown, threshold, reference, metric, _unit, statistic = wanted
            # The default reference is left to the analysis (baseline None), so that with
            # every level shown the settings, and a report made from them, are `hvload
            # report`'s byte for byte.
            chosen_now = [n for n in self.shown.options if n in set(shown)]
            default = self._default_reference(chosen_now) if chosen_now else None
            self.config = self.config.replace(
                threshold=threshold / 100,
                baseline=reference if reference and reference != default else None,
                metric=metric,
            )
            config = self.config
        if whole is None:
            return True
        present = set(level_names(whole))
        chosen = tuple(n for n in shown if n in present)
        analysis = None
        subset = used = None
        if chosen:
            key = (id(whole), chosen, config, bool(partial))
            last = self._analysed
            if last is not None and last[0] == key:  # unit or rows only: no new analysis
                used, analysis = last[1], last[2]
            else:
                subset = self._cache.get((id(whole), chosen))
                if subset is None:
                    subset = (whole if len(chosen) == len(present)
                              else select_levels(whole, chosen))  # fmt: skip
                    self._cache = {k: v for k, v in self._cache.items() if k[0] == id(whole)}
                    self._cache[(id(whole), chosen)] = subset
                # Live data: the power simulation behind the detectable effect waits for the
                # end. The block policy is applied to the chosen levels, so only their own
                # left-out blocks are named; with every level chosen this is what
                # `hvload report` shows.
                report = CampaignReport.build(
                    subset, config.replace(n_sim=0) if partial else config
                )
                analysis, used = report.analysis, report.used
                self._analysed = (key, used, analysis)
        with self._view_lock:
            if self.whole is not whole or self._wanted() != wanted:
                return False
            # The admitted blocks: what the figure draws and the analysis rests on.
            self.campaign = used
            self.analysis = analysis
            stopped = "" if partial else str(whole.metadata.get("stopped") or "")
            self.table.value = (
                left_out_html(used)
                + comparisons_html(
                    analysis,
                    unit=self._unit(),
                    partial=partial,
                    stopped=stopped,
                    on=None if statistic == "both" else str(statistic),
                )
                if analysis is not None and used is not None
                else "<p>Choose at least one level.</p>"
            )
            self._show_info(whole, analysis)
        return True

    def _show_info(self, whole: Campaign, analysis: Analysis | None) -> None:
        """Fill the campaign info panel (platform, design, noise, warnings)."""
        sections = info_sections(whole, analysis)
        for child, name in zip(self.info.children, SECTIONS, strict=True):
            child.value = sections[name]
        n = len(warnings(dict(whole.metadata), analysis))
        self.info.titles = tuple(
            f"{name} ({n})" if name == "warnings" else name for name in SECTIONS
        )
        self.info.layout.display = None

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
        elif name == "attribution" and not (campaign.metadata.get("design") or {}).get("controls"):
            # An empty frame with a note says less than a line: nothing to draw.
            outputs = (
                text_output(
                    "attribution: this campaign measured no control probes, so there is "
                    "nothing to attribute (`hvload run --controls null,syscall` measures them)"
                ),
            )
        else:
            try:
                fig = figure(
                    name, campaign, analysis=analysis, unit=unit,
                    levels=level_names(campaign), config=config,
                )  # fmt: skip
                # Superseded while it was built (a control asked for another figure, or
                # another block came in): rendering it would only delay the newer one.
                if number < self._drawn:
                    return
                output = figure_output(
                    fig, f"<hvload figure {name}>", f"figure {name} of the campaign shown"
                )
            except Exception as exc:  # a figure that cannot be drawn must not break the controls
                outputs = (text_output(f"figure {name!r} failed: {exc}"),)
            else:
                outputs = (output,)
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
            # The settings it was drawn with, beside the table's: a reader sees that both
            # follow the controls.
            settings = (
                f"{html.escape(unit)} · threshold {100 * config.threshold:.2f}&nbsp;% · "
                f"reference {html.escape(str(self._shown_reference(analysis)))}"
                + (" · response time" if config.metric == "response" else "")
            )
            self.caption.value = (
                f'<span style="color:#555">figure <b>{html.escape(name)}</b> of {source}'
                + (f" ({html.escape(partial)})" if partial else "")
                + f' · <span class="hvload-caption-settings">{settings}</span></span>'
            )

    @staticmethod
    def _shown_reference(analysis: Analysis | None) -> str:
        return str((analysis.design.get("baseline") if analysis is not None else None) or "-")

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
