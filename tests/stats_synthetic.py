"""SYNTHETIC campaigns for validating hvload.stats -- no data here was measured.

Every campaign this module makes is simulated, with a latency model built to
have the features that break naive statistics on real hypercall timings:

* service time ``shift[level] * (base * exp(drift + block effect + AR(1) noise) + spikes)``,
  rounded to whole cycles (the shift scales everything, so a level's true change
  is the same factor for its median, its p99 and every other quantile);
* AR(1) noise inside each block (``phi``, marginal SD ``noise_sd`` in log scale):
  samples come in runs, as host interrupts and cache state make them;
* a block random effect: each block sits at its own level even without any load
  change: Gaussian (``block_sd``) and, with probability ``slow_rate``, a *slow block*
  running ``slow_factor`` times slower (host contention lasting a whole block);
* slow host drift along measurement order (a random walk, ``drift_sd`` per block):
  the randomized level order inside each round is what keeps it fair;
* excursions in runs of 1-8 samples: rare big spikes (2x-20x the base latency,
  log-uniform) and more frequent bumps (0.1x-1x), each starting at a rate that
  varies from block to block (log-normal, ``spike_rate_sd`` / ``bump_rate_sd``),
  bumps also varying in size per block (``bump_size_sd``), so block p99 values
  scatter widely and sometimes jump into the spikes, as on the real machines;
* warm-up samples flagged at the start of every block, a few samples flagged as migrated.

Named models (:data:`MODELS`), calibrated against the real campaigns in ``data/`` by
the block noise :func:`hvload.stats.plan.pilot_noise` measures (robust SD of a
level's log block statistic; 90th percentile of the absolute per-round difference
between two levels), on campaigns of the real file's shape:

=======================================  ==================  ==================
campaign                                 block medians       block p99
=======================================  ==================  ==================
real AMD default (12 x 5)                SD 0.019, q90 0.05  SD 0.13, q90 0.44
real AMD A/A (12 x 5)                    SD 0.009, q90 0.02  SD 0.09, q90 0.24
``mild``: Gaussian block effects         SD 0.022, q90 0.06  SD 0.18, q90 0.57
real Intel, CPU counts (10 x 6)          SD 0.021, q90 0.11  SD 0.14, q90 1.42
``heavy``: 5.5 % of blocks 40 % slow     SD 0.023, q90 0.11  SD 0.42, q90 1.83
real Intel with controls (60 x 6)        SD 0.030, q90 0.21  SD 0.14, q90 0.45
real AMD with controls (40 x 5)          SD 0.094, q90 0.44  SD 0.14, q90 0.33
``wild``: 30 % of blocks 50 % slow       SD 0.14, q90 0.48   SD 0.40, q90 1.57
=======================================  ==================  ==================

``tests/test_stats_models.py`` checks that each model is at least as noisy as the
real file it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal

__all__ = [
    "DEFAULT_LEVELS",
    "MODELS",
    "block_statistics",
    "synthetic_campaign",
    "synthetic_cycles",
    "true_block_statistic",
]

DEFAULT_LEVELS: tuple[str, ...] = ("0%", "25%", "50%", "75%", "100%")
BASE_CYCLES = 2000.0

#: Noise models by name; see the module notes for their calibration.
MODELS: Mapping[str, Mapping[str, float]] = {
    # Gaussian block offsets like the AMD machine under load.
    "mild": {
        "block_sd": 0.023,
        "drift_sd": 0.0,
        "slow_rate": 0.0,
        "bump_rate": 0.02,
        "bump_rate_sd": 0.5,
        "bump_size_sd": 0.3,
        "spike_rate_sd": 0.8,
    },
    # The Intel machine: a fraction of blocks tens of percent slow, wide block p99.
    "heavy": {
        "block_sd": 0.021,
        "drift_sd": 0.0,
        "slow_rate": 0.055,
        "slow_factor": 1.4,
        "bump_rate": 0.02,
        "bump_rate_sd": 1.0,
        "bump_size_sd": 0.5,
        "spike_rate": 3e-4,
        "spike_rate_sd": 1.5,
    },
    # A shared host at its worst (the AMD campaign with controls, 2026-11-26 evening):
    # blocks in two modes, a third of them half again as slow, plus wide Gaussian offsets.
    "wild": {
        "block_sd": 0.06,
        "drift_sd": 0.0,
        "slow_rate": 0.3,
        "slow_factor": 1.5,
        "bump_rate": 0.02,
        "bump_rate_sd": 1.0,
        "bump_size_sd": 0.5,
        "spike_rate": 3e-4,
        "spike_rate_sd": 1.5,
    },
}


def synthetic_cycles(
    rng: np.random.Generator,
    n_levels: int,
    n_rounds: int,
    n_samples: int,
    *,
    shift: Sequence[float] | None = None,
    phi: float = 0.6,
    noise_sd: float = 0.025,
    block_sd: float = 0.005,
    drift_sd: float = 0.003,
    slow_rate: float = 0.0,
    slow_factor: float = 1.4,
    spike_rate: float = 1e-4,
    spike_rate_sd: float = 0.0,
    bump_rate: float = 0.0,
    bump_rate_sd: float = 0.0,
    bump_size_sd: float = 0.0,
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
    if slow_rate > 0:
        block += np.log(slow_factor) * (rng.random((n_rounds, n_levels)) < slow_rate)

    innov = rng.normal(0.0, noise_sd * np.sqrt(1 - phi**2), (n_blocks, n_samples))
    start = rng.normal(0.0, noise_sd, (n_blocks, 1))
    ar, _ = signal.lfilter([1.0], [1.0, -phi], innov, axis=1, zi=phi * start)
    log_dev = ar.reshape(n_rounds, n_levels, n_samples) + (drift + block)[:, :, None]
    cycles = BASE_CYCLES * np.exp(log_dev)

    def per_block(sd: float) -> np.ndarray | float:
        return np.exp(rng.normal(0.0, sd, (n_blocks, 1))) if sd else 1.0

    excursions = _runs(rng, n_blocks, n_samples, spike_rate * per_block(spike_rate_sd), (2.0, 20.0))
    if bump_rate:
        rate = bump_rate * per_block(bump_rate_sd)
        excursions += per_block(bump_size_sd) * _runs(rng, n_blocks, n_samples, rate, (0.1, 1.0))
    cycles += excursions.reshape(cycles.shape)
    cycles *= shift_arr[None, :, None]
    return np.rint(cycles).astype(np.int64), order


def _runs(
    rng: np.random.Generator,
    n_blocks: int,
    n_samples: int,
    rate: float | np.ndarray,
    size: tuple[float, float],
) -> np.ndarray:
    """Runs of 1-8 samples raised by ``size`` x base (log-uniform), starting at ``rate``."""
    starts = rng.random((n_blocks, n_samples)) < rate
    index = np.broadcast_to(np.arange(n_samples), starts.shape)
    # For every sample, the most recent spike start at or before it (-1 if none).
    last = np.maximum.accumulate(np.where(starts, index, -1), axis=1)
    lengths = rng.integers(1, 9, starts.shape)
    sizes = BASE_CYCLES * np.exp(rng.uniform(np.log(size[0]), np.log(size[1]), starts.shape))
    rows = np.arange(n_blocks)[:, None]
    safe = np.maximum(last, 0)
    inside = (last >= 0) & (index - last < lengths[rows, safe])
    return np.where(inside, sizes[rows, safe], 0.0)


def synthetic_campaign(
    seed: int | np.random.Generator,
    *,
    levels: Sequence[str] = DEFAULT_LEVELS,
    n_rounds: int = 12,
    n_samples: int = 500,
    warmup: int = 20,
    shift: Sequence[float] | None = None,
    migrated_rate: float = 1e-4,
    model: str | None = None,
    **params: Any,
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
    model : str, optional
        A name from :data:`MODELS`; ``params`` override its values.
    **params
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
    kwargs = {**(MODELS[model] if model else {}), **params}
    cycles, order = synthetic_cycles(rng, n_levels, n_rounds, per_block, shift=shift, **kwargs)
    level_seq = order.ravel()
    round_seq = np.repeat(np.arange(n_rounds), n_levels)
    values = cycles[round_seq, level_seq].ravel()
    n = values.size
    sample = np.tile(np.arange(per_block), n_rounds * n_levels)
    labels = np.asarray(levels, dtype=object)
    # Open-loop response: service time plus a small queueing delay that grows with
    # the service time of the sample before (a late start is never hidden).
    response = values + 40 + np.concatenate(([0], np.maximum(values[:-1] - 2500, 0)))
    return pd.DataFrame(
        {
            "round": np.repeat(round_seq, per_block),
            "level": labels[np.repeat(level_seq, per_block)],
            "level_index": np.repeat(level_seq, per_block),
            "block": np.repeat(np.arange(n_rounds * n_levels), per_block),
            "sample": sample,
            "cycles": values,
            "response": response,
            "rax": np.zeros(n, dtype=np.int64),
            "cpu": np.full(n, 1, dtype=np.int16),
            "migrated": rng.random(n) < migrated_rate,
            "warmup": sample < warmup,
        }
    )


def block_statistics(frame: pd.DataFrame, q: float) -> np.ndarray:
    """Quantile ``q`` of every non-warm-up block: a ``(rounds, levels)`` array."""
    kept = frame[~frame["warmup"]]
    grouped = kept.groupby(["round", "level_index"])["cycles"].quantile(q)
    return grouped.unstack().to_numpy()


def true_block_statistic(
    model: str, q: float, *, n_samples: int = 500, n_blocks: int = 20_000, seed: int = 99
) -> float:
    """The median over blocks of the block quantile ``q``, for one unshifted level.

    This is the estimand of the per-level intervals (the typical block's quantile),
    computed by simulating ``n_blocks`` blocks of ``n_samples`` samples.
    """
    rng = np.random.default_rng(seed)
    chunks = []
    for _ in range(n_blocks // 1000):
        cycles, _ = synthetic_cycles(rng, 1, 1000, n_samples, **MODELS[model])
        chunks.append(np.quantile(cycles[:, 0, :], q, axis=1))
    return float(np.median(np.concatenate(chunks)))


def synthetic_probe_campaign(
    seed: int | np.random.Generator,
    *,
    levels: Sequence[str] = DEFAULT_LEVELS,
    n_rounds: int = 12,
    n_samples: int = 300,
    shift: Mapping[str, Sequence[float]] | None = None,
    shared_sd: float = 0.02,
    own_sd: float = 0.004,
) -> Any:
    """A SYNTHETIC campaign with a main probe and two controls (null, syscall).

    Every block has a *shared* effect (log-normal, ``shared_sd``: the host or the guest
    getting busier slows every probe alike) and each probe its own (``own_sd``), plus
    AR(1) noise within the block. ``shift`` maps a probe label to one factor per level.
    Returns an object with ``samples``, ``blocks`` and ``metadata`` like a campaign.
    """
    from types import SimpleNamespace

    rng = np.random.default_rng(seed)
    # Base latencies high enough that rounding to whole cycles does not quantise the
    # block medians (a real null probe sits at ~50 cycles and barely moves).
    probes = {"hypercall/vmmcall": 2000.0, "null": 800.0, "syscall/getppid": 1200.0}
    labels = list(probes)
    n_levels, k = len(levels), len(probes)
    order = np.argsort(rng.random((n_rounds, n_levels)), axis=1)
    n_blocks = n_rounds * n_levels
    level_seq = order.ravel()  # the level of each block, in measurement order
    round_seq = np.repeat(np.arange(n_rounds), n_levels)
    shared = rng.normal(0.0, shared_sd, n_blocks)
    base = np.array(list(probes.values()))
    factor = np.ones((k, n_levels))
    for p, label in enumerate(labels):
        if shift is not None and label in shift:
            factor[p] = np.asarray(shift[label], dtype=np.float64)
    # Rows: block by block, probe by probe inside a block, samples in order.
    innov = rng.normal(0.0, 0.02 * np.sqrt(1 - 0.6**2), (n_blocks * k, n_samples))
    start = rng.normal(0.0, 0.02, (n_blocks * k, 1))
    ar, _ = signal.lfilter([1.0], [1.0, -0.6], innov, axis=1, zi=0.6 * start)
    own = rng.normal(0.0, own_sd, (n_blocks * k, 1))
    probe_of = np.tile(np.arange(k), n_blocks)
    block_of = np.repeat(np.arange(n_blocks), k)
    scale = base[probe_of] * factor[probe_of, level_seq[block_of]]
    cycles = np.rint(scale[:, None] * np.exp(shared[block_of][:, None] + own + ar))
    rows = n_blocks * k * n_samples
    samples = pd.DataFrame(
        {
            "round": np.repeat(round_seq[block_of], n_samples),
            "level": np.asarray(levels, dtype=object)[np.repeat(level_seq[block_of], n_samples)],
            "level_index": np.repeat(level_seq[block_of], n_samples),
            "block": np.repeat(block_of, n_samples),
            "probe_index": np.repeat(probe_of, n_samples),
            "sample": np.tile(np.arange(n_samples), n_blocks * k),
            "cycles": cycles.astype(np.int64).ravel(),
            "warmup": np.zeros(rows, dtype=bool),
            "migrated": np.zeros(rows, dtype=bool),
        }
    )
    samples["response"] = samples["cycles"]
    metadata = {
        "design": {
            "probes": labels,
            "levels": [{"name": n, "value": float(i)} for i, n in enumerate(levels)],
        }
    }
    blocks = samples.drop_duplicates("block")[["round", "level", "level_index", "block"]]
    return SimpleNamespace(samples=samples, blocks=blocks.reset_index(drop=True), metadata=metadata)
