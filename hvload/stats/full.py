"""The whole analysis of a campaign: its levels, and the attribution when it has controls.

Kept apart from :mod:`hvload.stats.analysis` (the per-level tests) because the
attribution is built on that analysis: the two modules import one way only.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from .analysis import analyze_levels
from .attribution import attribute
from .config import DEFAULT, AnalysisConfig
from .results import Analysis

__all__ = ["analyze"]


def analyze(
    data: Any,
    config: AnalysisConfig | None = None,
    *,
    tsc_hz: float | None = None,
    **options: Any,
) -> Analysis:
    """Summaries, tests, effects with intervals, and verdicts for every level of a campaign.

    Parameters
    ----------
    data : campaign or pandas.DataFrame
        A campaign (``.samples``, ``.metadata``) or its sample table; see
        :func:`hvload.stats.inputs.unpack` for the columns.
    config : AnalysisConfig, optional
        How to analyse; :data:`hvload.stats.DEFAULT` (warm-up left out, alpha
        0.05, Holm, 1 % threshold, service time) when not given.
    tsc_hz : float, optional
        TSC frequency in Hz, overriding ``metadata["tsc_hz"]``. Without either,
        every ``*_ns`` figure is NaN and a note says so.
    **options
        Fields of :class:`AnalysisConfig` to change, e.g. ``threshold=0.02``,
        ``metric="response"``, ``exclude=()``, ``baseline="50%"``.

    Returns
    -------
    Analysis
        ``.levels``, ``.comparisons``, ``.omnibus``, ``.trend``, ``.noise``,
        ``to_text()``, ``to_dict()``.

    Raises
    ------
    ValueError
        On malformed input (see :func:`~hvload.stats.inputs.unpack`) or options.

    Notes
    -----
    Levels are analysed in order of increasing load. Each level's typical block
    median and p99 get a distribution-free interval from the order statistics of
    its blocks (:mod:`hvload.stats.intervals`); each comparison gets an exact
    signed-rank test, a Hodges-Lehmann effect and its interval on per-round log
    ratios (:mod:`hvload.stats.ranks`), and a verdict by the rule in
    :mod:`hvload.stats.compare`.
    """
    config = (config or DEFAULT).replace(**options) if options else (config or DEFAULT)
    result = analyze_levels(data, config, tsc_hz=tsc_hz)
    design = result.design
    # Controls measured beside the probe: say how much of each change is the probe's own.
    if len(design["probes"]) > 1 and config.probe is None and design["n_levels"] > 1:
        result = replace(
            result, attribution=attribute(data, config, tsc_hz=tsc_hz, analysis=result)
        )
    return result
