"""Sequential campaigns (``hvload run --until decided``) on SYNTHETIC campaigns.

The campaigns come from ``tails_synthetic.py`` (two exit paths, bursty slow states,
Pareto spikes, round and block effects, a TSC grid), its ``mild`` model: a generator
that neither the analysis nor ``hvload plan`` uses. They are quick-sized (the three
levels of ``--quick``, 100 or 200 samples per block) and go block by block through
:class:`hvload.campaign.Sequential`, the object ``hvload run`` calls after each block,
so every look is the real decision (:func:`hvload.stats.sequential.look`) on the real
analysis with the block policy applied. Seeds are fixed and were chosen before the
results were seen. The Friedman gate runs with fewer permutations than a report
(99 or 999): its p-value stays valid, only coarser.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps
from tails_synthetic import MODELS, draw

from hvload.campaign import Sequential
from hvload.model import BlockResult
from hvload.stats import AnalysisConfig, analyze
from hvload.stats.sequential import Look, Looks, plan_looks

LEVELS = ("0%", "50%", "100%")
#: A true 5 % change between neighbouring levels: every comparison changes by 5 % or more.
STEPPED = (1.0, 1.05, 1.05**2)


def _draw(seed: int, n_rounds: int, n_samples: int, shift: Sequence[float] | None = None
          ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """SYNTHETIC cycles ``(rounds, levels, samples)`` and each round's level order."""
    rng = np.random.default_rng(seed)
    cycles = draw(rng, n_rounds, len(LEVELS), n_samples, MODELS["mild"], shift).astype(np.int64)
    return cycles, np.argsort(rng.random((n_rounds, len(LEVELS))), axis=1)


def _blocks(cycles: np.ndarray, order: np.ndarray) -> Iterator[BlockResult]:
    """The campaign's blocks in measuring order, as the runner yields them."""
    n_rounds, k, n_samples = cycles.shape
    # One table in measuring order; each block is a slice of it, as cheap as a view.
    levels = order.ravel()
    rounds = np.repeat(np.arange(n_rounds), k)
    table = pd.DataFrame({
        "round": np.repeat(rounds, n_samples).astype(np.int32),
        "level": pd.Categorical.from_codes(np.repeat(levels, n_samples), LEVELS),
        "level_index": np.repeat(levels, n_samples).astype(np.int32),
        "block": np.repeat(np.arange(n_rounds * k), n_samples).astype(np.int32),
        "cycles": cycles[rounds, levels].ravel(),
    })  # fmt: skip
    for block in range(n_rounds * k):
        lv = int(levels[block])
        row = {"round": block // k, "position": block % k, "level": LEVELS[lv],
               "level_index": lv, "block": block, "load_ok": True}  # fmt: skip
        yield BlockResult(table.iloc[block * n_samples : (block + 1) * n_samples], row)


def _sequential(
    seed: int,
    looks: Looks,
    config: AnalysisConfig,
    n_samples: int,
    shift: Sequence[float] | None = None,
    until: str = "decided",
) -> list[Look]:
    """The looks ``hvload run`` takes on one SYNTHETIC campaign."""  # fmt: skip
    seq = Sequential(looks, config, len(LEVELS), until)
    meta: dict[str, Any] = {}
    seq.start(meta)
    for result in _blocks(*_draw(seed, looks.rounds[-1], n_samples, shift)):
        if seq.after_block(result):
            break
    assert meta["sequential"]["looks"] == [t.to_dict() for t in seq.taken]
    return seq.taken


def test_aa_false_alarms_at_most_5_percent_over_the_looks() -> None:
    # A/A: the three levels share one distribution, so any slower/faster at any look is
    # false. 400 campaigns, two looks each (9 and 16 rounds; few stop earlier).
    config = AnalysisConfig(n_permutations=99)
    looks = plan_looks(len(LEVELS), 16, looks=2)
    assert looks.rounds == (9, 16)
    n, alarms, taken = 400, 0, 0
    for seed in range(n):
        seen = _sequential(50_000 + seed, looks, config, 100)
        taken += len(seen)
        alarms += any(v in ("slower", "faster") for t in seen for v in t.verdicts.values())
    rate = alarms / n
    print(f"SYNTHETIC A/A mild, sequential (looks at {looks.rounds}): {alarms}/{n} campaigns "
          f"with a false verdict at some look; {taken} looks taken")  # fmt: skip
    # One-sided binomial test of "the rate is at most 5 %": the count must not be
    # significantly above 5 % (and must itself be at most 5 % of 400, i.e. 20).
    assert alarms <= 20, rate
    assert sps.binomtest(alarms, n, 0.05, alternative="greater").pvalue > 0.05


def test_decided_all_looks_at_the_level_p99s_and_keeps_each_family_at_5_percent() -> None:
    # --until decided-all: every look also runs the level-p99 comparisons (their own Holm
    # family, the round bootstrap and sign flips, 499 of each here) at alpha / looks, and
    # waits for their verdicts too. A/A: each family's false slower/faster over the looks
    # stays at most 5 %, as each family's does in a fixed design. 300 campaigns.
    config = AnalysisConfig(n_permutations=99, n_bootstrap=499)
    looks = plan_looks(len(LEVELS), 16, looks=2)
    n, tails, blocks = 300, 0, 0
    for seed in range(n):
        seen = _sequential(70_000 + seed, looks, config, 100, until="decided-all")
        labels = [k for t in seen for k in t.verdicts if k.endswith(" level_p99")]
        assert len(labels) == 3 * len(seen)  # every pair's level p99, at every look
        false = [k for t in seen for k, v in t.verdicts.items() if v in ("slower", "faster")]
        tails += any(k.endswith(" level_p99") for k in false)
        blocks += any(not k.endswith(" level_p99") for k in false)
    print(f"SYNTHETIC A/A mild, sequential decided-all (looks at {looks.rounds}): false "
          f"level-p99 verdicts in {tails}/{n} campaigns, block ones in {blocks}/{n}")  # fmt: skip
    for alarms in (tails, blocks):
        assert alarms <= 0.05 * n
        assert sps.binomtest(alarms, n, 0.05, alternative="greater").pvalue > 0.05


def _fixed_power(seeds: list[int], rounds: int, config: AnalysisConfig, drawn: int = 24) -> float:
    """Share of fixed designs of ``rounds`` rounds (alpha not split) that call every
    block-median comparison ``slower``; the same draws (of ``drawn`` rounds) as the
    sequential campaigns'."""
    hits = 0
    for seed in seeds:
        # The same draw as the sequential campaign's: its first ``rounds`` rounds.
        cycles = _draw(seed, drawn, 200, STEPPED)[0]
        n_samples = cycles.shape[2]
        frame = pd.DataFrame({
            "round": np.repeat(np.arange(rounds), len(LEVELS) * n_samples),
            "level_index": np.tile(np.repeat(np.arange(len(LEVELS)), n_samples), rounds),
            "cycles": cycles[:rounds].reshape(-1),
        })  # fmt: skip
        frame["level"] = np.asarray(LEVELS, dtype=object)[frame["level_index"]]
        c = analyze(frame, config.replace(n_sim=0, n_bootstrap=0)).comparisons
        hits += bool((c.loc[c["on"] == "median", "verdict"] == "slower").all())
    return hits / len(seeds)


def test_five_percent_change_is_decided_slower_in_fewer_rounds_than_the_fixed_design() -> None:
    config = AnalysisConfig(n_permutations=999)
    looks = plan_looks(len(LEVELS), 24, looks=3)
    assert looks.rounds == (10, 17, 24)
    seeds = [60_000 + s for s in range(80)]
    stopped, slower = [], 0
    for seed in seeds:
        seen = _sequential(seed, looks, config, 200, STEPPED, until="decided-median")
        last = seen[-1]
        medians = [v for k, v in last.verdicts.items() if k.endswith(" median")]
        slower += last.decided and all(v == "slower" for v in medians)
        assert not any(v == "faster" for t in seen for v in t.verdicts.values())
        stopped.append(last.rounds)
    power = slower / len(seeds)
    median_rounds = float(np.median(stopped))
    # The fixed design with the sequential campaign's median rounds does not reach its
    # power: the fixed design that does needs more rounds than that median.
    fixed_at_median = _fixed_power(seeds, int(median_rounds), config)
    print(f"SYNTHETIC mild, +5 % per level step: sequential {power:.0%} decided slower, "
          f"median {median_rounds:g} rounds (stops at {np.bincount(stopped).nonzero()[0]}); "
          f"fixed design at {median_rounds:g} rounds: {fixed_at_median:.0%}")  # fmt: skip
    assert power >= 0.9
    assert fixed_at_median < power
