"""Block noise of a campaign, and the power of its comparisons, by resampling that noise.

Block noise
-----------
Tests run on per-round differences of log block statistics, so what limits
them is how much a block's statistic wanders from round to round when nothing
changes. :func:`block_noise` removes the level and round effects from the
``rounds x levels`` matrix of log block statistics and keeps:

* ``pool``: every within-round difference between two levels, centred on the
  median of that pair over rounds, with both signs: the campaign's own null
  distribution of a per-round difference (heavy tails from slow blocks included);
* ``block_sd``: robust SD (1.4826 MAD) of the pool divided by sqrt 2, the
  block-to-block scatter of one level, as a fraction;
* ``sampling_sd``: the part of it that more samples per block would shrink,
  from the difference between each block's first and second half
  (``var(half1 - half2) / 4`` estimates the sampling variance of the whole
  block's statistic when the block is stationary);
* ``between_sd``: the rest, host noise that only more rounds average out.

Power
-----
A comparison is called ``slower`` when its adjusted signed-rank test is
significant and its Hodges-Lehmann estimate reaches the practical threshold.
Both are functions of the Walsh averages ``W`` of the differences: the test at
level ``a`` rejects upwards exactly when the ``(c+1)``-th smallest Walsh average
is above 0 (``c`` from the exact null distribution), and a shift ``delta`` moves
every Walsh average by ``delta``. So for one simulated null draw the smallest
detectable shift is ``max(-W_(c+1), log(1 + threshold) - HL)``, and the power at
``delta`` is the share of draws whose smallest detectable shift is below it.
Draws resample the pool with replacement (with a small Gaussian jitter, a
smoothed bootstrap, so that resampled ties do not distort the ranks). The test
level is ``alpha / m`` for a family of ``m`` tests: what one true change among
nulls needs under Holm or Bonferroni, so the power reported is a lower bound
when several levels change at once.

The Friedman gate
-----------------
:func:`hvload.stats.analyze` reports a pair's verdict only when the Friedman test
over all levels rejects (:func:`hvload.stats.compare.gate_closes`); with three or
more levels a simulated campaign is called ``slower`` only when that gate opens too.
Each draw then also holds the rest of its rounds: the other levels' blocks, drawn
from the pool scaled by ``1 / sqrt 2`` (one block's noise: the pool holds
differences of two), and the midpoint of the pair's two blocks, a pool draw halved
(for independent symmetric block noise ``e``, ``e0 + e1`` is distributed as
``e0 - e1``). Under Gaussian block noise this is exactly the joint law of a round.
The gate's p-value is the analysis's permutation p-value (:func:`friedman_gate`),
and it depends on the shift, so a gated power is computed at each shift asked for.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from .compare import friedman_null, friedman_ranks, friedman_score, gate_closes, permutation_pvalue
from .ranks import signed_rank_critical

__all__ = [
    "GATE_PERMUTATIONS",
    "MAX_SIMULATED_ROUNDS",
    "BlockNoise",
    "FriedmanGate",
    "Simulated",
    "block_noise",
    "detectable_shifts",
    "friedman_gate",
    "minimum_detectable_effect",
    "power_at",
    "simulate",
]

#: Most rounds whose power is simulated (Walsh averages grow with rounds squared).
MAX_SIMULATED_ROUNDS = 400
_MAD = 1.4826
_JITTER = 0.1


def _robust_sd(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan
    return float(_MAD * np.median(np.abs(x - np.median(x))))


@dataclass(frozen=True)
class BlockNoise:
    """Block-to-block noise of one block statistic (see the module notes).

    Attributes
    ----------
    on : str
        ``"median"`` or ``"p99"``.
    n_rounds, n_levels : int
        Complete rounds and levels the estimate rests on.
    block_sd, sampling_sd, between_sd : float
        Robust SDs on the log scale (about fractions of the statistic); NaN when
        the campaign is too small to tell.
    samples_per_block : float
        Median analysed samples per block (what ``sampling_sd`` refers to).
    pool : numpy.ndarray
        Null per-round differences (log scale), symmetric about 0.
    """

    on: str
    n_rounds: int
    n_levels: int
    block_sd: float
    sampling_sd: float
    between_sd: float
    samples_per_block: float
    pool: np.ndarray

    @property
    def usable(self) -> bool:
        """Whether the pool can drive a power simulation."""
        return self.pool.size >= 4 and math.isfinite(self.block_sd)

    def scaled(self, samples_per_block: float) -> np.ndarray:
        """The pool rescaled to another block size (only the sampling part shrinks)."""
        if not (math.isfinite(self.sampling_sd) and self.samples_per_block > 0):
            return self.pool
        now = self.between_sd**2 + self.sampling_sd**2
        then = self.between_sd**2 + self.sampling_sd**2 * self.samples_per_block / samples_per_block
        return self.pool * math.sqrt(then / now) if now > 0 else self.pool


def block_noise(
    on: str,
    log_stats: np.ndarray,
    halves: tuple[np.ndarray, np.ndarray] | None = None,
    samples_per_block: float = math.nan,
) -> BlockNoise:
    """Estimate the block noise of ``log_stats``, a complete ``rounds x levels`` matrix.

    Parameters
    ----------
    on : str
        Name of the statistic.
    log_stats : numpy.ndarray
        Log block statistics; rows are rounds, columns levels, no NaN.
    halves : tuple of numpy.ndarray, optional
        The same statistic on the first and the second half of each block.
    samples_per_block : float
        Samples behind each block statistic.
    """
    r, k = log_stats.shape
    empty = np.zeros(0)
    if r < 2 or k < 2:
        return BlockNoise(on, r, k, math.nan, math.nan, math.nan, samples_per_block, empty)
    a, b = np.triu_indices(k, 1)
    diffs = log_stats[:, b] - log_stats[:, a]
    # Centre each pair of levels on its own median over rounds: what is left is how a
    # per-round difference scatters when nothing changes. A median, unlike a two-way
    # mean fit, does not smear one slow block over its whole row and column.
    diffs = (diffs - np.median(diffs, axis=0, keepdims=True)).ravel()
    # Centring on an estimate from the same rounds narrows the scatter; undo it as the
    # mean's degrees of freedom would.
    diffs *= math.sqrt(r / (r - 1))
    pool = np.concatenate((diffs, -diffs))
    block_sd = _robust_sd(pool) / math.sqrt(2.0)
    sampling_sd = math.nan
    if halves is not None:
        split = (halves[0] - halves[1]).ravel()
        sampling_sd = _robust_sd(split) / 2.0
    between = (
        math.sqrt(max(block_sd**2 - sampling_sd**2, 0.0))
        if math.isfinite(sampling_sd)
        else block_sd
    )
    return BlockNoise(on, r, k, block_sd, sampling_sd, between, samples_per_block, pool)


@dataclass(frozen=True)
class FriedmanGate:
    """The Friedman gate of a design: the permutation null of its score, sorted."""

    n_levels: int
    alpha: float
    null: np.ndarray


#: Most permutations behind a simulated gate's null: its 95th percentile is then known to
#: about +-0.5 % of level, and the null costs a tenth of the analysis's 9,999.
GATE_PERMUTATIONS = 1999


@functools.lru_cache(maxsize=64)
def _gate(n_rounds: int, n_levels: int, alpha: float, n_permutations: int,
          seed: int) -> FriedmanGate | None:  # fmt: skip
    if n_levels < 3 or n_rounds < 2:
        return None
    ranks = friedman_ranks(np.tile(np.arange(n_levels, dtype=np.float64), (n_rounds, 1)))
    rng = np.random.default_rng([seed, 21, n_rounds, n_levels])
    null = np.sort(friedman_null(ranks, n_permutations, rng))
    null.flags.writeable = False
    return FriedmanGate(n_levels, alpha, null)


def friedman_gate(
    n_rounds: int, n_levels: int, alpha: float, n_permutations: int, seed: int = 0
) -> FriedmanGate | None:
    """The gate :func:`hvload.stats.analyze` applies to ``n_rounds x n_levels``, or None.

    None where the analysis applies none: fewer than 3 levels or 2 rounds (the Friedman
    test does not run). Simulated blocks are never tied, and for untied rounds the
    permutation null of :func:`hvload.stats.compare.friedman` is the same whatever the
    values, so it is built once per design, from ``n_permutations`` (the analysis's
    setting) permutations but at most :data:`GATE_PERMUTATIONS`.
    """
    return _gate(n_rounds, n_levels, alpha, min(n_permutations, GATE_PERMUTATIONS), seed)


#: Cells ranked at once when the gate is simulated (memory of a few chunks of floats).
_CHUNK = 2_000_000


@dataclass(frozen=True)
class Simulated:
    """Simulated null campaigns of one design (see the module notes).

    Attributes
    ----------
    shifts : numpy.ndarray
        Smallest upward log shift each draw's pair test calls ``slower`` (gate aside).
    pair : numpy.ndarray or None
        ``draws x rounds`` null differences of the pair (kept when a gate applies).
    rest : numpy.ndarray or None
        ``draws x rounds x (levels - 1)``: the pair's midpoint, then the other levels.
    gate : FriedmanGate or None
        The gate the analysis would apply; None: none.
    """

    shifts: np.ndarray
    pair: np.ndarray | None = None
    rest: np.ndarray | None = None
    gate: FriedmanGate | None = None

    def called(self, shift: float) -> np.ndarray:
        """Which draws are called ``slower`` when the level moves up by log ``shift``."""
        hit = self.shifts < shift
        if self.gate is None or self.pair is None or self.rest is None:
            return hit
        todo = np.flatnonzero(hit)
        rounds, others = self.rest.shape[1:]
        step = max(1, _CHUNK // (rounds * (others + 1)))
        for start in range(0, todo.size, step):
            rows = todo[start : start + step]
            d, rest = self.pair[rows], self.rest[rows]
            mid = rest[..., 0]
            matrix = np.concatenate(
                ((mid - d / 2)[..., None], (mid + d / 2 + shift)[..., None], rest[..., 1:]),
                axis=-1,
            )
            p = permutation_pvalue(self.gate.null, friedman_score(friedman_ranks(matrix)))
            hit[rows] = ~gate_closes(p, self.gate.alpha)
        return hit

    def power(self, effect: float) -> float:
        """Share of draws that call a relative change ``effect`` slower."""
        return float(np.mean(self.called(float(np.log1p(effect)))))

    def detectable(self, power: float) -> float:
        """Smallest relative change called slower with probability ``power`` (``inf``: none)."""
        plain = minimum_detectable_effect(self.shifts, power)
        if self.gate is None or not math.isfinite(plain):
            return plain
        # The gate only takes calls away: the answer is at or above the gate-free one.
        # Power grows with the shift; bisect on it to 0.01 % of the change.
        lo = hi = float(np.log1p(plain))
        if np.mean(self.called(float(np.nextafter(hi, np.inf)))) >= power:
            return plain  # the gate takes away too few calls to matter
        width = max(hi, 1e-3)
        while np.mean(self.called(hi)) < power:
            lo, hi = hi, hi + width
            width *= 2
            if hi > 20:
                return math.inf
        while hi - lo > 1e-4 * max(hi, 1e-3):
            mid = (lo + hi) / 2
            if np.mean(self.called(mid)) >= power:
                hi = mid
            else:
                lo = mid
        return float(np.expm1(hi))


def simulate(
    pool: np.ndarray,
    n_rounds: int,
    *,
    alpha_test: float,
    threshold: float,
    n_sim: int = 2000,
    rng: np.random.Generator,
    gate: FriedmanGate | None = None,
) -> Simulated:
    """``n_sim`` null campaigns of ``n_rounds`` from ``pool``, gated by ``gate`` if given.

    The pair's draws come first from ``rng``, so without a gate the shifts are those of
    :func:`detectable_shifts`.
    """
    c = signed_rank_critical(n_rounds, 1.0 - alpha_test)
    if c < 0 or pool.size == 0:
        return Simulated(np.full(n_sim, np.inf))
    jitter = _JITTER * (_robust_sd(pool) or float(np.std(pool)) or 1e-6)
    i, j = np.triu_indices(n_rounds)
    n_walsh = i.size
    mid = n_walsh // 2
    need = np.log1p(threshold)
    out = np.empty(n_sim)
    pair = np.empty((n_sim, n_rounds), np.float32) if gate is not None else None
    rows = max(1, 2_000_000 // n_walsh)
    for start in range(0, n_sim, rows):
        stop = min(n_sim, start + rows)
        d = pool[rng.integers(0, pool.size, (stop - start, n_rounds))]
        d = (d + rng.normal(0.0, jitter, d.shape)).astype(np.float32)
        if pair is not None:
            pair[start:stop] = d
        walsh = (d[:, i] + d[:, j]) * np.float32(0.5)
        kth = sorted({c, mid, n_walsh - 1 - mid})
        part = np.partition(walsh, kth, axis=1)
        lower = part[:, c]
        hl = (part[:, mid] + part[:, n_walsh - 1 - mid]) / 2.0
        out[start:stop] = np.maximum(-lower, need - hl)
    if gate is None:
        return Simulated(out)
    # The rest of the rounds from a child generator: ``rng`` goes on as it would without
    # a gate, so what the caller draws next does not move.
    child = rng.spawn(1)[0]
    shape = (n_sim, n_rounds, gate.n_levels - 1)
    rest = pool[child.integers(0, pool.size, shape)] + child.normal(0.0, jitter, shape)
    rest[..., 0] *= 0.5
    rest[..., 1:] *= math.sqrt(0.5)
    return Simulated(out, pair, rest.astype(np.float32), gate)


def detectable_shifts(
    pool: np.ndarray,
    n_rounds: int,
    *,
    alpha_test: float,
    threshold: float,
    n_sim: int = 2000,
    rng: np.random.Generator,
) -> np.ndarray:
    """Smallest upward log shift each of ``n_sim`` simulated campaigns would call ``slower``.

    The pair test alone (no Friedman gate: :func:`simulate` adds it). Returns ``inf``
    for every draw when ``n_rounds`` cannot reach ``alpha_test``.
    """
    return simulate(
        pool, n_rounds, alpha_test=alpha_test, threshold=threshold, n_sim=n_sim, rng=rng
    ).shifts


def power_at(shifts: np.ndarray, effect: float) -> float:
    """Share of simulated campaigns that call a relative change ``effect`` slower."""
    return float(np.mean(shifts < np.log1p(effect)))


def minimum_detectable_effect(shifts: np.ndarray, power: float) -> float:
    """Smallest relative change found with probability ``power`` (``inf`` if none)."""
    finite = shifts[np.isfinite(shifts)]
    if finite.size < power * shifts.size:
        return math.inf
    return float(np.expm1(np.quantile(shifts, power)))
