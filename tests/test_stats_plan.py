"""Planning, design checks, level order and the shared configuration, end to end."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from markers import needs_two, needs_x86
from stats_synthetic import synthetic_campaign

import hvload
import hvload.campaign as campaign
from hvload import stats
from hvload.cli import main
from hvload.report import admitted
from hvload.stats.plan import detectable_change, pilot_margin, pilot_noise
from hvload.workload import schedule

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = sorted(DATA.glob("*.parquet"))
AMD = DATA / "amd-epyc-2vcpu-default.parquet"


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_analyze_and_hvload_report_give_the_same_numbers(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(path), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    # hvload.analyze: the statistics on the blocks the block policy admits, as the report.
    direct = json.loads(json.dumps(hvload.analyze(hvload.load(path)).to_dict()))
    assert reported == direct
    assert reported["settings"]["exclude"] == ["warmup"]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_report_on_response_time(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(path), "--metric", "response", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["design"]["metric"] == "response"
    cycles = stats.analyze(hvload.load(path))
    for level, row in zip(cycles.level_summaries, out["levels"], strict=True):
        # Response time counts from the intended start: never below the service time.
        assert row["min"] >= level["min"]
    assert main(["report", str(path), "--metric", "response"]) == 0
    assert "Metric: response, response time" in capsys.readouterr().out


def test_plan_cli_text_json_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(AMD), "--effect", "3%", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["effect"] == pytest.approx(0.03) and out["on"] == "median"
    assert 10 <= out["rounds"] <= 400
    # The reported power is the curve's point at the recommended rounds.
    curve = {p["rounds"]: p["power"] for p in out["curve"]}
    assert out["achieved_power"] == curve[out["rounds"]]
    assert out["family_size"] == 14 and out["noise"]["pilot_rounds"] == 12
    assert main(["plan", str(AMD), "--effect", "0.25", "--on", "p99"]) == 0
    text = capsys.readouterr().out
    assert "block p99" in text
    assert ("recommended:" in text) != ("not reachable within" in text)
    with pytest.raises(SystemExit) as info:
        main(["plan", str(AMD), "--effect", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "effect=" in err and len(err.strip().splitlines()) == 1


def test_plan_more_effect_fewer_rounds_and_block_size_table() -> None:
    camp = hvload.load(AMD)
    small = stats.plan(camp, 0.02, n_sim=1000)
    large = stats.plan(camp, 0.04, n_sim=1000)
    assert small.rounds is not None and large.rounds is not None
    assert large.rounds < small.rounds
    # Common random numbers: a smaller block is never planned with fewer rounds.
    table = small.by_samples.sort_values("samples_per_block")
    rounds = table["rounds"].to_numpy(dtype=float)
    assert np.all(np.diff(rounds) <= 0)
    bare = stats.plan(camp, 0.02, n_sim=1000, pilot_confidence=0.0)
    assert bare.rounds <= small.rounds and small.noise["margin"] > 1.0
    assert "recommended" in small.to_text() and json.dumps(small.to_dict())


def test_plan_errors_name_the_value() -> None:
    camp = hvload.load(AMD)
    for kwargs, needle in (
        ({"effect": 0}, "effect=0"),
        ({"on": "p50"}, "on='p50'"),
        ({"n_levels": 1}, "n_levels=1"),
        ({"pilot_confidence": 1.0}, "pilot_confidence=1.0"),
        ({"samples_per_block": 0}, "samples_per_block=0"),
    ):
        args = {"effect": 0.02, **kwargs}
        with pytest.raises(ValueError, match=needle):
            stats.plan(camp, **args)
    tiny = synthetic_campaign(1, n_rounds=1)
    with pytest.raises(ValueError, match="too small"):
        stats.plan(tiny, 0.02)


def _readme_planning_paragraph() -> str:
    text = (DATA.parent / "README.md").read_text()
    start = text.index("On the project's machines the block noise is mostly host noise")
    return " ".join(text[start : text.index("\n\n", start)].split())


def test_the_readme_planning_figures_are_what_plan_computes() -> None:
    # Each figure the README states about planning on the AMD default campaign, recomputed
    # with the code `hvload plan` runs (the blocks the block policy admits, the pilot
    # margin, the Friedman gate) and compared as the README rounds it.
    para = _readme_planning_paragraph()

    def stated(pattern: str) -> tuple[str, ...]:
        found = re.search(pattern, para)
        assert found, f"the README no longer says {pattern!r}: {para}"
        return found.groups()

    camp = admitted(hvload.load(AMD))
    (margin,) = stated(r"inflated ([\d.]+)x")
    assert margin == f"{pilot_margin(pilot_noise(camp)):.2f}"
    result = hvload.plan(hvload.load(AMD), 0.02)
    rounds, spb, low, high, small = stated(
        r"--effect 2%` recommends (\d+) rounds at its ([\d,]+) samples per block \((\d+) to "
        r"(\d+) over the pilot's uncertainty\) and (\d+) at 5,000"
    )
    by = dict(zip(result.by_samples["samples_per_block"], result.by_samples["rounds"],
                  strict=True))  # fmt: skip
    assert (int(rounds), int(spb.replace(",", ""))) == (result.rounds, result.samples_per_block)
    assert (int(low), int(high)) == result.rounds_range
    assert int(small) == by[5000.0]
    default, old = stated(
        r"about ([\d.]+) % for the default design \(40 rounds x 5,000 samples\) and about "
        r"([\d.]+) % for 12 rounds x 20,000 samples"
    )
    for figure, rounds_, samples in ((default, 40, 5000), (old, 12, 20000)):
        change = detectable_change(camp, rounds_, samples_per_block=samples)
        print(f"AMD default, {rounds_} x {samples}: detectable change {change:.4f}")
        assert figure == f"{100 * change:.1f}"
    # Rounds buy precision, samples per block do not (the paragraph's point).
    assert float(default) < float(old)


def test_analysis_reports_noise_and_the_design_check() -> None:
    result = stats.analyze(hvload.load(AMD))
    noise = result.noise.set_index("on")
    assert noise.loc["median", "block_sd"] < noise.loc["p99", "block_sd"]
    assert 0 < noise.loc["median", "mde"] < noise.loc["p99", "mde"]
    assert result.design["can_decide"] and result.design["rounds_needed"] == 10
    text = result.to_text()
    assert "Block noise" in text and "80% power" in text


def test_old_files_with_levels_out_of_load_order_are_analysed_in_load_order() -> None:
    frame = synthetic_campaign(5, levels=("100%", "0%", "50%"), n_rounds=10)
    meta = {
        "design": {"levels": [{"name": n, "value": v} for n, v in
                              (("100%", 1.0), ("0%", 0.0), ("50%", 0.5))]}
    }  # fmt: skip
    result = stats.analyze(SimpleNamespace(samples=frame, metadata=meta))
    assert result.design["levels"] == ["0%", "50%", "100%"]
    assert result.design["baseline"] == "0%"
    assert set(result.comparisons["reference"]) <= {"0%", "50%"}
    assert any("out of load order" in n for n in result.notes)
    chosen = stats.analyze(SimpleNamespace(samples=frame, metadata=meta), baseline="50%")
    refs = chosen.comparisons[chosen.comparisons["kind"] != "neighbour"]["reference"]
    assert set(refs) == {"50%"}


def test_the_recorded_baseline_is_used() -> None:
    frame = synthetic_campaign(6, n_rounds=10)
    meta = {"design": {"baseline": "50%"}}
    result = stats.analyze(SimpleNamespace(samples=frame, metadata=meta))
    assert result.design["baseline"] == "50%"


def test_config_is_validated_once_and_shared() -> None:
    cfg = stats.AnalysisConfig(threshold=0.02, exclude="none")
    assert cfg.exclude == () and cfg.ci_label == "95% CI"
    assert stats.AnalysisConfig(alpha=0.1).ci_label == "90% CI"
    with pytest.raises(ValueError, match="threshold=inf"):
        stats.AnalysisConfig(threshold=float("inf"))
    with pytest.raises(ValueError, match="unknown analysis option"):
        cfg.replace(n_boot=3)


def test_design_refuses_levels_out_of_load_order() -> None:
    t = hvload.null_trap()
    levels = (schedule.Level("50%", 0.5), schedule.Level("0%", 0.0))
    cpu = min(os.sched_getaffinity(0))
    with pytest.raises(ValueError, match="not in order of increasing load"):
        campaign.Design(probe=t, levels=levels, probe_cpu=cpu, samples=10, rounds=2)
    ok = campaign.Design(probe=t, levels=levels[::-1], probe_cpu=cpu, samples=10, rounds=2)
    assert ok.baseline == "0%" and ok.to_dict()["baseline"] == "0%"
    with pytest.raises(ValueError, match="baseline='7%' is not a level"):
        campaign.Design(probe=t, levels=levels[::-1], probe_cpu=cpu, samples=10, rounds=2,
                        baseline="7%")  # fmt: skip


@needs_x86
@needs_two
def test_hvload_run_sorts_levels_and_warns_of_a_design_without_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sorted.parquet"
    args = ["run", "--quick", "--levels", "100,0,50", "--no-progress", "--seed", "3", "-o"]
    assert main([*args, str(out)]) == 0
    err = capsys.readouterr().err
    assert "levels sorted into order of increasing load" in err
    assert "cannot reach a verdict" in err and "rounds are needed" in err
    camp = hvload.load(out)
    design = camp.metadata["design"]
    assert [lv["name"] for lv in design["levels"]] == ["0%", "50%", "100%"]
    assert design["baseline"] == "0%"
    result = stats.analyze(camp)
    assert result.design["levels"] == ["0%", "50%", "100%"]
    assert set(result.comparisons["reference"]) <= {"0%", "50%"}
    # Page's test runs on the columns in this order: the trend is in increasing load.
    assert "increasing with load" in result.trend["median"].message or (
        result.trend["median"].status == "not enough data"
    )
    out2 = tmp_path / "base.parquet"
    assert main(["run", "--quick", "--levels", "0,50,100", "--baseline", "50", "--no-progress",
                 "--seed", "3", "-o", str(out2)]) == 0  # fmt: skip
    camp2 = hvload.load(out2)
    assert camp2.metadata["design"]["baseline"] == "50%"
    frame = stats.analyze(camp2).comparisons
    assert set(frame[frame["kind"] != "neighbour"]["reference"]) == {"50%"}
