"""The block policy, applied alike by every entry point that shows a campaign's results.

One SYNTHETIC campaign (``tests/dataset_synthetic.py``: noise models, nothing measured)
is written through :func:`hvload.store.save` with three blocks of three different
levels flagged ``load_ok = False``, as a remote load driver flags a block whose load did
not cover the probe window. ``hvload report --json``, :func:`hvload.analyze`,
``hvload plan`` and :func:`hvload.plan`, the Browser, ``hvload compare`` (and
:func:`hvload.dataset`) and :func:`hvload.reproduce.write_campaign` must leave out the
same blocks and show the same numbers; an analysis that keeps the flagged blocks must
show other numbers, so that each comparison here can fail.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from dataset_synthetic import synthetic_file

import hvload
from hvload import stats, store
from hvload.report import CampaignReport, admitted

#: Blocks flagged (one each of three different levels) and what the driver said of them.
PROBLEM = "SYNTHETIC: agent 'synthetic-agent' lost before the probe window ended"
N_FLAGGED = 3

Cli = Callable[..., tuple[int, str, str]]


def _flagged_campaign(source: Path, cid: str) -> hvload.Campaign:
    """The campaign of ``source`` with load columns as a remote campaign has them and
    three blocks of three different levels flagged."""
    camp = store.load(source)
    blocks = camp.blocks.drop(columns=["start_tsc", "sha256", "n_samples"])
    first = blocks.drop_duplicates("level_index").sort_values("level_index")
    flagged = first["block"].iloc[1 : 1 + N_FLAGGED].tolist()  # levels 1, 2, 3
    bad = blocks["block"].isin(flagged)
    blocks = blocks.assign(
        campaign=cid,
        target_rate=1000.0 * blocks["level_value"],
        achieved_rate=1000.0 * blocks["level_value"],
        achieved_load=blocks["level_value"].astype(float),
        lateness_p99=100.0,
        load_ok=[not b for b in bad],
        load_problem=[PROBLEM if b else None for b in bad],
    )
    meta = {
        **camp.metadata,
        "campaign": cid,
        "synthetic": (
            "made by tests/dataset_synthetic.py, then tests/test_policy.py flagged three "
            "blocks load_ok = False; nothing was measured and no load was lost"
        ),
    }
    samples = camp.samples.assign(campaign=cid)
    return hvload.Campaign(samples, blocks, meta)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The flagged campaign file and a copy under another campaign id (for compare)."""
    folder = tmp_path_factory.mktemp("policy")
    source = synthetic_file(folder / "source" / "synthetic.parquet", 31)
    path = folder / "flagged.parquet"
    copy = folder / "flagged-copy.parquet"
    store.save(_flagged_campaign(source, "synthetic-flagged"), path)
    store.save(_flagged_campaign(source, "synthetic-flagged-copy"), copy)
    return path, copy


@pytest.fixture(scope="module")
def camp(files: tuple[Path, Path]) -> hvload.Campaign:
    return hvload.load(files[0])


@pytest.fixture(scope="module")
def expected(camp: hvload.Campaign) -> stats.Analysis:
    """:func:`hvload.analyze`: the reference every other entry point is held to."""
    return hvload.analyze(camp)


def _plain(value: Any) -> Any:
    """As JSON would give it back (NaN as None), so dicts compare with ``==``."""
    return json.loads(json.dumps(value, default=str).replace("NaN", "null"))


def _numbers(report: dict[str, Any]) -> dict[str, Any]:
    """A report dict without its prose notes: every number and what was left out."""
    return {k: v for k, v in report.items() if k != "notes"}


def _blocks_per_level(report: dict[str, Any]) -> dict[str, int]:
    return {lv["level"]: lv["n_blocks"] for lv in report["levels"]}


def test_the_file_carries_checksums_and_three_flagged_blocks(camp: hvload.Campaign) -> None:
    assert camp.metadata["synthetic"]
    assert "sha256" in camp.blocks.columns and camp.blocks["sha256"].notna().all()
    bad = camp.blocks[camp.blocks["load_ok"].eq(False)]
    assert len(bad) == N_FLAGGED and bad["level_index"].nunique() == N_FLAGGED
    assert (bad["load_problem"] == PROBLEM).all()


def test_analyze_leaves_the_flagged_blocks_out_and_says_so(
    camp: hvload.Campaign, expected: stats.Analysis
) -> None:
    assert len(expected.left_out) == N_FLAGGED
    assert all(PROBLEM in note for note in expected.left_out)
    n_rounds = camp.metadata["design"]["rounds"]
    counts = expected.levels.set_index("level")["n_blocks"]
    assert sorted(counts.tolist()) == [n_rounds - 1] * N_FLAGGED + [n_rounds] * 2
    assert any("3 blocks left out" in n for n in expected.notes)


def test_including_the_flagged_blocks_is_the_plain_analysis_and_differs(
    camp: hvload.Campaign, expected: stats.Analysis
) -> None:
    everything = hvload.analyze(camp, include_flagged=True)
    assert _plain(stats.to_dict(everything)) == _plain(stats.to_dict(stats.analyze(camp)))
    assert everything.left_out == ()
    ours, theirs = expected.levels.set_index("level"), everything.levels.set_index("level")
    assert not ours["n_blocks"].equals(theirs["n_blocks"])
    assert not np.allclose(ours["block_median"], theirs["block_median"], rtol=0, atol=0)


def test_hvload_report_json_agrees_with_hvload_analyze(
    cli: Cli, files: tuple[Path, Path], expected: stats.Analysis
) -> None:
    code, out, err = cli("report", str(files[0]), "--json")
    assert code == 0, err
    got, want = json.loads(out), _plain(stats.to_dict(expected))
    assert _numbers(got) == _numbers(want)
    assert len(got["left_out"]) == N_FLAGGED
    # The same level statistics as the analysis that keeps the flagged blocks would not be.
    kept = _plain(stats.to_dict(stats.analyze(hvload.load(files[0]))))
    assert got["levels"] != kept["levels"] and got["comparisons"] != kept["comparisons"]


def test_the_campaign_report_is_what_hvload_report_prints(
    cli: Cli, files: tuple[Path, Path], camp: hvload.Campaign
) -> None:
    code, out, err = cli("report", str(files[0]))
    assert code == 0, err
    report = CampaignReport.build(camp)
    assert f"Left out of the analysis: {N_FLAGGED} blocks" in out
    assert out == report.to_text()


def test_hvload_plan_agrees_with_the_report_plan(camp: hvload.Campaign) -> None:
    want = hvload.plan(camp, 0.05).to_dict()
    assert want == stats.plan(admitted(camp), 0.05).to_dict()
    assert want != stats.plan(camp, 0.05).to_dict(), "the flagged blocks must matter"


def test_hvload_plan_cli_agrees_with_hvload_plan(
    cli: Cli, files: tuple[Path, Path], camp: hvload.Campaign
) -> None:
    code, out, err = cli("plan", str(files[0]), "--effect", "5%", "--json")
    assert code == 0, err
    assert json.loads(out) == _plain(hvload.plan(camp, 0.05).to_dict())


def test_the_browser_shows_the_same_numbers_and_says_what_was_left_out(
    files: tuple[Path, Path], expected: stats.Analysis
) -> None:
    pytest.importorskip("ipywidgets")
    pytest.importorskip("hvload.plots")
    from hvload.widgets import Browser

    browser = Browser(files[0], threshold=expected.config.threshold)
    assert _plain(stats.to_dict(browser.analysis)) == _plain(stats.to_dict(expected))
    assert len(browser.campaign.blocks) == len(browser.whole.blocks) - N_FLAGGED
    assert f"Left out of the analysis: {N_FLAGGED} blocks" in browser.table.value
    assert PROBLEM.replace("'", "&#x27;") in browser.table.value
    # The table's numbers are the analysis's (the change of every comparison, in %).
    for rel in expected.comparisons["relative_change"]:
        if np.isfinite(rel):
            assert f"{100 * rel:+.2f}" in browser.table.value


def test_hvload_compare_uses_the_same_blocks_and_level_statistics(
    cli: Cli, files: tuple[Path, Path], expected: stats.Analysis
) -> None:
    pytest.importorskip("duckdb")
    code, out, err = cli("compare", str(files[0]), str(files[1]), "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["unit"] == "ns"
    assert got["left_out_blocks"] == {str(f.resolve()): N_FLAGGED for f in files}
    assert sum(f"{N_FLAGGED} blocks flagged load_ok = False" in n for n in got["notes"]) == 2
    levels = expected.levels.set_index("level")
    rows = pd.DataFrame(got["levels"])
    assert set(rows["group"]) == {f.stem for f in files}
    for row in rows.itertuples(index=False):
        mine = levels.loc[row.level_names]
        assert row.unit == "block" and row.n_blocks == mine["n_blocks"], row
        for on in ("median", "p99"):
            for suffix in ("", "_ci_low", "_ci_high"):
                assert getattr(row, f"{on}{suffix}") == pytest.approx(
                    mine[f"block_{on}{suffix}_ns"], rel=1e-12
                ), (row.level, on, suffix)
    # Kept, the flagged blocks change the counts and the statistics.
    kept = hvload.compare(list(files), include_flagged=True)
    assert kept.left_out_blocks == {}
    assert not any("load_ok = False" in n for n in kept.notes)
    assert kept.levels["n_blocks"].tolist() != rows["n_blocks"].tolist()


def test_the_dataset_leaves_the_flagged_blocks_out_once(
    files: tuple[Path, Path], camp: hvload.Campaign, expected: stats.Analysis
) -> None:
    pytest.importorskip("duckdb")
    ds = hvload.dataset(files[0])
    flagged = set(camp.blocks.loc[camp.blocks["load_ok"].eq(False), "block"])
    assert set(ds.footers["synthetic-flagged"].flagged) == flagged
    blocks = ds.block_table()
    every = ds.block_table(include_flagged=True)
    assert len(every) - len(blocks) == N_FLAGGED and not set(blocks["block"]) & flagged
    levels = ds.levels().set_index("level")
    theirs = expected.levels.set_index("level")
    assert levels["n_blocks"].to_dict() == theirs["n_blocks"].to_dict()
    for on in ("median", "p99"):
        for suffix in ("", "_ci_low", "_ci_high"):
            assert np.array_equal(
                levels[f"{on}{suffix}"].to_numpy(),
                theirs.loc[levels.index, f"block_{on}{suffix}"].to_numpy(),
            ), (on, suffix)
    # A table that still holds them (computed with include_flagged) is admitted as well.
    again = ds.levels(blocks=every).set_index("level")
    pd.testing.assert_frame_equal(again, levels)
    assert not ds.levels(include_flagged=True)["n_blocks"].equals(ds.levels()["n_blocks"])


def test_reproduce_writes_the_same_report_and_draws_the_admitted_blocks(
    files: tuple[Path, Path],
    camp: hvload.Campaign,
    expected: stats.Analysis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from matplotlib.figure import Figure

    from hvload import reproduce

    drawn: list[int] = []

    def spy(name: str, campaign: hvload.Campaign, **kwargs: Any) -> Figure:
        # What each figure is given; drawing them all is test_reproduce's business.
        drawn.append(len(campaign.blocks))
        return Figure()

    monkeypatch.setattr(reproduce, "figure", spy)
    written = reproduce.write_campaign(files[0], tmp_path)
    folder = tmp_path / files[0].stem
    got = json.loads((folder / "report.json").read_text())
    assert got == _plain(stats.to_dict(expected))
    assert (folder / "report.txt").read_text() == CampaignReport.build(camp).to_text()
    assert PROBLEM in (folder / "report.txt").read_text()
    assert drawn and set(drawn) == {len(camp.blocks) - N_FLAGGED}
    assert len(written) == len(drawn) + 2


def test_a_figure_of_a_campaign_draws_the_admitted_blocks(
    camp: hvload.Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("matplotlib")
    from hvload import reproduce

    drawn: list[int] = []
    monkeypatch.setattr(
        reproduce, "draw_figure", lambda name, data, **kwargs: drawn.append(len(data.blocks))
    )
    reproduce.figure("ecdf", camp)
    reproduce.figure("ecdf", admitted(camp))
    reproduce.figure("ecdf", camp, include_flagged=True)
    n = len(camp.blocks)
    assert drawn == [n - N_FLAGGED, n - N_FLAGGED, n]
