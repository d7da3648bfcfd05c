"""The SYNTHETIC noise models of the statistics tests are at least as noisy as real campaigns.

A claim validated on a model quieter than the machines it is made for would say
nothing about them. For each model and the real file it stands for, campaigns of
the real file's shape (rounds x levels) are simulated and their block noise is
estimated exactly as :func:`hvload.stats.plan` estimates a pilot's: the robust SD
of block medians and block p99 across rounds, and how often a per-round difference
is large (slow blocks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from stats_synthetic import synthetic_campaign

import hvload
from hvload.stats.plan import pilot_noise

DATA = Path(__file__).resolve().parents[1] / "data"
PAIRS = [
    ("mild", "amd-epyc-2vcpu-default.parquet"),
    ("mild", "amd-epyc-2vcpu-aa-noload.parquet"),
    ("heavy", "intel-xeon-16vcpu-cpu-levels.parquet"),
    ("wild", "intel-xeon-16vcpu-controls.parquet"),
    ("wild", "amd-epyc-2vcpu-controls.parquet"),
]


@pytest.mark.parametrize(("model", "name"), PAIRS)
@pytest.mark.parametrize("on", ["median", "p99"])
def test_model_is_at_least_as_noisy_as_the_real_file(model: str, name: str, on: str) -> None:
    camp = hvload.load(DATA / name)
    real = pilot_noise(camp, on)
    design = camp.metadata["design"]
    levels = tuple(lv["name"] for lv in design["levels"])
    sims = [
        pilot_noise(synthetic_campaign(seed, model=model, levels=levels,
                                       n_rounds=design["rounds"]), on)
        for seed in range(12)
    ]  # fmt: skip
    sd = float(np.median([n.block_sd for n in sims]))
    tail = float(np.median([np.quantile(np.abs(n.pool), 0.9) for n in sims]))
    real_tail = float(np.quantile(np.abs(real.pool), 0.9))
    print(f"{model} vs {name} ({on}): block SD {sd:.4f} vs {real.block_sd:.4f}; "
          f"|difference| q90 {tail:.3f} vs {real_tail:.3f}")  # fmt: skip
    assert sd >= real.block_sd
    assert tail >= real_tail
