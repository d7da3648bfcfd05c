"""The block policy: which blocks the analysis admits, and the words for what it left out.

A block whose load is not known to have run as designed (``load_ok = False``: a paced
local worker fell more than 5 % short of its target rate, a remote load driver's checks
failed, or the kernel delivered too few interrupts) stays in the campaign file but not
in the analysis: :func:`usable` drops it, :func:`left_out` says which and why,
:func:`applied_load_text` tells per level what load was applied.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..model import Campaign

__all__ = ["applied_load_text", "left_out", "usable"]


def applied_load_text(blocks: pd.DataFrame) -> str:
    """Per-level applied load from a campaign's block table, as text."""
    if blocks.empty:
        return "no finished blocks\n"
    g = blocks.groupby(["level_index", "level"], sort=True)
    table = pd.DataFrame(
        {
            "blocks": g.size(),
            "target/s": g["target_rate"].mean(),
            "achieved/s": g["achieved_rate"].mean(),
            "achieved load": g["achieved_load"].mean(),
            "lateness p99 (cycles)": g["lateness_p99"].max(),
        }
    ).reset_index(level="level_index", drop=True)
    fmt = lambda x: f"{x:,.3f}" if abs(x) < 10 else f"{x:,.0f}"  # noqa: E731
    text = "Applied load per level (mean over blocks; load = achieved / saturation)\n"
    text += table.to_string(float_format=fmt) + "\n"
    if "ipi_cal" in blocks.columns:
        text += "\n" + _delivered_text(blocks, g, fmt)
    return text


def _delivered_text(blocks: pd.DataFrame, g: Any, fmt: Any) -> str:
    """What the kernel delivered per level: interrupts/s over the probe windows beside the
    interrupting calls made per second (each delivered interrupt a hypercall where the
    hypervisor offers PV IPIs; a call reaches every other CPU running this process)."""
    seconds = (blocks["probe_ns"] / 1e9).where(blocks["probe_ns"] > 0)
    calls = blocks["kernel_load_rate"] + blocks["kernel_probe_calls"] / seconds
    per = pd.DataFrame({
        "level_index": blocks["level_index"], "level": blocks["level"],
        "CAL/s": blocks["ipi_cal"] / seconds, "TLB/s": blocks["ipi_tlb"] / seconds,
        "RES/s": blocks["ipi_res"] / seconds, "calls/s": calls,
    })  # fmt: skip
    table = per.groupby(["level_index", "level"], sort=True).mean()
    table = table.reset_index(level="level_index", drop=True)
    if "delivered_target" in blocks.columns:
        table["target/s"] = g["delivered_target"].mean().to_numpy()
    return (
        "Delivered by the kernel per level (/proc/interrupts over the probe windows, all "
        "CPUs; mean over blocks)\n" + table.to_string(float_format=fmt) + "\n"
    )


def usable(camp: Campaign) -> Campaign:
    """``camp`` without the blocks flagged ``load_ok = False``; what the analysis takes.

    A block is flagged when its load is not known to have run as designed over its
    whole probe window: a paced worker of this machine achieved less than 95 % of its
    target rate (:func:`hvload.workload.generator.shortfalls`), a remote agent was lost,
    its load started late or stopped early, or a paced remote worker fell short of its
    target rate (:mod:`hvload.workload.remote`). Such blocks stay in the file;
    :func:`left_out` says which were left out and why, and ``hvload report`` and
    ``hvload run`` print it. Campaigns without the flag (files written before local load
    was judged, or without paced load) come back unchanged: old files keep the flags
    they recorded.
    """
    blocks = camp.blocks
    if blocks.empty or "load_ok" not in blocks.columns:
        return camp
    bad = blocks["load_ok"].eq(False)
    if not bad.any():
        return camp
    dropped = blocks.loc[bad]
    notes = [
        f"block {int(b['block'])} (round {int(b['round'])}, level {b['level']!r}): "
        f"{b['load_problem'] if isinstance(b.get('load_problem'), str) else 'load not as designed'}"
        for _, b in dropped.iterrows()
    ]
    keep = ~camp.samples["block"].isin(dropped["block"])
    return Campaign(
        camp.samples.loc[keep].reset_index(drop=True),
        blocks.loc[~bad].reset_index(drop=True),
        {**camp.metadata, "left_out": notes},
        camp.path,
    )


def left_out(camp: Campaign) -> str:
    """What :func:`usable` left out of ``camp``, as text (empty when nothing was)."""
    notes = camp.metadata.get("left_out") or []
    if not notes:
        return ""
    head = (
        f"Left out of the analysis: {len(notes)} block{'s' if len(notes) != 1 else ''} "
        "whose load did not run as designed over the probe window (kept in the file)\n"
    )
    return head + "".join(f"  {n}\n" for n in notes)
