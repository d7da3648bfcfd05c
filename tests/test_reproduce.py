"""reproduce(): tables and figures from data/ alone, with measuring disabled."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("hvload.plots")

from hvload import notebook, reproduce

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@pytest.fixture(autouse=True)
def _no_measure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HVLOAD_NO_MEASURE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")


def test_reproduce_one_campaign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hvload import plots

    written = reproduce.reproduce(
        DATA, tmp_path, files=["amd-epyc-2vcpu-aa-noload.parquet"], progress=True
    )
    # The progress bar counts Table 7.1, then the analysis, each figure and the report.
    total = 1 + len(plots.FIGURES) + 2
    bar = capsys.readouterr().err
    assert f"{total}/{total}" in bar and "amd-epyc-2vcpu-aa-noload.parquet: report" in bar
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)
    folder = tmp_path / "amd-epyc-2vcpu-aa-noload"
    for name in plots.FIGURES:
        png = folder / f"{name}.png"
        assert png in written
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((folder / "report.json").read_text())
    assert report
    assert "Friedman" in (folder / "report.txt").read_text()

    table = pd.read_csv(tmp_path / "table_7_1.csv", index_col=0)
    assert table["verdict"].value_counts().to_dict() == {
        "unsuitable": 16,
        "maybe": 6,
        "suitable": 4,
    }
    expected = pd.read_csv(ROOT / "tests" / "data" / "table_7_1.tsv", sep="\t", index_col=0)
    assert table.loc[expected.index, "verdict"].to_dict() == expected["verdict"].to_dict()
    changes = pd.read_csv(tmp_path / "table_7_1_changes.csv", index_col=0)
    assert len(changes) == 6 and (changes["was"] == "unsuitable").all()
    assert "4 suitable, 6 maybe, 16 unsuitable" in (tmp_path / "table_7_1.md").read_text()
    # The re-judged tables are for a framework that does not exist, and say so.
    hypo = pd.read_csv(tmp_path / "table_7_1_ring0_hypothetical.csv", index_col=0)
    assert (hypo["framework"] == "ring0-hypothetical (HYPOTHETICAL)").all()
    assert (changes["framework"] == "ring0-hypothetical (HYPOTHETICAL)").all()
    for stem in ("table_7_1_ring0_hypothetical", "table_7_1_changes"):
        assert (tmp_path / f"{stem}.md").read_text().startswith("# HYPOTHETICAL")
    assert "framework" not in table.columns


def test_find_data_dir_from_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(ROOT / "notebooks")
    assert notebook.find_data_dir("../data") == DATA
    monkeypatch.chdir(ROOT)
    assert notebook.find_data_dir("../data") == DATA
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(notebook.DATA_ENV, str(DATA))
    assert notebook.find_data_dir() == DATA
    with pytest.raises(FileNotFoundError, match="campaign"):
        notebook.resolve_campaign("nothing-like-this.parquet", DATA)


def test_platform_record_falls_back_to_a_stored_one() -> None:
    info, source = notebook.platform_record(DATA, probe_samples=0)
    assert "HVLOAD_NO_MEASURE" in source and "recorded in" in source
    assert info.tsc_hz and info.traps
    assert notebook.can_measure()[0] is False


def test_platform_still_reports_with_measuring_disabled() -> None:
    import hvload

    for samples in (0, 100):
        info = hvload.platform(probe_samples=samples)
        assert info.traps and not any(t.supported for t in info.traps)
        assert all("HVLOAD_NO_MEASURE=1" in t.reason for t in info.traps)


def test_obtain_campaign_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    camp, source = notebook.obtain_campaign(
        "amd-epyc-2vcpu-default.parquet", measure=True, data_dir=DATA
    )
    assert "HVLOAD_NO_MEASURE" in source
    assert camp.path is not None and camp.path.name == "amd-epyc-2vcpu-default.parquet"
    text = notebook.describe_campaign(camp)
    assert "KVM" in text and "-1" in text


def test_switch_reads_zero_as_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from hvload.errors import UnsupportedPlatformError
    from hvload.measure import cpu

    with pytest.raises(UnsupportedPlatformError, match="HVLOAD_NO_MEASURE=1"):
        cpu.require_measuring()
    monkeypatch.setenv("HVLOAD_NO_MEASURE", "0")
    try:
        cpu.require_measuring()
    except UnsupportedPlatformError as exc:  # only a real lack (arch, RDTSCP) may remain
        assert "HVLOAD_NO_MEASURE" not in str(exc)


def test_text_helpers_show_everything() -> None:
    """Notebook tables of prose and text reports: nothing cut, nothing wrapped."""
    long = "a reason that goes on " * 20
    frame = pd.DataFrame({"reason": [long, float("nan")]}, index=pd.Index(["x", "y"], name="name"))
    table = notebook.text_table(frame)
    shown = table._repr_html_()
    assert long.strip() in shown and "nan" not in shown
    assert shown.count("text-align:left") == 2 + 2 * 2  # head and every cell
    assert long.strip() in repr(table)
    block = notebook.text_block("col  <b>\n" + long)
    assert "white-space:pre;" in block._repr_html_() and "&lt;b&gt;" in block._repr_html_()
    assert repr(block).startswith("col  <b>")
