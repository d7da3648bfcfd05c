"""The one entry point: :func:`analyze` a campaign or a sample table."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from .blocks import (
    Counts,
    Segments,
    cles,
    pooled_counts,
    quantiles,
    segment_quantiles,
    sort_by_cell,
)
from .bootstrap import percentile_interval, pooled_quantile_replicates, round_weights
from .compare import (
    CORRECTIONS,
    adjust_pvalues,
    comparison_pairs,
    friedman,
    page_trend,
    verdict,
    wilcoxon_rounds,
)
from .inputs import Tidy, unpack
from .results import NOT_ENOUGH_DATA, Analysis, Comparison, LevelSummary, TestResult
from .summary import OUTLIER_K, STATISTICS, describe_counts, outlier_bounds, to_ns

__all__ = ["EXCLUDABLE", "analyze"]

#: Flags that ``exclude`` accepts.
EXCLUDABLE: tuple[str, ...] = ("migrated", "warmup", "outlier")
_ALIASES = {"warm-up": "warmup", "outliers": "outlier", "migration": "migrated"}
_BLOCK_STATS = {"median": 0.5, "p99": 0.99}


def _check_options(
    threshold: float,
    correction: str,
    alpha: float,
    exclude: str | Iterable[str],
    n_boot: int,
    outlier_k: float,
) -> tuple[str, ...]:
    if not (isinstance(threshold, (int, float)) and np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a fraction >= 0 (e.g. 0.01 for 1%), got {threshold!r}")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {list(CORRECTIONS)}, got {correction!r}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must be between 0 and 1 (exclusive), got {alpha!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot must be an integer >= 0 (0 skips the CIs), got {n_boot!r}")
    if not (isinstance(outlier_k, (int, float)) and outlier_k > 0):
        raise ValueError(f"outlier_k must be a number > 0, got {outlier_k!r}")
    items = [exclude] if isinstance(exclude, str) else list(exclude)
    flags = []
    for item in items:
        name = _ALIASES.get(str(item), str(item))
        if name not in EXCLUDABLE:
            raise ValueError(f"cannot exclude {item!r}; allowed: {list(EXCLUDABLE)}")
        if name not in flags:
            flags.append(name)
    return tuple(flags)


def _median_or_nan(x: np.ndarray) -> float:
    finite = x[np.isfinite(x)]
    return float(np.median(finite)) if finite.size else float("nan")


def _level_blocks(seg: Segments, tidy: Tidy, level: int, rounds: np.ndarray) -> list[np.ndarray]:
    return [seg.cell(int(r) * tidy.n_levels + level) for r in rounds]


def _replicates(
    seg: Segments, tidy: Tidy, rounds: np.ndarray, weights: np.ndarray
) -> dict[str, np.ndarray]:
    """Bootstrap replicates of each level's pooled median and p99, shape (levels, n_boot)."""
    out = {}
    for name, q in _BLOCK_STATS.items():
        out[name] = np.vstack(
            [
                pooled_quantile_replicates(_level_blocks(seg, tidy, lv, rounds), weights, q)
                for lv in range(tidy.n_levels)
            ]
        )
    return out


def analyze(
    data: Any,
    *,
    tsc_hz: float | None = None,
    threshold: float = 0.01,
    correction: str = "holm",
    alpha: float = 0.05,
    exclude: str | Iterable[str] = (),
    outlier_k: float = OUTLIER_K,
    n_boot: int = 2000,
    seed: int | None = 0,
) -> Analysis:
    """Summaries, tests, effect sizes and verdicts for every load level of a campaign.

    Parameters
    ----------
    data : campaign or pandas.DataFrame
        A campaign (``.samples``, ``.metadata``) or its sample table; see
        :func:`hvload.stats.inputs.unpack` for the columns.
    tsc_hz : float, optional
        TSC frequency in Hz, overriding ``metadata["tsc_hz"]``. Without either,
        every ``*_ns`` figure is NaN and a note says so.
    threshold : float, default 0.01
        Practical threshold as a fraction of the reference level's median:
        significant changes smaller than this are ``negligible``.
    correction : {"holm", "bh", "none"}, default "holm"
        Multiplicity adjustment over all pairwise comparisons (both statistics).
    alpha : float, default 0.05
        Significance level; CIs are at ``1 - alpha``.
    exclude : str or iterable of str, default ()
        Flags whose samples are left out: ``"migrated"``, ``"warmup"``,
        ``"outlier"``. Flags are always counted and reported either way.
    outlier_k : float, default 10
        Scaled MADs beyond the level median that make a sample an outlier.
    n_boot : int, default 2000
        Block-bootstrap resamples of the rounds; 0 skips every CI (the
        verdicts do not depend on them).
    seed : int or None, default 0
        Seed of the bootstrap's random generator.

    Returns
    -------
    Analysis
        ``.levels``, ``.comparisons``, ``.omnibus``, ``.trend``, ``to_text()``,
        ``to_dict()``.

    Raises
    ------
    ValueError
        On malformed input (see :func:`~hvload.stats.inputs.unpack`) or options.
    """
    flags = _check_options(threshold, correction, alpha, exclude, n_boot, outlier_k)
    tidy = unpack(data, tsc_hz=tsc_hz)
    n_levels, n_rounds = tidy.n_levels, tidy.n_rounds
    confidence = 1.0 - alpha
    notes: list[str] = []

    all_seg = sort_by_cell(tidy.cycles, tidy.cell, tidy.n_cells)
    level_cells = [np.arange(n_rounds) * n_levels + lv for lv in range(n_levels)]
    all_counts = [pooled_counts(all_seg, cells) for cells in level_cells]
    bounds = np.array([outlier_bounds(c, outlier_k) for c in all_counts])
    level_of = tidy.cell % n_levels
    outlier = (tidy.cycles < bounds[level_of, 0]) | (tidy.cycles > bounds[level_of, 1])
    flag_rows = {"migrated": tidy.migrated, "warmup": tidy.warmup, "outlier": outlier}
    any_flag = tidy.migrated | tidy.warmup | outlier
    per_level = {
        name: np.bincount(level_of[rows], minlength=n_levels) for name, rows in flag_rows.items()
    }
    per_level["any"] = np.bincount(level_of[any_flag], minlength=n_levels)
    total = np.array([c.n for c in all_counts])

    if flags:
        drop = np.zeros(tidy.cycles.size, dtype=bool)
        for name in flags:
            drop |= flag_rows[name]
        keep = ~drop
        seg = sort_by_cell(tidy.cycles[keep], tidy.cell[keep], tidy.n_cells)
        counts = [pooled_counts(seg, cells) for cells in level_cells]
    else:
        seg, counts = all_seg, all_counts

    sizes = seg.sizes.reshape(n_rounds, n_levels)
    block = {
        name: segment_quantiles(seg, q).reshape(n_rounds, n_levels)
        for name, q in _BLOCK_STATS.items()
    }
    all_rounds = np.arange(n_rounds)
    active = np.flatnonzero(sizes.sum(axis=0) > 0)
    if active.size < n_levels:
        empty = [tidy.levels[lv] for lv in range(n_levels) if lv not in set(active.tolist())]
        notes.append(
            f"level(s) {empty} have no analysed samples; they are left out of the omnibus "
            "and trend tests, and their comparisons have not enough data"
        )
    # Rounds in which every level that has data holds a block: the tests pair on these.
    complete = np.flatnonzero((sizes[:, active] > 0).all(axis=1))
    if complete.size < n_rounds:
        notes.append(
            f"{n_rounds - complete.size} of {n_rounds} round(s) lack a level; "
            f"tests and effect sizes use the {complete.size} complete round(s)"
        )
    if tidy.tsc_hz is None:
        notes.append("no TSC frequency (metadata['tsc_hz'] or tsc_hz=): ns figures are NaN")

    rng = np.random.default_rng(seed)
    level_reps: dict[str, np.ndarray] | None = None
    pair_reps: dict[str, np.ndarray] | None = None
    if n_boot > 0 and n_rounds >= 2:
        level_reps = _replicates(seg, tidy, all_rounds, round_weights(n_rounds, n_boot, rng))
        if complete.size == n_rounds:
            pair_reps = level_reps
        elif complete.size >= 2:
            pair_reps = _replicates(seg, tidy, complete, round_weights(complete.size, n_boot, rng))
    elif n_boot > 0:
        notes.append("a single round: no block-bootstrap CIs (they need at least 2 rounds)")

    summaries = []
    for lv, label in enumerate(tidy.levels):
        plain = describe_counts(counts[lv], tidy.tsc_hz)
        n_blocks = int(np.count_nonzero(sizes[:, lv]))
        for name in _BLOCK_STATS:
            # One block resampled is always the same block: a zero-width
            # interval would be false precision.
            low, high = (
                percentile_interval(level_reps[name][lv], confidence)
                if level_reps is not None and n_blocks >= 2
                else (float("nan"), float("nan"))
            )
            plain[f"{name}_ci_low"], plain[f"{name}_ci_high"] = low, high
            plain[f"{name}_ci_low_ns"] = float(to_ns(low, tidy.tsc_hz))
            plain[f"{name}_ci_high_ns"] = float(to_ns(high, tidy.tsc_hz))
        # Column order: each statistic followed by its CI, cycles first, then ns.
        st = {}
        for suffix in ("", "_ns"):
            for name in STATISTICS:
                st[f"{name}{suffix}"] = plain[f"{name}{suffix}"]
                if name in _BLOCK_STATS:
                    st[f"{name}_ci_low{suffix}"] = plain[f"{name}_ci_low{suffix}"]
                    st[f"{name}_ci_high{suffix}"] = plain[f"{name}_ci_high{suffix}"]
        n = counts[lv].n
        summaries.append(
            LevelSummary(
                level=label,
                level_index=lv,
                n_blocks=n_blocks,
                n=n,
                n_total=int(total[lv]),
                n_excluded=int(total[lv] - n),
                flagged_migrated=int(per_level["migrated"][lv]),
                flagged_warmup=int(per_level["warmup"][lv]),
                flagged_outlier=int(per_level["outlier"][lv]),
                flagged_share=float(per_level["any"][lv] / total[lv]) if total[lv] else np.nan,
                stats=st,
                status="ok" if n else NOT_ENOUGH_DATA,
                message="" if n else "every sample of this level was excluded",
            )
        )

    grid = np.ix_(complete, active)
    omnibus = {name: friedman(block[name][grid], name) for name in _BLOCK_STATS}
    trend = {name: page_trend(block[name][grid], name) for name in _BLOCK_STATS}

    pair_counts: list[Counts]
    if complete.size == n_rounds:
        pair_counts = counts
    else:
        pair_counts = [pooled_counts(seg, complete * n_levels + lv) for lv in range(n_levels)]
    ref_median = [float(quantiles(c, [0.5])[0]) for c in pair_counts]
    pooled = {
        name: [float(quantiles(c, [q])[0]) for c in pair_counts] for name, q in _BLOCK_STATS.items()
    }

    rows: list[dict[str, Any]] = []
    tests: list[TestResult] = []
    for a, b, kind in comparison_pairs(n_levels):
        for name in _BLOCK_STATS:
            x_ref = block[name][complete, a]
            x_lvl = block[name][complete, b]
            test = wilcoxon_rounds(x_ref, x_lvl, name, alpha)
            ref_v, lvl_v = pooled[name][a], pooled[name][b]
            if name == "median":
                effect = lvl_v / ref_v if ref_v else np.nan
                reps = pair_reps[name][b] / pair_reps[name][a] if pair_reps is not None else None
            else:
                effect = lvl_v - ref_v
                reps = pair_reps[name][b] - pair_reps[name][a] if pair_reps is not None else None
            low, high = (
                percentile_interval(reps, confidence) if reps is not None else (np.nan, np.nan)
            )
            change = lvl_v - ref_v
            relative = change / ref_median[a] if ref_median[a] else np.nan
            is_diff = name != "median"
            rows.append(
                {
                    "reference": tidy.levels[a],
                    "level": tidy.levels[b],
                    "on": name,
                    "kind": kind,
                    "effect": float(effect),
                    "effect_low": low,
                    "effect_high": high,
                    "effect_ns": float(to_ns(effect, tidy.tsc_hz)) if is_diff else np.nan,
                    "effect_ns_low": float(to_ns(low, tidy.tsc_hz)) if is_diff else np.nan,
                    "effect_ns_high": float(to_ns(high, tidy.tsc_hz)) if is_diff else np.nan,
                    "reference_value": ref_v,
                    "level_value": lvl_v,
                    "relative_change": float(relative),
                    "cles": cles(pair_counts[a], pair_counts[b]),
                    "direction": _median_or_nan(x_lvl - x_ref),
                }
            )
            tests.append(test)

    adjusted = adjust_pvalues(np.array([t.pvalue for t in tests]), correction)
    n_tests = sum(1 for t in tests if t.status == "ok")
    if n_tests and correction != "none" and complete.size >= 2:
        # Holm's first step and BH's last both multiply the smallest p-value
        # by the family size; with few rounds even a perfect sign pattern
        # (p = 2 / 2**rounds) can fail to reach alpha.
        best = n_tests * 2.0 ** (1 - complete.size)
        if best >= alpha:
            notes.append(
                f"with {complete.size} rounds and {n_tests} tests no comparison can reach "
                f"alpha={alpha:g} after correction (best attainable adjusted p {best:.3g}); "
                "add rounds"
            )
    comparisons = []
    for row, test, p_adj in zip(rows, tests, adjusted, strict=True):
        direction = row.pop("direction")
        v = verdict(
            test, p_adj, row["relative_change"], direction, alpha=alpha, threshold=threshold
        )
        message = test.message
        if v == "no evidence" and p_adj < alpha and abs(row["relative_change"]) >= threshold:
            message = "; ".join(
                m for m in (message, "test and pooled effect disagree in direction") if m
            )
        comparisons.append(
            Comparison(
                **row,
                n_rounds=test.n_rounds,
                statistic=test.statistic,
                pvalue=test.pvalue,
                pvalue_adjusted=float(p_adj),
                verdict=v,
                message=message,
            )
        )

    design = {
        "levels": list(tidy.levels),
        "n_levels": n_levels,
        "n_rounds": n_rounds,
        "n_complete_rounds": int(complete.size),
        "n_samples": int(tidy.cycles.size),
        "n_analysed": int(seg.values.size),
        "samples_per_block": float(np.median(sizes[sizes > 0])) if (sizes > 0).any() else 0.0,
        "tsc_hz": tidy.tsc_hz,
    }
    settings = {
        "threshold": float(threshold),
        "correction": correction,
        "alpha": float(alpha),
        "confidence": confidence,
        "exclude": list(flags),
        "outlier_k": float(outlier_k),
        "n_boot": int(n_boot),
        "seed": seed,
    }
    level_frame = pd.DataFrame([s.row() for s in summaries])
    comparison_frame = pd.DataFrame(
        [c.__dict__ for c in comparisons], columns=[f.name for f in fields(Comparison)]
    )
    return Analysis(
        levels=level_frame,
        comparisons=comparison_frame,
        omnibus=omnibus,
        trend=trend,
        design=design,
        settings=settings,
        notes=tuple(notes),
        level_summaries=tuple(summaries),
        comparison_results=tuple(comparisons),
    )
