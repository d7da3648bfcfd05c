"""Figures of latency against the load and against time.

:func:`load_curve` (typical block median and p99 per level, with intervals) and
:func:`timeline` (median and largest sample per time bin, block by block, with the
blocks' noise marked).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from ..model import absolute_start
from ..stats import STATISTICS, Analysis, AnalysisConfig, analyze
from ..stats.blocks import segment_quantiles, sort_by_cell
from ._common import (
    _check_unit,
    _excluded_note,
    _new_axes,
    _number,
    _prepare,
    _Prepared,
    _readable_log,
    _set_title,
    fill_doc,
)

__all__ = ["load_curve", "timeline"]


def _level_values(prep: _Prepared) -> dict[int, float]:
    """``level_value`` of each design position, from the blocks table or the design."""
    out: dict[int, float] = {}
    blocks = prep.blocks
    design_levels = (prep.metadata.get("design") or {}).get("levels") or []
    by_name: dict[str, float] = {}
    if isinstance(blocks, pd.DataFrame) and {"level", "level_value"} <= set(blocks.columns):
        for name, value in zip(blocks["level"], blocks["level_value"], strict=True):
            by_name.setdefault(str(name), float(value))
    for lv in design_levels:
        if isinstance(lv, dict) and "name" in lv and "value" in lv:
            by_name.setdefault(str(lv["name"]), float(lv["value"]))
    for pos, name in enumerate(prep.names):
        if name in by_name:
            out[pos] = by_name[name]
    return out


@fill_doc
def load_curve(
    data: Any,
    *,
    stats: Sequence[str] = ("median", "p99"),
    analysis: Analysis | None = None,
    ax: Axes | None = None,
    unit: str = "cycles",
    levels: str | Iterable[str] | None = None,
    config: AnalysisConfig | None = None,
    tsc_hz: float | None = None,
) -> Axes:
    """Typical block median and p99 (with their CIs) of every load level against the load.

    Parameters
    ----------
    data : campaign or pandas.DataFrame
        A campaign (``.samples``, ``.metadata``, ``.blocks``) or its sample table.
    stats : sequence of str, default ("median", "p99")
        What to draw: ``"median"`` and ``"p99"`` are the typical block's (median over
        blocks) with their intervals; ``"level_p99"`` is the level p99 (all the level's
        samples pooled: the level's p99 latency) with its interval over rounds
        (:mod:`hvload.stats.tails`), ``"level_p999"`` the level p99.9 likewise (missing
        where the blocks hold too few samples beyond it); the others (``"mean"``, ``"p90"``,
        ``"p99.9"``, ...) are pooled figures of :attr:`hvload.stats.Analysis.levels`,
        drawn as points only.
    analysis : hvload.stats.Analysis, optional
        A finished analysis of ``data`` to reuse; otherwise
        :func:`hvload.stats.analyze` runs with ``config``.
    {ax}
    {unit}
    {levels}
    {config}
    {tsc_hz}

    Returns
    -------
    matplotlib.axes.Axes
        One error-bar line per statistic; x tick labels are the level names.

    Notes
    -----
    How to read it: each point is the level's typical block statistic (the median over
    its blocks of each block's median or p99), and the bar its interval from the order
    statistics of the blocks (blocks, not samples, are the independent units). The
    label beside each point is its change relative to the first level drawn.
    Overlapping bars do not prove "no change": the paired tests in
    :func:`verdict_map` are the stronger judgement.

    The levels are spaced by their numeric ``level_value`` (e.g. load fraction) when
    those increase with the design order and are spread evenly enough for the tick
    labels not to collide; otherwise (A/A repeats, CPU counts 0, 1, 2, 4, 8, 15) they
    are spaced evenly in design order.
    """
    prep = _prepare(data, tsc_hz=tsc_hz, unit=unit, levels=levels, config=config)
    stats = [stats] if isinstance(stats, str) else list(stats)
    allowed = [*STATISTICS, "level_p99", "level_p999"]
    bad = [s for s in stats if s not in allowed]
    if bad or not stats:
        raise ValueError(f"stats={stats!r} is not allowed; choose from {allowed}")
    if analysis is None:
        analysis = analyze(data, prep.config, tsc_hz=prep.tsc_hz)
    elif unit == "ns" and analysis.design.get("tsc_hz") is None:
        _check_unit(unit, None)
    table = analysis.levels.set_index("level")
    names = prep.selected_names
    missing = [n for n in names if n not in table.index]
    if missing:
        raise ValueError(f"analysis has no level(s) {missing}; it covers {list(table.index)}")
    table = table.loc[names]
    suffix = "_ns" if unit == "ns" else ""

    values = _level_values(prep)
    chosen = [values.get(p, math.nan) for p in prep.selected]
    gaps = np.diff(chosen)
    # Uneven values (CPU counts 0, 1, 2, 4, 8, 15) would pile tick labels on top of
    # each other at the crowded end; such levels are spaced evenly instead.
    spaced = (
        len(chosen) > 1
        and all(map(math.isfinite, chosen))
        and bool(np.all(gaps > 0))
        and gaps.min() >= (chosen[-1] - chosen[0]) / (2 * len(chosen))
    )
    x = np.asarray(chosen) if spaced else np.arange(len(names), dtype=float)

    ax = _new_axes(ax)
    markers = ["o", "s", "D", "^", "v", "P"]
    confidence = analysis.settings.get("confidence", 0.95)
    low, high = math.inf, 0.0
    for k, stat in enumerate(stats):
        typical = stat in ("median", "p99")
        column = f"block_{stat}" if typical else stat
        with_ci = typical or stat in ("level_p99", "level_p999")
        y = table[f"{column}{suffix}"].to_numpy(dtype=float)
        color = sns.color_palette("colorblind")[k % 10]
        label = f"{stat} (pooled samples)"
        yerr = None
        if with_ci:
            lo = table[f"{column}_ci_low{suffix}"].to_numpy(dtype=float)
            hi = table[f"{column}_ci_high{suffix}"].to_numpy(dtype=float)
            # The legend names an interval only where one is drawn: live data or too few
            # rounds leave every bound NaN, and "95% CI" beside bare points misleads.
            bars = bool(np.isfinite(lo).any() and np.isfinite(hi).any())
            yerr = np.vstack((y - lo, hi - y)) if bars else None
            level = f"level {stat[6:].replace('p999', 'p99.9')} (all samples pooled)"
            what = f"{stat} of the typical block" if typical else level
            label = (
                what
                + (f", {confidence:.0%} CI" if typical else f", {confidence:.0%} CI over rounds")
                if bars
                else f"{what} (no interval: too few rounds or tail samples)"
            )
            if bars:
                low, high = np.nanmin([low, *lo]), np.nanmax([high, *hi])
        low, high = np.nanmin([low, *y]), np.nanmax([high, *y])
        ax.errorbar(
            x, y, yerr=yerr, color=color, marker=markers[k % len(markers)], ms=6, lw=1.4,
            capsize=4, label=label,
        )  # fmt: skip
        for xi, yi in zip(x[1:], y[1:], strict=True):
            if math.isfinite(yi) and y[0] > 0:
                ax.annotate(
                    f"{(yi / y[0] - 1) * 100:+.1f} %", (xi, yi), xytext=(8, 8),
                    textcoords="offset points", va="bottom", fontsize="small", color=color,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8},
                )  # fmt: skip
    if high / max(low, 1e-300) > 3:
        ax.set_yscale("log")
        _readable_log(ax.yaxis, low, high)
        ylabel = f"{prep.latency_label}, log scale"
    else:
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(_number))
        ylabel = prep.latency_label
    ax.set_xticks(x)
    ax.set_xticklabels(names)
    span = x[-1] - x[0] if len(x) > 1 else 1.0
    ax.set_xlim(x[0] - 0.08 * span, x[-1] + 0.15 * span)
    design = prep.metadata.get("design") or {}
    # An A/A design records a load trap but runs no worker at any level.
    loaded = any(lv.get("workers") for lv in design.get("levels") or () if isinstance(lv, dict))
    trap = design.get("load_trap") if loaded else None
    if spaced and design.get("saturation_rate"):
        xlabel = "load level (fraction of the saturation rate" + (f" of {trap})" if trap else ")")
    elif spaced:
        xlabel = "load level (spaced by its value)" + (f"; load: {trap}" if trap else "")
    else:
        xlabel = "load level" + (f" (load: {trap})" if trap else "")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(stats), fontsize="small")
    _set_title(
        ax,
        prep.title(
            f"{' and '.join(s.replace('_', ' ').replace('p999', 'p99.9') for s in stats)} "
            f"per load level; labels: change vs {names[0]}"
        ),
    )
    return ax


def _block_numbers(blocks: Any) -> np.ndarray | None:
    if blocks is None:
        return None
    if isinstance(blocks, pd.DataFrame):
        if "block" not in blocks.columns:
            raise ValueError("blocks= as a DataFrame needs a 'block' column")
        return blocks["block"].to_numpy(dtype=np.int64)
    if isinstance(blocks, (int, np.integer)):
        return np.array([int(blocks)], dtype=np.int64)
    return np.asarray(list(blocks), dtype=np.int64)


def _noisy_blocks(blocks: Any, ids: np.ndarray) -> dict[str, tuple[np.ndarray, str, str]]:
    """Blocks (in ``ids`` order) with steal time, or with a burst of interrupts."""
    if not isinstance(blocks, pd.DataFrame) or "block" not in blocks.columns:
        return {}
    table = blocks.set_index("block").reindex(ids)
    out: dict[str, tuple[np.ndarray, str, str]] = {}
    if "steal_ms" in table.columns:
        steal = pd.to_numeric(table["steal_ms"], errors="coerce").to_numpy(dtype=float)
        out["block with steal time"] = (np.nan_to_num(steal) > 0, "#b00020", "v")
    if "irqs" in table.columns:
        irqs = pd.to_numeric(table["irqs"], errors="coerce").to_numpy(dtype=float)
        finite = irqs[np.isfinite(irqs)]
        if finite.size >= 3:
            med = np.median(finite)
            spread = max(1.4826 * np.median(np.abs(finite - med)), 1.0)
            out["interrupt burst (> 5 MADs)"] = (
                np.nan_to_num(irqs, nan=-np.inf) > med + 5 * spread, "#e66100", "^"
            )  # fmt: skip
    return out


def _absolute_start(frame: pd.DataFrame, blocks: pd.DataFrame | None) -> np.ndarray | None:
    """TSC at each sample, or None where the table cannot tell.

    A loaded campaign counts ``start`` from each block's first sample and keeps the
    block's origin in ``blocks["start_tsc"]``; a bare lean sample table has no origins,
    so its blocks cannot be placed in time.
    """
    if "start" not in frame.columns:
        return None
    if blocks is not None and "start_tsc" in blocks.columns:
        return absolute_start(frame, blocks)
    start = frame["start"].to_numpy(dtype=np.int64)
    if "block" in frame.columns and len(frame):
        first = pd.Series(start).groupby(frame["block"].to_numpy()).min()
        if len(first) > 1 and (first == 0).all():
            return None  # offsets within blocks, without their origins
    return start


@fill_doc
def timeline(
    data: Any,
    *,
    blocks: Iterable[int] | pd.DataFrame | None = None,
    bins_per_block: int | None = None,
    ax: Axes | None = None,
    unit: str = "cycles",
    levels: str | Iterable[str] | None = None,
    config: AnalysisConfig | None = None,
    tsc_hz: float | None = None,
) -> Axes:
    """Latency over the campaign's time, block by block, coloured by load level.

    Parameters
    ----------
    data : campaign or pandas.DataFrame
        A campaign (``.samples``, ``.metadata``) or its sample table; needs a ``block``
        column, and ``start`` (TSC at each sample) for a time axis.
    blocks : iterable of int or pandas.DataFrame, optional
        Block numbers to draw (or a block table, e.g. a filtered ``campaign.blocks``);
        all by default.
    bins_per_block : int, optional
        Time bins per block; by default about 2,000 bins over the blocks drawn (at most
        200 per block, at least about 50 samples per bin).
    {ax}
    {unit}
    levels : str or iterable of str, optional
        Levels to draw (all by default).
    {config}
    {tsc_hz}

    Returns
    -------
    matplotlib.axes.Axes
        Per level a labelled line (median per bin) and an unlabelled line of markers
        (largest sample per bin).

    Notes
    -----
    How to read it: x is time since the first sample (seconds, from the TSC); without
    a TSC frequency it is the block's place in measurement order. Each block appears
    as a short line (its median per time bin) with dots above it (the slowest sample
    per bin). A level whose blocks rise or fall over the campaign shows drift; dots
    far above the lines are spikes, and spikes that hit blocks of every level at the
    same time point at the host rather than at the load. Dotted verticals mark where
    each round starts. Where the campaign recorded the noise of its blocks, markers
    above the plot flag blocks with steal time (the host ran something else on this
    vCPU's physical CPU) and blocks with a burst of interrupts on the probe CPU.
    """
    prep = _prepare(data, tsc_hz=tsc_hz, unit=unit, levels=levels, config=config)
    frame = prep.frame
    if "block" not in frame.columns:
        raise ValueError("timeline needs a 'block' column in the sample table")
    block = frame["block"].to_numpy(dtype=np.int64)
    rows = prep.keep & np.isin(prep.code, prep.selected)
    wanted = _block_numbers(blocks)
    if wanted is not None:
        unknown = np.setdiff1d(wanted, np.unique(block))
        if unknown.size:
            raise ValueError(f"unknown block(s) {unknown.tolist()[:10]}")
        rows &= np.isin(block, wanted)
    if not rows.any():
        raise ValueError("no samples left to draw for these levels and blocks")

    start_all = _absolute_start(frame, prep.blocks)
    t0 = int(start_all.min()) if start_all is not None else 0
    sel = np.flatnonzero(rows)
    bcode, bvalues = pd.factorize(block[sel], sort=True)
    n_blocks = len(bvalues)
    if start_all is not None:
        clock = start_all[sel]
    elif "sample" in frame.columns:
        clock = frame["sample"].to_numpy(dtype=np.int64)[sel]
    else:
        clock = np.arange(sel.size, dtype=np.int64)
    per = pd.DataFrame({"b": bcode, "t": clock}).groupby("b")["t"].agg(["min", "max", "size"])
    bmin = per["min"].to_numpy(dtype=np.int64)
    width = per["max"].to_numpy(dtype=np.int64) - bmin + 1
    if bins_per_block is None:
        typical = float(np.median(per["size"]))
        bins_per_block = int(max(1, min(200, 2000 // n_blocks, typical // 50)))
    elif bins_per_block < 1:
        raise ValueError(f"bins_per_block={bins_per_block!r} must be >= 1")
    nb = int(bins_per_block)
    frac = (clock - bmin[bcode]) / width[bcode]
    bin_ = np.minimum((frac * nb).astype(np.intp), nb - 1)
    cell = bcode.astype(np.intp) * nb + bin_
    seg = sort_by_cell(prep.cycles[sel], cell, n_blocks * nb)
    sizes = seg.sizes
    median = segment_quantiles(seg, 0.5) * prep.scale
    top = np.full(sizes.size, np.nan)
    full = sizes > 0
    top[full] = seg.values[seg.offsets[1:][full] - 1] * prep.scale

    mid = (np.arange(nb) + 0.5) / nb
    if start_all is not None and prep.tsc_hz is not None:
        x = ((bmin - t0)[:, None] + mid[None, :] * width[:, None]) / prep.tsc_hz
        xlabel = "time since the campaign's first sample (s)"
    else:
        x = np.arange(n_blocks)[:, None] + mid[None, :]
        xlabel = "block, in measurement order (no TSC frequency: no time axis)"
        if wanted is None:
            x = np.asarray(bvalues)[:, None] + mid[None, :]

    # Which level each block belongs to: any row of the block tells.
    first_row = np.empty(n_blocks, dtype=np.intp)
    first_row[bcode[::-1]] = np.arange(sel.size)[::-1]
    block_level = prep.code[sel][first_row]

    ax = _new_axes(ax, (11.0, 5.0))
    gap = np.full((1,), np.nan)
    for pos in prep.selected:
        mine = np.flatnonzero(block_level == pos)
        if mine.size == 0:
            continue
        color = prep.color(pos)
        med = np.concatenate([np.concatenate((median[b * nb : (b + 1) * nb], gap)) for b in mine])
        xs = np.concatenate([np.concatenate((x[b], gap)) for b in mine])
        mx = np.concatenate([np.concatenate((top[b * nb : (b + 1) * nb], gap)) for b in mine])
        ax.plot(xs, med, color=color, lw=1.4, label=prep.names[pos])
        ax.plot(xs, mx, color=color, ls="none", marker=".", ms=2.5, alpha=0.45)
    if "round" in frame.columns:
        rounds = frame["round"].to_numpy(dtype=np.int64)[sel][first_row]
        starts = np.flatnonzero(np.diff(rounds, prepend=rounds[0] - 1) != 0)
        for b in starts[1:]:
            ax.axvline(x[b, 0] - 0.5 * (x[b, 0] - x[b - 1, -1]), color="grey", lw=0.6, ls=":")
    ax.set_yscale("log")
    _readable_log(ax.yaxis, float(np.nanmin(median)), float(np.nanmax(top)))
    marks = _noisy_blocks(prep.blocks, np.asarray(bvalues))
    for name, (hit, colour, symbol) in marks.items():
        if hit.any():
            y = np.nanmax(top) * 1.15
            ax.plot(x[hit].mean(axis=1), np.full(int(hit.sum()), y), ls="none", marker=symbol,
                    color=colour, ms=6, label=name)  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"{prep.latency_label}, log scale")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    handles += [
        Line2D([], [], color="grey", lw=1.4),
        Line2D([], [], color="grey", ls="none", marker=".", ms=5),
    ]
    labels += ["median per bin", "largest sample per bin"]
    ax.legend(
        handles, labels, title="load level", loc="upper left", bbox_to_anchor=(1.01, 1.0),
        fontsize="small",
    )  # fmt: skip
    _set_title(
        ax,
        prep.title(
            f"latency over time: {n_blocks} blocks, {nb} time bins each "
            f"({_excluded_note(prep)}); dotted lines: round starts"
        ),
    )
    return ax
