"""Comparing campaigns: calibration, power and what the output says (issue 14, item 3).

The A/A and power claims of :mod:`hvload.datasets.compare` are asserted here at the stated
sizes on SYNTHETIC campaigns (``stats_synthetic.py``: 5 levels x 12 rounds x (20
warm-up + 500) samples per block, noise models calibrated against data/), each pair
compared as two independent campaigns through :func:`hvload.datasets.compare.compare_blocks`,
the same code ``hvload compare`` runs after the engine. Block statistics of many
campaigns are simulated at once (vectorised); seeds were fixed before the results were
seen.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dataset_synthetic import _metadata
from stats_synthetic import DEFAULT_LEVELS, MODELS, synthetic_cycles

import hvload
from hvload.datasets import campaign_row, compare_blocks
from hvload.stats import AnalysisConfig
from hvload.stats.twosample import hodges_lehmann_shift, rank_sum_test, two_sample

pytest.importorskip("duckdb")
DATA = Path(__file__).resolve().parents[1] / "data"
AMD = DATA / "amd-epyc-2vcpu-default.parquet"
INTEL = DATA / "intel-xeon-16vcpu-cpu-levels.parquet"
AA = DATA / "amd-epyc-2vcpu-aa-noload.parquet"
N_PAIRS = 200
ROUNDS, SAMPLES, WARMUP = 12, 500, 20
CONFIG = AnalysisConfig(n_sim=0)


def _block_stats(
    rng: np.random.Generator, n: int, model: str, shift: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Block median and p99 of ``n`` SYNTHETIC campaigns: arrays (n, rounds, levels)."""
    out = []
    for start in range(0, n, 50):  # 50 campaigns at a time bounds the memory
        k = min(50, n - start)
        cyc, _ = synthetic_cycles(rng, 5, ROUNDS * k, WARMUP + SAMPLES, shift=[shift] * 5,
                                  **MODELS[model])  # fmt: skip
        kept = cyc[:, :, WARMUP:]
        out.append(np.quantile(kept, [0.5, 0.99], axis=-1).reshape(2, k, ROUNDS, 5))
    both = np.concatenate(out, axis=1)
    return both[0], both[1]


def _campaign(i: int, med: np.ndarray, p99: np.ndarray, machine: str = "amd") -> tuple:
    meta = _metadata(f"c{i}", machine, DEFAULT_LEVELS, ROUNDS, SAMPLES, WARMUP, 130_000, i, 0)
    blocks = pd.DataFrame({
        "campaign": f"c{i}", "level_index": np.tile(np.arange(5), ROUNDS), "n": SAMPLES,
        "median": med.ravel(), "p99": p99.ravel(),
    })  # fmt: skip
    return blocks, campaign_row(Path(f"/synthetic/c{i}.parquet"), meta, [], 0), meta


def _compare(campaigns: list[tuple], **kwargs) -> hvload.datasets.CampaignComparison:
    blocks = pd.concat([c[0] for c in campaigns], ignore_index=True)
    rows = pd.DataFrame([c[1] for c in campaigns])
    meta = {c[1]["campaign"]: c[2] for c in campaigns}
    return compare_blocks(blocks, rows, meta, config=kwargs.pop("config", CONFIG), **kwargs)


def _pairs(model: str, shift: float, seed: int) -> list[hvload.datasets.CampaignComparison]:
    rng = np.random.default_rng(seed)
    med_a, p99_a = _block_stats(rng, N_PAIRS, model)
    med_b, p99_b = _block_stats(rng, N_PAIRS, model, shift)
    return [
        _compare([_campaign(0, med_a[k], p99_a[k]), _campaign(1, med_b[k], p99_b[k])])
        for k in range(N_PAIRS)
    ]


@pytest.mark.parametrize(("model", "seed"), [("mild", 14101), ("heavy", 14102), ("wild", 14104)])
def test_aa_pairs_of_campaigns_rarely_get_a_difference_verdict(model: str, seed: int) -> None:
    results = _pairs(model, 1.0, seed)
    first = results[0]
    assert set(first.comparisons["unit"]) == {"block"} and len(first.comparisons) == 10
    alarms = sum(r.comparisons["verdict"].isin(["slower", "faster"]).any() for r in results)
    print(f"SYNTHETIC A/A {model}: {alarms}/{N_PAIRS} pairs with a slower/faster verdict")
    assert alarms / N_PAIRS <= 0.07


def test_a_5_percent_change_is_found_in_80_percent_of_pairs() -> None:
    results = _pairs("mild", 1.05, 14103)
    found = np.zeros(5)
    for r in results:
        med = r.comparisons[r.comparisons["on"] == "median"]
        found += (med["verdict"] == "slower").to_numpy()
    rates = found / N_PAIRS
    print(f"SYNTHETIC mild, 5 % slower at every level: found per level {rates}")
    assert (rates >= 0.80).all()


def test_campaigns_become_the_unit_when_there_are_enough() -> None:
    rng = np.random.default_rng(14104)
    med, p99 = _block_stats(rng, 12, "mild")
    med[6:] *= 1.10
    p99[6:] *= 1.10
    camps = [_campaign(i, med[i], p99[i], "amd" if i < 6 else "intel") for i in range(12)]
    result = _compare(camps, by="cpu_brand")
    comps = result.comparisons
    assert set(comps["unit"]) == {"campaign"}, "6 campaigns per group reach alpha over 10 tests"
    assert (comps["n_reference"] == 6).all() and (comps["n_group"] == 6).all()
    assert (comps.loc[comps["on"] == "median", "verdict"] == "slower").all()
    assert any("unit of replication: the campaign" in n for n in result.notes)
    # Forced to campaigns with one campaign each: no test can decide.
    two = _compare(camps[:1] + camps[6:7], unit="campaign")
    assert set(two.comparisons["verdict"]) == {"not enough data"}
    assert "cannot reach alpha" in two.comparisons["message"].iloc[0]
    blocks = _compare(camps, by="cpu_brand", unit="block")
    assert set(blocks.comparisons["unit"]) == {"block"}
    assert (blocks.comparisons["n_reference"] == 6 * ROUNDS).all()


def test_without_tsc_frequencies_cycles_are_compared_and_said_to_be(tmp_path: Path) -> None:
    rng = np.random.default_rng(14105)
    med, p99 = _block_stats(rng, 2, "mild")
    a, b = _campaign(0, med[0], p99[0]), _campaign(1, med[1], p99[1], "intel")
    a[1]["tsc_hz"] = None
    result = _compare([a, b])
    assert result.unit == "cycles"
    assert any("times in TSC cycles" in n for n in result.notes)
    with pytest.raises(ValueError, match="by='socket' is not a campaign column"):
        _compare([a, b], by="socket")
    with pytest.raises(ValueError, match="reference='x' is not a group"):
        _compare([a, b], reference="x")
    with pytest.raises(ValueError, match="nothing to compare"):
        _compare([a, b], by="hypervisor")


def test_two_sample_matches_scipy_and_brute_force() -> None:
    from itertools import combinations

    from scipy import stats

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=7), rng.normal(size=9) + 1
    u, p, method = rank_sum_test(x, y)
    ref = stats.mannwhitneyu(y, x, method="exact")
    assert method == "exact" and u == ref.statistic and np.isclose(p, ref.pvalue, rtol=1e-12)
    # With ties: every split of the pooled values, counted.
    x, y = np.round(rng.normal(size=6)), np.round(rng.normal(size=7) + 1)
    z = np.concatenate((x, y))
    r = stats.rankdata(z)
    w, mean = r[6:].sum(), 7 * 14 / 2
    splits = [r[list(c)].sum() for c in combinations(range(13), 7)]
    brute = np.mean([abs(s - mean) >= abs(w - mean) - 1e-9 for s in splits])
    assert np.isclose(rank_sum_test(x, y)[1], brute, rtol=1e-12)
    # Hodges-Lehmann: the median of pairwise differences; Moses' interval covers.
    est, low, high = hodges_lehmann_shift(x, y, 0.95)
    assert est == np.median(np.subtract.outer(y, x)) and low <= est <= high
    res = two_sample(np.zeros(0), y)
    assert res.status == "not enough data" and np.isnan(res.pvalue)


def test_hvload_compare_on_the_real_campaigns_says_what_it_cannot_compare(
    cli, tmp_path: Path
) -> None:
    status, out, err = cli("compare", str(AMD), str(INTEL), "--figure", str(tmp_path / "f.png"))
    assert status == 0, err
    assert "CAVEAT, the probes differ" in out and "vmmcall" in out and "vmcall" in out
    assert "not compared (different level sets): '25%', '50%', '75%', '100%'" in out
    assert "'1 CPU', '2 CPUs', '4 CPUs', '8 CPUs', '15 CPUs' only in" in out
    assert "'no load' matches every level without load workers" in out
    assert "times in ns" in out and "unit of replication: the block" in out
    assert "NOT VERIFIED" not in out, "every file is verified by default"
    assert (tmp_path / "f.png").stat().st_size > 10_000
    status, out, _ = cli("compare", str(AMD), str(INTEL), "--json")
    doc = json.loads(out)
    rows = [c for c in doc["comparisons"] if c["level"] == "no load"]
    assert {c["on"] for c in rows} == {"median", "p99"}
    assert all(c["verdict"] in ("faster", "slower", "no evidence", "negligible",
                                "inconclusive") for c in rows)  # fmt: skip


def test_hvload_compare_by_a_metadata_column(cli, tmp_path: Path) -> None:
    # A folder of four real campaigns, so that files added to data/ later change nothing here.
    for name in ("amd-epyc-2vcpu-default", "amd-epyc-2vcpu-aa-noload",
                 "intel-xeon-16vcpu-cpu-levels", "intel-xeon-16vcpu-controls"):  # fmt: skip
        (tmp_path / f"{name}.parquet").symlink_to(DATA / f"{name}.parquet")
    status, out, err = cli("compare", str(tmp_path), "--by", "cpu_brand", "--json")
    assert status == 0, err
    doc = json.loads(out)
    groups = {g["group"]: g["n_campaigns"] for g in doc["groups"]}
    assert groups == {"AMD EPYC": 2, "Intel(R) Xeon(R) Processor": 2}
    noload = {lv["group"]: lv for lv in doc["levels"] if lv["level"] == "no load"}
    amd, intel = noload["AMD EPYC"], noload["Intel(R) Xeon(R) Processor"]
    assert amd["n_campaigns"] == 2 and amd["n_blocks"] == 12 + 60, "A/A levels pooled"
    assert intel["n_campaigns"] == 2 and intel["n_blocks"] == 10 + 60
    assert {c["unit"] for c in doc["comparisons"]} == {"block"}, "2 campaigns: too few"
    # Only one real campaign measured the null control: nothing to compare it with.
    status, _, err = cli("compare", str(AMD), str(DATA / "intel-xeon-16vcpu-controls.parquet"),
                         "--probe", "null")  # fmt: skip
    assert status == 2 and "has a probe 'null' (1 without it left out)" in err
    status, _, err = cli("compare", str(AMD), str(AA), "--exclude", "outlier")
    assert status == 2 and "cannot be left out" in err and len(err.splitlines()) == 1
