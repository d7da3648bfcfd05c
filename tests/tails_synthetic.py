"""A SECOND, independent generator of SYNTHETIC campaigns, for the tail statistics.

Nothing here was measured. This model is deliberately unlike ``stats_synthetic.py``
(AR(1) log noise with additive excursions), so that the tail claims of
:mod:`hvload.stats.tails` are validated against data the methods were not tuned on:

* **two exit paths**: every sample takes the fast path (log-normal around ``BASE``)
  or the slow path (``slow_path`` times slower, its own log-normal scatter);
* **bursty slow states**: which path a sample takes follows a two-state Markov chain
  per block (mean burst ``burst`` samples), with the block's slow share drawn from a
  Beta distribution (mean ``slow_share``, concentration ``share_conc``): some blocks
  hardly visit the slow path, some spend several times the mean there;
* **block regimes**: with probability ``regime_rate`` a whole block runs
  ``regime_factor`` times slower (``heavy``: 5 % of blocks 40 % slow);
* Gaussian block effects (``block_sd``) and **round effects** shared by every level of
  a round (``round_sd``);
* **Pareto spikes**: rare samples (``spike_rate``) raised by ``BASE`` times a
  Pareto(``spike_alpha``) draw, capped at 1,000 x;
* a **TSC grid**: values are whole multiples of ``grid`` cycles;
* a level's ``shift`` multiplies all of its samples before the grid, so a level's
  true p99 changes by that factor (up to the grid).

The true level p99 (the p99 of a level's distribution over every block a campaign
could measure) and the true typical-block statistics come from :func:`truth`, a
draw of millions of samples from the same model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BASE", "LEVELS", "MODELS", "campaign_frame", "draw", "truth"]

BASE = 1500.0
LEVELS: tuple[str, ...] = ("0%", "25%", "50%", "75%", "100%")

MODELS: Mapping[str, Mapping[str, float]] = {
    "mild": {
        "fast_sd": 0.03,
        "slow_path": 1.5,
        "slow_sd": 0.12,
        "slow_share": 0.02,
        "share_conc": 300.0,
        "burst": 3.0,
        "block_sd": 0.02,
        "round_sd": 0.01,
        "regime_rate": 0.0,
        "regime_factor": 1.0,
        "spike_rate": 2e-4,
        "spike_alpha": 1.5,
        "grid": 2.0,
    },
    "heavy": {
        "fast_sd": 0.04,
        "slow_path": 1.6,
        "slow_sd": 0.15,
        "slow_share": 0.025,
        "share_conc": 6.0,
        "burst": 10.0,
        "block_sd": 0.025,
        "round_sd": 0.015,
        "regime_rate": 0.05,
        "regime_factor": 1.4,
        "spike_rate": 5e-4,
        "spike_alpha": 1.2,
        "grid": 4.0,
    },
}


def draw(
    rng: np.random.Generator,
    n_rounds: int,
    n_levels: int,
    n_samples: int,
    params: Mapping[str, float],
    shift: Sequence[float] | None = None,
) -> np.ndarray:
    """SYNTHETIC cycles, shape ``(n_rounds, n_levels, n_samples)``, float (grid multiples)."""
    p = dict(params)
    shape = (n_rounds, n_levels)
    n_blocks = n_rounds * n_levels
    mean, conc = p["slow_share"], p["share_conc"]
    share = rng.beta(mean * conc, (1 - mean) * conc, n_blocks)
    # Two-state chain with stationary slow share `share` and mean slow burst `burst`.
    leave = 1.0 / p["burst"]
    enter = np.minimum(share / np.maximum(1 - share, 1e-9) * leave, 1.0)
    u = rng.random((n_samples, n_blocks))
    state = np.empty((n_samples, n_blocks), dtype=bool)
    now = rng.random(n_blocks) < share
    for i in range(n_samples):
        now = np.where(now, u[i] >= leave, u[i] < enter)
        state[i] = now
    slow = state.T.reshape(n_rounds, n_levels, n_samples)
    log = rng.normal(0.0, p["fast_sd"], slow.shape)
    log = np.where(slow, np.log(p["slow_path"]) + rng.normal(0.0, p["slow_sd"], slow.shape), log)
    block = rng.normal(0.0, p["block_sd"], shape)
    block += np.log(p["regime_factor"]) * (rng.random(shape) < p["regime_rate"])
    block += rng.normal(0.0, p["round_sd"], (n_rounds, 1))
    cycles = BASE * np.exp(log + block[:, :, None])
    spikes = rng.random(slow.shape) < p["spike_rate"]
    size = np.minimum(rng.pareto(p["spike_alpha"], int(spikes.sum())) + 1.0, 1000.0)
    cycles[spikes] += BASE * size
    if shift is not None:
        cycles *= np.asarray(shift, dtype=np.float64)[None, :, None]
    return np.maximum(np.rint(cycles / p["grid"]), 1.0) * p["grid"]


def truth(model: str, *, n_samples: int = 500, n_blocks: int = 40_000, seed: int = 4242) -> dict:
    """True level quantiles and typical-block statistics of one unshifted level.

    ``level_p99`` is the p99 of all ``n_blocks x n_samples`` samples: the level's
    distribution over blocks and rounds; ``block_median`` and ``block_p99`` the median
    over blocks of each block's median and p99 (blocks of ``n_samples``).
    """
    rng = np.random.default_rng(seed)
    params = MODELS[model]
    tails, medians, p99s = [], [], []
    chunk = 2000
    for _ in range(n_blocks // chunk):
        x = draw(rng, chunk, 1, n_samples, params)[:, 0, :]
        medians.append(np.quantile(x, 0.5, axis=1))
        p99s.append(np.quantile(x, 0.99, axis=1))
        tails.append(x.ravel())
    pooled = np.concatenate(tails)
    return {
        "level_p99": float(np.quantile(pooled, 0.99)),
        "level_p999": float(np.quantile(pooled, 0.999)),
        "block_median": float(np.median(np.concatenate(medians))),
        "block_p99": float(np.median(np.concatenate(p99s))),
    }


def campaign_frame(
    seed: int | np.random.Generator,
    model: str,
    *,
    n_rounds: int = 12,
    n_samples: int = 500,
    levels: Sequence[str] = LEVELS,
    shift: Sequence[float] | None = None,
    **params: Any,
) -> pd.DataFrame:
    """A SYNTHETIC campaign's sample table (levels measured in random order per round)."""
    rng = np.random.default_rng(seed)
    k = len(levels)
    cycles = draw(rng, n_rounds, k, n_samples, {**MODELS[model], **params}, shift)
    order = np.argsort(rng.random((n_rounds, k)), axis=1)
    level_seq = order.ravel()
    round_seq = np.repeat(np.arange(n_rounds), k)
    values = cycles[round_seq, level_seq].ravel().astype(np.int64)
    return pd.DataFrame(
        {
            "round": np.repeat(round_seq, n_samples),
            "level": np.asarray(levels, dtype=object)[np.repeat(level_seq, n_samples)],
            "level_index": np.repeat(level_seq, n_samples),
            "cycles": values,
        }
    )
