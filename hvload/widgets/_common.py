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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ._html import PLACEHOLDER, comparisons_html, left_out_html

if TYPE_CHECKING:
    from ..campaign import Campaign
    from ..stats import Analysis

__all__ = ["CampaignView", "level_names", "png_output", "select_levels", "text_output"]


def png_output(png: bytes, text: str) -> dict[str, Any]:
    """A PNG image as a notebook display output (what ``Output.outputs`` holds)."""
    return {
        "output_type": "display_data",
        "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text},
        "metadata": {},
    }


def text_output(text: str) -> dict[str, Any]:
    """A line of text as a notebook stream output."""
    return {"output_type": "stream", "name": "stdout", "text": text + "\n"}


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
        # A number box, not a slider: its <label> names it for screen readers (a
        # slider's handle has no accessible name in ipywidgets 8), and the value it
        # shows is the one the table was computed with once Enter is pressed.
        self.threshold = w.BoundedFloatText(
            value=100 * threshold, min=0.0, max=10.0, step=0.1, description="threshold %",
            tooltip="practical threshold: changes smaller than this many % of the "
            "reference's statistic count as negligible",
            layout=w.Layout(width="200px"), style={"description_width": "90px"},
        )  # fmt: skip
        # Hidden until there is something to draw: no empty figure area before a run.
        self.output = w.Output(layout=w.Layout(display="none"))
        self.caption = w.HTML(value="")
        self.table = w.HTML(value=PLACEHOLDER)
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
        # figure to it, and the next block waits for it (see Session._measure).
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
            finally:
                self._quiet = False
            self.whole = campaign
            self._partial = partial
            if self._view_box is not None:
                self._view_box.layout.display = None
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

    def _refresh_once(self) -> bool:
        from ..report import CampaignReport

        with self._view_lock:
            whole = self.whole
            partial = self._partial
            wanted = tuple(self.shown.value)
            self.config = self.config.replace(threshold=float(self.threshold.value) / 100)
            config = self.config
        if whole is None:
            return True
        present = set(level_names(whole))
        chosen = tuple(n for n in wanted if n in present)
        analysis = None
        subset = used = None
        if chosen:
            key = (id(whole), chosen)
            subset = self._cache.get(key)
            if subset is None:
                subset = whole if len(chosen) == len(present) else select_levels(whole, chosen)
                self._cache = {k: v for k, v in self._cache.items() if k[0] == id(whole)}
                self._cache[key] = subset
            # Live data: the power simulation behind the detectable effect waits for the end.
            # The block policy is applied to the chosen levels, so only their own left-out
            # blocks are named; with every level chosen this is what `hvload report` shows.
            report = CampaignReport.build(subset, config.replace(n_sim=0) if partial else config)
            analysis, used = report.analysis, report.used
        with self._view_lock:
            if (
                self.whole is not whole
                or tuple(self.shown.value) != wanted
                or float(self.threshold.value) / 100 != config.threshold
            ):
                return False
            # The admitted blocks: what the figure draws and the analysis rests on.
            self.campaign = used
            self.analysis = analysis
            stopped = "" if partial else str(whole.metadata.get("stopped") or "")
            self.table.value = (
                left_out_html(used)
                + comparisons_html(analysis, unit=self._unit(), partial=partial, stopped=stopped)
                if analysis is not None and used is not None
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
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=90)
            except Exception as exc:  # a figure that cannot be drawn must not break the controls
                outputs = (text_output(f"figure {name!r} failed: {exc}"),)
            else:
                outputs = (png_output(buf.getvalue(), f"<hvload figure {name}>"),)
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
