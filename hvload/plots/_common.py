"""What every figure of :mod:`hvload.plots` shares.

The flattened campaign view (:class:`_Prepared`: one probe's kept samples, levels in
load order, the unit and the analysis configuration), the checks of the common
keywords, the palette, the axis helpers, and the parameter descriptions the figure
docstrings share (:func:`fill_doc`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.figure import SubFigure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from ..measure.hypervisors import USER_MODE_HYPERCALL
from ..stats import DEFAULT, AnalysisConfig
from ..stats.analysis import selection

_UNITS = ("cycles", "ns")


# --------------------------------------------------------------------------- shared docs

#: Descriptions of the parameters that several figures take with the same meaning,
#: written once in numpydoc form (unindented). A figure's docstring asks for one with
#: a line that holds only ``{name}``; :func:`fill_doc` puts the text there.
SHARED_DOCS = {
    "data": """\
data : campaign or pandas.DataFrame
    A campaign (``.samples``, ``.metadata``) or its sample table.""",
    "ax": """\
ax : matplotlib.axes.Axes, optional
    Where to draw; a new figure when ``None``.""",
    "unit": """\
unit : {"cycles", "ns"}, default "cycles"
    Latency unit; ``"ns"`` needs the TSC frequency.""",
    "levels": """\
levels : str or iterable of str, optional
    Levels to draw (all by default), drawn in design order.""",
    "config": """\
config : hvload.stats.AnalysisConfig, optional
    Which samples to leave out and which metric to draw, as for
    :func:`hvload.stats.analyze` (default: warm-up left out, service time).""",
    "tsc_hz": """\
tsc_hz : float, optional
    TSC frequency in Hz, overriding ``metadata["tsc_hz"]``.""",
}

# Only a placeholder alone on its line: docstrings also hold braces of their own
# ({"cycles", "ns"}), which must stay as written.
_PLACEHOLDER = re.compile(r"^([ \t]*)\{(\w+)\}[ \t]*$", re.MULTILINE)

_F = TypeVar("_F", bound=Callable[..., Any])


def fill_doc(func: _F) -> _F:
    """Put the :data:`SHARED_DOCS` text at each ``{name}`` line of ``func``'s docstring.

    The text takes the placeholder's indentation. An unknown name is an error at
    import, so a misspelt placeholder cannot reach the rendered docs.
    """
    doc = func.__doc__
    if doc is None:  # python -OO strips docstrings
        return func

    def fill(match: re.Match[str]) -> str:
        indent, name = match.groups()
        if name not in SHARED_DOCS:
            raise KeyError(f"{func.__qualname__}: no shared description of {name!r}")
        return "\n".join(indent + line if line else line for line in SHARED_DOCS[name].split("\n"))

    func.__doc__ = _PLACEHOLDER.sub(fill, doc)
    return func


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
        # _check_unit refused unit="ns" without a TSC frequency when this was built.
        return 1.0 if self.unit == "cycles" else 1e9 / float(cast(float, self.tsc_hz))

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


# seaborn's colour-blind safe categorical palette, its pale pink and yellow (hard to
# see on white) moved to the end so that designs of up to 8 levels do without them.
_CATEGORICAL = (0, 1, 2, 3, 4, 9, 5, 7, 6, 8)


def _palette(n: int) -> list[tuple[float, float, float]]:
    """One colour per level in design order; neighbours differ in hue, not only shade.

    A sequential map (viridis) makes neighbouring levels of a 5- or 6-level design
    nearly the same colour; beyond the 10 categorical colours the levels can only be
    told apart by order, so a sequential map (stopping short of its pale end) is used.
    """
    if n <= len(_CATEGORICAL):
        colours = sns.color_palette("colorblind", 10)
        return [tuple(colours[i]) for i in _CATEGORICAL[: max(n, 1)]]
    cmap = plt.get_cmap("viridis")
    return [tuple(cmap(x)[:3]) for x in np.linspace(0.0, 0.85, n)]


_TEXT = TextToPath()


def _wrap(text: str, width_pt: float, size_pt: float) -> str:
    """``text`` with each line broken at spaces so that it is at most ``width_pt`` wide."""

    def wide(s: str) -> float:
        return _TEXT.get_text_width_height_descent(s, FontProperties(size=size_pt), ismath=False)[0]

    def fill(line: str, sep: str) -> list[str]:
        lines: list[str] = []
        current = ""
        for part in line.split(sep):
            candidate = f"{current}{sep}{part}" if current else part
            if current and wide(candidate) > width_pt:
                lines.append(current + sep.rstrip())
                current = part
            else:
                current = candidate
        return [*lines, current]

    out: list[str] = []
    for line in text.split("\n"):
        # Break between the parts of a title (" · ") first, inside a part only if it
        # is itself too wide: "... KVM guest ·" / "Intel(R) Xeon(R) Processor (16 vCPUs)".
        for part in fill(line, " · "):
            out += fill(part, " ") if wide(part) > width_pt else [part]
    return "\n".join(out)


def _figure_pt(ax: Axes) -> tuple[float, float]:
    """Width and height in points of the figure ``ax`` is drawn in (inf without one)."""
    fig = ax.get_figure()
    # A subfigure's size is its root figure's (get_figure(root=True) needs matplotlib 3.10).
    while isinstance(fig, SubFigure):
        fig = fig.get_figure()
    if fig is None:
        return math.inf, math.inf
    width, height = fig.get_size_inches()
    return 72 * float(width), 72 * float(height)


def _set_title(ax: Axes, text: str, *, pad: float | None = None) -> None:
    """A title that fits the figure: wrapped to about 80 % of the figure's width.

    A title wider than its axes runs off the figure's left edge when a legend beside
    the axes narrows them and moves their centre left (constrained layout keeps the
    legend, not the title, inside). The axes' centre stays within 10 % of the figure's
    middle for the legends these figures put beside them, so 80 % fits.
    """
    size = FontProperties(size="medium").get_size_in_points()
    # Before layout the axes sit at the subplot parameters' place (width 0.775 of a
    # figure of one axes): axes in a grid get their share.
    width = _figure_pt(ax)[0] * min(0.8, 1.03 * ax.get_position().width)
    ax.set_title(_wrap(text, width, size), fontsize=size, pad=pad)


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


def _round2(value: float, *, up: bool = False) -> float:
    """``value`` to two significant digits (rounded up with ``up``)."""
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return (math.ceil(value / step) if up else round(value / step)) * step


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
    if decades >= 0.5:
        # The ticks the locator would place in the axis's current view, plus a tick at
        # the body and one near the lowest value where none is near: the bulk of a
        # latency distribution sits at its low end, often just above a decade tick
        # (1,100 ns over a 1,000 tick outside the data), where no label would be.
        vmin, vmax = sorted(axis.get_view_interval())
        ticks = [t for t in major.tick_values(vmin, vmax) if vmin <= t <= vmax]
        extra = []
        if body is not None and low <= body <= high:
            if not any(body / 1.25 <= t <= body * 1.25 for t in ticks):
                extra.append(_round2(body))
        floor = _round2(low)
        if floor < vmin:
            floor = _round2(low, up=True)
        gap = 0.08 * math.log10(vmax / vmin) if vmin > 0 else 0.0
        if vmin <= floor <= high and all(abs(math.log10(t / floor)) >= gap for t in ticks + extra):
            if not any(low <= t <= low * 1.3 for t in ticks + extra):
                extra.append(floor)
        if extra:
            major = ticker.FixedLocator(sorted([*ticks, *extra]))
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
