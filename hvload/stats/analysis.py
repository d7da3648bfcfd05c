"""The one entry point: :func:`analyze` a campaign or a sample table."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd

from .blocks import cles
from .compare import adjust_pvalues, friedman, gate_closes, page_trend, paired_rounds, verdict
from .config import DEFAULT, AnalysisConfig
from .design import ON, DesignCheck, best_adjusted_pvalue, check_design, comparison_pairs
from .inputs import Tidy
from .intervals import median_interval
from .power import BlockNoise, block_noise, friedman_gate, simulate
from .ranks import min_pvalue
from .results import NOT_ENOUGH_DATA, Analysis, Comparison, LevelSummary, Verdict
from .summary import STATISTICS, describe_counts, to_ns
from .table import BlockTable, Selection, block_table, log_matrix, selection
from .tails import (
    LEVEL_Q999,
    cell_blocks,
    level_p999_gap,
    level_quantile_interval,
    tail_comparisons,
)

__all__ = ["BlockTable", "Selection", "analyze_levels", "block_table", "selection"]


def _baseline_index(tidy: Tidy, config: AnalysisConfig, active: np.ndarray) -> int:
    if config.baseline is not None:
        if config.baseline not in tidy.levels:
            raise ValueError(
                f"baseline={config.baseline!r} is not a level of this campaign; "
                f"levels: {list(tidy.levels)}"
            )
        return tidy.levels.index(config.baseline)
    if tidy.baseline in tidy.levels:
        return tidy.levels.index(tidy.baseline)
    # The lowest load that has data.
    return int(active[0]) if active.size else 0


def _noise_row(
    noise: BlockNoise, n_rounds: int, m: int, config: AnalysisConfig, rng: np.random.Generator
) -> dict[str, Any]:
    alpha_test = config.alpha / m if config.correction != "none" and m else config.alpha
    mde = math.nan
    if noise.usable and n_rounds >= 2 and config.n_sim:
        # The Friedman gate this analysis applies to its verdicts is simulated too.
        gate = (
            friedman_gate(n_rounds, noise.n_levels, config.alpha, config.n_permutations,
                          config.seed if config.seed is not None else 0)
            if config.gate
            else None
        )  # fmt: skip
        sim = simulate(
            noise.pool, n_rounds, alpha_test=alpha_test, threshold=config.threshold,
            n_sim=config.n_sim, rng=rng, gate=gate,
        )  # fmt: skip
        mde = sim.detectable(config.power)
    return {
        "on": noise.on,
        "block_sd": noise.block_sd,
        "sampling_sd": noise.sampling_sd,
        "between_sd": noise.between_sd,
        "samples_per_block": noise.samples_per_block,
        "n_rounds": n_rounds,
        "mde": mde,
        "power": config.power,
        "alpha_test": alpha_test,
    }


def _level_summary(bt: BlockTable, lv: int, total: int, per_level: dict[str, np.ndarray],
                   config: AnalysisConfig) -> LevelSummary:  # fmt: skip
    tidy = bt.tidy
    confidence = config.confidence
    plain = describe_counts(bt.counts[lv], tidy.tsc_hz)
    filled = bt.sizes[:, lv] > 0
    st: dict[str, float] = {}
    for name in STATISTICS:
        st[name] = plain[name]
    for name in ON:
        est, low, high = median_interval(bt.stats[name][filled, lv], confidence)
        st[f"block_{name}"], st[f"block_{name}_ci_low"], st[f"block_{name}_ci_high"] = (
            est,
            low,
            high,
        )
    # The level p99 (all samples pooled) beside the typical block's: its own generator,
    # so the permutation and power draws stay what they were.
    rng = np.random.default_rng([config.seed if config.seed is not None else 0, 20, lv])
    blocks = cell_blocks(bt, [r * tidy.n_levels + lv for r in range(tidy.n_rounds)])
    st["level_p99"] = plain["p99"]
    st["level_p99_ci_low"], st["level_p99_ci_high"] = (
        level_quantile_interval(blocks, confidence, n_boot=config.n_bootstrap, rng=rng)
        if config.n_bootstrap
        else (math.nan, math.nan)
    )
    # The level p99.9 only where every block holds enough samples beyond it; its own
    # generator, so that the level p99's draws stay what they were.
    gap = level_p999_gap(blocks)
    st["level_p999"] = math.nan if gap else plain["p99.9"]
    rng999 = np.random.default_rng([config.seed if config.seed is not None else 0, 22, lv])
    st["level_p999_ci_low"], st["level_p999_ci_high"] = (
        level_quantile_interval(
            blocks, confidence, q=LEVEL_Q999, n_boot=config.n_bootstrap, rng=rng999
        )
        if config.n_bootstrap and not gap
        else (math.nan, math.nan)
    )
    for key in list(st):
        st[f"{key}_ns"] = float(to_ns(st[key], tidy.tsc_hz))
    n = bt.counts[lv].n
    n_blocks = int(np.count_nonzero(filled))
    message = ""
    if not n:
        message = "every sample of this level was excluded"
    elif not math.isfinite(st["block_median_ci_low"]):
        message = (
            f"{n_blocks} block(s): too few for a {confidence:.0%} interval of the typical block"
        )
    return LevelSummary(
        level=tidy.levels[lv],
        level_index=lv,
        n_blocks=n_blocks,
        n=n,
        n_total=total,
        n_excluded=total - n,
        flagged_migrated=int(per_level["migrated"][lv]),
        flagged_warmup=int(per_level["warmup"][lv]),
        flagged_outlier=int(per_level["outlier"][lv]),
        flagged_share=float(per_level["any"][lv] / total) if total else math.nan,
        stats=st,
        status="ok" if n else NOT_ENOUGH_DATA,
        message=message,
        level_p999_note=gap,
    )


def analyze_levels(
    data: Any,
    config: AnalysisConfig | None = None,
    *,
    tsc_hz: float | None = None,
    **options: Any,
) -> Analysis:
    """The per-level analysis of one probe: :func:`hvload.stats.analyze` without the
    attribution to controls (which :mod:`hvload.stats.attribution` builds on this)."""
    config = (config or DEFAULT).replace(**options) if options else (config or DEFAULT)
    bt = block_table(data, config, tsc_hz=tsc_hz)
    tidy = bt.tidy
    n_levels, n_rounds = tidy.n_levels, tidy.n_rounds
    confidence = config.confidence
    notes: list[str] = list(tidy.notes)

    per_level = bt.level_flags()
    total = np.array([c.n for c in bt.all_counts])

    sizes = bt.sizes
    active = np.flatnonzero(sizes.sum(axis=0) > 0)
    if active.size < n_levels:
        empty = [tidy.levels[lv] for lv in range(n_levels) if lv not in set(active.tolist())]
        notes.append(
            f"level(s) {empty} have no analysed samples; they are left out of the omnibus "
            "and trend tests, and their comparisons have not enough data"
        )
    complete = (
        np.flatnonzero((sizes[:, active] > 0).all(axis=1)) if active.size else np.zeros(0, int)
    )
    if complete.size < n_rounds:
        notes.append(
            f"{n_rounds - complete.size} of {n_rounds} round(s) lack a level; the omnibus and "
            f"trend tests use the {complete.size} complete round(s), comparisons the rounds "
            "that hold both of their levels"
        )
    if tidy.tsc_hz is None:
        notes.append("no TSC frequency (metadata['tsc_hz'] or tsc_hz=): ns figures are NaN")
    baseline = _baseline_index(tidy, config, active)
    summaries = [
        _level_summary(bt, lv, int(total[lv]), per_level, config) for lv in range(n_levels)
    ]

    rng = np.random.default_rng(config.seed)
    grid = np.ix_(complete, active)
    omnibus = {
        name: friedman(bt.stats[name][grid], name, n_resamples=config.n_permutations, rng=rng)
        for name in ON
    }
    trend = {name: page_trend(bt.stats[name][grid], name) for name in ON}

    pairs = comparison_pairs(n_levels, baseline) if n_levels > 1 else []
    m = len(pairs) * len(ON)
    check = check_design(max(active.size, 1), max(int(complete.size), 1), alpha=config.alpha,
                         correction=config.correction)  # fmt: skip
    if m and (active.size < n_levels or baseline != 0):
        # The family differs from the standard one; judge its own size.
        need = check.rounds_needed
        best = best_adjusted_pvalue(int(complete.size), m, config.correction)
        while best_adjusted_pvalue(need, m, config.correction) >= config.alpha:
            need += 1
        ok = best < config.alpha
        msg = "" if ok else (
            f"{complete.size} complete rounds cannot reach alpha {config.alpha:g} with {m} "
            f"tests ({config.correction}); at least {need} rounds are needed"
        )  # fmt: skip
        check = DesignCheck(ok, n_levels, int(complete.size), m, need, best, config.alpha,
                            config.correction, msg)  # fmt: skip
    if m and not check.can_decide:
        notes.append(check.message)

    results = []
    for a, b, kind in pairs:
        for name in ON:
            res = paired_rounds(bt.stats[name][:, a], bt.stats[name][:, b], name,
                                confidence=confidence)  # fmt: skip
            results.append((a, b, kind, name, res))
    adjusted = adjust_pvalues(np.array([r[4].test.pvalue for r in results]), config.correction)

    comparisons = []
    for (a, b, kind, name, res), p_adj in zip(results, adjusted, strict=True):
        both = np.isfinite(bt.stats[name][:, a]) & np.isfinite(bt.stats[name][:, b])
        ref_v = float(np.median(bt.stats[name][both, a])) if both.any() else math.nan
        lvl_v = float(np.median(bt.stats[name][both, b])) if both.any() else math.nan
        rel = [float(np.expm1(x)) for x in (res.estimate, res.low, res.high)]
        cyc = [ref_v * x for x in rel]
        message = res.test.message
        n = res.test.n_rounds
        if res.test.status != "ok":
            v = Verdict.NOT_ENOUGH_DATA
            message = res.test.message
        elif not check.can_decide:
            v = Verdict.NOT_ENOUGH_DATA
            message = f"the design needs at least {check.rounds_needed} rounds to reach a verdict"
        elif best_adjusted_pvalue(n, m, config.correction) >= config.alpha:
            v = Verdict.NOT_ENOUGH_DATA
            message = (
                f"{n} paired rounds: the smallest p-value ({min_pvalue(n):.3g}) cannot reach "
                f"alpha after {config.correction}"
            )
        else:
            v = verdict(float(p_adj), rel[0], rel[1], rel[2], alpha=config.alpha,
                        threshold=config.threshold)  # fmt: skip
            gate = omnibus[name]
            closed = gate.status == "ok" and bool(gate_closes(gate.pvalue, config.alpha))
            if (
                config.gate
                and closed
                and v in (Verdict.SLOWER, Verdict.FASTER, Verdict.INCONCLUSIVE)
            ):
                v = Verdict.NO_EVIDENCE
                message = "; ".join(
                    m for m in (message, f"the Friedman test of the block {name} over all "
                                f"levels does not reject (p = {gate.pvalue:.3g})") if m
                )  # fmt: skip
        comparisons.append(
            Comparison(
                reference=tidy.levels[a],
                level=tidy.levels[b],
                on=name,
                kind=kind,
                n_rounds=n,
                statistic=res.test.statistic,
                pvalue=res.test.pvalue,
                pvalue_adjusted=float(p_adj),
                effect=float(np.exp(res.estimate)),
                effect_low=float(np.exp(res.low)),
                effect_high=float(np.exp(res.high)),
                relative_change=rel[0],
                relative_change_low=rel[1],
                relative_change_high=rel[2],
                change=cyc[0],
                change_low=cyc[1],
                change_high=cyc[2],
                change_ns=float(to_ns(cyc[0], tidy.tsc_hz)),
                change_ns_low=float(to_ns(cyc[1], tidy.tsc_hz)),
                change_ns_high=float(to_ns(cyc[2], tidy.tsc_hz)),
                reference_value=ref_v,
                level_value=lvl_v,
                cles=cles(bt.counts[a], bt.counts[b]) if name == "median" else math.nan,
                verdict=v,
                message=message,
            )
        )

    tails = tail_comparisons(bt, pairs, config) if pairs and config.n_bootstrap else ()
    spb = float(np.median(sizes[sizes > 0])) if (sizes > 0).any() else 0.0
    noise_rows = []
    for name in ON:
        logs = log_matrix(bt.stats[name][grid])
        halves = log_matrix(bt.halves[name][complete][:, active])
        ok = np.isfinite(logs).all() and np.isfinite(halves).all()
        noise = block_noise(
            name, logs if ok else np.zeros((0, 0)),
            (halves[..., 0], halves[..., 1]) if ok else None, spb,
        )  # fmt: skip
        noise_rows.append(_noise_row(noise, int(complete.size), m, config, rng))

    design = {
        "levels": list(tidy.levels),
        "level_values": list(tidy.level_values),
        "baseline": tidy.levels[baseline] if n_levels else None,
        "n_levels": n_levels,
        "n_rounds": n_rounds,
        "n_complete_rounds": int(complete.size),
        "n_samples": int(tidy.cycles.size) if bt.n_samples is None else bt.n_samples,
        "n_analysed": int(bt.seg.values.size) if bt.n_analysed is None else bt.n_analysed,
        "samples_per_block": spb,
        "tsc_hz": tidy.tsc_hz,
        "metric": tidy.metric,
        "probe": tidy.probe,
        "probes": list(tidy.probes),
        "family_size": m,
        "can_decide": bool(check.can_decide) if m else False,
        "rounds_needed": int(check.rounds_needed) if m else 0,
    }
    comparison_frame = pd.DataFrame(
        [{**c.__dict__, "verdict": c.verdict.value} for c in comparisons],
        columns=[f.name for f in fields(Comparison)],
    )
    result = Analysis(
        levels=pd.DataFrame([s.row() for s in summaries]),
        comparisons=comparison_frame,
        omnibus=omnibus,
        trend=trend,
        noise=pd.DataFrame(noise_rows),
        design=design,
        settings=config.to_dict(),
        notes=tuple(notes),
        level_summaries=tuple(summaries),
        comparison_results=tuple(comparisons),
        tail_comparisons=tails,
        config=config,
        design_check=check if m else None,
    )
    return result
