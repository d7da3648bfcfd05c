"""The widgets' HTML: the comparison table, error lines, the shared style and placeholder.

Plain strings only (no ipywidgets), so the table also serves notebooks that show an
analysis without a widget (``from hvload.widgets import comparisons_html``).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..model import Campaign
    from ..stats import Analysis

__all__ = ["PLACEHOLDER", "STYLE", "comparisons_html", "error_html", "left_out_html"]

_VERDICT_COLOURS = {
    "slower": "#f4c7c3",
    "faster": "#c8e6c9",
    "negligible": "#fff3c4",
    "inconclusive": "#ffe0b2",
    "no evidence": "#eeeeee",
    "not enough data": "#e0e0e0",
}


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
    # Decided by the TSC frequency, not by whether a change could be estimated yet: early
    # in a live run every change is missing, and the table must not switch units later.
    ns = unit == "ns" and bool(analysis.design.get("tsc_hz") or comp["change_ns"].notna().any())
    col = "change_ns" if ns else "change"
    digits = 1 if ns else 0
    shown_unit = "ns" if ns else "cycles"
    head = [
        "level vs reference", "on", "change (%)", f"{ci} (%)", f"change ({shown_unit})",
        f"{ci} ({shown_unit})", "CLES", "p (adj.)", "verdict",
    ]  # fmt: skip
    rows = []
    for _, r in comp.iterrows():
        verdict = str(r["verdict"])
        colour = _VERDICT_COLOURS.get(verdict, "#ffffff")
        rel = r["relative_change"]
        cells = [
            f"{html.escape(str(r['level']))} vs {html.escape(str(r['reference']))}",
            # The block p99 is the typical block's, not the level's p99 (issue 20).
            "typical-block p99" if r["on"] == "p99" else html.escape(str(r["on"])),
            f"{100 * rel:+.2f}" if np.isfinite(rel) else "-",
            _interval(r["relative_change_low"], r["relative_change_high"], 100, 2),
            f"{r[col]:+,.{digits}f}" if np.isfinite(r[col]) else "-",
            _interval(r[f"{col}_low"], r[f"{col}_high"], 1, digits),
            _fmt(r["cles"], 3),
            _fmt(r["pvalue_adjusted"], 4),
        ]
        tds = "".join(
            f'<td style="text-align:{"left" if k < 2 else "right"}; white-space:nowrap">{c}</td>'
            for k, c in enumerate(cells)
        )
        title = html.escape(str(r.get("message") or ""), quote=True)
        tds += (
            f'<td style="background:{colour}; white-space:nowrap" title="{title}">'
            f"<b>{html.escape(verdict)}</b></td>"
        )
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
        # Wider than the output (800 px windows): the table scrolls in its own box.
        '<div class="hvload-table-box" style="overflow-x:auto; max-width:100%">'
        '<table style="border-collapse:collapse" border="1" cellpadding="3">'
        "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def left_out_html(used: Campaign) -> str:
    """One line saying that the block policy left blocks out of ``used``; empty when none.

    The line is the heading of :func:`hvload.campaign.left_out`, the text ``hvload report``
    prints; its notes, one per block, show on hover.
    """
    from ..campaign import left_out

    lines = left_out(used).splitlines()
    if not lines:
        return ""
    notes = html.escape("\n".join(n.strip() for n in lines[1:]), quote=True)
    return (
        f'<p class="hvload-left-out" style="color:#6a4c00" title="{notes}">'
        f"{html.escape(lines[0])}</p>"
    )


def error_html(exc: BaseException) -> str:
    """``exc`` as one red line: its type in bold, then its message."""
    return (
        f'<span style="color:#b00020"><b>{type(exc).__name__}</b>: {html.escape(str(exc))}</span>'
    )


# Text in HTML widgets at the widgets' control height (28 px a line) reads as double
# spaced once it wraps; the widgets' own prose gets ordinary spacing.
STYLE = (
    "<style>.hvload-explorer .widget-html-content, .hvload-browser .widget-html-content "
    "{line-height: 1.45;} .hvload-explorer .widget-html-content p, .hvload-browser "
    ".widget-html-content p {margin: 0.35em 0;}</style>"
)

#: What the view area says before there is a campaign to show.
PLACEHOLDER = (
    '<p style="color:#555"><i>No campaign shown yet: press <b>Run</b> to measure one, or open '
    "a stored campaign. The figure and the comparison table appear here.</i></p>"
)
