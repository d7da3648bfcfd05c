"""Figures of the analysis' judgements: pairwise verdicts and attribution to controls.

:func:`verdict_map` (effect and verdict of every comparison made) and
:func:`attribution` (the main probe's change beside the control probes').
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties

from ..stats import DEFAULT, Analysis, AnalysisConfig, analyze
from ._common import (
    _check_unit,
    _figure_pt,
    _new_axes,
    _resolve_tsc,
    _select,
    _set_title,
    _split,
    _subject,
    _wrap,
    fill_doc,
)

__all__ = ["attribution", "verdict_map"]

# Height of one line of the attribution's verdict rows, in points ("small" text).
_LINE_PT = 1.2 * FontProperties(size="small").get_size_in_points()


@fill_doc
def verdict_map(
    analysis_or_data: Any,
    *,
    on: str = "median",
    ax: Axes | None = None,
    unit: str = "cycles",
    levels: str | Iterable[str] | None = None,
    config: AnalysisConfig | None = None,
    tsc_hz: float | None = None,
) -> Axes:
    """Heat map of the pairwise comparisons: effect as colour, verdict as text.

    Parameters
    ----------
    analysis_or_data : hvload.stats.Analysis, campaign or pandas.DataFrame
        A finished analysis, or data to analyse with :func:`hvload.stats.analyze`
        under ``config``.
    on : {"median", "p99", "level_p99"}, default "median"
        Which comparisons to show: of the typical-block median or p99, or of the level
        p99 (all samples pooled; :attr:`hvload.stats.Analysis.tail_comparisons`).
    {ax}
    unit : {"cycles", "ns"}, default "cycles"
        Unit of the absolute change written in each cell; ``"ns"`` needs the TSC
        frequency.
    levels : str or iterable of str, optional
        Show only comparisons between these levels. The verdicts are those of the
        whole campaign's analysis (same baseline, same multiplicity correction).
    config : hvload.stats.AnalysisConfig, optional
        How to analyse data (threshold, alpha, correction, exclusions, metric). An
        ``Analysis`` keeps the configuration it was made with; a different one here is
        an error (its verdicts cannot be re-judged without the data).
    tsc_hz : float, optional
        TSC frequency in Hz, overriding the campaign's or the analysis's.

    Returns
    -------
    matplotlib.axes.Axes
        Rows are reference levels, columns compared levels; a colour bar beside it.

    Notes
    -----
    How to read it: each coloured cell compares the column's level with the row's
    reference level. Colour is the relative change of ``on`` (red: slower, blue:
    faster, white: none); the text gives that change (Hodges-Lehmann estimate of the
    per-round ratio) in % of the reference's own statistic and in the unit, and the
    verdict: ``slower``/``faster`` (significant after multiplicity correction, interval
    excluding 0, estimate at least the practical threshold), ``negligible`` (interval
    inside the threshold), ``inconclusive`` (a change is shown, its size against the
    threshold is not), ``no evidence`` or ``not enough data``. Grey cells were not
    compared: hvload compares every level with the baseline and each level with its
    neighbour in load order.
    """
    if on not in ("median", "p99", "level_p99"):
        raise ValueError(f"on={on!r} is not allowed; choose 'median', 'p99' or 'level_p99'")
    metadata: dict[str, Any] = {}
    if isinstance(analysis_or_data, Analysis):
        analysis = analysis_or_data
        if config is not None and analysis.config is not None and config != analysis.config:
            raise ValueError(
                "config differs from the configuration the analysis was made with "
                f"({analysis.config}); pass the campaign to re-analyse, or leave config out"
            )
        tsc = _resolve_tsc(tsc_hz, {"tsc_hz": analysis.design.get("tsc_hz")})
        names = tuple(analysis.design.get("levels") or analysis.levels["level"].tolist())
    else:
        _, metadata, _ = _split(analysis_or_data)
        tsc = _resolve_tsc(tsc_hz, metadata)
        _check_unit(unit, tsc)
        # The minimum detectable effect is not drawn here; skipping its simulation
        # keeps this fast.
        analysis = analyze(analysis_or_data, (config or DEFAULT).replace(n_sim=0), tsc_hz=tsc)
        names = tuple(analysis.design["levels"])
    _check_unit(unit, tsc)
    chosen = [names[i] for i in _select(names, levels)]
    comp = analysis.comparisons
    if on == "level_p99":
        comp = pd.DataFrame(
            [{**c.__dict__, "verdict": c.verdict.value} for c in analysis.tail_comparisons],
            columns=comp.columns,
        )
    comp = comp[(comp["on"] == on) & comp["reference"].isin(chosen) & comp["level"].isin(chosen)]
    refs = [n for n in chosen if n in set(comp["reference"])]
    cols = [n for n in chosen if n in set(comp["level"])]
    ax = _new_axes(ax, (1.9 * max(len(cols), 2) + 2.5, 1.2 * max(len(refs), 2) + 2.2))
    if comp.empty:
        ax.text(0.5, 0.5, "no comparisons among these levels", ha="center", va="center")
        ax.set_axis_off()
        return ax

    what = "level p99 (all samples pooled)" if on == "level_p99" else f"typical-block {on}"
    how = "sign-flip over rounds" if on == "level_p99" else "signed-rank over rounds"
    change = pd.DataFrame(np.nan, index=refs, columns=cols)
    text = pd.DataFrame("", index=refs, columns=cols)
    # _check_unit above refused unit="ns" without a TSC frequency.
    scale = 1.0 if unit == "cycles" else 1e9 / float(cast(float, tsc))
    threshold = float(analysis.settings.get("threshold", DEFAULT.threshold))
    # pandas-stubs types every itertuples field as a Scalar union; the comparisons table
    # holds level labels, floats and the verdict string (see Analysis.comparisons).
    row: Any
    for row in comp.itertuples(index=False):
        pct = row.relative_change * 100
        delta = row.change * scale
        change.loc[row.reference, row.level] = pct
        text.loc[row.reference, row.level] = f"{pct:+.1f} %\n{delta:+,.0f} {unit}\n{row.verdict}"
    limit = float(np.nanmax(np.abs(change.to_numpy()))) if change.notna().any().any() else 1.0
    limit = max(limit, 2 * threshold * 100, 1e-9)
    ax.set_facecolor("0.88")
    with warnings.catch_warnings():
        # seaborn 0.13 calls a colormap method that newer matplotlib marks as pending
        # deprecation; nothing the caller can act on.
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        sns.heatmap(
            change, mask=change.isna(), annot=text.to_numpy(), fmt="", cmap="RdBu_r", center=0,
            vmin=-limit, vmax=limit, linewidths=1, linecolor="white", ax=ax,
            annot_kws={"fontsize": _cell_font(ax, len(refs), len(cols))},
            cbar_kws={"label": f"change of the {what},\n% of the reference's"},
        )  # fmt: skip
    ax.set_xlabel("compared level (grey: pair not compared)")
    ax.set_ylabel("reference level")
    ax.tick_params(axis="y", rotation=0)
    settings = analysis.settings
    correction = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}.get(
        str(settings.get("correction")), str(settings.get("correction"))
    )
    subject = _subject(metadata) if metadata else f"{on} latency per load level"
    _set_title(
        ax,
        f"{subject}\nverdicts on the {what}: {how}, {correction} correction, "
        f"α = {settings.get('alpha', 0.05):g}, practical threshold "
        f"{settings.get('threshold', threshold) * 100:g} %",
    )
    return ax


@fill_doc
def attribution(
    analysis_or_data: Any,
    *,
    ax: Axes | None = None,
    unit: str = "cycles",
    levels: str | Iterable[str] | None = None,
    config: AnalysisConfig | None = None,
    tsc_hz: float | None = None,
) -> Axes:
    """The main probe's and the control probes' median change per level, side by side.

    Parameters
    ----------
    analysis_or_data : hvload.stats.Analysis, campaign or pandas.DataFrame
        A finished analysis, or data to analyse under ``config``.
    {ax}
    unit : {"cycles", "ns"}, default "cycles"
        Accepted for a common signature; changes are drawn in percent.
    levels : str or iterable of str, optional
        Levels to show (all by default; the baseline has no bar of its own).
    config : hvload.stats.AnalysisConfig, optional
        How to analyse data.
    tsc_hz : float, optional
        TSC frequency in Hz, as for the other figures.

    Returns
    -------
    matplotlib.axes.Axes
        One group of bars per level: the main probe, then each control, each with its
        interval; a campaign without controls gets a note instead.

    Notes
    -----
    How to read it: each bar is how much a probe's typical block median changed
    against the baseline (Hodges-Lehmann estimate of the per-round ratio, with its
    interval). When the main probe rises and the controls stay flat, the change belongs
    to the main probe's own path (for a hypercall: the exit); when every probe rises
    alike, the guest or the host got slower for everything. The text above each group
    is the attribution verdict against each control (:func:`hvload.stats.attribute`).
    """
    if isinstance(analysis_or_data, Analysis):
        analysis = analysis_or_data
        metadata: dict[str, Any] = {}
        tsc = _resolve_tsc(tsc_hz, {"tsc_hz": analysis.design.get("tsc_hz")})
    else:
        _, metadata, _ = _split(analysis_or_data)
        tsc = _resolve_tsc(tsc_hz, metadata)
        _check_unit(unit, tsc)
        analysis = analyze(analysis_or_data, (config or DEFAULT).replace(n_sim=0), tsc_hz=tsc)
    _check_unit(unit, tsc)
    every = list(analysis.design["levels"])
    # The baseline is what every bar is measured against: it has no bar of its own.
    chosen = [every[i] for i in _select(every, levels) if every[i] != analysis.design["baseline"]]
    ax = _new_axes(ax, (9.0, 5.0))
    subject = _subject(metadata) if metadata else f"{analysis.design.get('probe')} per level"
    att = analysis.attribution
    if att is None or att.table.empty:
        ax.text(0.5, 0.5, "no control probes were measured in this campaign",
                ha="center", va="center")  # fmt: skip
        _set_title(ax, f"{subject}\nwhose change is it? (needs control probes)")
        ax.set_axis_off()
        return ax
    table = att.table
    probes = [att.probe, *att.controls]
    width = 0.8 / len(probes)
    palette = sns.color_palette("colorblind", len(probes))
    for k, probe in enumerate(probes):
        xs, ys, lo, hi = [], [], [], []
        for i, level in enumerate(chosen):
            rows = table[table["level"] == level]
            if k == 0:
                r = rows.iloc[0]
                est, low, high = r.main_change, r.main_change_low, r.main_change_high
            else:
                r = rows[rows["control"] == probe].iloc[0]
                est, low, high = r.control_change, r.control_change_low, r.control_change_high
            xs.append(i + (k - (len(probes) - 1) / 2) * width)
            ys.append(100 * est)
            lo.append(100 * (est - low))
            hi.append(100 * (high - est))
        ax.bar(xs, ys, width=width * 0.9, color=palette[k],
               label=probe + (" (main probe)" if k == 0 else " (control)"))  # fmt: skip
        ax.errorbar(xs, ys, yerr=np.vstack((lo, hi)), fmt="none", ecolor="0.2", capsize=3, lw=1)
    _verdict_rows(ax, table, chosen, att.controls)
    ax.axhline(0, color="0.3", lw=0.8)
    threshold = 100 * float(analysis.settings.get("threshold", DEFAULT.threshold))
    ax.axhspan(-threshold, threshold, color="0.9", zorder=0)
    ax.set_xticks(range(len(chosen)))
    ax.set_xticklabels(chosen)
    ax.set_xlabel(f"load level (change against {att.baseline}; grey band: practical threshold)")
    ax.set_ylabel("change of the typical block median (%)")
    # Below the axes, not beside them: the verdict rows above need the full width.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=len(probes), fontsize="small")
    rows_pt = _LINE_PT * (2 * len(att.controls) + 1)
    _set_title(ax, f"{subject}\nwhose change is it? main probe and controls per level", pad=rows_pt)
    return ax


def _cell_font(ax: Axes, n_rows: int, n_cols: int) -> float:
    """Font size (points) of the verdict map's cells: grows with the cells, 8.5 to 14.

    A two-level map is one cell filling the axes: its text is set large, not at the
    size that suits the 15 cells of a six-level map.
    """
    width, height = _figure_pt(ax)
    pos = ax.get_position()
    # Three lines of text per cell; the colour bar takes about 15 % of the width.
    cell = min(width * pos.width * 0.85 / max(n_cols, 1), height * pos.height / max(n_rows, 1))
    return float(min(max(0.16 * cell, 8.5), 14.0))


def _verdict_rows(
    ax: Axes, table: pd.DataFrame, chosen: list[str], controls: Sequence[str]
) -> None:
    """The attribution verdicts above the bars: one row per control, one cell per level.

    A cell is centred over its level's group of bars and wrapped onto two lines, so that
    neighbouring verdicts ("no evidence", "shared slowdown") never run into each other;
    each row is named once, at the left.
    """
    size = FontProperties(size="small").get_size_in_points()
    line = _LINE_PT
    # Room per group of bars, from the axes' place before layout (a fair lower bound).
    group_pt = _figure_pt(ax)[0] * ax.get_position().width / max(len(chosen), 1)
    for j, control in enumerate(reversed(controls)):
        offset = 4 + j * 2 * line
        ax.annotate(
            f"vs {str(control).split('/')[0]}:", (0.0, 1.0), xycoords="axes fraction",
            xytext=(-4, offset), textcoords="offset points", ha="right", va="bottom",
            fontsize=size, color="0.3",
        )  # fmt: skip
        for i, level in enumerate(chosen):
            hit = table[(table["level"] == level) & (table["control"] == control)]
            verdict = str(hit["verdict"].iloc[0]) if len(hit) else "-"
            ax.annotate(
                _wrap(verdict, 0.9 * group_pt, size), (i, 1.0), xycoords=("data", "axes fraction"),
                xytext=(0, offset), textcoords="offset points", ha="center", va="bottom",
                fontsize=size, linespacing=1.0, gid=f"verdict vs {control} at {level}",
            )  # fmt: skip
