"""Every figure kind legible at the widths the dashboard and notebooks show it.

Drawn from the Intel controls campaign in data/ (real measurements) at the figure
widths a 1280 px and an 800 px browser window leave for the output (at the 90 dpi the
widgets render at), then measured with matplotlib's own renderer: every label lies
inside the figure, no two labels overprint each other, no text is below 9 px, and each
log axis labels at least two ticks within the range it shows. The PNGs are kept in
test-artifacts/figures/ for a look by eye.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import itertools
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

import hvload
from hvload.plots import FIGURES
from hvload.plots._common import _palette
from hvload.report import admitted
from hvload.reproduce import figure
from hvload.stats import DEFAULT, analyze

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
ARTIFACTS = ROOT / "test-artifacts" / "figures"
DPI = 90
#: Browser window width -> figure size (inches): the output area is the window less
#: about 100 px of page margin, the height keeps the widgets' 9:5 shape.
WIDTHS = {1280: (1180 / DPI, 5.6), 800: (700 / DPI, 5.0)}
#: Smallest text a reader is asked to read, in pixels (font size at the rendered dpi).
MIN_TEXT_PX = 9.0


@pytest.fixture(scope="module")
def intel() -> tuple[hvload.Campaign, object]:
    campaign = admitted(hvload.load(DATA / "intel-xeon-16vcpu-controls.parquet"))
    return campaign, analyze(campaign, DEFAULT.replace(n_sim=0))


def _render(fig: Figure) -> RendererAgg:
    """Lay ``fig`` out and draw it at the widgets' dpi; its renderer, to measure text."""
    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _texts(fig: Figure) -> list[Text]:
    """Every drawn, non-empty text of the figure (titles, labels, ticks, legends, notes)."""
    # Ticks outside an axis's view keep their label text but are not drawn.
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            span = high - low
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                if not low - 1e-9 * span <= tick.get_loc() <= high + 1e-9 * span:
                    hidden |= {id(tick.label1), id(tick.label2)}
    out = []
    for artist in fig.findobj(Text):
        if id(artist) in hidden or not artist.get_visible() or not artist.get_text().strip():
            continue
        if isinstance(artist.axes, Axes) and not artist.axes.get_visible():
            continue
        out.append(artist)
    return out


def _shown_tick_labels(ax: Axes, which: str, renderer: object) -> list[tuple[float, str]]:
    """(value, label) of each labelled major tick within the axis's view range."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    low, high = sorted(axis.get_view_interval())
    out = []
    for tick in axis.get_major_ticks():
        value = tick.get_loc()
        label = tick.label1.get_text()
        if tick.label1.get_visible() and label and low <= value <= high:
            out.append((value, label))
    return out


@pytest.mark.parametrize("window", sorted(WIDTHS))
@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_legible(intel: tuple[hvload.Campaign, object], name: str, window: int) -> None:
    campaign, analysis = intel
    fig = figure(name, campaign, analysis=analysis, size=WIDTHS[window])  # type: ignore[arg-type]
    renderer = _render(fig)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    fig.savefig(ARTIFACTS / f"intel-controls-{name}-{window}px.png", dpi=DPI)
    page = fig.bbox.padded(1.0)

    texts = _texts(fig)
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    for text, box in boxes:
        assert page.containsx(box.x0) and page.containsx(box.x1), (
            f"{name} at {window} px: {text.get_text()!r} runs off the figure sideways "
            f"({box.x0:.0f}..{box.x1:.0f} of {fig.bbox.width:.0f} px)"
        )
        assert page.containsy(box.y0) and page.containsy(box.y1), (
            f"{name} at {window} px: {text.get_text()!r} runs off the figure's top or bottom"
        )
        size_px = text.get_fontsize() * DPI / 72
        assert size_px >= MIN_TEXT_PX, (
            f"{name} at {window} px: {text.get_text()!r} is {size_px:.1f} px high"
        )
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        # A shrunk box tolerates the anti-aliased pixel two neighbours may share.
        if Bbox.intersection(box_a.shrunk(0.98, 0.9), box_b.shrunk(0.98, 0.9)) is not None:
            inter = Bbox.intersection(box_a, box_b)
            assert inter is None or inter.width < 2 or inter.height < 2, (
                f"{name} at {window} px: {a.get_text()!r} overprints {b.get_text()!r}"
            )

    for ax in fig.axes:
        if not ax.get_visible() or not ax.has_data():
            continue
        for which in ("x", "y"):
            scale = ax.get_xscale() if which == "x" else ax.get_yscale()
            if scale != "log":
                continue
            labelled = _shown_tick_labels(ax, which, renderer)
            assert len(labelled) >= 2, (
                f"{name} at {window} px: the log {which} axis labels {labelled} only"
            )


def test_level_palette_separates_neighbours() -> None:
    """Neighbouring levels of designs of up to 8 levels differ clearly in colour."""
    for n in range(2, 9):
        colours = np.asarray(_palette(n))
        gaps = np.abs(np.diff(colours, axis=0)).sum(axis=1)
        assert gaps.min() > 0.4, f"{n} levels: neighbours {gaps.round(2)} apart in RGB"
        # None of them pale enough to vanish on white.
        assert (colours.mean(axis=1) < 0.8).all()


def test_violin_tick_labels_apart_in_a_narrow_figure(
    intel: tuple[hvload.Campaign, object],
) -> None:
    """A narrow figure keeps its level names and counts apart."""
    fig = figure("violin", intel[0], size=(5.0, 4.0))
    renderer = _render(fig)
    ax = fig.axes[0]
    boxes = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
    for a, b in itertools.pairwise(boxes):
        assert a.x1 <= b.x0 + 1, "x tick labels overlap"
    assert len(boxes) == 6
