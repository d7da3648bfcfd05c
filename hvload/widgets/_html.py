"""The widgets' HTML: the comparison table, error lines, the shared style and placeholder.

Plain strings only (no ipywidgets), so the table also serves notebooks that show an
analysis without a widget (``from hvload.widgets import comparisons_html``).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..model import Campaign
    from ..stats import Analysis

__all__ = [
    "HEADER_HELP", "PLACEHOLDER", "STYLE", "VERDICT_HELP", "comparisons_html", "error_html",
    "left_out_html",
]  # fmt: skip

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


#: What each verdict word means (the rule of :func:`hvload.stats.compare.verdict`), shown
#: on hover over the word.
VERDICT_HELP = {
    "slower": "slower: the adjusted p is below alpha, the interval excludes 0 and the "
    "estimated change is beyond the practical threshold",
    "faster": "faster: the adjusted p is below alpha, the interval excludes 0 and the "
    "estimated change is beyond minus the practical threshold",
    "negligible": "negligible: the whole interval lies inside +-the practical threshold: "
    "whatever the change is, it is too small to matter",
    "inconclusive": "inconclusive: a change is significant, but whether it reaches the "
    "practical threshold the interval cannot tell",
    "no evidence": "no evidence: the adjusted p is not below alpha (or the interval "
    "includes 0), and the interval reaches beyond the threshold: neither a change nor its "
    "absence is shown",
    "not enough data": "not enough data: too few complete rounds for a test or an interval",
}

#: What each column of the comparison table means, shown on hover over its header.
HEADER_HELP = {
    "level vs reference": "the level compared, against the reference level (chosen in "
    "'reference level'); each level is also compared with its lower neighbour",
    "on": "which statistic: 'median' is the typical block median (median over the "
    "level's blocks of each block's median); 'typical-block p99' is the median over blocks "
    "of each block's p99, not the level p99; 'level p99' (table rows: level p99) is the p99 "
    "of all the level's samples pooled",
    "change": "Hodges-Lehmann estimate of the per-round change of the block statistic "
    "(the median of the averages of pairs of per-round log ratios), in % of the "
    "reference's own statistic",
    "ci": "confidence interval of the change from the signed-rank test of that one "
    "comparison: NOT adjusted for the number of comparisons",
    "level ci": "confidence interval of the change from a bootstrap over rounds: NOT "
    "adjusted for the number of comparisons",
    "change unit": "the same Hodges-Lehmann change in {unit} (the reference's statistic "
    "times the relative change)",
    "CLES": "common-language effect size: the probability that a sample of the level is "
    "larger than one of the reference (ties count half); 0.5 = no shift; descriptive only",
    "p (adj.)": "p-value of the exact Wilcoxon signed-rank test over rounds, adjusted over "
    "all comparisons of the table ({correction})",
    "level p99": "the level p99: the p99 of all the level's samples pooled (its p99 "
    "latency), compared by a sign-flip test swapping the two levels' blocks within rounds; "
    "these comparisons form their own family for the adjustment",
    "level change": "ratio of the two levels' level p99 (all samples of the rounds both "
    "hold, pooled), in % of the reference's level p99; interval from a bootstrap over rounds",
    "level change unit": "the same change in {unit} (the reference's level p99 times the "
    "relative change)",
    "level p (adj.)": "p-value of the sign-flip test over rounds, adjusted over the "
    "level-p99 comparisons only ({correction})",
    "verdict": "the verdict word; hover over a word for its rule and this row's notes",
}


def _abbr(text: str, title: str) -> str:
    return f'<abbr title="{html.escape(title, quote=True)}">{text}</abbr>'


def comparisons_html(
    analysis: Analysis, *, unit: str = "cycles", partial: str = "", stopped: str = "",
    on: str | None = None,
) -> str:  # fmt: skip
    """The comparison table of ``analysis`` as HTML, one row per comparison.

    Columns: level against reference, block statistic, the change in percent of the
    reference's own statistic with its interval, the same change in ``unit`` with its
    interval, common-language effect size, adjusted p-value and the verdict, coloured
    by kind (its rule and message on hover). Every header explains itself on hover
    (``<abbr title>``); a sentence under the table says that the intervals are per
    comparison while p (adj.) is adjusted, and marks (with a dagger) the rows whose
    interval excludes 0 although their adjusted p does not reach alpha.

    ``partial`` describes data still being measured (e.g. ``"7 of 36 blocks"``): the
    table then says that its verdicts are provisional, and a lack of rounds is put as
    "not yet" rather than as a fault of the design. ``stopped`` is the campaign's
    ``metadata["stopped"]``: a lack of rounds is then put down to the stop. ``on``
    (``"median"`` or ``"p99"``) keeps the rows of one block statistic only;
    ``"level_p99"`` shows the level-p99 comparisons instead (their own family: its test,
    interval and adjustment are said in the headers and under the table).
    """
    tails = on == "level_p99"
    comp = (
        pd.DataFrame(
            [{**c.__dict__, "verdict": c.verdict.value} for c in analysis.tail_comparisons]
        )
        if tails
        else analysis.comparisons
    )
    st = analysis.settings
    threshold = st.get("threshold", float("nan"))
    alpha = float(st.get("alpha", 0.05))
    correction = str(st.get("correction", "holm"))
    ci = f"{round(100 * st.get('confidence', 0.95), 6):g}% CI"
    if comp.empty:
        return (
            "<p><b>No level-p99 comparisons</b>: they need at least two load levels and "
            "the round bootstrap (n_bootstrap above 0).</p>"
            if tails
            else "<p><b>No comparisons</b>: at least two load levels are needed "
            "(the reference level is compared with the others).</p>"
        )
    n_family = len(comp)
    if on is not None and not tails:
        comp = comp[comp["on"] == on]
    # Decided by the TSC frequency, not by whether a change could be estimated yet: early
    # in a live run every change is missing, and the table must not switch units later.
    ns = unit == "ns" and bool(
        analysis.design.get("tsc_hz") or analysis.comparisons["change_ns"].notna().any()
    )
    col = "change_ns" if ns else "change"
    digits = 1 if ns else 0
    shown_unit = "ns" if ns else "cycles"
    corr_name = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "not adjusted"}.get(
        correction, correction
    )
    head = [
        _abbr("level vs reference", HEADER_HELP["level vs reference"]),
        _abbr("on", HEADER_HELP["on"]),
        _abbr("change (%)", HEADER_HELP["level change" if tails else "change"]),
        _abbr(f"{ci} (%)", HEADER_HELP["level ci" if tails else "ci"]),
        _abbr(
            f"change ({shown_unit})",
            HEADER_HELP["level change unit" if tails else "change unit"].format(unit=shown_unit),
        ),
        _abbr(f"{ci} ({shown_unit})", HEADER_HELP["level ci" if tails else "ci"]),
        _abbr("CLES", HEADER_HELP["CLES"]),
        _abbr(
            "p (adj.)",
            HEADER_HELP["level p (adj.)" if tails else "p (adj.)"].format(correction=corr_name),
        ),
        _abbr("verdict", HEADER_HELP["verdict"]),
    ]
    rows = []
    daggers = 0
    for _, r in comp.iterrows():
        verdict = str(r["verdict"])
        colour = _VERDICT_COLOURS.get(verdict, "#ffffff")
        rel = r["relative_change"]
        low, high = r["relative_change_low"], r["relative_change_high"]
        # The interval alone excludes 0, the adjusted test does not reject: the verdict
        # rests on the adjusted p, which the reader would otherwise not see.
        dagger = bool(
            verdict == "no evidence" and np.isfinite(low) and np.isfinite(high)
            and (low > 0 or high < 0)
        )  # fmt: skip
        daggers += dagger
        stat = (
            _abbr("typical-block p99", HEADER_HELP["on"])
            if r["on"] == "p99"
            else _abbr("level p99", HEADER_HELP["level p99"])
            if r["on"] == "level_p99"
            else html.escape(str(r["on"]))
        )
        cells = [
            f"{html.escape(str(r['level']))} vs {html.escape(str(r['reference']))}",
            # The block p99 is the typical block's, not the level's p99 (issue 20).
            stat,
            f"{100 * rel:+.2f}" if np.isfinite(rel) else "-",
            _interval(low, high, 100, 2),
            f"{r[col]:+,.{digits}f}" if np.isfinite(r[col]) else "-",
            _interval(r[f"{col}_low"], r[f"{col}_high"], 1, digits),
            _fmt(r["cles"], 3),
            _fmt(r["pvalue_adjusted"], 4),
        ]
        tds = "".join(
            f'<td style="text-align:{"left" if k < 2 else "right"}; white-space:nowrap">{c}</td>'
            for k, c in enumerate(cells)
        )
        message = str(r.get("message") or "")
        title = VERDICT_HELP.get(verdict, verdict) + (f" ({message})" if message else "")
        if dagger:
            title += (
                "; its interval excludes 0, but that interval is not adjusted for the "
                f"{n_family} comparisons and the adjusted p is not below {alpha:g}"
            )
        tds += (
            f'<td class="hvload-verdict" style="background:{colour}; white-space:nowrap" '
            f'title="{html.escape(title, quote=True)}"><b>{html.escape(verdict)}</b>'
            + (" &dagger;" if dagger else "")
            + "</td>"
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
    adjusted = (
        f"p (adj.) is adjusted over all {n_family} "
        + ("level-p99 comparisons, their own family" if tails else "comparisons")
        + f" ({corr_name})"
        if correction != "none"
        else "p is not adjusted for the number of comparisons"
    )
    which = (
        f'<p class="hvload-adjusted" style="font-size:small">The {ci} columns are per '
        f"comparison, <b>not adjusted</b> for the number of comparisons; {adjusted}. A "
        f"verdict of slower or faster needs both: p (adj.) below {alpha:g} and an interval "
        "that excludes 0"
        + (
            f"; so {daggers} row{'s' if daggers != 1 else ''} marked &dagger; "
            f"say{'' if daggers != 1 else 's'} <i>no evidence</i> although the interval "
            "excludes 0."
            if daggers
            else "."
        )
        + "</p>"
    )
    return (
        f"{warning}<p>"
        + (
            f"Change = {_abbr('ratio of the level p99s', HEADER_HELP['level change'])}, "
            "in % of the reference's level p99 (all its samples pooled); practical threshold "
            if tails
            else f"Change = {_abbr('Hodges-Lehmann', HEADER_HELP['change'])} estimate of the "
            "per-round ratio of block statistics, in % of the reference's own median or p99; "
            "practical threshold "
        )
        + f'<span class="hvload-table-threshold">{100 * threshold:.2f}&nbsp;%</span>; '
        f"{summary}.</p>"
        # Wider than the output (800 px windows): the table scrolls in its own box.
        '<div class="hvload-table-box" style="overflow-x:auto; max-width:100%">'
        '<table style="border-collapse:collapse" border="1" cellpadding="3">'
        "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table></div>" + which
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
