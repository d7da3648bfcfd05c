"""The block policy: which blocks the analysis admits, and the words for what it left out.

A block whose load is not known to have run as designed (``load_ok = False``, set by a
remote load driver) stays in the campaign file but not in the analysis: :func:`usable`
drops it, :func:`left_out` says which and why, :func:`applied_load_text` tells per level
what load was applied.
"""

from __future__ import annotations

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
    return "Applied load per level (mean over blocks; load = achieved / saturation)\n" + (
        table.to_string(float_format=lambda x: f"{x:,.3f}" if abs(x) < 10 else f"{x:,.0f}") + "\n"
    )


def usable(camp: Campaign) -> Campaign:
    """``camp`` without the blocks flagged ``load_ok = False``; what the analysis takes.

    A block is flagged when its load is not known to have run as designed over its
    whole probe window: a remote agent was lost, its load started late or stopped
    early, or a paced remote worker fell short of its target rate
    (:mod:`hvload.workload.remote`). Such blocks stay in the file; :func:`left_out` says which
    were left out and why, and ``hvload report`` and ``hvload run`` print it.
    Campaigns without the flag (local load only) come back unchanged.
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
