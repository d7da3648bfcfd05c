"""Statistics for hvload campaigns: summaries, intervals, tests, verdicts and planning.

The block (one level in one round) is the unit of replication: samples inside
a block are autocorrelated, so every interval and test rests on per-block
statistics (median and p99), paired over rounds; samples are only described.

What a user reads, and why it can be trusted
--------------------------------------------
* Per level, the *typical block* median and p99 (median over blocks) with a
  distribution-free order-statistic interval (:mod:`~hvload.stats.intervals`), and
  the *level p99* (all the level's samples pooled: its p99 latency) with a
  round-cluster bootstrap interval (:mod:`~hvload.stats.tails`). The first says what
  one block usually shows, the second how slow the slowest 1 % of the level is.
* Per comparison of level p99s, a sign-flip test over rounds and a round-bootstrap
  interval, their own Holm family (``Analysis.tail_comparisons``).
* Per comparison, an exact Wilcoxon signed-rank test on per-round log ratios,
  the Hodges-Lehmann change with its matching interval (:mod:`~hvload.stats.ranks`),
  and a verdict (:mod:`~hvload.stats.compare`): ``slower``, ``faster``,
  ``negligible``, ``inconclusive``, ``no evidence`` or ``not enough data``.
* The campaign's own block noise and the smallest change its design detects
  (:mod:`~hvload.stats.power`); :func:`plan` turns a pilot into a design.
* Before measuring, :func:`check_design` says whether a design can reach a
  verdict at all (:mod:`~hvload.stats.design`).
* A sequential campaign (``hvload run --until decided``) is looked at after planned
  rounds, each look at alpha split evenly over the looks (Bonferroni), until every
  comparison is decided (:mod:`~hvload.stats.sequential`).

Validated claims (``tests/test_stats_validation.py``, SYNTHETIC campaigns of
5 levels x 500 samples per block, ``tests/stats_synthetic.py``; three noise
models calibrated against the real campaigns in ``data/``: ``mild``, Gaussian
block effects like the AMD machine on a quiet day, ``heavy``, 5.5 % of blocks
40 % slow like the Intel machine, and ``wild``, 30 % of blocks 50 % slow, noisier
than the noisiest real campaign):

* at 12 rounds the per-level median and p99 intervals and the change intervals
  cover the truth in at least 93 % of 300 campaigns per model;
* at 12 rounds at most 5 % of 400 A/A campaigns per model get any ``slower``
  or ``faster`` verdict;
* designs that cannot reach alpha (3, 5 and 8 rounds of 5 levels under Holm)
  give ``not enough data`` in every comparison;
* the number of rounds :func:`plan` recommends for a 2 % median change from
  the real Intel campaign detects that change in at least 80 % of 300
  campaigns of the ``heavy`` model.

Entry points
------------
analyze
    Everything for a campaign or a sample table; returns an :class:`Analysis`.
AnalysisConfig, DEFAULT
    The one configuration shared by the API, the CLI, the plots and the widgets.
plan
    Rounds and samples per block needed to detect a change, from a pilot.
check_design
    Whether a design can reach a verdict at all, before anything is measured.
attribute
    For campaigns with control probes: the exit path's own share of each change.
to_text, to_dict
    The stable text and JSON renderings (``hvload report``, ``hvload run``).
describe
    Summary statistics of a plain array of cycle counts.
samples_frame
    Build a sample table from per-level ``(rounds, samples)`` arrays.
"""

from __future__ import annotations

from .attribution import Attribution, AttributionVerdict, attribute
from .compare import adjust_pvalues
from .config import DEFAULT, EXCLUDABLE, METRICS, AnalysisConfig
from .design import DesignCheck, check_design, rounds_needed
from .full import analyze
from .inputs import samples_frame
from .plan import PlanResult, plan
from .report import METHODS, REPORT_EXCLUDE, to_dict, to_text
from .results import (
    CORRECTIONS,
    NOT_ENOUGH_DATA,
    VERDICTS,
    Analysis,
    Comparison,
    ConfidenceInterval,
    LevelSummary,
    TestResult,
    Verdict,
)
from .summary import OUTLIER_K, STATISTICS, describe

__all__ = [
    "CORRECTIONS",
    "DEFAULT",
    "EXCLUDABLE",
    "METHODS",
    "METRICS",
    "NOT_ENOUGH_DATA",
    "OUTLIER_K",
    "REPORT_EXCLUDE",
    "STATISTICS",
    "VERDICTS",
    "Analysis",
    "AnalysisConfig",
    "Attribution",
    "AttributionVerdict",
    "Comparison",
    "ConfidenceInterval",
    "DesignCheck",
    "LevelSummary",
    "PlanResult",
    "TestResult",
    "Verdict",
    "adjust_pvalues",
    "analyze",
    "attribute",
    "check_design",
    "describe",
    "plan",
    "rounds_needed",
    "samples_frame",
    "to_dict",
    "to_text",
]
