"""The figures by name, the one list the widgets, the reproduction script and the tests use."""

from __future__ import annotations

import functools
from collections.abc import Callable

from matplotlib.axes import Axes

from .distributions import distribution, ecdf, percentile_ladder
from .load import load_curve, timeline
from .verdicts import attribution, verdict_map

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
