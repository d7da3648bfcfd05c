"""How many rounds (and samples per block) a campaign needs to find a given change.

:func:`plan` takes a stored or pilot campaign, estimates its block noise
(:func:`hvload.stats.power.block_noise`), and simulates the verdict rule on
resampled noise for increasing numbers of rounds until a change of ``effect``
between the baseline and one level is called ``slower`` with the wanted power.
It answers for the pilot's block size and, rescaling only the within-block
sampling part of the noise, for smaller and larger blocks: when host noise
between blocks dominates, more samples per block buy nothing and only rounds help.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .config import DEFAULT, AnalysisConfig
from .design import ON, family_size, rounds_needed
from .power import (
    MAX_SIMULATED_ROUNDS,
    BlockNoise,
    FriedmanGate,
    block_noise,
    friedman_gate,
    simulate,
)
from .results import jsonable
from .table import block_table, log_matrix

__all__ = [
    "PILOT_CONFIDENCE",
    "PlanResult",
    "detectable_change",
    "noise_band",
    "pilot_margin",
    "pilot_noise",
    "plan",
]

_SAMPLE_FACTORS = (0.25, 0.5, 2.0, 4.0)
_WALSH_BUDGET = 20_000_000
_CELL_BUDGET = 10_000_000


@dataclass(frozen=True)
class PlanResult:
    """What :func:`plan` recommends.

    Attributes
    ----------
    rounds : int or None
        Fewest rounds reaching ``power`` at ``samples_per_block``; None when not
        even :data:`~hvload.stats.power.MAX_SIMULATED_ROUNDS` rounds do.
    achieved_power : float
        Simulated power at ``rounds``.
    effect, power : float
        The change to detect (fraction, e.g. 0.02) and the wanted power.
    on : str
        Block statistic: ``"median"`` or ``"p99"``.
    n_levels, family_size : int
        Levels of the planned design and its number of tests.
    samples_per_block : float
        Block size the rounds refer to.
    alpha_test : float
        Level each test must reach (``alpha / family_size`` under Holm or BH).
    noise : dict
        The pilot's block noise (``block_sd``, ``sampling_sd``, ``between_sd``).
    curve : pandas.DataFrame
        ``rounds``, ``power``: every number of rounds simulated.
    by_samples : pandas.DataFrame
        ``samples_per_block``, ``rounds``: rounds needed at other block sizes.
    seconds_per_block : float
        Median wall time of a pilot block, scaled to ``samples_per_block`` (NaN if
        the pilot has no block times).
    settings : dict
        The analysis configuration used.
    notes : tuple of str
        Caveats.
    rounds_range : tuple of (int or None)
        Rounds reaching ``power`` when the block noise is at the :data:`BAND`
        percentiles (10th, 90th) of what the pilot's estimate allows (see
        :func:`noise_band`): how far this one pilot's plan can be off (None: not
        within the simulated rounds).
    noise_band : tuple of float
        Those two block SDs.
    """

    rounds: int | None
    achieved_power: float
    effect: float
    power: float
    on: str
    n_levels: int
    family_size: int
    samples_per_block: float
    alpha_test: float
    noise: dict[str, float]
    curve: pd.DataFrame
    by_samples: pd.DataFrame
    seconds_per_block: float
    settings: dict[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)
    rounds_range: tuple[int | None, int | None] = (None, None)
    noise_band: tuple[float, float] = (math.nan, math.nan)

    @property
    def duration_s(self) -> float:
        """Estimated measuring time of the recommended design, in seconds."""
        if self.rounds is None:
            return math.nan
        return self.rounds * self.n_levels * self.seconds_per_block

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return jsonable(
            {
                "rounds": self.rounds,
                "achieved_power": self.achieved_power,
                "effect": self.effect,
                "power": self.power,
                "on": self.on,
                "n_levels": self.n_levels,
                "family_size": self.family_size,
                "samples_per_block": self.samples_per_block,
                "alpha_test": self.alpha_test,
                "noise": self.noise,
                "curve": self.curve.to_dict(orient="records"),
                "by_samples": self.by_samples.to_dict(orient="records"),
                "seconds_per_block": self.seconds_per_block,
                "duration_s": self.duration_s,
                "settings": self.settings,
                "notes": list(self.notes),
                "rounds_range": list(self.rounds_range),
                "noise_band": list(self.noise_band),
            }
        )

    def to_text(self) -> str:
        """Readable summary, as ``hvload plan`` prints it."""
        st = self.settings
        lines = [
            f"Plan: find a {100 * self.effect:g}% change of the block {self.on} between the "
            f"baseline and one level, called slower with {self.power:.0%} power",
            f"  design: {self.n_levels} levels, {self.family_size} tests ({st['correction']}, "
            f"alpha {st['alpha']:g}: each test at {self.alpha_test:.3g}); practical "
            f"threshold {100 * st['threshold']:g}%",
            f"  pilot ({self.noise['pilot_rounds']} rounds x {self.noise['pilot_levels']} "
            f"levels) block noise: SD {100 * self.noise['block_sd']:.2f}% "
            + (
                f"(sampling {100 * self.noise['sampling_sd']:.2f}%, between blocks "
                f"{100 * self.noise['between_sd']:.2f}%)"
                if math.isfinite(self.noise["sampling_sd"])
                else ""
            )
            + f"; planned with x{self.noise['margin']:.2f} for the pilot's uncertainty "
            f"(upper {self.noise['pilot_confidence']:.0%} bound)",
        ]
        if self.rounds is None:
            lines.append(
                f"  not reachable within {MAX_SIMULATED_ROUNDS} rounds at "
                f"{self.samples_per_block:,.0f} samples per block"
            )
        else:
            when = (
                f", about {self.duration_s / 60:.1f} min of measuring"
                if math.isfinite(self.duration_s)
                else ""
            )
            lines.append(
                f"  recommended: {self.rounds} rounds at {self.samples_per_block:,.0f} samples "
                f"per block (simulated power {self.achieved_power:.2f}){when}"
            )
        low, high = self.rounds_range
        if math.isfinite(self.noise_band[0]):

            def show(r: int | None) -> str:
                return f"more than {MAX_SIMULATED_ROUNDS}" if r is None else str(r)

            lines.append(
                f"  range over the pilot's uncertainty: {show(low)} to {show(high)} rounds "
                f"(block SD {100 * self.noise_band[0]:.2f}% to {100 * self.noise_band[1]:.2f}%, "
                f"the {BAND[0]:g}th to {BAND[1]:g}th percentile of what this pilot allows)"
            )
        if not self.curve.empty:
            points = ", ".join(
                f"{int(r)}: {p:.2f}" for r, p in zip(self.curve["rounds"], self.curve["power"],
                                                      strict=True)
            )  # fmt: skip
            lines.append(f"  power curve (rounds: simulated power): {points}")
        if not self.by_samples.empty:
            lines.append("  rounds needed at other block sizes:")
            # pandas-stubs types every itertuples field as a Scalar union; by_samples holds
            # floats (rounds is NaN where none was enough).
            row: Any
            for row in self.by_samples.itertuples(index=False):
                r = f"more than {MAX_SIMULATED_ROUNDS}" if pd.isna(row.rounds) else int(row.rounds)
                lines.append(f"    {row.samples_per_block:>10,.0f} samples per block: {r}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_text()


def _power(noise_pool: np.ndarray, rounds: int, effect: float, alpha_test: float,
           threshold: float, n_sim: int, seed: int, gate: _Gates) -> float:  # fmt: skip
    rng = np.random.default_rng([seed, rounds])
    # Each draw costs rounds**2 / 2 Walsh averages (and, gated, rounds x levels blocks):
    # past ~140 rounds fewer draws are simulated (never fewer than 200), so plans that
    # long are coarser.
    n_walsh = rounds * (rounds + 1) // 2
    draws = min(n_sim, max(200, _WALSH_BUDGET // n_walsh))
    g = gate(rounds)
    if g is not None:
        draws = min(draws, max(200, _CELL_BUDGET // (rounds * g.n_levels)))
    sim = simulate(noise_pool, rounds, alpha_test=alpha_test, threshold=threshold,
                   n_sim=draws, rng=rng, gate=g)  # fmt: skip
    return sim.power(effect)


class _Gates:
    """The Friedman gate of the planned design at each number of rounds (None: no gate)."""

    def __init__(self, n_levels: int, config: AnalysisConfig) -> None:
        self.n_levels, self.config = n_levels, config

    def __call__(self, rounds: int) -> FriedmanGate | None:
        c = self.config
        if not c.gate:
            return None
        seed = c.seed if c.seed is not None else 0
        return friedman_gate(rounds, self.n_levels, c.alpha, c.n_permutations, seed)


def _guess(pool: np.ndarray, effect: float, target: float, alpha_test: float) -> int:
    """Rounds a normal approximation of the signed-rank test needs (a starting point)."""
    # Robust SD: slow blocks in the pool would inflate a plain SD far beyond what the
    # rank test feels.
    sd = 1.4826 * float(np.median(np.abs(pool - np.median(pool))))
    z = stats.norm.ppf(1 - alpha_test / 2) + stats.norm.ppf(target)
    # Asymptotic efficiency of the signed-rank test against the t-test: 3 / pi.
    n = (z * sd / np.log1p(effect)) ** 2 * math.pi / 3
    return int(min(max(math.ceil(n), 2), MAX_SIMULATED_ROUNDS))


def _search(pool: np.ndarray, start: int, effect: float, target: float, alpha_test: float,
            threshold: float, n_sim: int, seed: int, gate: _Gates, curve: dict[int, float],
            guess: int | None = None) -> int | None:  # fmt: skip
    """Fewest rounds in ``[start, MAX_SIMULATED_ROUNDS]`` with power >= target.

    Brackets the answer around a normal-approximation guess, then bisects.
    """

    def power(r: int) -> float:
        if r not in curve:
            curve[r] = _power(pool, r, effect, alpha_test, threshold, n_sim, seed, gate)
        return curve[r]

    hi = max(start, guess or _guess(pool, effect, target, alpha_test))
    lo = start
    if power(hi) >= target:
        # Walk down in growing steps until power drops below the target.
        step = max(1, hi // 8)
        while hi - step >= start and power(hi - step) >= target:
            hi -= step
            step *= 2
        lo = max(start, hi - step)
        if power(lo) >= target:
            return lo
    else:
        while power(hi) < target:
            if hi >= MAX_SIMULATED_ROUNDS:
                return None
            lo, hi = hi, min(MAX_SIMULATED_ROUNDS, math.ceil(hi * 1.25) + 1)
    # power(lo) < target <= power(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if power(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def pilot_noise(data: Any, on: str = "median", config: AnalysisConfig | None = None) -> BlockNoise:
    """The block noise of a campaign's block ``on`` statistic (see :mod:`hvload.stats.power`)."""
    return _noise(data, config or DEFAULT, on)[0]


def _noise(data: Any, config: AnalysisConfig, on: str) -> tuple[BlockNoise, float, int]:
    bt = block_table(data, config)
    sizes = bt.sizes
    active = np.flatnonzero(sizes.sum(axis=0) > 0)
    complete = np.flatnonzero((sizes[:, active] > 0).all(axis=1))
    grid = np.ix_(complete, active)
    logs = log_matrix(bt.stats[on][grid])
    halves = log_matrix(bt.halves[on][complete][:, active])
    spb = float(np.median(sizes[sizes > 0])) if (sizes > 0).any() else math.nan
    if not (np.isfinite(logs).all() and np.isfinite(halves).all()):
        raise ValueError("the pilot campaign has empty or non-positive blocks; it cannot be used")
    noise = block_noise(on, logs, (halves[..., 0], halves[..., 1]), spb)
    seconds = math.nan
    blocks = getattr(data, "blocks", None)
    if isinstance(blocks, pd.DataFrame) and {"start_ns", "end_ns"} <= set(blocks.columns):
        wall = (blocks["end_ns"] - blocks["start_ns"]).to_numpy(dtype=np.float64) / 1e9
        wall = wall[np.isfinite(wall) & (wall > 0)]
        if wall.size:
            seconds = float(np.median(wall))
    return noise, seconds, int(active.size)


def _pilot_df(noise: BlockNoise) -> float:
    # A robust SD from R rounds of K levels: (R - 1)(K - 1) residual degrees of freedom,
    # at the MAD's 37 % efficiency.
    return max(1.0, 0.37 * (noise.n_rounds - 1) * (noise.n_levels - 1))


#: How sure a plan is of the pilot's noise by default: the noise is planned at this
#: upper confidence bound of its SD (see :func:`pilot_margin`).
PILOT_CONFIDENCE = 0.8


def pilot_margin(noise: BlockNoise, confidence: float = PILOT_CONFIDENCE) -> float:
    """The factor a plan inflates the pilot's noise by: the one definition of it.

    A short pilot knows its own noise only roughly: a robust SD from ``R`` rounds of
    ``K`` levels has about ``0.37 (R - 1)(K - 1)`` degrees of freedom (the efficiency
    of the MAD is 37 %). The factor ``sqrt(df / chi2.ppf(1 - confidence, df))`` takes
    the SD to its one-sided upper ``confidence`` bound, so that a pilot that happened
    to be quiet does not yield a plan that falls short (1.19 for 10 rounds x 6 levels
    at 0.8, 1.20 for the shipped AMD default campaign's 12 x 5); ``confidence`` 0 plans
    with the estimate itself (factor 1). :func:`plan` and :func:`detectable_change`
    use it, and the README's planning figures come from them.
    """
    if not confidence:
        return 1.0
    df = _pilot_df(noise)
    return float(math.sqrt(df / stats.chi2.ppf(1 - confidence, df)))


#: Percentiles of the pilot's noise estimate behind the range of rounds.
BAND = (10.0, 90.0)


def noise_band(noise: BlockNoise) -> tuple[float, float]:
    """The :data:`BAND` percentiles of the block SD the pilot's estimate allows.

    The same chi-square reasoning as the margin of :func:`plan`: a robust SD from ``R``
    rounds of ``K`` levels has about ``0.37 (R - 1)(K - 1)`` degrees of freedom, so the
    SD lies between ``sd sqrt(df / chi2.ppf(0.9, df))`` and ``sd sqrt(df / chi2.ppf(0.1,
    df))`` with 80 % confidence. (Resampling the pilot's rounds was tried first: a
    drawn-twice round gives identical centred differences, which shrink the MAD, and
    the band came out far too low.)
    """
    df = _pilot_df(noise)
    low = noise.block_sd * math.sqrt(df / stats.chi2.ppf(1 - BAND[0] / 100, df))
    high = noise.block_sd * math.sqrt(df / stats.chi2.ppf(1 - BAND[1] / 100, df))
    return float(low), float(high)


def plan(
    data: Any,
    effect: float = 0.02,
    *,
    on: str = "median",
    n_levels: int | None = None,
    samples_per_block: float | None = None,
    pilot_confidence: float = PILOT_CONFIDENCE,
    config: AnalysisConfig | None = None,
    n_sim: int = 2000,
    **options: Any,
) -> PlanResult:
    """Rounds (and samples per block) needed to call a change of ``effect`` slower.

    Parameters
    ----------
    data : campaign or pandas.DataFrame
        A stored or pilot campaign: at least 2 complete rounds of at least 2
        levels. Its block noise stands for the noise of the planned campaign.
    effect : float, default 0.02
        Relative change to detect between the baseline and one level (0.02 = 2 %).
    on : {"median", "p99"}, default "median"
        Block statistic the change is in.
    n_levels : int, optional
        Levels of the planned design (sets the number of tests); the pilot's by default.
    samples_per_block : float, optional
        Planned samples per block; the pilot's by default.
    pilot_confidence : float, default 0.8
        The pilot's noise is scaled up to this one-sided upper confidence bound of
        its SD (see Notes); 0 plans with the estimate itself.
    config : AnalysisConfig, optional
        Analysis settings (alpha, correction, threshold, power, exclusions) the
        planned campaign will be analysed with; ``options`` change single fields.
    n_sim : int, default 2000
        Simulated campaigns per number of rounds.

    Returns
    -------
    PlanResult

    Notes
    -----
    The power is simulated for one level changing while the others do not, with
    each test at ``alpha / m`` (Holm's first step); with several levels changing,
    Holm is more lenient, so the recommendation errs on the safe side. The pilot's
    noise is assumed to be the planned campaign's: plan from a pilot made on the
    same machine, with the same probe and load.

    With three or more levels, the analysis reports a pair's verdict only when the
    Friedman test over all levels rejects; the simulation applies that same gate
    (:mod:`hvload.stats.power`), unless ``config.gate`` is off.

    The pilot's noise is scaled up by :func:`pilot_margin` (its upper
    ``pilot_confidence`` bound), so that a pilot that happened to be quiet does not
    yield a plan that falls short.
    """
    config = (config or DEFAULT).replace(**options) if options else (config or DEFAULT)
    if on not in ON:
        raise ValueError(f"on={on!r} is not allowed; choose from {list(ON)}")
    if not (isinstance(effect, (int, float)) and math.isfinite(effect) and 0 < effect < 10):
        raise ValueError(
            f"effect={effect!r} is not allowed; it must be a fraction in (0, 10), e.g. 0.02"
        )
    if isinstance(n_sim, bool) or not isinstance(n_sim, int) or n_sim < 100:
        raise ValueError(f"n_sim={n_sim!r} is not allowed; it must be an integer >= 100")
    if not (isinstance(pilot_confidence, (int, float)) and 0 <= pilot_confidence < 1):
        raise ValueError(
            f"pilot_confidence={pilot_confidence!r} is not allowed; it must be in [0, 1)"
        )
    noise, seconds, pilot_levels = _noise(data, config, on)
    if not noise.usable:
        raise ValueError(
            "the pilot campaign is too small to estimate its block noise: it needs at "
            "least 2 complete rounds of at least 2 levels"
        )
    levels = pilot_levels if n_levels is None else n_levels
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
        raise ValueError(f"n_levels={n_levels!r} is not allowed; it must be an integer >= 2")
    spb = noise.samples_per_block if samples_per_block is None else float(samples_per_block)
    if not (math.isfinite(spb) and spb >= 1):
        raise ValueError(f"samples_per_block={samples_per_block!r} must be a number >= 1")
    m = family_size(levels)
    alpha_test = config.alpha / m if config.correction != "none" else config.alpha
    start = rounds_needed(levels, alpha=config.alpha, correction=config.correction)
    seed = config.seed if config.seed is not None else 0
    notes = []
    if effect <= config.threshold:
        notes.append(
            f"the effect ({100 * effect:g}%) is not above the practical threshold "
            f"({100 * config.threshold:g}%): at best half of such campaigns estimate it "
            "beyond the threshold, so 'slower' is rarely reached"
        )
    margin = pilot_margin(noise, pilot_confidence)
    gate = _Gates(levels, config)
    curve: dict[int, float] = {}
    rounds = _search(margin * noise.scaled(spb), start, effect, config.power, alpha_test,
                     config.threshold, n_sim, seed, gate, curve)  # fmt: skip
    # The same search at the low and high end of what the pilot's rounds say about its
    # noise: how far one pilot's plan can be off (issue 20: twenty pilots of one machine
    # gave 23 to 69 rounds).
    band = noise_band(noise)
    span: list[int | None] = []
    for sd in band:
        factor = sd / noise.block_sd if math.isfinite(sd) and noise.block_sd > 0 else math.nan
        if not math.isfinite(factor):
            span.append(None)
            continue
        pool = factor * noise.scaled(spb)
        span.append(_search(pool, start, effect, config.power, alpha_test, config.threshold,
                            n_sim, seed, gate, {}, rounds))  # fmt: skip
    rows = []
    for factor in _SAMPLE_FACTORS:
        other = spb * factor
        r = _search(margin * noise.scaled(other), start, effect, config.power, alpha_test,
                    config.threshold, n_sim, seed, gate, {}, rounds)  # fmt: skip
        rows.append({"samples_per_block": other, "rounds": r})
    by_samples = pd.DataFrame(rows)
    if noise.samples_per_block > 0 and math.isfinite(seconds):
        # Measuring time scales with the block size; the fixed part (settle, load start)
        # is small at the default sizes.
        seconds = seconds * spb / noise.samples_per_block
    if not math.isfinite(noise.sampling_sd):
        notes.append(
            "the sampling part of the noise could not be estimated; block size is not modelled"
        )
    curve_frame = pd.DataFrame(sorted(curve.items()), columns=["rounds", "power"])
    return PlanResult(
        rounds=rounds,
        achieved_power=curve.get(rounds, math.nan) if rounds is not None else math.nan,
        effect=float(effect),
        power=config.power,
        on=on,
        n_levels=levels,
        family_size=m,
        samples_per_block=spb,
        alpha_test=alpha_test,
        noise={
            "block_sd": noise.block_sd,
            "sampling_sd": noise.sampling_sd,
            "between_sd": noise.between_sd,
            "pilot_rounds": noise.n_rounds,
            "pilot_levels": noise.n_levels,
            "pilot_samples_per_block": noise.samples_per_block,
            "margin": margin,
            "pilot_confidence": pilot_confidence,
        },
        curve=curve_frame,
        by_samples=by_samples,
        seconds_per_block=seconds,
        settings=config.to_dict(),
        notes=tuple(notes),
        rounds_range=(span[0], span[1]),
        noise_band=band,
    )


def detectable_change(
    data: Any,
    rounds: int,
    *,
    on: str = "median",
    n_levels: int | None = None,
    samples_per_block: float | None = None,
    pilot_confidence: float = PILOT_CONFIDENCE,
    config: AnalysisConfig | None = None,
    n_sim: int = 2000,
    **options: Any,
) -> float:
    """Smallest change a design of ``rounds`` finds with ``config.power``, as :func:`plan` sees it.

    The same simulation as :func:`plan` (the pilot's noise at ``samples_per_block``,
    inflated by :func:`pilot_margin`, the Friedman gate, the same draws at each number
    of rounds), asked the other way round: a plan for the change this returns needs
    about ``rounds``. A fraction (0.02 = 2 %); ``inf`` when no change is found that often.
    """
    config = (config or DEFAULT).replace(**options) if options else (config or DEFAULT)
    if on not in ON:
        raise ValueError(f"on={on!r} is not allowed; choose from {list(ON)}")
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 2 <= rounds <= 10_000:
        raise ValueError(f"rounds={rounds!r} is not allowed; it must be an integer >= 2")
    noise, _, pilot_levels = _noise(data, config, on)
    if not noise.usable:
        raise ValueError("the pilot campaign is too small to estimate its block noise")
    levels = pilot_levels if n_levels is None else n_levels
    spb = noise.samples_per_block if samples_per_block is None else float(samples_per_block)
    m = family_size(levels)
    alpha_test = config.alpha / m if config.correction != "none" else config.alpha
    seed = config.seed if config.seed is not None else 0
    gate = _Gates(levels, config)(rounds)
    pool = pilot_margin(noise, pilot_confidence) * noise.scaled(spb)
    sim = simulate(pool, rounds, alpha_test=alpha_test, threshold=config.threshold,
                   n_sim=n_sim, rng=np.random.default_rng([seed, rounds]), gate=gate)  # fmt: skip
    return sim.detectable(config.power)
