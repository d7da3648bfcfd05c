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

Each level has its own colour from a colour-blind safe categorical palette (seaborn's
"colorblind"; neighbouring levels differ in hue), fixed by its place in the whole
design, so a level keeps its colour when a subset is drawn. Titles wrap to the figure's
width, and log axes label ticks near the data.

Modules: :mod:`~hvload.plots.distributions` (ECDF, violin/boxen, percentile ladder),
:mod:`~hvload.plots.load` (load curve, timeline), :mod:`~hvload.plots.verdicts`
(verdict map, attribution) and :mod:`~hvload.plots.compare` (the figure of a
comparison of campaigns).
"""

from ._registry import FIGURES
from .distributions import QUANTILE_POINTS, distribution, ecdf, percentile_ladder
from .load import load_curve, timeline
from .verdicts import attribution, verdict_map

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
