"""What can be compared: grouping campaigns, matching their levels, and saying what differs.

Groups are one per file or the values of a campaign column (:func:`group_labels`); levels are
matched by name, every level without load workers as :data:`NO_LOAD` (:func:`level_keys`).
:func:`comparison_notes` writes what was and what could not be compared, and the caveats (probes,
clocks, CPUs, block sizes, loads that differ between the groups). The statistics are in
:mod:`hvload.datasets._comparison`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..stats.config import AnalysisConfig
from ..stats.twosample import min_pvalue

__all__ = [
    "NO_LOAD",
    "ON",
    "best_adjusted",
    "columns_by_group",
    "comparison_notes",
    "distinct",
    "group_labels",
    "groups_table",
    "keys_in_load_order",
    "level_keys",
    "reachable",
]

#: The name every level without load workers is matched under.
NO_LOAD = "no load"
#: The block statistics compared.
ON = ("median", "p99")


def group_labels(camps: pd.DataFrame, by: str | None) -> list[str]:
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


def level_keys(metadata: dict) -> dict[int, str]:
    """Level index -> the name it is matched under (:data:`NO_LOAD` without workers)."""
    keys = {}
    for i, lv in enumerate(metadata["design"]["levels"]):
        workers = lv.get("workers")
        keys[i] = NO_LOAD if isinstance(workers, list) and not workers else str(lv["name"])
    return keys


def keys_in_load_order(campaign_ids: list[str], footers: dict) -> list[str]:
    keys: list[str] = []
    for cid in campaign_ids:
        meta = footers[cid]
        names = level_keys(meta)
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


def distinct(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys("?" if v is None else str(v) for v in values))


def best_adjusted(n1: int, n2: int, m: int, correction: str) -> float:
    """Smallest adjusted p-value a comparison of ``n1`` and ``n2`` values can reach."""
    p = min_pvalue(n1, n2)
    return p if correction == "none" else min(1.0, p * max(m, 1))


def reachable(counts: list[int], m: int, config: AnalysisConfig) -> bool:
    return all(
        best_adjusted(a, b, m, config.correction) < config.alpha
        for a in counts[:1]
        for b in counts[1:]
    )


_GROUP_COLUMNS = ("probe", "cpu_brand", "hypervisor", "kernel", "host", "tsc_hz", "levels",
                  "samples", "rounds", "date", "synthetic")  # fmt: skip


def columns_by_group(camps: pd.DataFrame, order: list[str]) -> dict[str, dict[str, list]]:
    """Each group's campaigns as plain lists per column (the table is small; pandas
    filtering per group and column would cost more than the statistics)."""
    groups = camps["group"].tolist()
    columns = {col: camps[col].tolist() for col in camps.columns}
    return {
        g: {col: [v for v, gg in zip(vals, groups, strict=True) if gg == g]
            for col, vals in columns.items()}
        for g in order
    }  # fmt: skip


def groups_table(columns: dict[str, dict[str, list]], order: list[str]) -> pd.DataFrame:
    rows = []
    for g in order:
        mine = columns[g]
        row: dict[str, Any] = {"group": g, "n_campaigns": len(mine["campaign"]),
                               "files": "; ".join(mine["file"])}  # fmt: skip
        for col in _GROUP_COLUMNS:
            row[col] = "; ".join(distinct(mine[col]))
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_notes(
    camps: pd.DataFrame, by_group: dict[str, dict[str, list]], order: list[str],
    keys_of: dict[str, list[str]], common: list[str],
    units: dict[str, str], footers: dict, blocks_of: dict, time_unit: str,
    config: AnalysisConfig,
) -> list[str]:  # fmt: skip
    notes = []

    def per_group(col: str) -> dict[str, list[str]]:
        return {g: distinct(by_group[g][col]) for g in order}

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
        m = (len(order) - 1) * len(common) * len(ON)
        k = 2
        while best_adjusted(k, k, m, config.correction) >= config.alpha and k < 1000:
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
        mhz = {g: distinct(f"{float(t) / 1e6:,.2f} MHz" for t in by_group[g]["tsc_hz"])
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
            names = distinct(
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
