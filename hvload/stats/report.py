"""Text and JSON renderings of an :class:`~hvload.stats.results.Analysis`.

:func:`to_text` and :func:`to_dict` are the stable interface used by
``hvload report`` (text, or ``--json``) and by ``hvload run``'s summary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._json import jsonable
from .config import DEFAULT, METRICS

if TYPE_CHECKING:
    from .attribution import Attribution
    from .results import Analysis, Comparison, LevelSummary, TestResult
from .summary import MAD_SCALE

__all__ = ["METHODS", "REPORT_EXCLUDE", "TAIL_ESTIMANDS", "attribution_text", "to_dict", "to_text"]

#: What hvload leaves out unless told otherwise (the same default everywhere).
REPORT_EXCLUDE: tuple[str, ...] = DEFAULT.exclude

#: One-line descriptions of every method, carried in the JSON output.
#: Which question each p99 answers, said under every table that shows both.
TAIL_ESTIMANDS = (
    "level p99 answers 'how slow is the slowest 1 % at this load'; typical-block p99 "
    "answers 'what p99 does one block usually show' (slow blocks and bursts move only "
    "the first)"
)

METHODS: dict[str, str] = {
    "unit": "the block (one level in one round); rounds are the replicates",
    "quantiles": "linear interpolation between order statistics (numpy default, type 7)",
    "level_intervals": (
        "typical block = median over a level's blocks of the block median / p99; "
        "distribution-free interval between two order statistics of the blocks "
        "(binomial coverage, at least the nominal level)"
    ),
    "omnibus": (
        "Friedman test on the rounds x levels matrix of block medians / block p99, "
        "p-value by permuting levels within rounds"
    ),
    "trend": "Page's trend test, one-sided, block statistic increasing with load",
    "pairwise": (
        "exact Wilcoxon signed-rank test on per-round log ratios of block medians / block "
        "p99, each level against the baseline and against its lower neighbour in load order"
    ),
    "effect": (
        "Hodges-Lehmann estimate of the per-round log ratio with its signed-rank interval; "
        "shown as a ratio, a relative change of the reference's own statistic, and cycles/ns"
    ),
    "level_p99": (
        "level p99 = p99 of all analysed samples of the level pooled (what 'p99 at this "
        "load' means); interval by inverting a studentized round-cluster bootstrap test "
        "of the per-round share of samples at or below each value (rounds resampled)"
    ),
    "level_p999": (
        "level p99.9 = p99.9 of all analysed samples of the level pooled, with its interval "
        "by the level p99's method; given only with 5 rounds or more, at least 5 samples "
        "beyond it expected in each block (blocks of 5,000 samples), and those samples "
        "spread over the rounds (CV of their count per round at most 0.8), otherwise null "
        "with the reason in level_p999_note"
    ),
    "level_p99_change": (
        "log ratio of the two levels' level p99 (all samples pooled, rounds both hold); "
        "two-sided sign-flip p-value swapping the levels' blocks inside random rounds, "
        "adjusted over the level-p99 comparisons as their own family; percentile interval "
        "from resampling rounds; verdict by the same rule as the block comparisons"
    ),
    "cles": (
        "P(level sample > reference sample) + ties/2 on pooled samples; descriptive only, "
        "given on the median rows (it describes whole distributions, not their p99)"
    ),
    "verdict": (
        "not enough data (design cannot reach alpha) | negligible (interval inside "
        "+-threshold) | slower/faster (adjusted p < alpha, interval excludes 0, estimate "
        "beyond threshold) | inconclusive (significant, size vs threshold unsettled) | "
        "no evidence"
    ),
    "noise": (
        "robust SD of within-round differences of log block statistics between two levels, "
        "each pair centred on its median over rounds; sampling part from block halves; "
        "minimum detectable effect by resampling those centred differences, with the "
        "Friedman gate applied as the verdicts apply it"
    ),
    "outlier": f"|x - level median| > k x max({MAD_SCALE} x MAD, 1 cycle), all samples",
    "attribution": (
        "per level against the baseline and per control probe: Hodges-Lehmann change of the "
        "main probe, of the control, and of their per-round difference of log block "
        "medians; exact signed-rank test of the difference, adjusted over all pairs"
    ),
}


def _num(x: float | None, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:,.{digits}f}"


def _pct(x: float, digits: int = 1) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:+.{digits}f}%"


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
        return "-"
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
        "level", "blocks", "n", "flagged", "min", "mean", "median", "p90", "p99", "p99.9",
        "p99.99", "max", "IQR", "MAD",
    ]  # fmt: skip
    keys = ("min", "mean", "median", "p90", "p99", "p99.9", "p99.99", "max", "iqr", "mad")
    rows = []
    for s in levels:
        v = [_num(s[f"{k}{suffix}"], digits) for k in keys]
        rows.append([s.level, str(s.n_blocks), _num(s.n), _num(100 * s.flagged_share, 1) + "%", *v])
    return _table(header, rows)


def _typical_rows(levels: Sequence[LevelSummary], unit: str, ci_label: str) -> list[str]:
    suffix = "_ns" if unit == "ns" else ""
    digits = 1 if unit == "ns" else 0
    header = ["level", "blocks", "median", ci_label, "p99", ci_label]
    rows = [
        [
            s.level, str(s.n_blocks),
            _num(s[f"block_median{suffix}"], digits), _ci(s, "median", unit, digits),
            _num(s[f"block_p99{suffix}"], digits), _ci(s, "p99", unit, digits),
        ]
        for s in levels
    ]  # fmt: skip
    return _table(header, rows)


def _level_p99_rows(levels: Sequence[LevelSummary], unit: str, ci_label: str) -> list[str]:
    suffix = "_ns" if unit == "ns" else ""
    digits = 1 if unit == "ns" else 0
    header = ["level", "rounds", "level p99", ci_label, "typical-block p99", "level p99.9",
              f"p99.9 {ci_label}"]  # fmt: skip
    rows = []
    for s in levels:
        cis = []
        for stat in ("level_p99", "level_p999"):
            low, high = s.confidence_interval(stat, unit)
            ci = f"[{_num(low, digits)}, {_num(high, digits)}]"
            cis.append(ci if math.isfinite(low) else "-")
        p999 = s[f"level_p999{suffix}"]
        rows.append([s.level, str(s.n_blocks), _num(s[f"level_p99{suffix}"], digits), cis[0],
                     _num(s[f"block_p99{suffix}"], digits),
                     _num(p999, digits) if math.isfinite(p999) else "-", cis[1]])  # fmt: skip
    return _table(header, rows)


def _level_p999_gaps(levels: Sequence[LevelSummary]) -> list[str]:
    """Why a level has no level p99.9, one line per distinct reason."""
    reasons: dict[str, list[str]] = {}
    for s in levels:
        if s.level_p999_note:
            reasons.setdefault(s.level_p999_note, []).append(s.level)
    return [f"no level p99.9 for {', '.join(names)}: {why}" for why, names in reasons.items()]


def _test_line(results: dict[str, TestResult], symbol: str) -> str:
    parts = []
    for name, t in results.items():
        what = "block medians" if name == "median" else "block p99"
        if t.status != "ok":
            parts.append(f"{what}: {t.status} ({t.message})")
        else:
            parts.append(f"{what}: {symbol} = {t.statistic:.4g}, p = {t.pvalue:.3g}")
    return "; ".join(parts)


def _change(c: Comparison, unit: str) -> str:
    if not math.isfinite(c.relative_change):
        return "-"
    text = _pct(c.relative_change, 2)
    if math.isfinite(c.relative_change_low) and math.isfinite(c.relative_change_high):
        text += f" [{_pct(c.relative_change_low, 2)}, {_pct(c.relative_change_high, 2)}]"
    if unit == "ns" and math.isfinite(c.change_ns):
        text += f" {c.change_ns:+,.1f} ns"
    elif math.isfinite(c.change):
        text += f" {c.change:+,.0f} cyc"
    return text


def _noise_lines(analysis: Analysis) -> list[str]:
    if analysis.noise.empty:
        return []
    st = analysis.settings
    out = []
    # pandas-stubs types every itertuples field as a Scalar union; the noise table's
    # columns are the "on" label and floats (see Analysis.noise).
    row: Any
    for row in analysis.noise.itertuples(index=False):
        what = "block medians" if row.on == "median" else "block p99"
        if not math.isfinite(row.block_sd):
            out.append(f"  {what}: too few rounds or levels to estimate the block noise")
            continue
        sampling = (
            f" (sampling within blocks {100 * row.sampling_sd:.2f}%, between blocks "
            f"{100 * row.between_sd:.2f}%)"
            if math.isfinite(row.sampling_sd)
            else ""
        )
        mde = f"{100 * row.mde:.2g}%" if math.isfinite(row.mde) else "none within reach"
        out.append(
            f"  {what}: block-to-block SD {100 * row.block_sd:.2f}%{sampling}; smallest change "
            f"this design calls slower with {st['power']:.0%} power: {mde}"
        )
    return out


def to_text(analysis: Analysis, *, brief: bool = False) -> str:
    """Render an analysis as a readable, fixed-width report.

    Parameters
    ----------
    analysis : Analysis
        What :func:`hvload.stats.analyze` returned.
    brief : bool, default False
        Only the per-level table of n, median, p99 and p99.9 (cycles, and ns
        when the TSC frequency is known) and the design check, as ``hvload run``
        prints at the end.

    Returns
    -------
    str
        The report, ending with a newline.
    """
    d = analysis.design
    st = analysis.settings
    levels = analysis.level_summaries
    has_ns = d.get("tsc_hz") is not None
    ci_label = f"{round(100 * st['confidence'], 6):g}% CI"
    out: list[str] = []
    if brief:
        out.append(
            f"Per level, cycles ({d['metric']}; excluded: {', '.join(st['exclude']) or 'nothing'})"
        )
        out += _level_rows(levels, "cycles", True)
        if has_ns:
            out += ["", "Per level, ns"]
            out += _level_rows(levels, "ns", True)
        if analysis.design_check is not None and not analysis.design_check.can_decide:
            out += ["", f"Note: {analysis.design_check.message}"]
        return "\n".join(out) + "\n"

    tsc = f"TSC {d['tsc_hz'] / 1e9:.4g} GHz" if has_ns else "TSC frequency unknown"
    out.append(
        f"hvload statistics: {d['n_levels']} levels x {d['n_rounds']} rounds, "
        f"{d['n_samples']:,} samples ({d['n_analysed']:,} analysed), {tsc}"
    )
    excluded = ", ".join(st["exclude"]) or "nothing"
    out.append(f"Metric: {d['metric']}, {METRICS[d['metric']]}. Excluded: {excluded}.")
    out.append(f"Levels in order of increasing load; baseline {d['baseline']}.")
    out += ["", "Per level, cycles (all analysed samples pooled; descriptive)"]
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
        f"Typical block per level, cycles (typical-block median / p99 = median over blocks "
        f"of each block's median / p99; "
        f"{ci_label} from order statistics of the blocks)",
    ]
    out += _typical_rows(levels, "cycles", ci_label)
    if has_ns:
        out += ["", "Typical block per level, ns"]
        out += _typical_rows(levels, "ns", ci_label)
    out += [
        "",
        "Level p99 per level, cycles (p99 of all the level's samples pooled: the level's "
        f"p99 latency; {ci_label} from a studentized bootstrap over rounds; level p99.9 "
        "likewise, where each block holds at least 5 samples beyond it)",
    ]
    out += _level_p99_rows(levels, "cycles", ci_label)
    if has_ns:
        out += ["", "Level p99 per level, ns"]
        out += _level_p99_rows(levels, "ns", ci_label)
    out.append(TAIL_ESTIMANDS)
    out += _level_p999_gaps(levels)
    out += ["", "Block noise (log scale, about a fraction of the statistic):"]
    out += _noise_lines(analysis)
    out += [
        "",
        f"Omnibus, Friedman over {d['n_complete_rounds']} rounds: "
        + _test_line(analysis.omnibus, "chi2"),
        "Trend with load, Page (one-sided, increasing): " + _test_line(analysis.trend, "L"),
        "",
    ]
    corr = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "un"}[st["correction"]]
    out.append(
        f"Comparisons: exact Wilcoxon signed-rank on per-round log ratios, {corr}-adjusted over "
        f"{d['family_size']} tests, alpha {st['alpha']:g}; change = Hodges-Lehmann estimate "
        f"[{ci_label}]; practical threshold {100 * st['threshold']:g}% of the reference's own "
        "statistic"
    )
    unit = "ns" if has_ns else "cycles"
    header = ["reference", "level", "on", "rounds", f"change [{ci_label}]", "p", "p adj", "CLES",
              "verdict"]  # fmt: skip
    rows = [
        [
            c.reference,
            c.level,
            "block p99" if c.on == "p99" else c.on,
            str(c.n_rounds),
            _change(c, unit),
            _num(c.pvalue, 4),
            _num(c.pvalue_adjusted, 4),
            _num(c.cles, 3),
            c.verdict.value,
        ]
        for c in analysis.comparison_results
    ]
    if rows:
        out += _table(header, rows, left=3)
    else:
        out.append("(a single level: nothing to compare)")
    out.append(
        "CLES = P(level sample > reference sample), pooled samples, descriptive only "
        "(median rows only)"
    )
    if analysis.tail_comparisons:
        out += [
            "",
            f"Level p99 comparisons (p99 of all samples pooled, paired by round): sign-flip "
            f"test swapping the two levels' blocks within rounds, {corr}-adjusted over the "
            f"{len(analysis.tail_comparisons)} level-p99 comparisons; change [{ci_label}] "
            "from a round bootstrap",
        ]
        tail_rows = [
            [c.reference, c.level, str(c.n_rounds), _change(c, unit), _num(c.pvalue, 4),
             _num(c.pvalue_adjusted, 4), c.verdict.value]
            for c in analysis.tail_comparisons
        ]  # fmt: skip
        out += _table(
            ["reference", "level", "rounds", f"level p99 change [{ci_label}]", "p", "p adj",
             "verdict"], tail_rows, left=2,
        )  # fmt: skip
    messages = [
        f"{c.level} vs {c.reference} ({c.on}): {c.message}"
        for c in analysis.comparison_results
        if c.message and c.verdict.value != "not enough data"
    ]
    messages += [f"level {s.level}: {s.message}" for s in levels if s.message]
    if analysis.attribution is not None:
        out += ["", attribution_text(analysis.attribution).rstrip("\n")]
    notes = list(analysis.notes) + messages
    if notes:
        out += ["", "Notes:"] + [f"  - {n}" for n in notes]
    return "\n".join(out) + "\n"


def attribution_text(att: Attribution) -> str:
    """The attribution table and the noise context, as text."""
    out = [
        f"Attribution: change of {att.probe} against the controls, block medians, "
        f"against {att.baseline} (difference = what the main probe changed beyond the control)"
    ]
    # pandas-stubs types every itertuples field as a Scalar union; the attribution tables
    # hold labels, counts and floats (see Attribution).
    r: Any
    if att.table.empty:
        out.append("(nothing to compare)")
    else:
        header = ["level", "control", "rounds", "main", "control change", "difference [CI]",
                  "p adj", "verdict"]  # fmt: skip
        rows = []
        for r in att.table.itertuples(index=False):
            diff = _pct(r.difference, 2)
            if math.isfinite(r.difference_low) and math.isfinite(r.difference_high):
                diff += f" [{_pct(r.difference_low, 2)}, {_pct(r.difference_high, 2)}]"
            rows.append([
                r.level, r.control, str(r.n_rounds), f"{_pct(r.main_change, 2)} ({r.main_verdict})",
                _pct(r.control_change, 2), diff, _num(r.pvalue_adjusted, 4), r.verdict,
            ])  # fmt: skip
        out += _table(header, rows, left=2)
    if not att.context.empty:
        out += ["", "Noise context per level (median over blocks; NaN: not readable here)"]
        cols = [c for c in att.context.columns if c != "level"]
        rows = [
            [str(r["level"])] + [_num(r[c], 1) for c in cols] for _, r in att.context.iterrows()
        ]
        out += _table(["level", *cols], rows)
    if not att.context_tests.empty:
        parts = []
        for r in att.context_tests.itertuples(index=False):
            parts.append(
                f"{r.column}: Friedman p = {_num(r.friedman_p, 3)}, "
                f"Page (rising) p = {_num(r.page_p, 3)}"
            )
        out += ["Do the levels differ in their noise? " + "; ".join(parts)]
    if att.notes:
        out += [f"  - {n}" for n in att.notes]
    return "\n".join(out) + "\n"


def to_dict(analysis: Analysis) -> dict[str, Any]:
    """Render an analysis as a JSON-ready dict (``json.dumps`` works on it directly).

    Returns
    -------
    dict
        Keys ``design``, ``settings``, ``methods``, ``levels`` (list, one per
        level), ``noise`` (list, one per block statistic), ``omnibus`` and
        ``trend`` (keyed by ``"median"``/``"p99"``), ``comparisons`` (list),
        ``notes``, and ``left_out`` (the blocks the block policy left out, one note
        each) when there are any. NaN becomes None.
    """
    return {
        "design": jsonable(analysis.design),
        "settings": jsonable(analysis.settings),
        "methods": dict(METHODS),
        "levels": [s.to_dict() for s in analysis.level_summaries],
        "noise": jsonable(analysis.noise.to_dict(orient="records")),
        "omnibus": {k: v.to_dict() for k, v in analysis.omnibus.items()},
        "trend": {k: v.to_dict() for k, v in analysis.trend.items()},
        "comparisons": [c.to_dict() for c in analysis.comparison_results],
        "tail_comparisons": [c.to_dict() for c in analysis.tail_comparisons],
        "attribution": analysis.attribution.to_dict() if analysis.attribution else None,
        "notes": list(analysis.notes),
        # Only when the block policy left blocks out, so files without flagged blocks
        # keep the JSON they always had.
        **({"left_out": list(analysis.left_out)} if analysis.left_out else {}),
    }
