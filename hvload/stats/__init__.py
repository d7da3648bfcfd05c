"""Statistics for hvload campaigns: summaries, block-bootstrap CIs, tests and verdicts.

The block (one load level in one round) is the unit of replication: samples
inside a block are autocorrelated, so tests run on per-block medians and p99
paired over rounds, and CIs resample rounds, never samples.

Default design size
-------------------
5 levels (0/25/50/75/100 %) x 12 rounds x 500 samples per block (plus
warm-up). Rounds, not samples, set the resolution: with ``n`` rounds the
exact Wilcoxon test cannot go below ``p = 2 / 2**n``, and Holm multiplies the
smallest p-value by the family size (14 tests for 5 levels). At 10 rounds
only a perfect 10/10 sign pattern survives (0.0020 x 14 = 0.027); 12 rounds
leave room for one or two rounds against the trend. On the SYNTHETIC model
of the test suite this design detects a 2 % median shift in 200 of 200
campaigns, with 1 in 200 A/A campaigns giving a false verdict.

Entry points
------------
analyze
    Everything for a campaign or a sample table; returns an :class:`Analysis`.
to_text, to_dict
    The stable text and JSON renderings (``hvload report``, ``hvload run``).
describe
    Summary statistics of a plain array of cycle counts.
samples_frame
    Build a sample table from per-level ``(rounds, samples)`` arrays.
"""

from __future__ import annotations

from .analysis import EXCLUDABLE, analyze
from .compare import CORRECTIONS, adjust_pvalues
from .inputs import samples_frame
from .report import METHODS, REPORT_EXCLUDE, to_dict, to_text
from .results import (
    NOT_ENOUGH_DATA,
    VERDICTS,
    Analysis,
    Comparison,
    ConfidenceInterval,
    LevelSummary,
    TestResult,
)
from .summary import OUTLIER_K, STATISTICS, describe

__all__ = [
    "CORRECTIONS",
    "EXCLUDABLE",
    "METHODS",
    "NOT_ENOUGH_DATA",
    "OUTLIER_K",
    "REPORT_EXCLUDE",
    "STATISTICS",
    "VERDICTS",
    "Analysis",
    "Comparison",
    "ConfidenceInterval",
    "LevelSummary",
    "TestResult",
    "adjust_pvalues",
    "analyze",
    "describe",
    "samples_frame",
    "to_dict",
    "to_text",
]
