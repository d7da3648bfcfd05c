"""The level p99: a level's p99 over all its samples, with an interval that respects rounds.

Two p99 figures answer two questions, and hvload reports both, each under its own name:

* the **typical-block p99** (``block_p99``): the median over a level's blocks of each
  block's p99, "what p99 does one block of this level usually show"; its interval is
  distribution-free (:mod:`hvload.stats.intervals`);
* the **level p99** (``level_p99``): the p99 of every analysed sample of the level
  pooled, "what p99 latency does this load level have", the figure a reader of
  "p99 at 75 % load" means. Slow blocks, bursts and spikes all count in it, so it lies
  above the typical-block p99 whenever blocks differ in their tails.

Interval of the level p99
-------------------------
Samples are not independent (blocks differ, rounds share their host), so the interval
treats the round as the unit: the level's blocks are drawn with replacement (a
round-cluster bootstrap) and the question asked of each candidate value ``x`` is
whether the level's mean share of samples at or below ``x`` can be 99 %. Per block,
``d(x) = (#samples <= x) - 0.99 n``; ``x`` is in the interval when the one-sample
t-statistic of ``d(x)`` over rounds lies between the ``alpha/2`` and ``1 - alpha/2``
quantiles of its own studentized bootstrap distribution (a bootstrap-t test, inverted
over every value of the grid of :mod:`hvload.stats._tailgrid`).

Why this method: the per-round share of samples beyond the p99 is very skewed (a few
blocks hold most of the slow samples), which is what defeats the simpler choices. On
the SYNTHETIC two-path model of ``tests/tails_synthetic.py`` at 12 rounds, the
percentile bootstrap of the pooled p99 covered the true level p99 in 83 % (mild) and
69 % (5 % of blocks 40 % slow) of 300 campaigns, BCa in 84 % and 77 %, Woodruff's
interval (the pooled CDF's cluster standard error mapped through the quantile) in 91 %
and 88 %, the plain t-test inverted in 81 % and 76 %; the bootstrap-t inverted
covered 98 % and 99.7 % (95-96 % at 30 rounds). ``tests/test_stats_tails.py`` asserts
at least 93 %. The price of honesty is width: with 12 rounds of a bursty level, the
level p99 is known only to tens of percent, and the interval says so.

Level p99.9
-----------
The pooled p99.9 with an interval by the same inversion (the grid then keeps every
sample above the cutoff), given only where :func:`level_p999_gap` finds the data allow
it: at least :data:`MIN_ROUNDS` rounds, at least :data:`MIN_BEYOND` samples expected
beyond it in the smallest block (blocks of 5,000), and the samples beyond it spread over
the rounds (CV of their count per round at most :data:`MAX_SPREAD`); otherwise NaN with
the reason. Without the last rule the interval covered the true p99.9 in 100 % / 94.7 %
of SYNTHETIC ``mild`` campaigns (12 / 30 rounds, 150 each) but on the ``heavy`` model
(5 % of blocks 40 % slow, slow shares very uneven between blocks) in 97 % / 55 %: the
mean of a very skewed per-round share is usually below its expectation with 30 rounds,
and resampling those rounds cannot see what they lack. On the shipped files a few rounds
hold most samples beyond the p99.9 at every level (CV 0.84-2.15), so none is given.

Changes of the level p99
------------------------
:func:`tail_comparisons` compares two levels' level p99 over the rounds both hold: the
estimate is the log ratio of the pooled p99s; the p-value is a two-sided sign-flip
test (the two levels' blocks swapped inside random rounds: exact when, as under no
change, the two blocks of a round are exchangeable, which the random order of levels
inside a round provides); the interval is the percentile interval of the log ratio
over rounds drawn with replacement (both levels of a round together). The level-p99
comparisons form their own Holm family, apart from the block medians and block p99,
whose family (and results) stay as they were; the verdict rule is
:func:`hvload.stats.compare.verdict`. Measured on the SYNTHETIC ``mild`` model of
``tests/tails_synthetic.py`` (5 levels x 300 samples per block): A/A campaigns at 12
rounds got a level-p99 ``slower``/``faster`` in 5.3 % (16 of 300; ``heavy``: 2.3 %), as
the exact test and Holm allow up to sampling error; at 40 rounds a +5 % change of every
quantile was called ``slower`` in 5 % of 100 campaigns, +20 % in 74 %, +25 % in 88 %
and +35 % in 98 % of 60 (``tests/test_stats_tails.py`` asserts +30 %). The level p99
moves with how many slow samples a level's blocks happen to hold, so its changes need
large effects or many rounds; the typical-block p99 (``on="p99"``) is the steadier
but different quantity.

Why a +5 % change of the level p99 is rarely found (measured, SYNTHETIC ``mild``, 40
rounds, one null and one +5 % pair per campaign; 150 campaigns of 300 samples per block,
100 of 5,000, the default block):

============================  =============  ===============
per 40 rounds                 300 / block    5,000 / block
============================  =============  ===============
SD of the pooled log ratio    3.70 %         1.58 %
same, Harrell-Davis p99       3.74 %         1.59 %
SD of mean log block-p99      3.96 %         2.74 %
best test (known SD), 0.05/7  9 %            69-70 %
sign-flip (this), 0.05/7      4 %            55 %
paired t, exceedance share    8 %            56 %
paired t, log block p99       4 %            20 %
============================  =============  ===============

(power at the first Holm step over the 7 comparisons of 5 levels, ``0.05/7``; at an
unadjusted 0.05: best 26 % / 89 %, sign-flip 18 % / 85 %; A/A at 0.05 2-6 %. Through
:func:`tail_comparisons` and its verdict rule, 5 levels, the top one +5 %: called
``slower`` against the baseline in 58 of 100 campaigns of 40 rounds x 5,000, a
``slower``/``faster`` among the five unchanged pairs in 2 of 100.) What
limits it is information, not the test: the sampling SD of the pooled p99 comes from
how many slow samples each block holds (the per-block share beyond the p99 varies
with a CV of 0.5-1.0 between blocks), which no estimator of the pooled quantile
avoids: the smoother Harrell-Davis quantile has the same SD (its gain is on the
order-statistic noise, a small part here), per-round block p99s are noisier than the
pooled one, and the exact sign-flip test comes within a few points of a test that knew
the SD at the same level. On the SHIPPED real files the noise is larger still: the
paired SD of the log ratio, scaled to 40 rounds at each file's own block size, is
1.8-5.8 % (median per file; 2.2 % on the AMD A/A file, 3.0 % AMD IPI, 4.6 % Intel with
controls, 5.6-5.8 % AMD default and controls), against 1.58 % for the ``mild`` model at
5,000 per block; the per-block share beyond the level p99 has a CV of 0.6-1.4 there
against 0.5. A test that knew that SD would find +5 % at ``0.05/7`` in 3-51 % of
campaigns. So no calibrated test of the level p99 reaches 80 % power for +5 % at 40
rounds on realistic tails; the ``mild`` model is, if anything, quieter than the real
machines at the default block size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._tailgrid import (
    Block,
    BlockTail,
    TailGrid,
    _as_tail,
    blend_quantiles,
    pooled_block_quantile,
    tail_grid,
)
from .compare import adjust_pvalues, verdict
from .config import AnalysisConfig
from .results import Comparison, Verdict
from .summary import to_ns
from .table import BlockTable

__all__ = [
    "LEVEL_Q",
    "LEVEL_Q999",
    "MAX_SPREAD",
    "MIN_BEYOND",
    "Block",
    "BlockTail",
    "cell_blocks",
    "level_change",
    "level_p999_gap",
    "level_quantile_interval",
    "pooled_quantile",
    "tail_comparisons",
]

#: The quantile reported as the level p99.
LEVEL_Q = 0.99
#: Rounds below which no level-p99 interval is given.
MIN_ROUNDS = 5
#: The quantile reported as the level p99.9, where the data allow.
LEVEL_Q999 = 0.999
#: Samples beyond the p99.9 that the smallest block must hold in expectation for the
#: level p99.9 to be reported (blocks of 5,000 samples or more).
MIN_BEYOND = 5
#: Highest coefficient of variation over rounds of the samples beyond the pooled p99.9
#: for the level p99.9 to be reported (see :func:`level_p999_gap`). Chosen on 150
#: SYNTHETIC campaigns per cell (blocks of 5,000): with 1.0 the heavy model at 30 rounds
#: still showed a missing interval in 4 % of campaigns (10 % on other seeds); with 0.8
#: in none, while the mild model keeps its p99.9 in 82 % (12 rounds) and 92 % (30).
MAX_SPREAD = 0.8
#: Block quantile below which samples only count (see :mod:`hvload.stats._tailgrid`):
#: low enough that the widest interval seen at 12 rounds stays above it.
CUT = 0.9
#: Block quantile above which samples leave the level grid: no interval seen reaches it.
TOP = 0.999


def _tstat(mean: np.ndarray, var: np.ndarray, r: int) -> np.ndarray:
    """t-statistics, with +-inf where the spread is zero and the mean is not."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / np.sqrt(var / r)
    flat = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
    return np.where(var > 0, np.nan_to_num(t, nan=0.0), flat)


def grid_interval(
    grid: TailGrid, q: float, confidence: float, n_boot: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Bootstrap-t interval of the pooled quantile ``q`` of ``grid``'s blocks (one per round)."""
    n = grid.n.astype(np.float64)
    full = n > 0
    r = int(np.count_nonzero(full))
    if r < MIN_ROUNDS or grid.values.size == 0:
        return math.nan, math.nan
    # Scaled by the mean block size so that figures stay O(1) whatever the block size.
    d = (grid.cum[full] - q * n[full, None]) / n[full].mean()
    mean = d.mean(axis=0)
    var = d.var(axis=0, ddof=1)
    t = _tstat(mean, var, r)
    # Values whose t is far beyond any bootstrap quantile cannot enter the interval.
    near = np.flatnonzero(np.abs(t) < 50)
    if near.size == 0:
        j = int(np.argmin(np.abs(t)))
        return float(grid.values[j]), float(grid.values[j])
    w = rng.multinomial(r, np.full(r, 1.0 / r), size=n_boot) / r
    a = 1.0 - confidence

    def accept(cols: np.ndarray) -> np.ndarray:
        dn = d[:, cols]
        m_b = w @ dn
        v_b = np.maximum(w @ (dn * dn) - m_b * m_b, 0.0) * r / (r - 1)
        # Infinite t (a resample of identical rounds) as huge finite, so quantiles interpolate.
        t_b = np.clip(_tstat(m_b - mean[cols], v_b, r), -1e12, 1e12)
        lo_q, hi_q = np.quantile(t_b, [a / 2, 1 - a / 2], axis=0)
        return (t[cols] >= lo_q) & (t[cols] <= hi_q)

    # Every value's test costs a column of bootstrap draws: test every few values, then
    # every value between the last rejected and the first accepted one at each end.
    step = max(1, near.size // 150)
    coarse = near[::step]
    ok = np.flatnonzero(accept(coarse))
    if ok.size == 0:
        j = near[int(np.argmin(np.abs(t[near])))]
        return float(grid.values[j]), float(grid.values[j])
    first, last = int(coarse[ok[0]]), int(coarse[ok[-1]])
    if ok[0] > 0:
        gap = near[(near > coarse[ok[0] - 1]) & (near < first)]
        hit = gap[accept(gap)] if gap.size else gap
        first = int(hit[0]) if hit.size else first
    if ok[-1] + 1 < coarse.size:
        gap = near[(near > last) & (near < coarse[ok[-1] + 1])]
        hit = gap[accept(gap)] if gap.size else gap
        last = int(hit[-1]) if hit.size else last
    inside = np.array([first, last])
    top = min(int(inside[-1]) + 1, grid.values.size - 1)
    return float(grid.values[inside[0]]), float(grid.values[top])


def level_quantile_interval(
    blocks: Sequence[Block],
    confidence: float,
    *,
    q: float = LEVEL_Q,
    n_boot: int = 1999,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Interval of a level's pooled quantile ``q`` from its blocks, one per round.

    Parameters
    ----------
    blocks : sequence of numpy.ndarray or BlockTail
        Each round's analysed samples of the level, sorted ascending (empty allowed), or
        their upper part (:class:`BlockTail`; every sample at or above the lowest p90 of
        the level's blocks must be in it).
    confidence : float
        Two-sided confidence level.
    q : float, default 0.99
        The quantile.
    n_boot : int, default 1999
        Bootstrap resamples of the rounds.
    rng : numpy.random.Generator
        Source of the resamples.

    Returns
    -------
    low, high : float
        NaN when fewer than :data:`MIN_ROUNDS` rounds hold samples.
    """
    # Above the p99 the grid keeps every sample (a blend's p99.9 may lie beyond any
    # block's p99.9, and the samples there are few) and counts those under the lowest
    # block p99 only (a tenth of the samples a p90 cutoff would bin).
    if q <= LEVEL_Q:
        return grid_interval(tail_grid(blocks, CUT, TOP), q, confidence, n_boot, rng)
    return grid_interval(tail_grid(blocks, LEVEL_Q, 1.0), q, confidence, n_boot, rng)


def level_p999_gap(blocks: Sequence[Block], q: float = LEVEL_Q999) -> str:
    """Why a level with these blocks (one per round) gets no level p99.9 ('' if it gets one).

    Two rules, both from coverage measured on the SYNTHETIC models of
    ``tests/tails_synthetic.py`` (see the module notes): at least :data:`MIN_ROUNDS`
    rounds and :data:`MIN_BEYOND` samples expected beyond the quantile in the smallest
    block (with fewer, the per-round share beyond it is mostly 0 or 1 sample and the
    bootstrap-t has little to studentize); and the samples beyond the pooled quantile
    spread over the rounds, their count per round varying with a coefficient of variation
    of at most :data:`MAX_SPREAD` (when a few blocks hold most of them, the level's p99.9
    rests on how many such blocks a campaign happened to catch, and the interval missed
    the true p99.9 in most campaigns of the model with block regimes).
    """
    sizes = np.array([_size(b) for b in blocks])
    full = [b for b, n in zip(blocks, sizes, strict=True) if n]
    if len(full) < MIN_ROUNDS:
        return f"{len(full)} round(s) with samples: an interval needs at least {MIN_ROUNDS}"
    smallest = int(sizes[sizes > 0].min())
    need = math.ceil(MIN_BEYOND / (1 - q) - 1e-9)
    if smallest < need:
        return (
            f"the smallest block holds {smallest} samples, {smallest * (1 - q):.1f} expected "
            f"beyond the p{100 * q:g}; it needs at least {MIN_BEYOND} (blocks of {need} samples)"
        )
    value = pooled_block_quantile(full, q)
    # Samples above the pooled quantile per round (at or below: below the next float up).
    above = np.array(
        [_size(b) - _as_tail(b).count_below(float(np.nextafter(value, np.inf))) for b in full],
        dtype=np.float64,
    )
    spread = float(above.std(ddof=1) / above.mean()) if above.sum() else math.inf
    if spread > MAX_SPREAD:
        return (
            f"the samples beyond the p{100 * q:g} come from few rounds (their count per round "
            f"varies with a CV of {spread:.2f}, above {MAX_SPREAD:g}): no interval holds"
        )
    return ""


#: Block quantile below which samples only count in a comparison (a blend of two
#: levels' blocks never has its p99 below the lowest block p97 of the pair).
CHANGE_CUT = 0.97


def level_change(
    reference: Sequence[Block],
    level: Sequence[Block],
    confidence: float,
    *,
    q: float = LEVEL_Q,
    n_permutations: int = 1999,
    n_boot: int = 1999,
    rng: np.random.Generator,
) -> tuple[float, float, float, float, int]:
    """Change of the level p99 between two levels, paired by round.

    Parameters
    ----------
    reference, level : sequence of numpy.ndarray or BlockTail
        Each round's sorted samples of the two levels (same rounds, same order), or their
        upper part (every sample at or above the lowest p97 of the paired blocks).

    Returns
    -------
    log_ratio, low, high, pvalue : float
        ``log(level p99 / reference p99)`` of the pooled samples, its percentile
        round-bootstrap interval (rounds resampled, both levels together), and the
        two-sided sign-flip p-value (the two levels' blocks swapped inside random
        rounds: exact under the null that the two levels' blocks of a round are
        exchangeable, which the randomized order inside a round provides).
    n_rounds : int
        Rounds that hold both levels.
    """
    pairs = [(a, b) for a, b in zip(reference, level, strict=True) if _size(a) and _size(b)]
    r = len(pairs)
    if r < 2:
        return math.nan, math.nan, math.nan, math.nan, r
    grid = tail_grid([a for a, _ in pairs] + [b for _, b in pairs], CHANGE_CUT, 0.995)

    ones = np.ones((1, r))
    zero = np.zeros((1, r))
    obs_ref = blend_quantiles(grid, np.hstack((ones, zero)), q)[0]
    obs_lvl = blend_quantiles(grid, np.hstack((zero, ones)), q)[0]
    estimate = float(np.log(obs_lvl / obs_ref))
    flips = (rng.random((n_permutations, r)) < 0.5).astype(np.float64)
    ref_p = blend_quantiles(grid, np.hstack((1 - flips, flips)), q)
    lvl_p = blend_quantiles(grid, np.hstack((flips, 1 - flips)), q)
    null = np.log(lvl_p / ref_p)
    pvalue = (1 + int(np.count_nonzero(np.abs(null) >= abs(estimate) - 1e-12))) / (
        1 + n_permutations
    )
    w = rng.multinomial(r, np.full(r, 1.0 / r), size=n_boot).astype(np.float64)
    boot = np.log(
        blend_quantiles(grid, np.hstack((np.zeros_like(w), w)), q)
        / blend_quantiles(grid, np.hstack((w, np.zeros_like(w))), q)
    )
    a = 1.0 - confidence
    low, high = np.quantile(boot, [a / 2, 1 - a / 2])
    return estimate, float(low), float(high), float(pvalue), r


def tail_comparisons(
    bt: BlockTable, pairs: Sequence[tuple[int, int, str]], config: AnalysisConfig
) -> tuple[Comparison, ...]:
    """The level-p99 comparison of every pair, as its own family (see the module notes)."""
    tidy = bt.tidy
    k = tidy.n_levels
    rng = np.random.default_rng([config.seed if config.seed is not None else 0, 21])
    confidence = config.confidence
    rows = []
    for a, b, kind in pairs:
        ref = cell_blocks(bt, [r * k + a for r in range(tidy.n_rounds)])
        lvl = cell_blocks(bt, [r * k + b for r in range(tidy.n_rounds)])
        rows.append((a, b, kind, *level_change(
            ref, lvl, confidence, n_permutations=config.n_bootstrap,
            n_boot=config.n_bootstrap, rng=rng,
        )))  # fmt: skip
    m = len(rows)
    adjusted = adjust_pvalues(np.array([row[6] for row in rows]), config.correction)
    out = []
    for (a, b, kind, est, low, high, p, n), p_adj in zip(rows, adjusted, strict=True):
        both = [r for r in range(tidy.n_rounds) if bt.sizes[r, a] and bt.sizes[r, b]]
        ref_v = float(pooled_quantile(bt, [r * k + a for r in both]))
        lvl_v = float(pooled_quantile(bt, [r * k + b for r in both]))
        rel = [float(np.expm1(x)) for x in (est, low, high)]
        cyc = [ref_v * x for x in rel]
        factor = m if config.correction == "holm" else 1
        best = max(2.0 ** (1 - n), 1.0 / (1 + config.n_bootstrap)) * factor if n else 1.0
        message = f"sign-flip p-value ({config.n_bootstrap} random swaps of rounds)"
        if not math.isfinite(p):
            v = Verdict.NOT_ENOUGH_DATA
            message = f"{n} paired round(s); a test needs at least 2"
        elif best >= config.alpha:
            v = Verdict.NOT_ENOUGH_DATA
            message = (
                f"{n} paired rounds: the smallest sign-flip p-value cannot reach alpha "
                f"after {config.correction} over {m} level-p99 comparisons"
            )
        else:
            v = verdict(float(p_adj), rel[0], rel[1], rel[2], alpha=config.alpha,
                        threshold=config.threshold)  # fmt: skip
        ns = [float(to_ns(x, tidy.tsc_hz)) for x in cyc]
        out.append(
            Comparison(
                reference=tidy.levels[a], level=tidy.levels[b], on="level_p99", kind=kind,
                n_rounds=n, statistic=est, pvalue=p, pvalue_adjusted=float(p_adj),
                effect=float(np.exp(est)), effect_low=float(np.exp(low)),
                effect_high=float(np.exp(high)), relative_change=rel[0],
                relative_change_low=rel[1], relative_change_high=rel[2], change=cyc[0],
                change_low=cyc[1], change_high=cyc[2], change_ns=ns[0], change_ns_low=ns[1],
                change_ns_high=ns[2], reference_value=ref_v, level_value=lvl_v,
                cles=math.nan, verdict=v, message=message,
            )
        )  # fmt: skip
    return tuple(out)


def pooled_quantile(bt: BlockTable, cells: Sequence[int], q: float = LEVEL_Q) -> float:
    """Type-7 quantile ``q`` of the samples of ``cells`` pooled (exact)."""
    return pooled_block_quantile(cell_blocks(bt, cells), q)


def cell_blocks(bt: BlockTable, cells: Sequence[int]) -> list[Block]:
    """The analysed samples of each of ``cells`` as the functions here take them: sorted,
    or, where ``bt`` keeps only each block's upper part (a campaign analysed block by
    block: ``bt.floors``, ``bt.upper_counts``), as a :class:`BlockTail`."""
    if bt.floors is None:
        return [bt.seg.cell(c) for c in cells]
    sizes = bt.sizes.reshape(-1)
    counts = bt.upper_counts
    return [
        BlockTail(int(sizes[c]), bt.seg.cell(c), float(bt.floors[c]),
                  None if counts is None else counts[bt.seg.offsets[c] : bt.seg.offsets[c + 1]])
        for c in cells
    ]  # fmt: skip


def _size(block: Block) -> int:
    return block.n if isinstance(block, BlockTail) else int(block.size)
