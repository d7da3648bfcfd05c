"""The report's figures as embedded images: PNG bytes drawn by :mod:`hvload.plots`, as
``data:`` URIs, so an HTML report is one file that needs no network and no JavaScript."""

from __future__ import annotations

import base64
import io
from typing import Any

__all__ = ["figure_uris", "png_uri"]

#: The figures an HTML report carries, with the caption each gets.
CAPTIONS: dict[str, str] = {
    "load_curve": "Typical block median and p99 (95% CI) against the load",
    "level_p99_curve": "Level p99 (all the level's samples pooled; 95% CI from a "
    "studentized bootstrap over rounds) against the load",
    "attribution": "Median change per level: main probe against the in-block controls",
    "ecdf": "Distribution of every level (empirical CDF, log latency)",
    "ladder": "Percentile ladder per level",
}


def png_uri(ax: Any) -> str:
    """The figure of ``ax`` (an Axes or a Figure) as a PNG ``data:`` URI; closes it."""
    import matplotlib.pyplot as plt

    fig = getattr(ax, "figure", None) or ax
    buf = io.BytesIO()
    # 100 dpi keeps a four-figure report near a few hundred kB, legible at page width.
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure_uris(report: Any) -> list[dict[str, str]]:
    """One ``{"name", "caption", "uri"}`` per figure of ``report`` (a CampaignReport).

    A figure that cannot be drawn for this campaign (no controls: no attribution) is
    left out with its reason as the caption and no image.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display; the report is written, never shown
    from .. import plots

    camp, analysis = report.used, report.analysis
    config = analysis.config
    draws = {
        "load_curve": lambda: plots.load_curve(camp, analysis=analysis, config=config),
        "level_p99_curve": lambda: plots.load_curve(
            camp, stats=("level_p99",), analysis=analysis, config=config
        ),
        "attribution": lambda: plots.attribution(analysis),
        "ecdf": lambda: plots.ecdf(camp, config=config),
        "ladder": lambda: plots.percentile_ladder(camp, config=config),
    }
    out = []
    for name, draw in draws.items():
        if name == "attribution" and analysis.attribution is None:
            out.append(
                {
                    "name": name,
                    "caption": "No attribution: the campaign has no control probes",
                    "uri": "",
                }
            )
            continue
        out.append({"name": name, "caption": CAPTIONS[name], "uri": png_uri(draw())})
    return out
