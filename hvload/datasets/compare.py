"""Campaigns against campaigns: is machine B's exit slower than A's, and at which load?

:func:`compare` takes a :class:`~hvload.datasets.Dataset` (or files, or folders) and groups
its campaigns: one group per file, or by any column of :attr:`Dataset.campaigns`
(``by="cpu_brand"``). Every group is compared with a reference group (the first), level
by level, on the block median and the block p99.

Campaigns share no rounds, so nothing is paired: each test compares two independent
samples of log block statistics with the Wilcoxon-Mann-Whitney test and the
Hodges-Lehmann shift with its matching interval (:mod:`hvload.stats.twosample`). The
unit of replication is chosen per level (``unit="auto"``):

* ``campaign``: one value per campaign (its typical block statistic, the median over
  its blocks), when every group has at least two campaigns with that level and the test
  can reach ``alpha`` after the correction. Campaigns are then the independent units,
  and a difference generalises to the campaigns such a machine gives;
* ``block``: every block of the group's campaigns, otherwise. This compares these
  campaigns: with one campaign per group, a campaign's own conditions (the host's load
  that day) cannot be told from the machine, which the output says.

p-values are adjusted over all comparisons (Holm by default) and each gets the verdict
of :func:`hvload.stats.compare.verdict` with the practical threshold. Times are compared
in ns (each campaign's cycles over its own TSC frequency) whenever every campaign
records its TSC frequency: cycles of two clocks are not the same unit.

What can be compared is said, not assumed: levels are matched by name, and every level
without load workers is matched as ``no load`` whatever it is called (an A/A campaign's
no-load levels are pooled). Levels one group lacks are listed and left out; different
probes, hypervisors, block sizes or level definitions are named as caveats.

The A/A calibration and the power of these tests are asserted by
``tests/test_compare.py`` on SYNTHETIC campaigns of 12 rounds x 5 levels x 500 samples per
block, one campaign per group (``tests/stats_synthetic.py``): at most 7 % of 200 pairs of
campaigns from one distribution get a ``slower`` or ``faster`` verdict (the ``mild``,
``heavy`` and ``wild`` noise models), and a 5 % change of every level is found (``slower``) in at
least 80 % of 200 pairs at each level (``mild``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..stats.compare import adjust_pvalues, verdict
from ..stats.config import DEFAULT, AnalysisConfig
from ..stats.intervals import median_interval
from ..stats.results import ConfidenceInterval, Verdict, jsonable
from ..stats.twosample import min_pvalue, two_sample
from .dataset import Dataset, check_config, dataset, probe_blocks

__all__ = ["NO_LOAD", "UNITS", "CampaignComparison", "compare", "compare_blocks"]

#: Units of replication :func:`compare` accepts.
UNITS: tuple[str, ...] = ("auto", "block", "campaign")
#: The name every level without load workers is matched under.
NO_LOAD = "no load"
_ON = ("median", "p99")


@dataclass(frozen=True)
class CampaignComparison:
    """What :func:`compare` returns.

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
    """

    groups: pd.DataFrame
    levels: pd.DataFrame
    comparisons: pd.DataFrame
    notes: tuple[str, ...]
    unit: str
    reference: str
    by: str | None
    config: AnalysisConfig = field(repr=False)

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
            }
        )

    def to_text(self) -> str:
        """What ``hvload compare`` prints."""
        return _text(self)

    def __str__(self) -> str:
        return self.to_text()

    def figure(self, **kwargs: Any) -> Any:
        """Median and p99 per level per group with intervals (:mod:`hvload.plots_compare`)."""
        from ..plots.compare import compare_levels

        return compare_levels(self, **kwargs)


# -- grouping and matching ------------------------------------------------------------------


def _group_labels(camps: pd.DataFrame, by: str | None) -> list[str]:
    if by is None:
        stems = [os.path.splitext(os.path.basename(f))[0] for f in camps["file"]]
        seen: dict[str, int] = {}
        labels = []
        for s in stems:
            seen[s] = seen.get(s, 0) + 1
            labels.append(s if seen[s] == 1 else f"{s} ({seen[s]})")
        return labels
    if by not in camps.columns:
        raise ValueError(f"by={by!r} is not a campaign column; choose from {list(camps.columns)}")
    return ["(none)" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
            for v in camps[by]]  # fmt: skip


def _level_keys(metadata: dict) -> dict[int, str]:
    """Level index -> the name it is matched under (:data:`NO_LOAD` without workers)."""
    keys = {}
    for i, lv in enumerate(metadata["design"]["levels"]):
        workers = lv.get("workers")
        keys[i] = NO_LOAD if isinstance(workers, list) and not workers else str(lv["name"])
    return keys


def _keys_in_load_order(campaign_ids: list[str], footers: dict) -> list[str]:
    keys: list[str] = []
    for cid in campaign_ids:
        meta = footers[cid]
        names = _level_keys(meta)
        values = [lv.get("value") for lv in meta["design"]["levels"]]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        index = sorted(range(len(values)), key=lambda i: values[i]) if numeric else names
        keys.extend(names[i] for i in index)
    return list(dict.fromkeys(keys))


def _load_rate(lv: dict) -> str:
    workers = lv.get("workers") or []
    if not workers:
        return "no load"
    rates = [w.get("rate") for w in workers]
    traps = sorted({_trap_label(w.get("trap")) for w in workers})
    each = f"{sum(r for r in rates if r):,.0f} calls/s" if all(rates) else "back to back (max rate)"
    return f"{len(workers)} worker(s) of {'/'.join(traps)}, {each}"


def _trap_label(trap: Any) -> str:
    if not isinstance(trap, dict):
        return str(trap)
    kind, instr = trap.get("kind"), trap.get("instruction")
    return f"{kind}/{instr}" if kind == "hypercall" and instr else str(kind)


def _distinct(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys("?" if v is None else str(v) for v in values))


# -- the comparison -------------------------------------------------------------------------


def compare(
    data: Dataset | str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    by: str | None = None,
    reference: str | None = None,
    unit: str = "auto",
    config: AnalysisConfig | None = None,
    blocks: pd.DataFrame | None = None,
    engine: str = "duckdb",
    client: Any = None,
    **options: Any,
) -> CampaignComparison:
    """Compare campaigns, or groups of campaigns, level by level (see the module notes).

    Parameters
    ----------
    data : Dataset, path or paths
        The campaigns: a :class:`~hvload.datasets.Dataset`, files or folders.
    by : str, optional
        A column of :attr:`Dataset.campaigns` (``cpu_brand``, ``host``, ``kernel``,
        ...) whose values form the groups; by default every file is its own group.
    reference : str, optional
        The group the others are compared with; the first group by default.
    unit : {"auto", "block", "campaign"}
        Unit of replication of the tests (see the module notes).
    config : AnalysisConfig, optional
        ``alpha``, ``threshold``, ``correction``, ``exclude`` (``warmup`` and
        ``migrated`` only) and ``metric``; :data:`hvload.stats.DEFAULT` by default.
    blocks : pandas.DataFrame, optional
        A :meth:`Dataset.block_table` already computed with the same ``config``.
    engine, client
        As for :meth:`Dataset.block_table`.
    **options
        Fields of :class:`AnalysisConfig` to change, e.g. ``threshold=0.02``.

    Returns
    -------
    CampaignComparison

    Raises
    ------
    ValueError
        For an unknown ``by`` column, ``reference`` or ``unit``, fewer than two groups,
        or an option the dataset cannot apply; the message names the value.
    """
    config = (config or DEFAULT).replace(**options) if options else (config or DEFAULT)
    check_config(config)
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r} is not allowed; choose from {list(UNITS)}")
    ds = data if isinstance(data, Dataset) else dataset(data)
    if blocks is None:
        blocks = ds.block_table(config, engine=engine, client=client, probe_only=True)
    metadata = {cid: f.metadata for cid, f in ds.footers.items()}
    return compare_blocks(
        blocks, ds.campaigns, metadata, by=by, reference=reference, unit=unit, config=config
    )


def compare_blocks(
    blocks: pd.DataFrame,
    campaigns: pd.DataFrame,
    metadata: dict[str, dict[str, Any]],
    *,
    by: str | None = None,
    reference: str | None = None,
    unit: str = "auto",
    config: AnalysisConfig | None = None,
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
    labels = _group_labels(camps, by)
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
    key_maps = {c: _level_keys(footers[c]) for c in dict.fromkeys(cids.tolist())}
    factor = np.array([scale[c] for c in cids]) if len(cids) else np.zeros(0)
    stat = {on: blocks[on].to_numpy(dtype=np.float64) * factor for on in _ON}
    rows_of: dict[tuple[str, str], list[int]] = {}
    for i, (c, li) in enumerate(zip(cids.tolist(), index.tolist(), strict=True)):
        if filled[i]:
            rows_of.setdefault((key_maps[c].get(li, "?"), group_of[c]), []).append(i)

    present = set((g, k) for k, g in rows_of)
    columns = _columns_by_group(camps, order)
    keys_of = {
        g: [k for k in _keys_in_load_order(columns[g]["campaign"], footers) if (g, k) in present]
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
        by_block[kg] = {on: stat[on][at] for on in _ON}
        mine = cids[at]
        blocks_of[kg] = (mine.tolist(), index[at].tolist())

    # Unit of replication per level.
    pairs = [(reference, g) for g in order[1:]]
    m = len(pairs) * len(common) * len(_ON)
    units: dict[str, str] = {}
    for key in all_keys:
        counts = [len(set(blocks_of[(key, g)][0])) for g in order if key in keys_of[g]]
        can = min(counts) >= 2 and _reachable(counts, m, config)
        units[key] = "campaign" if (unit == "campaign" or (unit == "auto" and can)) else "block"
    for (key, g), rows in rows_of.items():
        if units[key] == "campaign":
            at = np.asarray(rows)
            mine = cids[at]
            # A campaign's typical block statistic: the median over its blocks of the level.
            by_campaign[(key, g)] = {
                on: np.array([np.median(stat[on][at][mine == c]) for c in dict.fromkeys(mine)])
                for on in _ON
            }
    empty = {on: np.zeros(0) for on in _ON}

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
            names = _distinct(
                footers[c]["design"]["levels"][int(i)]["name"]
                for c, i in sorted(set(zip(mine_c, mine_i, strict=True)))
            )
            row: dict[str, Any] = {
                "level": key, "group": g, "unit": units[key],
                "n_campaigns": len(set(mine_c)), "n_blocks": len(mine_c),
                "level_names": ", ".join(names), "compared": key in common,
            }  # fmt: skip
            for on in _ON:
                est, low, high = median_interval(values(key, g, on), config.confidence)
                row[on], row[f"{on}_ci_low"], row[f"{on}_ci_high"] = est, low, high
            level_rows.append(row)
    levels = pd.DataFrame(level_rows)

    results = []
    for ref, g in pairs:
        for key in common:
            for on in _ON:
                x, y = values(key, ref, on), values(key, g, on)
                res = two_sample(np.log(x), np.log(y), confidence=config.confidence)
                results.append((ref, g, key, on, x.size, y.size, res))
    adjusted = adjust_pvalues(np.array([r[-1].pvalue for r in results]), config.correction)
    rows = []
    for (ref, g, key, on, n1, n2, res), p_adj in zip(results, adjusted, strict=True):
        rel = [float(np.expm1(v)) for v in (res.estimate, res.low, res.high)]
        best = _best_adjusted(n1, n2, m, config.correction)
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
        rows.append({
            "reference": ref, "group": g, "level": key, "on": on, "unit": units[key],
            "n_reference": n1, "n_group": n2, "statistic": res.statistic,
            "pvalue": res.pvalue, "pvalue_adjusted": float(p_adj), "method": res.method,
            "ratio": float(np.exp(res.estimate)), "ratio_low": float(np.exp(res.low)),
            "ratio_high": float(np.exp(res.high)), "relative_change": rel[0],
            "relative_change_low": rel[1], "relative_change_high": rel[2],
            "verdict": v.value, "message": message,
        })  # fmt: skip
    comparisons = pd.DataFrame(rows, columns=_COMPARISON_COLUMNS)

    if left_out:
        notes.append(f"left out, without a probe {config.probe!r}: {', '.join(left_out)}")
    groups = _groups_table(columns, order)
    notes.extend(
        _notes(camps, columns, order, keys_of, common, units, footers, blocks_of, time_unit,
               config)
    )  # fmt: skip
    return CampaignComparison(groups, levels, comparisons, tuple(notes), time_unit, reference,
                              by, config)  # fmt: skip


_COMPARISON_COLUMNS = [
    "reference", "group", "level", "on", "unit", "n_reference", "n_group", "statistic",
    "pvalue", "pvalue_adjusted", "method", "ratio", "ratio_low", "ratio_high",
    "relative_change", "relative_change_low", "relative_change_high", "verdict", "message",
]  # fmt: skip


def _best_adjusted(n1: int, n2: int, m: int, correction: str) -> float:
    """Smallest adjusted p-value a comparison of ``n1`` and ``n2`` values can reach."""
    p = min_pvalue(n1, n2)
    return p if correction == "none" else min(1.0, p * max(m, 1))


def _reachable(counts: list[int], m: int, config: AnalysisConfig) -> bool:
    return all(
        _best_adjusted(a, b, m, config.correction) < config.alpha
        for a in counts[:1]
        for b in counts[1:]
    )


_GROUP_COLUMNS = ("probe", "cpu_brand", "hypervisor", "kernel", "host", "tsc_hz", "levels",
                  "samples", "rounds", "date", "synthetic")  # fmt: skip


def _columns_by_group(camps: pd.DataFrame, order: list[str]) -> dict[str, dict[str, list]]:
    """Each group's campaigns as plain lists per column (the table is small; pandas
    filtering per group and column would cost more than the statistics)."""
    groups = camps["group"].tolist()
    columns = {col: camps[col].tolist() for col in camps.columns}
    return {
        g: {col: [v for v, gg in zip(vals, groups, strict=True) if gg == g]
            for col, vals in columns.items()}
        for g in order
    }  # fmt: skip


def _groups_table(columns: dict[str, dict[str, list]], order: list[str]) -> pd.DataFrame:
    rows = []
    for g in order:
        mine = columns[g]
        row: dict[str, Any] = {"group": g, "n_campaigns": len(mine["campaign"]),
                               "files": "; ".join(mine["file"])}  # fmt: skip
        for col in _GROUP_COLUMNS:
            row[col] = "; ".join(_distinct(mine[col]))
        rows.append(row)
    return pd.DataFrame(rows)


def _notes(
    camps: pd.DataFrame, by_group: dict[str, dict[str, list]], order: list[str],
    keys_of: dict[str, list[str]], common: list[str],
    units: dict[str, str], footers: dict, blocks_of: dict, time_unit: str,
    config: AnalysisConfig,
) -> list[str]:  # fmt: skip
    notes = []

    def per_group(col: str) -> dict[str, list[str]]:
        return {g: _distinct(by_group[g][col]) for g in order}

    if not common:
        notes.append("NOT COMPARED: the groups share no level; nothing below is a comparison")
    else:
        notes.append(f"compared: level(s) {', '.join(repr(k) for k in common)}")
    for g in order:
        only = [k for k in keys_of[g] if k not in common]
        if only:
            notes.append(
                f"not compared (different level sets): {', '.join(repr(k) for k in only)} "
                f"only in {g}"
            )
    block_keys = [k for k in common if units[k] == "block"]
    camp_keys = [k for k in common if units[k] == "campaign"]
    if block_keys:
        single = all(len(by_group[g]["campaign"]) == 1 for g in order)
        m = (len(order) - 1) * len(common) * len(_ON)
        k = 2
        while _best_adjusted(k, k, m, config.correction) >= config.alpha and k < 1000:
            k += 1
        notes.append(
            "unit of replication: the block (for "
            + ", ".join(repr(k) for k in block_keys)
            + "). This compares these campaigns: "
            + ("with one campaign per group, " if single else "")
            + "a campaign's own conditions (host load that day, this boot) are not told "
            f"apart from the machine; with at least {k} campaigns per group ({m} tests, "
            f"{config.correction}) the comparison is made between campaigns instead"
        )
    if camp_keys:
        notes.append(
            "unit of replication: the campaign (for " + ", ".join(repr(k) for k in camp_keys)
            + "): one typical block statistic per campaign, campaigns independent"
        )  # fmt: skip
    probes = per_group("probe")
    if config.probe is not None:
        notes.append(
            f"compared probe: {config.probe!r} in every campaign (not the main probes: "
            + "; ".join(f"{g}: {', '.join(v)}" for g, v in probes.items())
            + ")"
        )
    elif len({tuple(v) for v in probes.values()}) > 1 or any(len(v) > 1 for v in probes.values()):
        kinds = {str(k) for g in order for k in by_group[g]["probe_kind"]}
        what = (
            "different operations: a difference says nothing about either one alone"
            if len(kinds) > 1
            else "each group's own instruction; on plain KVM each is one VM exit plus KVM's "
            "refusal of a user-mode hypercall, but they are different instructions (on "
            "different CPUs), so a difference is between the two exits, not one operation"
        )
        notes.append(
            "CAVEAT, the probes differ ("
            + "; ".join(f"{g}: {', '.join(v)}" for g, v in probes.items())
            + f"): {what}"
        )
    if time_unit == "ns":
        mhz = {g: _distinct(f"{float(t) / 1e6:,.2f} MHz" for t in by_group[g]["tsc_hz"])
               for g in order}  # fmt: skip
        notes.append(
            "times in ns: each campaign's cycles over its own TSC frequency ("
            + "; ".join(f"{g}: {', '.join(v)}" for g, v in mhz.items())
            + ")"
        )
    else:
        notes.append(
            "CAVEAT, times in TSC cycles: not every campaign records its TSC frequency, and "
            "cycles of different clocks are not the same unit"
        )
    for col in ("cpu_brand", "hypervisor", "kernel", "host", "cpu_count"):
        vals = per_group(col)
        if len({tuple(v) for v in vals.values()}) > 1:
            notes.append(
                f"the groups differ in {col} ("
                + "; ".join(f"{g}: {', '.join(v)}" for g, v in vals.items())
                + "): a difference cannot be put down to any one of these"
            )
    sizes = {g: sorted({int(s) for s in by_group[g]["samples"]}) for g in order}
    flat = sorted({s for v in sizes.values() for s in v})
    if flat and flat[-1] > 2 * flat[0]:
        notes.append(
            "CAVEAT, blocks of different sizes ("
            + "; ".join(f"{g}: {', '.join(f'{s:,}' for s in v)}" for g, v in sizes.items())
            + " samples): a block's p99 depends on how many samples it has, so the p99 "
            "comparison mixes that in"
        )
    if NO_LOAD in common:
        described = []
        for g in order:
            mine_c, mine_i = blocks_of[(NO_LOAD, g)]
            names = _distinct(
                footers[c]["design"]["levels"][int(i)]["name"]
                for c, i in sorted(set(zip(mine_c, mine_i, strict=True)))
            )
            described.append(f"{g}: {', '.join(repr(n) for n in names)}")
        notes.append("'no load' matches every level without load workers (" + "; ".join(described)
                     + "); several in one campaign are pooled")  # fmt: skip
    for key in common:
        if key == NO_LOAD:
            continue
        loads = {}
        for g in order:
            descr = set()
            for cid in by_group[g]["campaign"]:
                for lv in footers[cid]["design"]["levels"]:
                    if str(lv["name"]) == key:
                        descr.add(_load_rate(lv))
            loads[g] = sorted(descr)
        if len({tuple(v) for v in loads.values()}) > 1:
            notes.append(
                f"level {key!r} is not the same load everywhere ("
                + "; ".join(f"{g}: {', '.join(v)}" for g, v in loads.items())
                + "): a percent level is relative to each machine's own measured saturation"
            )
    if config.metric == "response" and (camps["probe_gap"].fillna(0) == 0).any():
        notes.append(
            "CAVEAT: some campaigns ran the probe closed loop; their response time is their "
            "service time"
        )
    synthetic = camps.loc[camps["synthetic"].astype(bool), "file"]
    if len(synthetic):
        notes.append(f"SYNTHETIC campaign(s), not measurements: {', '.join(synthetic)}")
    return notes


# -- text -------------------------------------------------------------------------------------


def _fmt(v: float, unit: str) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:,.0f}" if unit == "cycles" or v >= 100 else f"{v:,.1f}"


def _pct(v: float) -> str:
    return f"{100 * v:+.1f}%" if math.isfinite(v) else "n/a"


def _text(res: CampaignComparison) -> str:
    cfg = res.config
    lines = []
    groups = res.groups
    lines.append(
        f"Comparing {len(groups)} groups ({'by ' + res.by if res.by else 'one per file'}), "
        f"reference {res.reference}:"
    )
    for row in groups.itertuples(index=False):
        lines.append(
            f"  {row.group}: {row.n_campaigns} campaign(s); probe {row.probe}; CPU "
            f"{row.cpu_brand}; {row.hypervisor}; levels {row.levels}"
        )
    excluded = ", ".join(cfg.exclude) if cfg.exclude else "nothing"
    probe = f"probe {cfg.probe!r}" if cfg.probe else "the main probe"
    lines.append(
        f"Block median and p99 of {probe}'s {cfg.metric} in {res.unit}, {excluded} left out; "
        f"{cfg.ci_label}; tests: Mann-Whitney on log block statistics, {cfg.correction} "
        f"over {len(res.comparisons)} tests; practical threshold {cfg.threshold:.1%}."
    )
    lines.append("")
    lines.append("What can and cannot be compared:")
    lines.extend(f"  - {n}" for n in res.notes)
    lines.append("")
    ci = cfg.ci_label
    for key in dict.fromkeys(res.levels["level"]):
        rows = res.levels[res.levels["level"] == key]
        lines.append(f"Level {key!r}" + ("" if rows["compared"].iloc[0] else "  (not compared)"))
        for on in _ON:
            parts = []
            for r in rows.itertuples(index=False):
                est, lo, hi = (getattr(r, on), getattr(r, f"{on}_ci_low"),
                               getattr(r, f"{on}_ci_high"))  # fmt: skip
                size = f"{r.n_campaigns} camp" if r.unit == "campaign" else f"{r.n_blocks} blocks"
                parts.append(
                    f"{r.group}: {_fmt(est, res.unit)} [{_fmt(lo, res.unit)}, "
                    f"{_fmt(hi, res.unit)}] ({size})"
                )
            lines.append(f"  {on:<6} {ci}  " + " | ".join(parts))
        cmp = res.comparisons[res.comparisons["level"] == key]
        for r in cmp.itertuples(index=False):
            lines.append(
                f"    {r.on:<6} {r.group} vs {r.reference}: {_pct(r.relative_change)} "
                f"[{_pct(r.relative_change_low)}, {_pct(r.relative_change_high)}], "
                f"p adj {r.pvalue_adjusted:.3g} ({r.unit}s {r.n_reference} vs {r.n_group}): "
                f"{r.verdict}" + (f" - {r.message}" if r.message else "")
            )
    return "\n".join(lines) + "\n"
