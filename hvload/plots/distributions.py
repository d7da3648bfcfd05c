"""Figures of the latency distribution of each load level.

:func:`ecdf`, :func:`distribution` (violin or boxen) and :func:`percentile_ladder`:
each level is reduced to a few thousand of its order statistics before matplotlib or
seaborn sees it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from ..stats import AnalysisConfig
from ._common import (
    _excluded_note,
    _legend_label,
    _new_axes,
    _number,
    _prepare,
    _readable_log,
    _set_title,
    fill_doc,
)

__all__ = ["QUANTILE_POINTS", "distribution", "ecdf", "percentile_ladder"]

#: Evenly spaced quantiles that stand in for each level in violin and boxen plots.
QUANTILE_POINTS = 4096
#: Points of the ECDF and percentile-ladder curves per level.
_CURVE_POINTS = 2000
#: Below this many samples beyond a percentile, the ladder draws it dotted.
_SPARSE_TAIL = 10
_KINDS = ("violin", "boxen")


@fill_doc
def ecdf(
    data: Any,
    *,
    ax: Axes | None = None,
    unit: str = "cycles",
    levels: str | Iterable[str] | None = None,
    config: AnalysisConfig | None = None,
    tsc_hz: float | None = None,
) -> Axes:
    """Empirical CDF of the latency of every load level, on a log latency axis.

    Parameters
    ----------
    {data}
    {ax}
    {unit}
    {levels}
    {config}
    {tsc_hz}

    Returns
    -------
    matplotlib.axes.Axes
        One line per level, labelled with the level name and its sample count.

    Notes
    -----
    How to read it: at latency ``x`` a curve gives the fraction of that level's samples
    that took at most ``x``. A curve further right is slower; curves that separate only
    near the top differ in their tail, not their typical latency. The log axis keeps
    rare spikes (many times the median) on the page.

    The latency axis ends a little beyond the largest p99.9 of the levels drawn (the
    x label then gives the overall maximum): above it every curve lies flat against 1,
    and :func:`percentile_ladder` is the figure for the tail.

    Each curve is drawn through about 2,000 order statistics of the level: evenly spaced
    in probability plus geometrically spaced towards both ends, so the body and the
    tails are both resolved.
    """
    prep = _prepare(data, tsc_hz=tsc_hz, unit=unit, levels=levels, config=config)
    ax = _new_axes(ax)
    low, high, cut = math.inf, 0.0, 0.0
    medians = []
    for pos in prep.selected:
        values = prep.values(pos)
        n = values.size
        if n == 0:
            continue
        medians.append(values[(n - 1) // 2])
        idx = _ecdf_indices(n)
        x = values[idx]
        y = (idx + 1) / n
        ax.plot(
            x, y, drawstyle="steps-post", color=prep.color(pos), lw=1.6,
            label=_legend_label(prep, pos),
        )  # fmt: skip
        low, high = min(low, x[0]), max(high, x[-1])
        cut = max(cut, values[min(n - 1, math.ceil(0.999 * n) - 1)])
    ax.set_xscale("log")
    # Above p99.9 every curve is flat against 1, while the rare spikes (often 1000x the
    # median) would squeeze the body into a sliver: the ladder is the tail's figure.
    right = min(high, cut * 1.15) if cut > 0 else high
    ax.set_xlim(low / 1.03, right)
    _readable_log(ax.xaxis, low, right, body=float(np.median(medians)) if medians else None)
    ax.set_ylim(0, 1.005)
    ax.yaxis.set_major_locator(ticker.FixedLocator([0, 0.25, 0.5, 0.75, 0.9, 1.0]))
    clipped = f"; axis ends near the largest p99.9, max {_number(high)}" if right < high else ""
    ax.set_xlabel(f"{prep.latency_label}, log scale{clipped}")
    ax.set_ylabel("fraction of samples ≤ latency")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title="load level", loc="lower right", fontsize="small")
    _set_title(ax, prep.title(f"ECDF per load level ({_excluded_note(prep)})"))
    return ax


def _ecdf_indices(n: int) -> np.ndarray:
    body = np.linspace(0, n - 1, _CURVE_POINTS // 2)
    tail = np.geomspace(1, max(n / 2, 1), _CURVE_POINTS // 4)
    idx = np.concatenate((body, tail - 1, n - tail))
    return np.unique(np.clip(np.rint(idx), 0, n - 1).astype(np.intp))


def _quantile_points(values: np.ndarray, m: int = QUANTILE_POINTS) -> np.ndarray:
    """``m`` evenly spaced (midpoint) quantiles of sorted ``values``: a fixed-size sketch."""
    n = values.size
    if n <= m:
        return values
    idx = np.floor((np.arange(m) + 0.5) / m * n).astype(np.intp)
    return values[idx]


@fill_doc
def distribution(
    data: Any,
    *,
    kind: str = "violin",
    ax: Axes | None = None,
    unit: str = "cycles",
    levels: str | Iterable[str] | None = None,
    config: AnalysisConfig | None = None,
    tsc_hz: float | None = None,
) -> Axes:
    """Violin or boxen plot of the latency of every load level, on a log latency axis.

    Parameters
    ----------
    {data}
    kind : {"violin", "boxen"}, default "violin"
        ``"violin"``: density of each level (KDE in log latency) with its quartiles
        marked. ``"boxen"``: letter-value boxes, each box halving the tail share of
        the one inside it (50 %, 25 %, 12.5 %, ... of the samples lie outside).
    {ax}
    {unit}
    {levels}
    {config}
    {tsc_hz}

    Returns
    -------
    matplotlib.axes.Axes
        One violin or boxen per level along x (tick labels are the level names and
        sample counts), with each level's largest sample written above it.

    Notes
    -----
    How to read it: higher is slower. A violin is wide where samples are common; the
    dashed lines inside are the quartiles. In a boxen plot the widest box holds the
    middle half of the samples and each narrower box reaches further into the tails.
    The "max" above each level is its slowest sample, which the shape itself does not
    reach (it ends near the 99.99th percentile).

    Each level is drawn from its :data:`QUANTILE_POINTS` evenly spaced quantiles (the
    title says so), not from its raw samples: the shape is that of the whole level,
    resolved to about 1 part in 4,000, and deterministic (no random subsample).
    """
    if kind not in _KINDS:
        raise ValueError(f"kind={kind!r} is not allowed; choose 'violin' or 'boxen'")
    prep = _prepare(data, tsc_hz=tsc_hz, unit=unit, levels=levels, config=config)
    ax = _new_axes(ax)
    names = prep.selected_names
    parts, maxima, counts = [], [], []
    for pos in prep.selected:
        values = prep.values(pos)
        counts.append(values.size)
        if values.size == 0:
            maxima.append(np.nan)
            continue
        sketch = _quantile_points(values)
        parts.append(pd.DataFrame({"level": prep.names[pos], "latency": sketch}))
        maxima.append(values[-1])
    table = pd.concat(parts, ignore_index=True)
    palette = {prep.names[p]: prep.color(p) for p in prep.selected}
    common = dict(
        data=table, x="level", y="latency", hue="level", order=names, hue_order=names,
        palette=palette, legend=False, log_scale=True, ax=ax,
    )  # fmt: skip
    if kind == "violin":
        sns.violinplot(**common, cut=0, inner="quart", density_norm="width", linewidth=0.8)
    else:
        sns.boxenplot(**common, k_depth="full", showfliers=False, linewidth=0.6)
    low = float(table["latency"].min())
    high = float(table["latency"].max())
    ax.set_ylim(low / 1.05, high * 1.6)
    body = float(table.groupby("level", observed=True)["latency"].median().median())
    _readable_log(ax.yaxis, low, high, body=body)
    # The maxima are written, not plotted: a single spike can be 1000x the median and
    # would flatten every shape if it set the axis range.
    for i, top in enumerate(maxima):
        if math.isfinite(top):
            ax.text(
                i, 0.985, f"max {_number(top)}", transform=ax.get_xaxis_transform(),
                ha="center", va="top", fontsize="small",
            )  # fmt: skip
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels([f"{name}\nn={_number(n)}" for name, n in zip(names, counts, strict=True)])
    ax.set_xlabel("load level (n = samples in the level)")
    ax.set_ylabel(f"{prep.latency_label}, log scale")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    shape = (
        "violin per load level (density; dashed: quartiles)"
        if kind == "violin"
        else "boxen per load level (each box halves the tail share)"
    )
    _set_title(
        ax,
        prep.title(
            f"{shape}, {_excluded_note(prep)}\n"
            f"each level drawn from {QUANTILE_POINTS:,} of its evenly spaced quantiles"
            + (" (all its samples if fewer)" if min(counts) <= QUANTILE_POINTS else "")
        ),
    )
    return ax


_NINES = {
    "50": math.log10(2),
    "90": 1.0,
    "99": 2.0,
    "99.9": 3.0,
    "99.99": 4.0,
    "99.999": 5.0,
    "99.9999": 6.0,
    "99.99999": 7.0,
}


@fill_doc
def percentile_ladder(
    data: Any,
    *,
    ax: Axes | None = None,
    unit: str = "cycles",
    levels: str | Iterable[str] | None = None,
    config: AnalysisConfig | None = None,
    tsc_hz: float | None = None,
) -> Axes:
    """Latency against percentile on a "nines" axis, one line per load level.

    Parameters
    ----------
    {data}
    {ax}
    {unit}
    {levels}
    {config}
    {tsc_hz}

    Returns
    -------
    matplotlib.axes.Axes
        Per level one solid, labelled line and one dotted, unlabelled continuation.

    Notes
    -----
    How to read it: the x axis is ``-log10(1 - q)``, so 90, 99, 99.9 and 99.99 % are
    equally spaced and each step to the right is ten times rarer; the y value is the
    latency that fraction of samples stays under (log scale). Lines that run together
    on the left and split on the right differ only in the tail. The dotted end of a
    line rests on fewer than 10 samples: read it as a rough estimate only. Each line
    ends at the ``1 - 1/n`` percentile of its ``n`` samples.

    Drawn through about 2,000 order statistics per level (the empirical quantile at
    evenly spaced positions on the nines axis).
    """
    prep = _prepare(data, tsc_hz=tsc_hz, unit=unit, levels=levels, config=config)
    ax = _new_axes(ax)
    top, low, high = 0.0, math.inf, 0.0
    for pos in prep.selected:
        values = prep.values(pos)
        n = values.size
        if n < 2:
            continue
        end = math.log10(n)
        x = np.linspace(0.0, end, _CURVE_POINTS)
        q = 1.0 - 10.0**-x
        # Empirical (inverted-CDF) quantile; the tiny slack absorbs rounding of q * n.
        idx = np.clip(np.ceil(q * n - 1e-9).astype(np.intp) - 1, 0, n - 1)
        y = values[idx]
        dense = x <= end - math.log10(_SPARSE_TAIL)
        cut = int(np.count_nonzero(dense))
        color = prep.color(pos)
        ax.plot(x[:cut], y[:cut], color=color, lw=1.6, label=_legend_label(prep, pos))
        ax.plot(x[max(cut - 1, 0) :], y[max(cut - 1, 0) :], color=color, lw=1.4, ls=":")
        top, low, high = max(top, end), min(low, y[0]), max(high, y[-1])
    ax.set_yscale("log")
    _readable_log(ax.yaxis, low, high)
    ticks = {label: x for label, x in _NINES.items() if x <= top + 1e-9}
    ax.set_xticks(list(ticks.values()))
    ax.set_xticklabels(list(ticks))
    ax.set_xlim(0, max(top, 1.0) * 1.02)
    ax.set_xlabel("percentile (%), nines scale: each step right is 10× rarer")
    ax.set_ylabel(f"{prep.latency_label}, log scale")
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="grey", ls=":"))
    labels.append(f"fewer than {_SPARSE_TAIL} samples beyond")
    ax.legend(handles, labels, title="load level", loc="upper left", fontsize="small")
    _set_title(ax, prep.title(f"percentile ladder per load level ({_excluded_note(prep)})"))
    return ax
