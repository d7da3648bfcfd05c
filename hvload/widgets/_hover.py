"""Values on hover for the dashboard's figures, without a script.

A figure is still the PNG :mod:`hvload.plots` draws; over it lies a transparent SVG of
the same size (its ``viewBox`` in the PNG's pixels, so it scales with the image in a
narrow window) holding one small circle per plotted point, each with a ``<title>``: the
browser shows that title as a tooltip when the pointer rests on the point. The points
are the data of the figure's labelled lines (ECDF, percentile ladder, timeline, the
Compare tab's ECDF overlay) and of its error bars with their interval (load curve,
attribution, the Compare tab's levels), at most
:data:`MAX_POINTS` per line, evenly spread; figures of areas (violin, boxen, verdict map)
get none. The page's Content-Security-Policy allows this (no script, an inline image).
"""

from __future__ import annotations

import base64
import html
import math
from typing import Any

import numpy as np

__all__ = ["MAX_POINTS", "hover_html", "hover_points"]

#: At most this many hover points per line (an ECDF line has over a thousand).
MAX_POINTS = 40
#: Radius of a hover point, in the PNG's pixels.
_RADIUS = 5


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def _x_text(ax: Any, x: float, nines: bool, nearest: bool = False) -> str:
    """The x value as the axis names it: a tick's label where one sits at ``x`` (the
    levels of a load curve; ``nearest``: the closest tick, for bars set beside theirs),
    a percentile on a nines axis, else the number."""
    ticks = np.asarray(ax.get_xticks(), dtype=float)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    if nearest and ticks.size:
        near = np.array([int(np.argmin(np.abs(ticks - x)))])
    else:
        near = np.flatnonzero(np.isclose(ticks, x, rtol=1e-9, atol=1e-9))
    if near.size and near[0] < len(labels) and labels[near[0]]:
        return labels[near[0]]
    if nines:
        return f"{100 * (1 - 10.0**-x):.5g} %"
    return _number(x)


def _short(label: str, fallback: str) -> str:
    """An axis label without its reading notes: "latency (ns), log scale; axis from ..."
    -> "latency (ns)"; "load level (change against 0 CPUs; grey band: ...)" -> "load
    level" (what is said in parentheses or after a ";" is for the whole axis)."""
    depth, end = 0, len(label)
    for i, c in enumerate(label):
        depth += (c == "(") - (c == ")")
        if c == ";" and depth == 0:
            end = i
            break
    text = label[:end].replace(", log scale", "").strip()
    if text.endswith(")") and ";" in text:  # a parenthetical holding notes: drop it
        text = text[: text.rfind("(")].strip()
    return text or fallback


def _xlabel(fig: Any, ax: Any) -> str:
    """The x label of ``ax``, or of the axes below or above it in the same column: a
    panel over another often leaves the shared label to the bottom one."""
    if ax.get_xlabel():
        return str(ax.get_xlabel())
    box = ax.get_position()
    for other in fig.axes:
        where = other.get_position()
        if other.get_xlabel() and np.isclose([where.x0, where.x1], [box.x0, box.x1]).all():
            return str(other.get_xlabel())
    return ""


def _bars(container: Any) -> dict[float, tuple[float, float]]:
    """An error-bar container's intervals, keyed by x."""
    bars: dict[float, tuple[float, float]] = {}
    for collection in container.lines[2]:
        for segment in collection.get_segments():
            if len(segment) == 2 and segment[0][0] == segment[1][0]:
                low, high = sorted((float(segment[0][1]), float(segment[1][1])))
                bars[float(segment[0][0])] = (low, high)
    return bars


def hover_points(fig: Any) -> list[tuple[float, float, str]]:
    """``(x, y, text)`` per hover point of ``fig`` (already drawn), in pixels of its
    canvas from the top left, as the PNG saved at the figure's dpi has them."""
    from matplotlib.container import BarContainer, ErrorbarContainer
    from matplotlib.ticker import FixedLocator

    height = fig.bbox.height
    out: list[tuple[float, float, str]] = []
    for ax in fig.axes:
        xlabel = _xlabel(fig, ax)
        xname = _short(xlabel, "x")
        yname = _short(ax.get_ylabel(), "y")
        nines = "nines" in xlabel
        if nines:
            xname = "percentile"
        # Error bars over ticks set one by one (levels, named by their labels): a point
        # set a little beside its tick, as the groups of a comparison are, is named by
        # the nearest.
        named = not nines and isinstance(ax.xaxis.get_major_locator(), FixedLocator)
        series: list[tuple[str, Any, dict[float, tuple[float, float]], bool]] = []
        containers = list(ax.containers)
        for k, container in enumerate(containers):
            if isinstance(container, ErrorbarContainer) and container.lines[0] is not None:
                series.append(
                    (str(container.get_label()), container.lines[0], _bars(container), named)
                )
            elif isinstance(container, BarContainer):
                # A bar's value at its top, with the interval of the error bars drawn on it.
                after = containers[k + 1] if k + 1 < len(containers) else None
                bars = _bars(after) if isinstance(after, ErrorbarContainer) else {}
                for patch in container.patches:
                    cx = float(patch.get_x() + patch.get_width() / 2)
                    top = float(patch.get_y() + patch.get_height())
                    px, py = ax.transData.transform((cx, top))
                    if not ax.bbox.contains(px, py):
                        continue
                    text = f"{container.get_label()}\n{xname}: {_x_text(ax, cx, nines, True)}"
                    text += f"\n{yname}: {_number(top)}"
                    match = [v for key, v in bars.items() if math.isclose(key, cx, abs_tol=1e-9)]
                    if match:
                        text += f" [{_number(match[0][0])}, {_number(match[0][1])}]"
                    out.append((float(px), float(height - py), text))
        for line in ax.get_lines():
            label = str(line.get_label())
            if not label.startswith("_") and line.get_visible():
                series.append((label, line, {}, False))
        for label, line, bars, nearest in series:
            x = np.asarray(line.get_xdata(), dtype=float)
            y = np.asarray(line.get_ydata(), dtype=float)
            index = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
            if index.size > MAX_POINTS:
                index = index[np.linspace(0, index.size - 1, MAX_POINTS).round().astype(int)]
            if not index.size:
                continue
            pixels = ax.transData.transform(np.column_stack([x[index], y[index]]))
            for (px, py), i in zip(pixels, index, strict=True):
                if not ax.bbox.contains(px, py):
                    continue  # outside the axes (clipped in the figure)
                text = f"{label}\n{xname}: {_x_text(ax, float(x[i]), nines, nearest)}\n"
                text += f"{yname}: {_number(float(y[i]))}"
                if float(x[i]) in bars:
                    low, high = bars[float(x[i])]
                    text += f" [{_number(low)}, {_number(high)}]"
                out.append((float(px), float(height - py), text))
    return out


def hover_html(png: bytes, fig: Any, alt: str) -> str:
    """The PNG of ``fig`` (saved at its dpi after it was drawn) with its hover points."""
    width, height = fig.bbox.width, fig.bbox.height
    circles = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{_RADIUS}" fill="transparent" '
        f'pointer-events="all"><title>{html.escape(text)}</title></circle>'
        for x, y, text in hover_points(fig)
    )
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        '<div class="hvload-hover" style="position:relative; display:inline-block; '
        'max-width:100%">'
        f'<img src="{uri}" alt="{html.escape(alt, quote=True)}" '
        'style="display:block; max-width:100%; height:auto">'
        f'<svg viewBox="0 0 {width:.0f} {height:.0f}" preserveAspectRatio="none" '
        'style="position:absolute; left:0; top:0; width:100%; height:100%" '
        'aria-hidden="true">'
        f"{circles}</svg></div>"
    )
