"""The comparison statistics: every group against the reference, level by level.

:func:`compare_blocks` takes block statistics already computed (by either engine) and tests,
per matched level and statistic, the reference group against each other group (see
:mod:`hvload.datasets.compare` for the method); :class:`CampaignComparison` holds the result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..stats.compare import adjust_pvalues, verdict
from ..stats.config import DEFAULT, AnalysisConfig
from ..stats.intervals import median_interval
from ..stats.results import ConfidenceInterval, Verdict, jsonable
from ..stats.twosample import min_pvalue, two_sample
from ._blocks import check_config, probe_blocks
from ._compare_text import render
from ._matching import (
    NO_LOAD,
    ON,
    best_adjusted,
    columns_by_group,
    comparison_notes,
    distinct,
    group_labels,
    groups_table,
    keys_in_load_order,
    level_keys,
    reachable,
)

__all__ = ["UNITS", "CampaignComparison", "compare_blocks", "settings"]

#: Units of replication :func:`hvload.datasets.compare` accepts.
UNITS: tuple[str, ...] = ("auto", "block", "campaign")


@dataclass(frozen=True)
class CampaignComparison:
    """What :func:`hvload.datasets.compare` returns.

    Attributes
    ----------
    groups : pandas.DataFrame
        One row per group: ``group``, ``n_campaigns``, ``files``, and the metadata that
        tells the groups apart (probe, CPU, hypervisor, kernel, TSC frequency, levels).
    levels : pandas.DataFrame
        Side by side, per level and group: the unit of replication, ``n_campaigns``,
        ``n_blocks``, the level names behind it, and per statistic the typical value
        with its order-statistic interval (``median``, ``median_ci_low``, ...) in
        :attr:`unit`.
    comparisons : pandas.DataFrame
        One row per (group, level, statistic) against the reference: sizes, ``U``,
        p-value raw and adjusted, the ratio and relative change with its interval,
        ``verdict`` and ``message``.
    notes : tuple of str
        What was and what could not be compared, and the caveats.
    unit : str
        ``"ns"`` or ``"cycles"``.
    reference : str
        The reference group.
    by : str or None
        The campaign column that defined the groups (None: one group per file).
    config : AnalysisConfig
        The analysis settings.
    left_out_blocks : dict
        Per campaign file, how many blocks flagged ``load_ok = False`` were left out
        (only files with any; empty when ``include_flagged``).
    """

    groups: pd.DataFrame
    levels: pd.DataFrame
    comparisons: pd.DataFrame
    notes: tuple[str, ...]
    unit: str
    reference: str
    by: str | None
    config: AnalysisConfig = field(repr=False)
    left_out_blocks: dict[str, int] = field(default_factory=dict)

    def comparison(self, level: str, group: str | None = None, on: str = "median") -> pd.Series:
        """The row of :attr:`comparisons` for one level, group (the only other by default)
        and statistic."""
        rows = self.comparisons
        others = [g for g in self.groups["group"] if g != self.reference]
        group = group if group is not None else (others[0] if len(others) == 1 else None)
        if group is None:
            raise ValueError(f"several groups are compared ({others}); name one")
        hit = rows[(rows["level"] == level) & (rows["group"] == group) & (rows["on"] == on)]
        if hit.empty:
            known = sorted(set(rows["level"]))
            raise ValueError(f"no comparison of level {level!r} for group {group!r}; {known}")
        return hit.iloc[0]

    def confidence_interval(
        self, level: str, group: str | None = None, on: str = "median"
    ) -> ConfidenceInterval:
        """Interval of the ratio (group over reference) of one comparison."""
        row = self.comparison(level, group, on)
        return ConfidenceInterval(float(row["ratio_low"]), float(row["ratio_high"]))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (``hvload compare --json``)."""
        return jsonable(
            {
                "reference": self.reference,
                "by": self.by,
                "unit": self.unit,
                "settings": self.config.to_dict(),
                "groups": self.groups.to_dict("records"),
                "levels": self.levels.to_dict("records"),
                "comparisons": self.comparisons.to_dict("records"),
                "notes": list(self.notes),
                # Only when blocks were left out, so other comparisons keep their JSON.
                **({"left_out_blocks": dict(self.left_out_blocks)}
                   if self.left_out_blocks else {}),
            }
        )  # fmt: skip

    def to_text(self) -> str:
        """What ``hvload compare`` prints."""
        return render(self)

    def __str__(self) -> str:
        return self.to_text()

    def figure(self, **kwargs: Any) -> Any:
        """Median and p99 per level per group with intervals (:mod:`hvload.plots.compare`)."""
        # matplotlib is imported only when a figure is asked for.
        from ..plots.compare import compare_levels

        return compare_levels(self, **kwargs)


def settings(
    config: AnalysisConfig | None, unit: str, options: Mapping[str, Any]
) -> AnalysisConfig:
    """The analysis settings of a comparison, refused before any work when the engine
    cannot apply them or ``unit`` is unknown."""
    config = (config or DEFAULT).replace(**options) if options else (config or DEFAULT)
    check_config(config)
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r} is not allowed; choose from {list(UNITS)}")
    return config


def compare_blocks(
    blocks: pd.DataFrame,
    campaigns: pd.DataFrame,
    metadata: dict[str, dict[str, Any]],
    *,
    by: str | None = None,
    reference: str | None = None,
    unit: str = "auto",
    config: AnalysisConfig | None = None,
    left_out_blocks: Mapping[str, int] | None = None,
) -> CampaignComparison:
    """:func:`compare` on block statistics already computed, from any engine.

    Parameters
    ----------
    blocks : pandas.DataFrame
        A :meth:`Dataset.block_table` (``campaign``, ``level_index``, ``n``, ``median``,
        ``p99`` are used).
    campaigns : pandas.DataFrame
        :attr:`Dataset.campaigns` (``file``, ``campaign``, ``tsc_hz`` and the columns
        ``by`` and the notes use).
    metadata : dict
        Each campaign's metadata by campaign id (its design's levels).
    left_out_blocks : dict, optional
        By campaign id, how many blocks the block policy left out of ``blocks``
        (:func:`hvload.datasets._blocks.admit_blocks`); the notes say so per campaign.
    """
    config = config or DEFAULT
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r} is not allowed; choose from {list(UNITS)}")
    camps = campaigns.reset_index(drop=True)
    # One probe per campaign: the main one, or the control named by config.probe.
    blocks, missing = probe_blocks(blocks, metadata, config.probe)
    left_out = camps.loc[camps["campaign"].isin(missing), "file"].tolist()
    camps = camps[~camps["campaign"].isin(missing)].reset_index(drop=True)
    if camps.empty:
        raise ValueError(f"probe={config.probe!r} is in none of these campaigns")
    labels = group_labels(camps, by)
    order = list(dict.fromkeys(labels))
    if len(order) < 2:
        what = f"every campaign has {by}={order[0]!r}" if by else "only one campaign file"
        if left_out:
            what += f" has a probe {config.probe!r} ({len(left_out)} without it left out)"
        raise ValueError(f"nothing to compare: {what}; compare at least two groups")
    if reference is None:
        reference = order[0]
    elif reference not in order:
        raise ValueError(f"reference={reference!r} is not a group; groups: {order}")
    order = [reference] + [g for g in order if g != reference]
    camps = camps.assign(group=labels)
    footers = metadata
    notes: list[str] = []

    tsc = camps["tsc_hz"].astype(float)
    time_unit = "ns" if (np.isfinite(tsc) & (tsc > 0)).all() else "cycles"
    scale = {
        cid: (1e9 / t if time_unit == "ns" else 1.0)
        for cid, t in zip(camps["campaign"], tsc, strict=True)
    }

    # Which blocks belong to which matched level, per campaign. The tables are small
    # (one row per block), so plain arrays and dicts do the grouping.
    group_of = dict(zip(camps["campaign"], camps["group"], strict=True))
    cids = blocks["campaign"].astype(str).to_numpy()
    index = blocks["level_index"].to_numpy(dtype=np.int64)
    filled = blocks["n"].to_numpy(dtype=np.int64) > 0
    key_maps = {c: level_keys(footers[c]) for c in dict.fromkeys(cids.tolist())}
    factor = np.array([scale[c] for c in cids]) if len(cids) else np.zeros(0)
    stat = {on: blocks[on].to_numpy(dtype=np.float64) * factor for on in ON}
    rows_of: dict[tuple[str, str], list[int]] = {}
    for i, (c, li) in enumerate(zip(cids.tolist(), index.tolist(), strict=True)):
        if filled[i]:
            rows_of.setdefault((key_maps[c].get(li, "?"), group_of[c]), []).append(i)

    present = set((g, k) for k, g in rows_of)
    columns = columns_by_group(camps, order)
    keys_of = {
        g: [k for k in keys_in_load_order(columns[g]["campaign"], footers) if (g, k) in present]
        for g in order
    }
    all_keys = list(dict.fromkeys(k for g in order for k in keys_of[g]))
    if NO_LOAD in all_keys:
        all_keys = [NO_LOAD] + [k for k in all_keys if k != NO_LOAD]
    common = [k for k in all_keys if all(k in keys_of[g] for g in order)]

    by_block: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    by_campaign: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    blocks_of: dict[tuple[str, str], tuple[list[str], list[int]]] = {}
    for kg, rows in rows_of.items():
        at = np.asarray(rows)
        by_block[kg] = {on: stat[on][at] for on in ON}
        mine = cids[at]
        blocks_of[kg] = (mine.tolist(), index[at].tolist())

    # Unit of replication per level.
    pairs = [(reference, g) for g in order[1:]]
    m = len(pairs) * len(common) * len(ON)
    units: dict[str, str] = {}
    for key in all_keys:
        counts = [len(set(blocks_of[(key, g)][0])) for g in order if key in keys_of[g]]
        can = min(counts) >= 2 and reachable(counts, m, config)
        units[key] = "campaign" if (unit == "campaign" or (unit == "auto" and can)) else "block"
    for (key, g), rows in rows_of.items():
        if units[key] == "campaign":
            at = np.asarray(rows)
            mine = cids[at]
            # A campaign's typical block statistic: the median over its blocks of the level.
            by_campaign[(key, g)] = {
                on: np.array([np.median(stat[on][at][mine == c]) for c in dict.fromkeys(mine)])
                for on in ON
            }
    empty = {on: np.zeros(0) for on in ON}

    def values(key: str, group: str, on: str) -> np.ndarray:
        source = by_campaign if units[key] == "campaign" else by_block
        v = source.get((key, group), empty)[on]
        return v[np.isfinite(v) & (v > 0)]

    level_rows = []
    for key in all_keys:
        for g in order:
            if key not in keys_of[g]:
                continue
            mine_c, mine_i = blocks_of[(key, g)]
            names = distinct(
                footers[c]["design"]["levels"][int(i)]["name"]
                for c, i in sorted(set(zip(mine_c, mine_i, strict=True)))
            )
            row: dict[str, Any] = {
                "level": key, "group": g, "unit": units[key],
                "n_campaigns": len(set(mine_c)), "n_blocks": len(mine_c),
                "level_names": ", ".join(names), "compared": key in common,
            }  # fmt: skip
            for on in ON:
                est, low, high = median_interval(values(key, g, on), config.confidence)
                row[on], row[f"{on}_ci_low"], row[f"{on}_ci_high"] = est, low, high
            level_rows.append(row)
    levels = pd.DataFrame(level_rows)

    results = []
    for ref, g in pairs:
        for key in common:
            for on in ON:
                x, y = values(key, ref, on), values(key, g, on)
                res = two_sample(np.log(x), np.log(y), confidence=config.confidence)
                results.append((ref, g, key, on, x.size, y.size, res))
    adjusted = adjust_pvalues(np.array([r[-1].pvalue for r in results]), config.correction)
    comparison_rows: list[dict[str, Any]] = []
    for (ref, g, key, on, n1, n2, res), p_adj in zip(results, adjusted, strict=True):
        rel = [float(np.expm1(v)) for v in (res.estimate, res.low, res.high)]
        best = best_adjusted(n1, n2, m, config.correction)
        message = res.message
        if res.status != "ok":
            v = Verdict.NOT_ENOUGH_DATA
        elif best >= config.alpha:
            v = Verdict.NOT_ENOUGH_DATA
            what = "campaigns" if units[key] == "campaign" else "blocks"
            message = (
                f"{n1} and {n2} {what}: the smallest p-value ({min_pvalue(n1, n2):.3g}) cannot "
                f"reach alpha {config.alpha:g} after {config.correction} over {m} tests"
            )
        else:
            v = verdict(float(p_adj), rel[0], rel[1], rel[2], alpha=config.alpha,
                        threshold=config.threshold)  # fmt: skip
        comparison_rows.append({
            "reference": ref, "group": g, "level": key, "on": on, "unit": units[key],
            "n_reference": n1, "n_group": n2, "statistic": res.statistic,
            "pvalue": res.pvalue, "pvalue_adjusted": float(p_adj), "method": res.method,
            "ratio": float(np.exp(res.estimate)), "ratio_low": float(np.exp(res.low)),
            "ratio_high": float(np.exp(res.high)), "relative_change": rel[0],
            "relative_change_low": rel[1], "relative_change_high": rel[2],
            "verdict": v.value, "message": message,
        })  # fmt: skip
    comparisons = pd.DataFrame(comparison_rows, columns=_COMPARISON_COLUMNS)

    if left_out:
        notes.append(f"left out, without a probe {config.probe!r}: {', '.join(left_out)}")
    per_campaign = left_out_blocks or {}
    flagged = {
        str(f): int(per_campaign[c])
        for c, f in zip(camps["campaign"], camps["file"], strict=True)
        if per_campaign.get(c)
    }
    notes.extend(
        f"left out of {f}: {n} block{'s' if n != 1 else ''} flagged load_ok = False (their "
        "load did not run as designed over the probe window; include_flagged=True keeps them)"
        for f, n in flagged.items()
    )
    groups = groups_table(columns, order)
    notes.extend(
        comparison_notes(camps, columns, order, keys_of, common, units, footers, blocks_of,
                         time_unit, config)
    )  # fmt: skip
    return CampaignComparison(groups, levels, comparisons, tuple(notes), time_unit, reference,
                              by, config, flagged)  # fmt: skip


_COMPARISON_COLUMNS = [
    "reference", "group", "level", "on", "unit", "n_reference", "n_group", "statistic",
    "pvalue", "pvalue_adjusted", "method", "ratio", "ratio_low", "ratio_high",
    "relative_change", "relative_change_low", "relative_change_high", "verdict", "message",
]  # fmt: skip
