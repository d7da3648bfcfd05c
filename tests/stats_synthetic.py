"""SYNTHETIC campaigns for validating hvload.stats -- no data here was measured.

Every campaign this module makes is simulated, with a latency model built to
have the features that break naive statistics on real hypercall timings:

* service time ``base * shift[level] * exp(drift + block effect + AR(1) noise)``,
  rounded to whole cycles;
* AR(1) noise inside each block (``phi`` 0.6, marginal SD 2 % in log scale):
  samples come in runs, as host interrupts and cache state make them;
* a block random effect (SD 0.5 %): each block sits at a slightly different
  level even without any load change;
* slow host drift along measurement order (a random walk, 0.3 % per block):
  the randomized level order inside each round is what keeps it fair;
* rare bursts of spikes: runs of 1-8 samples, starting with probability 1e-3
  per sample, each adding 2x-20x the base latency (log-uniform);
* warm-up samples flagged at the start of every block, a few samples flagged
  as migrated.

The default design is the one :mod:`hvload.stats` documents: levels
0/25/50/75/100 %, 12 rounds, 500 samples per block (+ 20 warm-up).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import signal

__all__ = ["DEFAULT_LEVELS", "synthetic_campaign", "synthetic_cycles"]

DEFAULT_LEVELS: tuple[str, ...] = ("0%", "25%", "50%", "75%", "100%")
BASE_CYCLES = 2000.0


def synthetic_cycles(
    rng: np.random.Generator,
    n_levels: int,
    n_rounds: int,
    n_samples: int,
    *,
    shift: Sequence[float] | None = None,
    phi: float = 0.6,
    noise_sd: float = 0.02,
    block_sd: float = 0.005,
    drift_sd: float = 0.003,
    spike_rate: float = 1e-3,
) -> tuple[np.ndarray, np.ndarray]:
    """SYNTHETIC cycles for one campaign.

    Returns
    -------
    cycles : numpy.ndarray
        ``int64`` array of shape ``(n_rounds, n_levels, n_samples)``.
    order : numpy.ndarray
        ``(n_rounds, n_levels)``: the level measured at each position of each round.
    """
    shift_arr = np.ones(n_levels) if shift is None else np.asarray(shift, dtype=np.float64)
    order = np.argsort(rng.random((n_rounds, n_levels)), axis=1)
    n_blocks = n_rounds * n_levels
    # Drift follows measurement order, so map every (round, position) to a level.
    drift_seq = np.cumsum(rng.normal(0.0, drift_sd, n_blocks)).reshape(n_rounds, n_levels)
    drift = np.empty((n_rounds, n_levels))
    np.put_along_axis(drift, order, drift_seq, axis=1)
    block = rng.normal(0.0, block_sd, (n_rounds, n_levels))

    innov = rng.normal(0.0, noise_sd * np.sqrt(1 - phi**2), (n_blocks, n_samples))
    start = rng.normal(0.0, noise_sd, (n_blocks, 1))
    ar, _ = signal.lfilter([1.0], [1.0, -phi], innov, axis=1, zi=phi * start)
    log_dev = ar.reshape(n_rounds, n_levels, n_samples) + (drift + block)[:, :, None]
    cycles = BASE_CYCLES * shift_arr[None, :, None] * np.exp(log_dev)

    starts = rng.random(cycles.shape) < spike_rate
    if starts.any():
        flat = starts.reshape(n_blocks, n_samples)
        r, c = np.nonzero(flat)
        lengths = rng.integers(1, 9, r.size)
        sizes = BASE_CYCLES * np.exp(rng.uniform(np.log(2), np.log(20), r.size))
        spikes = np.zeros((n_blocks, n_samples))
        for ri, ci, ln, sz in zip(r, c, lengths, sizes, strict=True):
            spikes[ri, ci : ci + ln] += sz
        cycles += spikes.reshape(cycles.shape)
    return np.rint(cycles).astype(np.int64), order


def synthetic_campaign(
    seed: int | np.random.Generator,
    *,
    levels: Sequence[str] = DEFAULT_LEVELS,
    n_rounds: int = 12,
    n_samples: int = 500,
    warmup: int = 20,
    shift: Sequence[float] | None = None,
    migrated_rate: float = 1e-4,
    **model: float,
) -> pd.DataFrame:
    """A SYNTHETIC campaign's sample table, rows in measurement order.

    Parameters
    ----------
    seed : int or numpy.random.Generator
        Seed for everything random.
    levels : sequence of str
        Level labels in order of increasing load.
    n_rounds, n_samples, warmup : int
        Design size; every block holds ``warmup + n_samples`` rows.
    shift : sequence of float, optional
        Multiplicative change of each level's latency (1.0 = none).
    migrated_rate : float
        Share of samples flagged as migrated.
    **model
        Passed to :func:`synthetic_cycles` (``phi``, ``noise_sd``, ...).

    Returns
    -------
    pandas.DataFrame
        The campaign tidy format (round, level, level_index, block, sample,
        cycles, response, rax, cpu, migrated, warmup).
    """
    rng = np.random.default_rng(seed)
    n_levels = len(levels)
    per_block = warmup + n_samples
    cycles, order = synthetic_cycles(rng, n_levels, n_rounds, per_block, shift=shift, **model)
    level_seq = order.ravel()
    round_seq = np.repeat(np.arange(n_rounds), n_levels)
    values = cycles[round_seq, level_seq].ravel()
    n = values.size
    sample = np.tile(np.arange(per_block), n_rounds * n_levels)
    labels = np.asarray(levels, dtype=object)
    return pd.DataFrame(
        {
            "round": np.repeat(round_seq, per_block),
            "level": labels[np.repeat(level_seq, per_block)],
            "level_index": np.repeat(level_seq, per_block),
            "block": np.repeat(np.arange(n_rounds * n_levels), per_block),
            "sample": sample,
            "cycles": values,
            "response": values + 40,
            "rax": np.zeros(n, dtype=np.int64),
            "cpu": np.full(n, 1, dtype=np.int16),
            "migrated": rng.random(n) < migrated_rate,
            "warmup": sample < warmup,
        }
    )
