"""Attribution: is a change the exit path's own, or the whole guest getting slower?

A campaign may measure control probes beside the main probe in every block (the null
trap: the timer floor; a system call: a guest-kernel round trip with no VM exit).
They share the block's load, host and drift, so for each level against the baseline
and each control the per-round log ratios of block medians give

* ``d_main``: how much the main probe changed in that round,
* ``d_control``: how much the control changed,
* ``d_main - d_control``: the change left once what the control also saw is taken
  away: the part specific to the main probe's path (for a hypercall probe, the exit).

Each gets the Hodges-Lehmann estimate with its signed-rank interval
(:mod:`hvload.stats.ranks`); the difference is tested with the exact signed-rank test,
Holm-adjusted over every (level, control) pair (the ``correction`` of the
configuration), and judged by this rule, with ``t`` the practical threshold:

* ``not enough data``: too few rounds for the difference test to reach alpha;
* ``no evidence``: the main probe's own comparison (baseline vs level, block medians,
  from :func:`hvload.stats.analyze`) is not ``slower`` or ``faster``: nothing to
  attribute;
* ``exit path slower`` / ``exit path faster``: the difference is significant, its
  interval excludes 0 and its estimate is at least ``t`` in the main change's
  direction: the main probe changed by more than the control did;
* ``shared slowdown`` / ``shared speedup``: the difference's interval lies inside
  ``(-t, t)``: the control changed as much as the main probe;
* ``inconclusive``: anything else (part shared, part not, or too noisy to tell).

The noise context the blocks recorded (:mod:`hvload.measure.noise`: steal time, interrupts,
context switches, load average, clock) is summarised per level, with Friedman's and
Page's tests of whether it differs between levels or rises with load: steal time
growing with load is itself a finding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .analysis import analyze_levels
from .compare import adjust_pvalues, friedman, page_trend
from .config import DEFAULT, AnalysisConfig
from .design import best_adjusted_pvalue
from .ranks import hodges_lehmann, signed_rank_test
from .results import Analysis, TextEnum, Verdict, jsonable
from .table import block_table, log_matrix

__all__ = ["NOISE_COLUMNS", "Attribution", "AttributionVerdict", "attribute"]

#: Block-table columns summarised as the noise context (those a campaign recorded).
NOISE_COLUMNS: tuple[str, ...] = (
    "steal_ms", "irqs", "ctx_voluntary", "ctx_involuntary", "loadavg", "cpu_mhz",
)  # fmt: skip


class AttributionVerdict(TextEnum):
    """What the control probes say about a change of the main probe."""

    EXIT_PATH_SLOWER = "exit path slower"
    EXIT_PATH_FASTER = "exit path faster"
    SHARED_SLOWDOWN = "shared slowdown"
    SHARED_SPEEDUP = "shared speedup"
    INCONCLUSIVE = "inconclusive"
    NO_EVIDENCE = "no evidence"
    NOT_ENOUGH_DATA = "not enough data"


@dataclass(frozen=True, eq=False)
class Attribution:
    """What :func:`attribute` found.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per level (against the baseline) and control: ``main_change``,
        ``control_change`` and ``difference`` (relative changes, each with ``_low`` and
        ``_high``), ``n_rounds``, ``statistic``, ``pvalue``, ``pvalue_adjusted`` of the
        difference, ``main_verdict``, ``verdict`` and ``message``.
    context : pandas.DataFrame
        Median over blocks of each recorded noise column, one row per level.
    context_tests : pandas.DataFrame
        Per noise column: Friedman's p (do levels differ?) and Page's p (does it rise
        with load?), over the complete rounds.
    probe, controls : str, tuple of str
        The main probe and the controls compared with it.
    settings : dict
        The configuration used.
    notes : tuple of str
        Caveats.
    """

    table: pd.DataFrame
    context: pd.DataFrame
    context_tests: pd.DataFrame
    probe: str
    controls: tuple[str, ...]
    baseline: str
    settings: dict[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return jsonable(
            {
                "probe": self.probe,
                "controls": list(self.controls),
                "baseline": self.baseline,
                "table": self.table.to_dict(orient="records"),
                "context": self.context.to_dict(orient="records"),
                "context_tests": self.context_tests.to_dict(orient="records"),
                "notes": list(self.notes),
            }
        )

    def to_text(self) -> str:
        """The attribution and noise tables as ``hvload report`` prints them."""
        from .report import attribution_text

        return attribution_text(self)

    def __str__(self) -> str:
        return self.to_text()


def _judge(
    main_verdict: Verdict, diff: tuple[float, float, float], p_adj: float, reachable: bool,
    alpha: float, threshold: float,
) -> AttributionVerdict:  # fmt: skip
    est, low, high = diff
    if not reachable or not (math.isfinite(low) and math.isfinite(high)):
        return AttributionVerdict.NOT_ENOUGH_DATA
    if main_verdict not in (Verdict.SLOWER, Verdict.FASTER):
        return AttributionVerdict.NO_EVIDENCE
    up = main_verdict == Verdict.SLOWER
    significant = math.isfinite(p_adj) and p_adj < alpha and (low > 0 or high < 0)
    if significant and (est >= threshold if up else est <= -threshold):
        return AttributionVerdict.EXIT_PATH_SLOWER if up else AttributionVerdict.EXIT_PATH_FASTER
    if -threshold < low and high < threshold:
        return AttributionVerdict.SHARED_SLOWDOWN if up else AttributionVerdict.SHARED_SPEEDUP
    return AttributionVerdict.INCONCLUSIVE


def _relative(d: np.ndarray, confidence: float) -> tuple[float, float, float]:
    est, low, high = hodges_lehmann(d, confidence)
    return float(np.expm1(est)), float(np.expm1(low)), float(np.expm1(high))


def _context(data: Any, levels: tuple[str, ...], n_resamples: int,
             rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:  # fmt: skip
    blocks = getattr(data, "blocks", None)
    notes: list[str] = []
    if not isinstance(blocks, pd.DataFrame) or blocks.empty or "level" not in blocks:
        return pd.DataFrame(), pd.DataFrame(), ["no block table: no noise context"]
    present = [c for c in NOISE_COLUMNS if c in blocks.columns]
    if not present:
        return pd.DataFrame(), pd.DataFrame(), ["the blocks recorded no noise context"]
    frame = blocks[blocks["level"].isin(levels)]
    summary = frame.groupby("level", sort=False)[present].median().reindex(list(levels))
    summary = summary.reset_index()
    tests = []
    for col in present:
        values = pd.to_numeric(frame[col], errors="coerce")
        if values.isna().all():
            notes.append(f"{col} was not readable on this machine (missing, not zero)")
            continue
        wide = frame.assign(v=values).pivot_table(index="round", columns="level", values="v")
        wide = wide.reindex(columns=list(levels)).dropna()
        matrix = wide.to_numpy(dtype=np.float64)
        if matrix.shape[0] >= 2 and matrix.shape[1] >= 3:
            f = friedman(matrix, col, n_resamples=n_resamples, rng=rng)
            p = page_trend(matrix, col)
            tests.append({"column": col, "rounds": matrix.shape[0], "friedman_p": f.pvalue,
                          "page_p": p.pvalue})  # fmt: skip
    return summary, pd.DataFrame(tests), notes


def attribute(
    data: Any,
    config: AnalysisConfig | None = None,
    *,
    tsc_hz: float | None = None,
    analysis: Analysis | None = None,
    **options: Any,
) -> Attribution:
    """Attribute each level's change of the main probe to its exit path or to the guest.

    Parameters
    ----------
    data : campaign
        A campaign measured with control probes (``metadata["design"]["probes"]``
        lists more than one probe) and, for the noise context, its block table.
    config : AnalysisConfig, optional
        Analysis settings; ``options`` change single fields. ``config.probe`` is
        ignored: the main probe is compared with each control.
    tsc_hz : float, optional
        TSC frequency, as for :func:`hvload.stats.analyze`.
    analysis : Analysis, optional
        The main probe's analysis with the same configuration, to reuse.

    Returns
    -------
    Attribution

    Raises
    ------
    ValueError
        When the campaign has no control probe.
    """
    config = (config or DEFAULT).replace(**options) if options else (config or DEFAULT)
    config = config.replace(probe=None)
    main_bt = block_table(data, config, tsc_hz=tsc_hz)
    tidy = main_bt.tidy
    controls = tidy.probes[1:]
    if not controls:
        raise ValueError(
            "this campaign measured no control probe (metadata design 'probes' lists only "
            f"{list(tidy.probes)}); measure with controls (hvload run --controls null,syscall)"
        )
    if analysis is None:
        analysis = analyze_levels(data, config.replace(n_sim=0), tsc_hz=tsc_hz)
    levels = tidy.levels
    baseline = levels.index(analysis.design["baseline"])
    main = log_matrix(main_bt.stats["median"])
    ctrl = {
        c: log_matrix(block_table(data, config.replace(probe=c), tsc_hz=tsc_hz).stats["median"])
        for c in controls
    }
    confidence = config.confidence
    rows = []
    for j in range(len(levels)):
        if j == baseline:
            continue
        d_main = main[:, j] - main[:, baseline]
        main_verdict = analysis.comparison(levels[baseline], levels[j], "median").verdict
        for c in controls:
            d_ctrl = ctrl[c][:, j] - ctrl[c][:, baseline]
            ok = np.isfinite(d_main) & np.isfinite(d_ctrl)
            diff = d_main[ok] - d_ctrl[ok]
            statistic, pvalue = signed_rank_test(diff) if diff.size >= 2 else (math.nan, math.nan)
            rows.append(
                {
                    "reference": levels[baseline],
                    "level": levels[j],
                    "control": c,
                    "n_rounds": int(diff.size),
                    **dict(zip(("main_change", "main_change_low", "main_change_high"),
                               _relative(d_main[ok], confidence), strict=True)),
                    **dict(zip(("control_change", "control_change_low", "control_change_high"),
                               _relative(d_ctrl[ok], confidence), strict=True)),
                    **dict(zip(("difference", "difference_low", "difference_high"),
                               _relative(diff, confidence), strict=True)),
                    "statistic": statistic,
                    "pvalue": pvalue,
                    "main_verdict": main_verdict,
                }
            )  # fmt: skip
    table = pd.DataFrame(rows)
    notes: list[str] = []
    if not table.empty:
        table["pvalue_adjusted"] = adjust_pvalues(table["pvalue"].to_numpy(), config.correction)
        m = len(table)
        verdicts, messages = [], []
        # pandas-stubs types every itertuples field as a Scalar union; these are the
        # columns of `rows` just built: counts, verdict labels and floats.
        r: Any
        for r in table.itertuples(index=False):
            reachable = best_adjusted_pvalue(r.n_rounds, m, config.correction) < config.alpha
            v = _judge(
                r.main_verdict, (r.difference, r.difference_low, r.difference_high),
                r.pvalue_adjusted, reachable, config.alpha, config.threshold,
            )  # fmt: skip
            verdicts.append(v.value)
            messages.append(
                f"{r.n_rounds} rounds cannot reach alpha over {m} attribution tests"
                if not reachable
                else ""
            )
        table["main_verdict"] = [str(v) for v in table["main_verdict"]]
        table["verdict"] = verdicts
        table["message"] = messages
    rng = np.random.default_rng(config.seed)
    context, tests, more = _context(data, levels, config.n_permutations, rng)
    notes += more
    return Attribution(
        table=table,
        context=context,
        context_tests=tests,
        probe=tidy.probe,
        controls=tuple(controls),
        baseline=levels[baseline],
        settings=config.to_dict(),
        notes=tuple(notes),
    )
