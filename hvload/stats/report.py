"""Text and JSON renderings of an :class:`~hvload.stats.results.Analysis`.

:func:`to_text` and :func:`to_dict` are the stable interface used by
``hvload report`` (text, or ``--json``) and by ``hvload run``'s summary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .results import Analysis, Comparison, LevelSummary, TestResult, jsonable
from .summary import MAD_SCALE

__all__ = ["METHODS", "REPORT_EXCLUDE", "to_dict", "to_text"]

#: What hvload's reports, figures and widgets leave out unless told otherwise: the samples
#: the campaign design itself declared warm-up. Other flags are only counted.
REPORT_EXCLUDE: tuple[str, ...] = ("warmup",)

#: One-line descriptions of every method, carried in the JSON output.
METHODS: dict[str, str] = {
    "unit": "the block (one level in one round); rounds are the replicates",
    "quantiles": "linear interpolation between order statistics (numpy default, type 7)",
    "confidence_intervals": (
        "percentile block bootstrap: rounds resampled with replacement, pooled "
        "quantile of the resampled blocks; paired across levels"
    ),
    "omnibus": "Friedman test on the rounds x levels matrix of block medians / block p99",
    "trend": "Page's trend test, one-sided, block statistic increasing with load",
    "pairwise": (
        "Wilcoxon signed-rank test on per-round differences of block medians / block p99, "
        "each level against the baseline and against its lower neighbour"
    ),
    "effect": "ratio of pooled medians; difference of pooled p99 (cycles and ns)",
    "cles": "P(level sample > reference sample) + ties/2 on pooled samples; descriptive only",
    "verdict": (
        "not enough data | no evidence (adjusted p >= alpha) | negligible (significant, "
        "|change| < threshold x reference median) | slower | faster"
    ),
    "outlier": f"|x - level median| > k x max({MAD_SCALE} x MAD, 1 cycle), all samples",
}


def _num(x: float, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:,.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), *(line(r) for r in rows)]


def _ci(s: LevelSummary, name: str, unit: str, digits: int) -> str:
    low, high = s.confidence_interval(name, unit)
    if not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f"[{_num(low, digits)}, {_num(high, digits)}]"


def _level_rows(levels: Sequence[LevelSummary], unit: str, brief: bool) -> list[str]:
    suffix = "_ns" if unit == "ns" else ""
    digits = 1 if unit == "ns" else 0
    if brief:
        header = ["level", "n", "median", "p99", "p99.9"]
        rows = [
            [s.level, _num(s.n)]
            + [_num(s[f"{k}{suffix}"], digits) for k in ("median", "p99", "p99.9")]
            for s in levels
        ]
        return _table(header, rows)
    header = [
        "level", "blocks", "n", "flagged", "min", "mean", "median", "95% CI", "p90",
        "p99", "95% CI", "p99.9", "p99.99", "max", "IQR", "MAD",
    ]  # fmt: skip
    keys = ("min", "mean", "median", "p90", "p99", "p99.9", "p99.99", "max", "iqr", "mad")
    rows = []
    for s in levels:
        v = {k: _num(s[f"{k}{suffix}"], digits) for k in keys}
        rows.append(
            [
                s.level, str(s.n_blocks), _num(s.n), _num(100 * s.flagged_share, 1) + "%",
                v["min"], v["mean"], v["median"], _ci(s, "median", unit, digits), v["p90"],
                v["p99"], _ci(s, "p99", unit, digits), v["p99.9"], v["p99.99"], v["max"],
                v["iqr"], v["mad"],
            ]
        )  # fmt: skip
    return _table(header, rows)


def _test_line(results: dict[str, TestResult], symbol: str) -> str:
    parts = []
    for name, t in results.items():
        what = "block medians" if name == "median" else "block p99"
        if t.status != "ok":
            parts.append(f"{what}: {t.status} ({t.message})")
        else:
            parts.append(f"{what}: {symbol} = {t.statistic:.4g}, p = {t.pvalue:.3g}")
    return "; ".join(parts)


def _effect(c: Comparison, has_ns: bool) -> str:
    if c.on == "median":
        ci = (
            f" [{c.effect_low:.4f}, {c.effect_high:.4f}]"
            if math.isfinite(c.effect_low) and math.isfinite(c.effect_high)
            else ""
        )
        return f"x{c.effect:.4f}{ci}" if math.isfinite(c.effect) else "-"
    if not math.isfinite(c.effect):
        return "-"
    text = f"{c.effect:+,.0f} cyc"
    if math.isfinite(c.effect_low) and math.isfinite(c.effect_high):
        text += f" [{c.effect_low:+,.0f}, {c.effect_high:+,.0f}]"
    if has_ns and math.isfinite(c.effect_ns):
        text += f" ({c.effect_ns:+,.1f} ns)"
    return text


def to_text(analysis: Analysis, *, brief: bool = False) -> str:
    """Render an analysis as a readable, fixed-width report.

    Parameters
    ----------
    analysis : Analysis
        What :func:`hvload.stats.analyze` returned.
    brief : bool, default False
        Only the per-level table of n, median, p99 and p99.9 (cycles, and ns
        when the TSC frequency is known), as ``hvload run`` prints at the end.

    Returns
    -------
    str
        The report, ending with a newline.
    """
    d, st = analysis.design, analysis.settings
    has_ns = d["tsc_hz"] is not None
    levels = analysis.level_summaries
    out: list[str] = []
    if brief:
        out.append("Per level, cycles")
        out += _level_rows(levels, "cycles", True)
        if has_ns:
            out += ["", "Per level, ns"]
            out += _level_rows(levels, "ns", True)
        return "\n".join(out) + "\n"

    tsc = f"TSC {d['tsc_hz'] / 1e9:.4g} GHz" if has_ns else "TSC frequency unknown"
    out.append(
        f"hvload statistics: {d['n_levels']} levels x {d['n_rounds']} rounds, "
        f"{d['n_samples']:,} samples ({d['n_analysed']:,} analysed), {tsc}"
    )
    excluded = ", ".join(st["exclude"]) or "nothing"
    conf = round(100 * st["confidence"], 6)
    ci_text = (
        f"{conf:g}% CIs: percentile block bootstrap over rounds, {st['n_boot']} resamples"
        if st["n_boot"]
        else "no CIs (n_boot=0)"
    )
    out.append(f"{ci_text}. Excluded: {excluded}.")
    out += ["", "Per level, cycles"]
    out += _level_rows(levels, "cycles", False)
    if has_ns:
        out += ["", "Per level, ns"]
        out += _level_rows(levels, "ns", False)
    out.append(
        "flagged = share of samples migrated, in warm-up, or beyond "
        f"{st['outlier_k']:g} scaled MADs from the level median"
    )
    out += [
        "",
        f"Omnibus, Friedman over {d['n_complete_rounds']} rounds: "
        + _test_line(analysis.omnibus, "chi2"),
        "Trend with load, Page (one-sided, increasing): " + _test_line(analysis.trend, "L"),
        "",
    ]
    n_tests = sum(1 for c in analysis.comparison_results if math.isfinite(c.pvalue))
    corr = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "un"}[st["correction"]]
    out.append(
        f"Comparisons: Wilcoxon signed-rank on rounds, {corr}-adjusted over {n_tests} tests, "
        f"alpha {st['alpha']:g}; practical threshold {100 * st['threshold']:g}% of the "
        "reference median"
    )
    header = ["reference", "level", "on", "rounds", "effect [CI]", "p", "p adj", "CLES", "verdict"]
    rows = [
        [
            c.reference,
            c.level,
            c.on,
            str(c.n_rounds),
            _effect(c, has_ns),
            _num(c.pvalue, 4),
            _num(c.pvalue_adjusted, 4),
            _num(c.cles, 3),
            c.verdict,
        ]
        for c in analysis.comparison_results
    ]
    if rows:
        out += _table(header, rows, left=3)
    else:
        out.append("(a single level: nothing to compare)")
    out.append(
        "effect: ratio of pooled medians, or difference of pooled p99; "
        "CLES = P(level sample > reference sample), pooled samples, descriptive only"
    )
    messages = [
        f"{c.level} vs {c.reference} ({c.on}): {c.message}"
        for c in analysis.comparison_results
        if c.message and c.verdict != "no evidence"
    ]
    messages += [f"level {s.level}: {s.message}" for s in levels if s.message]
    notes = list(analysis.notes) + messages
    if notes:
        out += ["", "Notes:"] + [f"  - {n}" for n in notes]
    return "\n".join(out) + "\n"


def to_dict(analysis: Analysis) -> dict[str, Any]:
    """Render an analysis as a JSON-ready dict (``json.dumps`` works on it directly).

    Returns
    -------
    dict
        Keys ``design``, ``settings``, ``methods``, ``levels`` (list, one per
        level), ``omnibus`` and ``trend`` (keyed by ``"median"``/``"p99"``),
        ``comparisons`` (list) and ``notes``. NaN becomes None.
    """
    return {
        "design": jsonable(analysis.design),
        "settings": jsonable(analysis.settings),
        "methods": dict(METHODS),
        "levels": [s.to_dict() for s in analysis.level_summaries],
        "omnibus": {k: v.to_dict() for k, v in analysis.omnibus.items()},
        "trend": {k: v.to_dict() for k, v in analysis.trend.items()},
        "comparisons": [c.to_dict() for c in analysis.comparison_results],
        "notes": list(analysis.notes),
    }
