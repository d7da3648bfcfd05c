"""Attribution against control probes, on SYNTHETIC campaigns (tests/stats_synthetic.py)."""

from __future__ import annotations

import numpy as np
import pytest
from stats_synthetic import synthetic_probe_campaign

from hvload.stats import AnalysisConfig, AttributionVerdict, analyze, attribute

FAST = AnalysisConfig(n_sim=0, n_permutations=199)
MAIN = "hypercall/vmmcall"
ONE = [1.0, 1.0, 1.0, 1.0, 1.06]


def _verdicts(result, level: str = "100%") -> dict[str, str]:
    table = result.table[result.table["level"] == level]
    return dict(zip(table["control"], table["verdict"], strict=True))


def test_only_the_main_probe_shifted_is_the_exit_path() -> None:
    camp = synthetic_probe_campaign(1, shift={MAIN: ONE})
    result = attribute(camp, FAST)
    assert result.controls == ("null", "syscall/getppid")
    assert set(_verdicts(result).values()) == {"exit path slower"}
    rng = np.random.default_rng(11)
    hits = sum(
        set(_verdicts(attribute(synthetic_probe_campaign(rng, shift={MAIN: ONE}), FAST)).values())
        == {"exit path slower"}
        for _ in range(50)
    )
    print(f"SYNTHETIC main probe 6 % slower: 'exit path slower' for both controls in {hits}/50")
    assert hits >= 45
    row = result.table[(result.table["level"] == "100%") & (result.table["control"] == "null")]
    assert row["difference"].item() == pytest.approx(0.06, abs=0.01)
    assert row["main_verdict"].item() == "slower"


def test_every_probe_shifted_alike_is_a_shared_slowdown() -> None:
    rng = np.random.default_rng(2)
    everywhere = {label: ONE for label in (MAIN, "null", "syscall/getppid")}
    counts: dict[str, int] = {}
    for _ in range(50):
        camp = synthetic_probe_campaign(rng, shift=everywhere, n_rounds=20)
        for v in _verdicts(attribute(camp, FAST)).values():
            counts[v] = counts.get(v, 0) + 1
    # Showing that two changes are equal (an equivalence) needs more rounds than
    # showing a difference: 20 here.
    print(f"SYNTHETIC shared 6 % slowdown, 20 rounds, 50 campaigns x 2 controls: {counts}")
    assert counts.get("shared slowdown", 0) >= 0.8 * 100
    assert not counts.get("exit path slower") and not counts.get("exit path faster")


def test_a_faster_exit_path() -> None:
    camp = synthetic_probe_campaign(3, shift={MAIN: [1, 1, 1, 1, 0.94]})
    assert set(_verdicts(attribute(camp, FAST)).values()) == {"exit path faster"}


def test_aa_campaigns_say_no_evidence() -> None:
    rng = np.random.default_rng(2027)
    n, quiet = 200, 0
    for _ in range(n):
        result = attribute(synthetic_probe_campaign(rng, n_samples=100), FAST)
        quiet += (result.table["verdict"] == AttributionVerdict.NO_EVIDENCE).all()
    print(f"SYNTHETIC A/A: attribution 'no evidence' everywhere in {quiet}/{n} campaigns")
    assert quiet / n >= 0.93


def test_analysis_carries_the_attribution_and_the_main_probe_only() -> None:
    camp = synthetic_probe_campaign(4, shift={MAIN: ONE})
    result = analyze(camp, FAST)
    assert result.design["probe"] == MAIN and result.design["probes"][1:] == [
        "null", "syscall/getppid"
    ]  # fmt: skip
    assert result.attribution is not None
    assert "Attribution" in result.to_text()
    assert result.to_dict()["attribution"]["controls"] == ["null", "syscall/getppid"]
    # The main probe's figures come from its own samples only.
    main_rows = camp.samples[camp.samples["probe_index"] == 0]
    assert result.levels["n"].sum() == len(main_rows)
    null = analyze(camp, FAST.replace(probe="null"))
    assert null.attribution is None and null.design["probe"] == "null"
    assert null.levels["median"].max() < 1000 < result.levels["median"].min()
    with pytest.raises(ValueError, match="probe='cpuid' is not in this campaign"):
        analyze(camp, FAST.replace(probe="cpuid"))


def test_campaign_without_controls_has_no_attribution() -> None:
    from stats_synthetic import synthetic_campaign

    with pytest.raises(ValueError, match="measured no control probe"):
        attribute(synthetic_campaign(1), FAST)
    assert analyze(synthetic_campaign(1), FAST).attribution is None
