"""Sequential campaigns: the planned looks, the decision, the options and the report.

The statistical claims (A/A rate over the looks, power against the fixed design) are
in ``test_sequential_validation.py``; one real run is in ``test_sequential_run.py``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from hvload.campaign import CampaignSpec, Sequential, SpecError
from hvload.model import BlockResult, Campaign
from hvload.report import CampaignReport
from hvload.stats import AnalysisConfig, analyze, rounds_needed
from hvload.stats.sequential import DECIDED, look, plan_looks, sequential_text

LEVELS = ("0%", "50%", "100%")
FAST = AnalysisConfig(n_permutations=99, n_bootstrap=0, n_sim=0)


def test_looks_start_where_a_verdict_is_reachable_and_end_at_max_rounds() -> None:
    looks = plan_looks(3, 40, looks=4)
    first = rounds_needed(3, alpha=0.05 / 4)
    assert looks.rounds[0] == first and looks.rounds[-1] == 40
    assert list(looks.rounds) == sorted(set(looks.rounds)) and len(looks.rounds) == 4
    # One look at rounds_needed - 1 could never decide: the first look is not earlier.
    assert rounds_needed(3, alpha=0.05 / 4) > rounds_needed(3, alpha=0.05)
    assert looks.alpha_per_look == pytest.approx(0.0125)
    assert [looks.alpha_spent(k) for k in range(4)] == pytest.approx([0.0125, 0.025, 0.0375, 0.05])
    assert plan_looks(5, 30, looks=1).rounds == (30,)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_rounds": 8}, "max_rounds=8 is not allowed with 4 look(s) of 3 levels"),
        ({"max_rounds": 1}, "max_rounds=1 is not allowed; it must be an integer in 2..10000"),
        ({"looks": 0}, "looks=0 is not allowed; it must be an integer >= 1"),
    ],
)
def test_plan_looks_refuses_in_one_line(kwargs: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError) as info:
        plan_looks(3, **{"max_rounds": 40, **kwargs})
    assert words in str(info.value) and "\n" not in str(info.value)


def _frame(n_rounds: int, shift: tuple[float, ...], seed: int = 0, spikes: bool = False
           ) -> pd.DataFrame:  # fmt: skip
    """Per block 60 log-normal samples; ``spikes``: 3 of them drawn from one wide range
    whatever the level, so block p99s are noise and their comparisons undecided."""
    rng = np.random.default_rng(seed)
    n = 60
    rows = []
    for r in range(n_rounds):
        for lv, s in enumerate(shift):
            x = 1000 * s * np.exp(rng.normal(0, 0.01) + rng.normal(0, 0.02, n))
            if spikes:
                x[:3] = rng.uniform(3000, 30000, 3)
            rows.append(pd.DataFrame({"round": r, "level": LEVELS[lv], "level_index": lv,
                                      "cycles": np.rint(x).astype(np.int64)}))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def test_a_look_is_decided_only_when_every_planned_comparison_is() -> None:
    looks = plan_looks(3, 20, looks=2)
    frame = _frame(20, (1.0, 1.2, 1.44), spikes=True)
    seen: list[AnalysisConfig] = []

    def analyse(config: AnalysisConfig) -> Any:
        seen.append(config)
        return analyze(frame[frame["round"] < looks.rounds[0]], config)

    first = look(analyse, looks, 0, FAST, "decided-median")
    assert seen[0].alpha == pytest.approx(0.025) and seen[0].n_sim == 0
    medians = {k: v for k, v in first.verdicts.items() if k.endswith("median")}
    assert set(medians.values()) == {"slower"} and first.decided and first.stop
    assert first.alpha_spent == pytest.approx(0.025) and not first.last
    # Block p99s that are noise: undecided, so "decided" (every comparison) is not.
    every = look(analyse, looks, 0, FAST, "decided")
    assert any(v not in {d.value for d in DECIDED} for v in every.verdicts.values())
    assert not every.decided and not every.stop
    with pytest.raises(ValueError, match=r"planned at alpha 0\.05"):
        look(analyse, looks, 0, FAST.replace(alpha=0.1))
    with pytest.raises(ValueError, match="until='soon' is not allowed"):
        look(analyse, looks, 0, FAST, "soon")


def test_decided_all_also_waits_for_the_level_p99_comparisons() -> None:
    looks = plan_looks(3, 20, looks=2)
    frame = _frame(20, (1.0, 1.2, 1.44), seed=4)
    seen: list[AnalysisConfig] = []

    def analyse(config: AnalysisConfig) -> Any:
        seen.append(config)
        return analyze(frame[frame["round"] < looks.rounds[0]], config)

    config = FAST.replace(n_bootstrap=199)
    every = look(analyse, looks, 0, config, "decided")
    assert seen[-1].n_bootstrap == 0  # the round bootstrap is skipped: no verdict needs it
    assert not any(k.endswith("level_p99") for k in every.verdicts)
    both = look(analyse, looks, 0, config, "decided-all")
    assert seen[-1].n_bootstrap == 199 and seen[-1].alpha == pytest.approx(0.025)
    tails = {k: v for k, v in both.verdicts.items() if k.endswith(" level_p99")}
    assert sorted(tails) == ["0% vs 100% level_p99", "0% vs 50% level_p99",
                             "50% vs 100% level_p99"]  # fmt: skip
    assert {k: v for k, v in both.verdicts.items() if k not in tails} == every.verdicts
    decided = {d.value for d in DECIDED}
    assert both.decided == (every.decided and set(tails.values()) <= decided)
    # With the tails left to chance (every level's spikes drawn alike), the block
    # medians are decided, the level p99s are not, and decided-all does not stop.
    spiky = _frame(20, (1.0, 1.2, 1.44), seed=4, spikes=True)
    noisy = look(lambda c: analyze(spiky[spiky["round"] < 10], c), looks, 0, config, "decided-all")
    assert any(v not in decided for k, v in noisy.verdicts.items() if k.endswith("level_p99"))
    assert not noisy.decided


def _results(frame: pd.DataFrame) -> list[BlockResult]:
    out = []
    block = 0
    for r in sorted(frame["round"].unique()):
        for pos, lv in enumerate((2, 0, 1)):  # measured in this order each round
            part = frame[(frame["round"] == r) & (frame["level_index"] == lv)].assign(block=block)
            row = {"round": int(r), "position": pos, "level": LEVELS[lv], "level_index": lv,
                   "block": block, "load_ok": not (r == 3 and lv == 1)}  # fmt: skip
            out.append(BlockResult(part, row))
            block += 1
    return out


def test_runner_side_stops_at_the_deciding_look_and_records_every_look() -> None:
    looks = plan_looks(3, 20, looks=3)
    frame = _frame(20, (1.0, 1.2, 1.44), seed=3)
    seq = Sequential(looks, FAST, 3, "decided-median")
    meta: dict[str, Any] = {"design": {"levels": [{"name": n} for n in LEVELS]}}
    seq.start(meta)
    assert meta["sequential"]["planned"] == list(looks.rounds)
    assert meta["sequential"]["looks"] == []
    stopped_after = None
    for i, result in enumerate(_results(frame)):
        if seq.after_block(result):
            stopped_after = i + 1
            break
    # The flagged block (round 3, level 50%) leaves the first look 9 complete rounds,
    # too few to reach alpha/3 with 6 tests: not enough data, so the campaign goes on;
    # it stops at the end of the second look's round, every median one slower.
    assert looks.rounds[:2] == (10, 15)
    assert stopped_after == 3 * looks.rounds[1]
    record = meta["sequential"]
    assert [t["rounds"] for t in record["looks"]] == [10, 15]
    assert record["looks"][0]["decided"] is False
    assert record["looks"][0]["verdicts"]["0% vs 50% median"] == "not enough data"
    assert record["looks"][1]["decided"] is True
    assert record["stopped_by"] == "every comparison decided at look 2"
    # The look analysed what the block policy admits: the flagged block is left out,
    # as hvload report leaves it out (the same analysis on the same campaign).
    camp = seq.campaign()
    report = CampaignReport.build(camp, FAST)
    assert report.analysis.config is not None
    assert report.analysis.config.alpha == pytest.approx(looks.alpha_per_look)
    assert len(report.left_out) == 1
    final = {f"{c.reference} vs {c.level} {c.on}": c.verdict.value
             for c in report.analysis.comparison_results}  # fmt: skip
    assert final == record["looks"][-1]["verdicts"]


def test_a_time_limit_makes_the_next_round_the_last_look() -> None:
    looks = plan_looks(3, 20, looks=3)
    frame = _frame(20, (1.0, 1.2, 1.44), seed=3)
    seq = Sequential(looks, FAST, 3, "decided-median", max_seconds=1e-9)
    meta: dict[str, Any] = {}
    seq.start(meta)
    results = _results(frame)
    # Past the limit at once: the first round's end is a look (the first planned one,
    # at its alpha), and the last; nothing more is measured.
    stops = [seq.after_block(r) for r in results[:3]]
    assert stops == [False, False, True]
    (taken,) = meta["sequential"]["looks"]
    assert taken["rounds"] == 1 and taken["alpha_spent"] == pytest.approx(0.05 / 3)
    assert set(taken["verdicts"].values()) == {"not enough data"}
    assert meta["sequential"]["stopped_by"].startswith("time limit (1e-09 s) reached after 1")
    assert meta["sequential"]["max_seconds"] == 1e-9


def test_report_states_the_looks_and_a_campaign_without_them_reads_as_before() -> None:
    frame = _frame(12, (1.0, 1.0, 1.0), seed=5)
    plain = Campaign(frame, pd.DataFrame(), {})
    before = CampaignReport.build(plain, FAST)
    assert "sequential" not in before.to_dict() and "Sequential" not in before.to_text()
    assert before.analysis.config is not None and before.analysis.config.alpha == 0.05
    record = {"until": "decided", "planned": [10, 12], "alpha": 0.05, "alpha_per_look": 0.025,
              "looks": [{"look": 1, "rounds": 10, "alpha": 0.025, "alpha_spent": 0.025,
                         "decided": False, "verdicts": {"0% vs 50% median": "no evidence"}}],
              "stopped_by": "max_rounds reached"}  # fmt: skip
    seq = CampaignReport.build(Campaign(frame, pd.DataFrame(), {"sequential": record}), FAST)
    text = seq.to_text()
    assert "the verdicts are sequential" in text and "look 1: 10 rounds" in text
    assert "alpha spent 0.025" in text and "planned looks at rounds 10, 12" in text
    d = seq.to_dict()
    assert d["sequential"]["verdicts_are_sequential"] is True
    assert d["sequential"]["analysed_at_alpha"] == pytest.approx(0.025)
    assert d["settings"]["alpha"] == pytest.approx(0.025)
    assert sequential_text(record, 0.025) in text and "this report" not in text
    # Read at another alpha, the report says so: the looks were taken at the run's.
    other = CampaignReport.build(
        Campaign(frame, pd.DataFrame(), {"sequential": record}), FAST.replace(alpha=0.1)
    )
    assert other.to_dict()["settings"]["alpha"] == pytest.approx(0.05)
    assert "this report: alpha 0.1/2 = 0.05 (the run looked at 0.025)" in other.to_text()


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"until": "soon"}, "until='soon' (--until soon) is not allowed; choose from"),
        ({"max_rounds": 12}, "max_rounds=12 (--max-rounds 12) is given without --until"),
        ({"looks": 2}, "looks=2 (--looks 2) is given without --until"),
        ({"until": "decided", "rounds": 12}, "rounds=12 (--rounds 12) is given with --until"),
        ({"until": "decided", "max_rounds": 0}, "max_rounds=0 (--max-rounds 0) is not allowed; "
         "it must be an integer in 2..10000"),
        ({"until": "decided", "max_rounds": 9}, "max_rounds=9 (--max-rounds 9) is not allowed; "
         "with 4 look(s) of 3 levels"),
        ({"until": "decided", "looks": -1}, "looks=-1 (--looks -1) is not allowed"),
        ({"until": "decided", "max_time": 0}, "max_time=0 (--max-time 0) is not allowed; "
         "give a number of seconds > 0"),
        ({"max_time": 5.0}, "max_time=5.0 (--max-time 5) is given without --until"),
    ],
)  # fmt: skip
def test_spec_refuses_sequential_options_in_one_line(options: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError) as info:
        CampaignSpec(quick=True, controls="none", **options)
    assert str(info.value).startswith(words), str(info.value)
    assert "\n" not in str(info.value)


def test_spec_sizes_a_sequential_campaign_for_its_most_rounds() -> None:
    spec = CampaignSpec(quick=True, controls="none", until="decided", max_rounds=14, looks=2)
    assert spec.sizes["rounds"] == 14
    assert CampaignSpec(controls="none", until="decided-median").sizes["rounds"] == 40
    assert CampaignSpec(quick=True, controls="none").sizes["rounds"] == 2
    timed = CampaignSpec.from_strings(quick=True, controls="none", until="decided", max_time="90")
    assert timed.max_time == 90.0
    with pytest.raises(SpecError, match=r"^max_time='soon' \(--max-time soon\) is not allowed"):
        CampaignSpec.from_strings(quick=True, until="decided", max_time="soon")


def test_cli_refuses_bad_sequential_options_with_exit_2(cli: Any) -> None:
    code, out, err = cli("run", "--quick", "--until", "decided", "--max-rounds", "5", "-o",
                         "/nonexistent/x.parquet")  # fmt: skip
    assert code == 2 and out == ""
    assert "max_rounds=5 (--max-rounds 5) is not allowed" in err and "allowed: 13.." in err
    assert len(err.strip().splitlines()) == 1
    # With a stricter alpha the first look comes later: planned with the run's own alpha.
    code, _, err = cli("run", "--quick", "--until", "decided", "--max-rounds", "13", "--alpha",
                       "0.01", "-o", "/nonexistent/x.parquet")  # fmt: skip
    assert code == 2 and "at alpha 0.01/4" in err


def test_binomial_check_used_for_the_aa_claim_can_fail() -> None:
    # The A/A check in test_sequential_validation.py rejects a rate clearly above 5 %.
    assert sps.binomtest(32, 400, 0.05, alternative="greater").pvalue < 0.05
    assert sps.binomtest(13, 400, 0.05, alternative="greater").pvalue > 0.05


def test_explorer_until_decided_goes_to_the_spec(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("ipywidgets")
    from hvload import widgets
    from hvload.notebook import can_measure
    from hvload.widgets import explorer

    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("HVLOAD_NO_MEASURE", raising=False)
    if not can_measure()[0]:
        pytest.skip("this machine cannot issue any trap")
    e = widgets.Explorer(open_first=False, runs_dir=tmp_path)
    e.levels.value = "0, 50, 100"
    e.until.value = True
    e.rounds.value = 9  # the most rounds: too few for 4 looks of 3 levels
    e.run_button.click()
    # The checkbox makes the rounds the spec's max_rounds, refused in the spec's words;
    # nothing was started.
    assert "max_rounds=9 (--max-rounds 9) is not allowed" in e.status.value
    assert e._session is None

    started: list[dict[str, Any]] = []

    class Recorded:  # the run's session, not started: what the Explorer asks it to run
        def __init__(self, request: dict[str, Any], *args: Any) -> None:
            started.append(request)

        def start(self) -> threading.Thread:
            return threading.Thread()

    monkeypatch.setattr(explorer, "Session", Recorded)
    e.rounds.value = 16
    e.start()
    request = started[0]
    assert request["spec"].until == "decided" and request["spec"].sizes["rounds"] == 16
    assert request["sequential"].looks == plan_looks(3, 16, looks=4)
