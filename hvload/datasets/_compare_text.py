"""The text of a comparison, as ``hvload compare`` prints it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ._matching import ON

if TYPE_CHECKING:
    from ._comparison import CampaignComparison

__all__ = ["render"]


def _fmt(v: float, unit: str) -> str:
    if not math.isfinite(v):
        return "n/a"
    return f"{v:,.0f}" if unit == "cycles" or v >= 100 else f"{v:,.1f}"


def _pct(v: float) -> str:
    return f"{100 * v:+.1f}%" if math.isfinite(v) else "n/a"


def render(res: CampaignComparison) -> str:
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
        for on in ON:
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
