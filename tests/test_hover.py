"""Values on hover over the dashboard's figures (``hvload.widgets._hover``).

The hover points are checked against the numbers they claim to show: those of the
analysis that drew the figure, on the shipped Intel controls campaign. Chromium shows
them over the image in ``tests/test_browser_share.py``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("hvload.plots")

import hvload
from hvload.reproduce import figure
from hvload.stats import AnalysisConfig, analyze
from hvload.widgets._hover import MAX_POINTS, _number, hover_html, hover_points

INTEL = Path(__file__).resolve().parents[1] / "data" / "intel-xeon-16vcpu-controls.parquet"


FIGURES = ("load_curve", "ecdf", "ladder", "timeline", "attribution", "violin")


@pytest.fixture(scope="module")
def drawn() -> dict[str, Any]:
    """Each figure of the campaign drawn once, as the widgets draw it (90 dpi), with the
    analysis behind it (key ``analysis``) and the load curve's PNG (``png``)."""
    campaign = hvload.load(INTEL)
    # No power simulation and no level-p99 bootstrap: no figure drawn here shows them.
    config = AnalysisConfig(n_sim=0, n_bootstrap=0)
    analysis = analyze(campaign, config)
    out: dict[str, Any] = {"analysis": analysis}
    for name in FIGURES:
        fig = figure(name, campaign, unit="ns", analysis=analysis, config=config)
        fig.set_dpi(90)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        out[name] = fig
        if name == "load_curve":
            out["png"] = buf.getvalue()
    return out


def test_load_curve_points_say_the_analysis_numbers(drawn: dict[str, Any]) -> None:
    analysis = drawn["analysis"]
    points = hover_points(drawn["load_curve"])
    levels = analysis.level_summaries
    assert len(points) == 2 * len(levels)  # median and p99 of the typical block, per level
    texts = [t for _, _, t in points]
    for s in levels:
        for stat in ("median", "p99"):
            value = _number(s[f"block_{stat}_ns"])
            low, high = (
                _number(s[f"block_{stat}_ci_low_ns"]),
                _number(s[f"block_{stat}_ci_high_ns"]),
            )
            wanted = (
                f"load level (load: hypercall/vmcall): {s.level}\n"
                f"latency (ns): {value} [{low}, {high}]"
            )
            assert (
                sum(wanted in t and t.startswith(f"{stat} of the typical block") for t in texts)
                == 1
            ), wanted


def test_lines_get_at_most_max_points_inside_the_image(drawn: dict[str, Any]) -> None:
    for name in ("ecdf", "ladder", "timeline"):
        fig = drawn[name]
        points = hover_points(fig)
        width, height = fig.bbox.width, fig.bbox.height
        assert points and all(0 <= x <= width and 0 <= y <= height for x, y, _ in points)
        per_line: dict[str, int] = {}
        for _, _, text in points:
            per_line[text.split("\n")[0]] = per_line.get(text.split("\n")[0], 0) + 1
        assert max(per_line.values()) <= MAX_POINTS, name
    assert any("\npercentile: 99.9" in t for _, _, t in hover_points(drawn["ladder"]))
    texts = [t for _, _, t in hover_points(drawn["attribution"])]
    assert len(texts) == 3 * 5 and all(t.split("\n")[1].startswith("load level: ") for t in texts)
    assert hover_points(drawn["violin"]) == []  # areas, not points: no hover values


def test_hover_html_lays_the_points_over_the_png(drawn: dict[str, Any]) -> None:
    fig, png = drawn["load_curve"], drawn["png"]
    page = hover_html(png, fig, 'figure "load_curve" <of> the campaign')
    assert page.count("<circle ") == len(hover_points(fig)) == 12
    assert f'viewBox="0 0 {fig.bbox.width:.0f} {fig.bbox.height:.0f}"' in page
    assert "<script" not in page and 'alt="figure &quot;load_curve&quot; &lt;of&gt;' in page
    titles = re.findall(r"<title>([^<]*)</title>", page)
    assert len(titles) == 12 and all("latency (ns): " in t for t in titles)
