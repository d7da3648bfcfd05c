"""A campaign report's tables as pandas DataFrames: the one source of the Markdown, CSV and
HTML renderings, so the three show the same rows and numbers as ``hvload report --json``.

Every frame is built from :meth:`CampaignReport.to_dict` (the analysis as JSON), not
from the samples again: a rendering can never disagree with the JSON report.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..stats import STATISTICS

__all__ = [
    "LEVEL_COLUMNS",
    "attribution_table",
    "comparison_table",
    "level_table",
    "noise_table",
    "tail_comparison_table",
]

#: The per-level columns exported, in order (cycles; ``_ns`` twins follow when the TSC
#: frequency is known).
LEVEL_COLUMNS: tuple[str, ...] = (
    "level",
    "n_blocks",
    "n",
    "flagged_share",
    *STATISTICS,  # the summary statistics, in the order hvload.stats reports them
    "block_median",
    "block_median_ci_low",
    "block_median_ci_high",
    "block_p99",
    "block_p99_ci_low",
    "block_p99_ci_high",
    "level_p99",
    "level_p99_ci_low",
    "level_p99_ci_high",
    "level_p999",
    "level_p999_ci_low",
    "level_p999_ci_high",
    "status",
)
_LEVEL_NS = (*(c for c in LEVEL_COLUMNS[4:-1] if c not in ("iqr", "mad")), "iqr", "mad")

_COMPARISON_COLUMNS: tuple[str, ...] = (
    "reference",
    "level",
    "on",
    "kind",
    "n_rounds",
    "relative_change",
    "relative_change_low",
    "relative_change_high",
    "change",
    "change_low",
    "change_high",
    "change_ns",
    "change_ns_low",
    "change_ns_high",
    "reference_value",
    "level_value",
    "pvalue",
    "pvalue_adjusted",
    "cles",
    "verdict",
    "message",
)

_ATTRIBUTION_COLUMNS: tuple[str, ...] = (
    "reference",
    "level",
    "control",
    "n_rounds",
    "main_change",
    "main_change_low",
    "main_change_high",
    "main_verdict",
    "control_change",
    "control_change_low",
    "control_change_high",
    "difference",
    "difference_low",
    "difference_high",
    "pvalue",
    "pvalue_adjusted",
    "verdict",
    "message",
)


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    keep = [c for c in columns if c in frame.columns]
    return frame[keep] if keep else pd.DataFrame(columns=list(columns))


def level_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per level: sizes, pooled quantiles, the typical block and the level p99
    (and p99.9) with their CIs."""
    rows = report.get("levels") or []
    columns = LEVEL_COLUMNS
    if rows and "median_ns" in rows[0]:
        columns = (*LEVEL_COLUMNS, *(f"{c}_ns" for c in _LEVEL_NS))
    return _frame(rows, columns)


def comparison_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per pairwise comparison (level against reference, median or p99)."""
    return _frame(report.get("comparisons") or [], _COMPARISON_COLUMNS)


def tail_comparison_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per comparison of level p99s (their own Holm family; no CLES)."""
    columns = tuple(c for c in _COMPARISON_COLUMNS if c != "cles")
    return _frame(report.get("tail_comparisons") or [], columns)


def attribution_table(report: dict[str, Any]) -> pd.DataFrame:
    """One row per (level, control probe): the main probe's change beyond the control's."""
    table = (report.get("attribution") or {}).get("table") or []
    return _frame(table, _ATTRIBUTION_COLUMNS)


def noise_table(report: dict[str, Any]) -> pd.DataFrame:
    """Block-to-block noise of the block medians and p99 (log scale, fractions)."""
    return _frame(
        report.get("noise") or [],
        ("on", "block_sd", "sampling_sd", "between_sd", "samples_per_block", "n_rounds", "mde"),
    )
