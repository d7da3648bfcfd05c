"""What a Markdown or HTML report shows, as display strings: one context for both templates.

Numbers come from :mod:`._tables` (the JSON report), formatted here once, so the two
renderings print the same digits.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..stats.report import TAIL_ESTIMANDS
from ..stats.sequential import sequential_text
from ._tables import (
    attribution_table,
    comparison_table,
    level_table,
    noise_table,
    tail_comparison_table,
)

__all__ = ["comparison_context", "report_context"]


def num(value: Any, digits: int = 0) -> str:
    """A number with thousands separators; '-' for a missing one."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def pct(value: Any, digits: int = 2, sign: bool = True) -> str:
    """A fraction as a percentage ('+1.23%'); '-' for a missing one."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{float(value) * 100:{'+' if sign else ''}.{digits}f}%"


def _interval(row: pd.Series, key: str) -> str:
    return f"{pct(row[key])} [{pct(row[key + '_low'])}, {pct(row[key + '_high'])}]"


def _platform(meta: dict[str, Any], design: dict[str, Any]) -> list[tuple[str, str]]:
    platform = meta.get("platform") or {}
    tsc = meta.get("tsc_hz") or design.get("tsc_hz")
    d = meta.get("design") or {}
    controls = [str(p) for p in design.get("probes") or () if p != design.get("probe")]
    rows = [
        ("CPU", str(meta.get("cpu") or "-")),
        ("Hypervisor", str(meta.get("hypervisor") or "-")),
        ("Kernel", str(platform.get("kernel") or "-")),
        ("Host", str(meta.get("hostname") or "-")),
        ("TSC", f"{float(tsc) / 1e9:.3f} GHz" if tsc else "not known"),
        ("Measured", f"{meta.get('start_utc') or '-'} to {meta.get('end_utc') or '-'}"),
        ("hvload commit", str(meta.get("git_commit") or "-")),
        ("Probe", str(design.get("probe") or "-")),
        ("Controls in the same blocks", ", ".join(controls) or "none"),
        ("Probe CPU", str(d.get("probe_cpu", "-"))),
    ]
    return rows


def _sequential_lines(report: Any) -> list[str]:
    """What the text report says about a sequential campaign's looks, line by line
    (the first is the heading sentence); empty for a campaign of fixed size."""
    record = report.sequential
    if record is None:
        return []
    config = report.analysis.config
    text = sequential_text(record, config.alpha if config is not None else None)
    return [line.strip() for line in text.splitlines() if line.strip()]


def report_context(report: Any, band: list[str] | None = None) -> dict[str, Any]:
    """Everything the report templates show, for a :class:`CampaignReport`."""
    data = report.to_dict()
    design, settings = data["design"], data["settings"]
    levels = level_table(data)
    ns = "median_ns" in levels.columns
    level_rows = [
        [
            str(r["level"]),
            num(r["n_blocks"]),
            num(r["n"]),
            pct(r["flagged_share"], 1, False),
            num(r["min"]),
            num(r["median"]),
            f"{num(r['level_p99'])} [{num(r['level_p99_ci_low'])}, {num(r['level_p99_ci_high'])}]",
            num(r["p99.9"]),
            num(r["max"]),
            f"{num(r['block_median'])} [{num(r['block_median_ci_low'])}, "
            f"{num(r['block_median_ci_high'])}]",
            f"{num(r['block_p99'])} [{num(r['block_p99_ci_low'])}, {num(r['block_p99_ci_high'])}]",
            num(r["median_ns"], 1) if ns else "-",
        ]
        for _, r in levels.iterrows()
    ]
    level_header = [
        "level",
        "blocks",
        "n",
        "flagged",
        "min",
        "median",
        "level p99 [95% CI]",
        "p99.9",
        "max",
        "typical block median [95% CI]",
        "typical block p99 [95% CI]",
        "median ns",
    ]
    comp = comparison_table(data)
    comparison_rows = [
        [
            str(r["reference"]),
            str(r["level"]),
            # as the text report says it: the p99 rows are the typical block's
            "block p99" if r["on"] == "p99" else str(r["on"]),
            num(r["n_rounds"]),
            _interval(r, "relative_change"),
            f"{num(r['change'], 1)} cycles"
            + (
                f" / {num(r['change_ns'], 1)} ns"
                if "change_ns" in r and pd.notna(r["change_ns"])
                else ""
            ),
            num(r["pvalue_adjusted"], 4),
            num(r["cles"], 3),
            str(r["verdict"]),
        ]
        for _, r in comp.iterrows()
    ]
    comparison_header = [
        "reference",
        "level",
        "on",
        "rounds",
        "change [95% CI]",
        "change",
        "p adj",
        "CLES",
        "verdict",
    ]
    tails = tail_comparison_table(data)
    tail_rows = [
        [
            str(r["reference"]),
            str(r["level"]),
            num(r["n_rounds"]),
            _interval(r, "relative_change"),
            num(r["pvalue_adjusted"], 4),
            str(r["verdict"]),
        ]
        for _, r in tails.iterrows()
    ]
    tail_header = ["reference", "level", "rounds", "change [95% CI]", "p adj", "verdict"]
    attr = attribution_table(data)
    attribution_rows = [
        [
            str(r["level"]),
            str(r["control"]),
            num(r["n_rounds"]),
            f"{pct(r['main_change'])} ({r['main_verdict']})",
            pct(r["control_change"]),
            _interval(r, "difference"),
            num(r["pvalue_adjusted"], 4),
            str(r["verdict"]),
        ]
        for _, r in attr.iterrows()
    ]
    attribution_header = [
        "level",
        "control",
        "rounds",
        "main",
        "control change",
        "difference [95% CI]",
        "p adj",
        "verdict",
    ]
    noise = noise_table(data)
    noise_lines = [
        f"block {r['on']}s: block-to-block SD {pct(r['block_sd'], 2, False)} (sampling "
        f"{pct(r['sampling_sd'], 2, False)}, between blocks {pct(r['between_sd'], 2, False)}); "
        f"smallest change this design calls slower with 80% power: {pct(r['mde'], 1, False)}"
        for _, r in noise.iterrows()
    ]
    tests = []
    for name, label in (("omnibus", "Omnibus (Friedman)"), ("trend", "Trend with load (Page)")):
        parts = [
            f"block {on}s p = {num(t.get('pvalue'), 4)}"
            for on, t in (data.get(name) or {}).items()
            if isinstance(t, dict)
        ]
        if parts:
            tests.append(f"{label}: " + "; ".join(parts))
    meta = dict(report.campaign.metadata)
    title = f"hvload report: {design.get('probe')} on {meta.get('cpu') or 'unknown CPU'}"
    verdicts = comp["verdict"].value_counts().to_dict() if "verdict" in comp else {}
    return {
        "title": title,
        "path": str(getattr(report.campaign, "path", "") or ""),
        "platform": _platform(meta, design),
        "design": (
            f"{design['n_levels']} levels ({', '.join(design['levels'])}) x "
            f"{design['n_rounds']} rounds, {num(design['n_samples'])} samples "
            f"({num(design['n_analysed'])} analysed, {num(design['samples_per_block'])} per "
            f"block); baseline {design['baseline']}; metric {design['metric']}"
        ),
        "settings": (
            f"alpha {settings['alpha']}, practical threshold {pct(settings['threshold'], 1, False)}"
            f", correction {settings['correction']}, excluded: "
            f"{', '.join(settings['exclude']) or 'nothing'}"
        ),
        "verdict_counts": ", ".join(f"{v} {k}" for k, v in sorted(verdicts.items())),
        "noise": noise_lines,
        "tests": tests,
        "levels": {"header": level_header, "rows": level_rows},
        "comparisons": {"header": comparison_header, "rows": comparison_rows},
        "tail_comparisons": {"header": tail_header, "rows": tail_rows},
        "estimands": TAIL_ESTIMANDS,
        "sequential": _sequential_lines(report),
        "attribution": {
            "header": attribution_header,
            "rows": attribution_rows,
            "probe": (data.get("attribution") or {}).get("probe"),
            "controls": (data.get("attribution") or {}).get("controls") or [],
        },
        "notes": list(data.get("notes") or ()) + list(report.left_out),
        "band": list(band or ()),
        "methods": data.get("methods") or {},
    }


def comparison_context(result: Any) -> dict[str, Any]:
    """Everything the comparison templates show, for a CampaignComparison."""
    unit = result.unit
    groups = result.groups
    group_cols = [c for c in groups.columns if c not in ("files",)]
    group_rows = [
        [num(v, 3) if isinstance(v, float) else str(v) for v in row]
        for row in groups[group_cols].itertuples(index=False)
    ]
    lv = result.levels
    show = [
        c
        for c in (
            "group",
            "level",
            "unit",
            "n_campaigns",
            "n_blocks",
            "median",
            "median_ci_low",
            "median_ci_high",
            "p99",
            "p99_ci_low",
            "p99_ci_high",
        )
        if c in lv.columns
    ]
    level_rows = [
        [num(v, 1) if isinstance(v, float) else str(v) for v in row]
        for row in lv[show].itertuples(index=False)
    ]
    cp = result.comparisons
    comp_rows = []
    for _, r in cp.iterrows():
        comp_rows.append(
            [
                str(r.get("group")),
                str(r.get("level")),
                str(r.get("on")),
                num(r.get("ratio"), 3) + f" [{num(r.get('ratio_low'), 3)}, "
                f"{num(r.get('ratio_high'), 3)}]",
                pct(r.get("relative_change")),
                num(r.get("pvalue_adjusted"), 4),
                str(r.get("verdict")),
            ]
        )
    return {
        "title": f"hvload compare: against {result.reference}",
        "unit": unit,
        "by": result.by or "file",
        "reference": result.reference,
        "groups": {"header": group_cols, "rows": group_rows},
        "levels": {"header": show, "rows": level_rows},
        "comparisons": {
            "header": ["group", "level", "on", "ratio [95% CI]", "change", "p adj", "verdict"],
            "rows": comp_rows,
        },
        "notes": list(result.notes),
    }
