"""Figures of a campaign: distributions, percentiles, trend with load, drift and verdicts.

Every function takes a campaign (as :func:`hvload.load` returns it) or its sample
table, draws on ``ax`` (a new figure when ``None``) and returns the
:class:`matplotlib.axes.Axes`; the figure is ``ax.figure``. Common keywords:

``unit``
    ``"cycles"`` (TSC ticks, as measured) or ``"ns"`` (needs the TSC frequency, from
    ``metadata["tsc_hz"]`` or ``tsc_hz=``).
``levels``
    A subset of level names; they are always drawn in order of increasing load.
``config``
    An :class:`hvload.stats.AnalysisConfig`: the samples left out and the metric drawn
    are those :func:`hvload.stats.analyze` uses (warm-up out, service time by default).

No function hands raw samples to matplotlib or seaborn: each level is reduced to a
few thousand order statistics (or, for the timeline, a median and a maximum per time
bin) first, so a figure of a million samples takes well under a second.

Colours follow the load order of the whole design (dark = first level, light = last),
so a level keeps its colour when a subset is drawn.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from ..measure.hypervisors import USER_MODE_HYPERCALL
from ..model import absolute_start
from ..stats import DEFAULT, STATISTICS, Analysis, AnalysisConfig, analyze
from ..stats.analysis import selection
from ..stats.blocks import segment_quantiles, sort_by_cell

__all__ = [
    "FIGURES",
    "QUANTILE_POINTS",
    "attribution",
    "distribution",
    "ecdf",
    "load_curve",
    "percentile_ladder",
    "timeline",
    "verdict_map",
]

#: Evenly spaced quantiles that stand in for each level in violin and boxen plots.
QUANTILE_POINTS = 4096
#: Points of the ECDF and percentile-ladder curves per level.
_CURVE_POINTS = 2000
#: Below this many samples beyond a percentile, the ladder draws it dotted.
_SPARSE_TAIL = 10
_UNITS = ("cycles", "ns")
_KINDS = ("violin", "boxen")


# --------------------------------------------------------------------------- inputs


@dataclass
class _Prepared:
    """A campaign reduced to flat arrays, with the options every figure shares."""

    frame: pd.DataFrame
    metadata: dict[str, Any]
    blocks: pd.DataFrame | None
    tsc_hz: float | None
    unit: str
    names: tuple[str, ...]
    code: np.ndarray
    keep: np.ndarray
    selected: tuple[int, ...]
    cycles: np.ndarray
    config: AnalysisConfig = DEFAULT
    _sorted: dict[int, np.ndarray] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        """Factor from cycles to the figure's unit."""
        return 1.0 if self.unit == "cycles" else 1e9 / float(self.tsc_hz)  # type: ignore[arg-type]

    @property
    def latency_label(self) -> str:
        what = "response time" if self.config.metric == "response" else "latency"
        return f"{what} ({self.unit})"

    @property
    def selected_names(self) -> list[str]:
        return [self.names[i] for i in self.selected]

    def color(self, position: int) -> tuple[float, float, float]:
        return _palette(len(self.names))[position]

    def values(self, position: int) -> np.ndarray:
        """Sorted kept samples of level ``position``, in the figure's unit (float)."""
        if position not in self._sorted:
            raw = self.cycles[(self.code == position) & self.keep]
            self._sorted[position] = np.sort(raw).astype(np.float64) * self.scale
        return self._sorted[position]

    def title(self, what: str) -> str:
        return f"{_subject(self.metadata)}\n{what}"


def _palette(n: int) -> list[tuple[float, float, float]]:
    # Stop short of viridis' pale yellow end, which vanishes on a white background.
    cmap = plt.get_cmap("viridis")
    return [tuple(cmap(x)[:3]) for x in np.linspace(0.0, 0.85, max(n, 1))]


def _subject(metadata: dict[str, Any]) -> str:
    """First title line: what was measured, where."""
    design = metadata.get("design") or {}
    platform = metadata.get("platform") or {}
    probe = design.get("probe_label")
    parts = [f"{probe} latency" if probe else "latency per load level"]
    hypervisor = metadata.get("hypervisor") or platform.get("hypervisor")
    if hypervisor:
        parts.append(f"{hypervisor} guest")
        row = USER_MODE_HYPERCALL.get(hypervisor)
        # A reader must see that a user-mode hypercall here is the exit and the
        # hypervisor's refusal, not the hypercall's own work.
        if (design.get("probe") or {}).get("kind") == "hypercall" and row and row.outcome == "exit":
            parts[0] += f" (exit + {hypervisor}'s refusal, RAX = {row.rax})"
    cpu = platform.get("cpu_brand") or metadata.get("cpu")
    if cpu:
        count = platform.get("cpu_count")
        parts.append(f"{cpu} ({count} vCPUs)" if count else str(cpu))
    return " · ".join(parts)


def _split(data: Any) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame | None]:
    if isinstance(data, pd.DataFrame):
        return data, {}, None
    if hasattr(data, "samples"):
        frame = data.samples
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(
                f"campaign.samples must be a pandas DataFrame, got {type(frame).__name__}"
            )
        blocks = getattr(data, "blocks", None)
        return frame, dict(getattr(data, "metadata", None) or {}), blocks
    raise ValueError(
        "expected a campaign (with .samples and .metadata) or a samples DataFrame, "
        f"got {type(data).__name__}"
    )


def _resolve_tsc(tsc_hz: float | None, metadata: dict[str, Any]) -> float | None:
    value = tsc_hz if tsc_hz is not None else metadata.get("tsc_hz")
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"tsc_hz must be a positive number of Hz, got {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"tsc_hz must be a positive number of Hz, got {value!r}")
    return value


def _check_unit(unit: str, tsc_hz: float | None) -> None:
    if unit not in _UNITS:
        raise ValueError(f"unit={unit!r} is not allowed; choose 'cycles' or 'ns'")
    if unit == "ns" and tsc_hz is None:
        raise ValueError(
            "unit='ns' needs the TSC frequency, but the campaign metadata has no 'tsc_hz' "
            "and no tsc_hz= was given; pass tsc_hz=<Hz> or use unit='cycles'"
        )


def _select(names: Sequence[str], levels: str | Iterable[str] | None) -> tuple[int, ...]:
    if levels is None:
        return tuple(range(len(names)))
    wanted = [levels] if isinstance(levels, str) else [str(x) for x in levels]
    unknown = [x for x in wanted if x not in names]
    if unknown:
        raise ValueError(f"unknown level(s) {unknown}; this campaign's levels are {list(names)}")
    if not wanted:
        raise ValueError(f"levels is empty; choose some of {list(names)}")
    chosen = set(wanted)
    return tuple(i for i, name in enumerate(names) if name in chosen)


def _prepare(
    data: Any,
    *,
    tsc_hz: float | None,
    unit: str,
    levels: str | Iterable[str] | None,
    config: AnalysisConfig | None,
) -> _Prepared:
    config = config or DEFAULT
    frame, metadata, blocks = _split(data)
    tsc = _resolve_tsc(tsc_hz, metadata)
    _check_unit(unit, tsc)
    # The same samples, levels (in load order) and metric as hvload.stats analyses.
    sel = selection(data, config, tsc_hz=tsc)
    tidy = sel.tidy
    if "probe_index" in frame.columns and len(tidy.probes) > 1:
        # The same rows the analysis kept: one probe of a campaign with controls.
        frame = frame[frame["probe_index"].to_numpy() == tidy.probes.index(tidy.probe)]
    names = tidy.levels
    code = (tidy.cell % tidy.n_levels).astype(np.intp, copy=False)
    selected = _select(names, levels)
    if not sel.keep[np.isin(code, selected)].any():
        raise ValueError(
            f"no samples left to draw: every sample of these levels is excluded "
            f"({', '.join(config.exclude)})"
        )
    return _Prepared(
        frame=frame,
        metadata=metadata,
        blocks=blocks,
        tsc_hz=tsc,
        unit=unit,
        names=names,
        code=code,
        keep=sel.keep,
        selected=selected,
        cycles=tidy.cycles,
        config=config,
    )


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


def _new_axes(ax: Axes | None, size: tuple[float, float] = (8.0, 5.0)) -> Axes:
    if ax is not None:
        return ax
    _, new = plt.subplots(figsize=size, layout="constrained")
    return new


# --------------------------------------------------------------------------- axes helpers


def _number(value: float, _pos: Any = None) -> str:
    """Short tick label: ``9,500``, ``20k``, ``1.5M`` (long digit runs overlap on log axes)."""
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e4:
        return f"{value / 1e3:.3g}k"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _readable_log(axis: Any, low: float, high: float, body: float | None = None) -> None:
    """Log scale with plain numbers at a density that suits the span.

    ``body`` is where most samples lie (e.g. the median): when no labelled tick falls
    within a factor 1.25 of it, a tick at its value rounded to two digits is added, so
    that the reader can read off the bulk of the distribution and not only its tail.
    """
    if not (low > 0 and high > low):
        return
    decades = math.log10(high / low)
    if decades < 0.5:
        # Too narrow for decade ticks: a log axis would show no label at all.
        major: ticker.Locator = ticker.MaxNLocator(nbins=6)
    elif decades < 1.5:
        major = ticker.LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0))
    elif decades < 4:
        major = ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0))
    else:
        major = ticker.LogLocator(base=10, subs=(1.0,))
    if decades >= 0.5 and body is not None and low <= body <= high:
        # The ticks the locator would place in the axis's current view, plus the body's.
        vmin, vmax = sorted(axis.get_view_interval())
        ticks = [t for t in major.tick_values(vmin, vmax) if vmin <= t <= vmax]
        if not any(body / 1.25 <= t <= body * 1.25 for t in ticks):
            digits = 1 - math.floor(math.log10(body))
            major = ticker.FixedLocator(sorted([*ticks, round(body, digits)]))
    axis.set_major_locator(major)
    axis.set_major_formatter(ticker.FuncFormatter(_number))
    axis.set_minor_locator(ticker.LogLocator(base=10, subs="auto"))
    axis.set_minor_formatter(ticker.NullFormatter())


def _legend_label(prep: _Prepared, position: int) -> str:
    return f"{prep.names[position]} (n={prep.values(position).size:,})"


def _excluded_note(prep: _Prepared) -> str:
    names = {"warmup": "warm-up", "migrated": "migrated", "outlier": "outliers"}
    if prep.config.exclude and not prep.keep.all():
        return ", ".join(names[x] for x in prep.config.exclude) + " excluded"
    return "all samples"


# --------------------------------------------------------------------------- figures


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
    data : campaign or pandas.DataFrame
        A campaign (``.samples``, ``.metadata``) or its sample table.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.
    unit : {"cycles", "ns"}, default "cycles"
        Latency unit; ``"ns"`` needs the TSC frequency.
    levels : str or iterable of str, optional
        Levels to draw (all by default), drawn in design order.
    config : hvload.stats.AnalysisConfig, optional
        Which samples to leave out and which metric to draw, as for
        :func:`hvload.stats.analyze` (default: warm-up left out, service time).
    tsc_hz : float, optional
        TSC frequency in Hz, overriding ``metadata["tsc_hz"]``.

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
    ax.set_title(
        prep.title(f"ECDF per load level ({_excluded_note(prep)})"),
        fontsize="medium",
    )
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
    data : campaign or pandas.DataFrame
        A campaign (``.samples``, ``.metadata``) or its sample table.
    kind : {"violin", "boxen"}, default "violin"
        ``"violin"``: density of each level (KDE in log latency) with its quartiles
        marked. ``"boxen"``: letter-value boxes, each box halving the tail share of
        the one inside it (50 %, 25 %, 12.5 %, ... of the samples lie outside).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.
    unit : {"cycles", "ns"}, default "cycles"
        Latency unit; ``"ns"`` needs the TSC frequency.
    levels : str or iterable of str, optional
        Levels to draw (all by default), drawn in design order.
    config : hvload.stats.AnalysisConfig, optional
        Which samples to leave out and which metric to draw, as for
        :func:`hvload.stats.analyze` (default: warm-up left out, service time).
    tsc_hz : float, optional
        TSC frequency in Hz, overriding ``metadata["tsc_hz"]``.

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
    ax.set_xticklabels([f"{name}\nn={n:,}" for name, n in zip(names, counts, strict=True)])
    ax.set_xlabel("load level (n = samples in the level)")
    ax.set_ylabel(f"{prep.latency_label}, log scale")
    ax.grid(True, axis="y", which="major", alpha=0.3)
    shape = (
        "violin per load level (density; dashed: quartiles)"
        if kind == "violin"
        else "boxen per load level (each box halves the tail share)"
    )
    ax.set_title(
        prep.title(
            f"{shape}, {_excluded_note(prep)}\n"
            f"each level drawn from {QUANTILE_POINTS:,} of its evenly spaced quantiles"
            + (" (all its samples if fewer)" if min(counts) <= QUANTILE_POINTS else "")
        ),
        fontsize="medium",
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
    data : campaign or pandas.DataFrame
        A campaign (``.samples``, ``.metadata``) or its sample table.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.
    unit : {"cycles", "ns"}, default "cycles"
        Latency unit; ``"ns"`` needs the TSC frequency.
    levels : str or iterable of str, optional
        Levels to draw (all by default), drawn in design order.
    config : hvload.stats.AnalysisConfig, optional
        Which samples to leave out and which metric to draw, as for
        :func:`hvload.stats.analyze` (default: warm-up left out, service time).
    tsc_hz : float, optional
        TSC frequency in Hz, overriding ``metadata["tsc_hz"]``.

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
    ax.set_title(
        prep.title(f"percentile ladder per load level ({_excluded_note(prep)})"),
        fontsize="medium",
    )
    return ax


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
        blocks) with their intervals; the others (``"mean"``, ``"p90"``,
        ``"p99.9"``, ...) are pooled figures of :attr:`hvload.stats.Analysis.levels`,
        drawn as points only.
    analysis : hvload.stats.Analysis, optional
        A finished analysis of ``data`` to reuse; otherwise
        :func:`hvload.stats.analyze` runs with ``config``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.
    unit : {"cycles", "ns"}, default "cycles"
        Latency unit; ``"ns"`` needs the TSC frequency.
    levels : str or iterable of str, optional
        Levels to draw (all by default), drawn in design order.
    config : hvload.stats.AnalysisConfig, optional
        Which samples to leave out and which metric to draw, as for
        :func:`hvload.stats.analyze` (default: warm-up left out, service time).
    tsc_hz : float, optional
        TSC frequency in Hz, overriding ``metadata["tsc_hz"]``.

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
    bad = [s for s in stats if s not in STATISTICS]
    if bad or not stats:
        raise ValueError(f"stats={stats!r} is not allowed; choose from {list(STATISTICS)}")
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
        y = table[f"{column}{suffix}"].to_numpy(dtype=float)
        color = sns.color_palette("colorblind")[k % 10]
        label = f"{stat} (pooled samples)"
        yerr = None
        if typical:
            lo = table[f"{column}_ci_low{suffix}"].to_numpy(dtype=float)
            hi = table[f"{column}_ci_high{suffix}"].to_numpy(dtype=float)
            yerr = np.vstack((y - lo, hi - y))
            label = f"{stat} of the typical block, {confidence:.0%} CI"
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
    ax.set_title(
        prep.title(f"{' and '.join(stats)} per load level; labels: change vs {names[0]}"),
        fontsize="medium",
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
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.
    unit : {"cycles", "ns"}, default "cycles"
        Latency unit; ``"ns"`` needs the TSC frequency.
    levels : str or iterable of str, optional
        Levels to draw (all by default).
    config : hvload.stats.AnalysisConfig, optional
        Which samples to leave out and which metric to draw, as for
        :func:`hvload.stats.analyze` (default: warm-up left out, service time).
    tsc_hz : float, optional
        TSC frequency in Hz, overriding ``metadata["tsc_hz"]``.

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
            x = bvalues.to_numpy()[:, None] + mid[None, :]

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
    ax.set_title(
        prep.title(
            f"latency over time: {n_blocks} blocks, {nb} time bins each "
            f"({_excluded_note(prep)}); dotted lines: round starts"
        ),
        fontsize="medium",
    )
    return ax


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
    on : {"median", "p99"}, default "median"
        Which block statistic's comparisons to show.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.
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
    if on not in ("median", "p99"):
        raise ValueError(f"on={on!r} is not allowed; choose 'median' or 'p99'")
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
    comp = comp[(comp["on"] == on) & comp["reference"].isin(chosen) & comp["level"].isin(chosen)]
    refs = [n for n in chosen if n in set(comp["reference"])]
    cols = [n for n in chosen if n in set(comp["level"])]
    ax = _new_axes(ax, (1.9 * max(len(cols), 2) + 2.5, 1.2 * max(len(refs), 2) + 2.2))
    if comp.empty:
        ax.text(0.5, 0.5, "no comparisons among these levels", ha="center", va="center")
        ax.set_axis_off()
        return ax

    change = pd.DataFrame(np.nan, index=refs, columns=cols)
    text = pd.DataFrame("", index=refs, columns=cols)
    scale = 1.0 if unit == "cycles" else 1e9 / float(tsc)  # type: ignore[arg-type]
    threshold = float(analysis.settings.get("threshold", DEFAULT.threshold))
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
            annot_kws={"fontsize": "small"},
            cbar_kws={"label": f"change of the block {on}, % of the reference's {on}"},
        )  # fmt: skip
    ax.set_xlabel("compared level (grey: pair not compared)")
    ax.set_ylabel("reference level")
    ax.tick_params(axis="y", rotation=0)
    settings = analysis.settings
    correction = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}.get(
        str(settings.get("correction")), str(settings.get("correction"))
    )
    subject = _subject(metadata) if metadata else f"{on} latency per load level"
    ax.set_title(
        f"{subject}\nverdicts on the block {on}: signed-rank over rounds, {correction} correction, "
        f"α = {settings.get('alpha', 0.05):g}, practical threshold "
        f"{settings.get('threshold', threshold) * 100:g} %",
        fontsize="medium",
    )
    return ax


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
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.
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
        ax.set_title(f"{subject}\nwhose change is it? (needs control probes)", fontsize="medium")
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
    for i, level in enumerate(chosen):
        rows = table[table["level"] == level]
        text = "\n".join(
            f"vs {str(c).split('/')[0]}: {v}"
            for c, v in zip(rows["control"], rows["verdict"], strict=True)
        )
        ax.annotate(text, (i, 1.0), xycoords=("data", "axes fraction"), ha="center",
                    va="bottom", fontsize="x-small")  # fmt: skip
    ax.axhline(0, color="0.3", lw=0.8)
    threshold = 100 * float(analysis.settings.get("threshold", DEFAULT.threshold))
    ax.axhspan(-threshold, threshold, color="0.9", zorder=0)
    ax.set_xticks(range(len(chosen)))
    ax.set_xticklabels(chosen)
    ax.set_xlabel(f"load level (change against {att.baseline}; grey band: practical threshold)")
    ax.set_ylabel("change of the typical block median (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    ax.set_title(f"{subject}\nwhose change is it? main probe and controls per level",
                 fontsize="medium", pad=36)  # fmt: skip
    return ax


#: Every figure by name, as the widgets and the reproduction script list them.
FIGURES: dict[str, Callable[..., Axes]] = {
    "ecdf": ecdf,
    "violin": functools.partial(distribution, kind="violin"),
    "boxen": functools.partial(distribution, kind="boxen"),
    "ladder": percentile_ladder,
    "load_curve": load_curve,
    "timeline": timeline,
    "verdicts": verdict_map,
    "attribution": attribution,
}
