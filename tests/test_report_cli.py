"""`hvload report` on the real campaigns shipped in data/ (no measuring)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hvload.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
AA = DATA / "amd-epyc-2vcpu-aa-noload.parquet"


def test_report_text_has_summaries_cis_and_verdicts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(AA)]) == 0
    out = capsys.readouterr().out
    assert "95% CI" in out and "Friedman" in out and "Page" in out and "Wilcoxon" in out
    assert "verdict" in out and "achieved load" in out
    for level in ("0% #1", "0% #5"):
        assert level in out


def test_report_json_matches_the_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(AA), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"levels", "comparisons", "omnibus", "trend"} <= set(data)
    assert len(data["levels"]) == 5
    verdicts = {c["verdict"] for c in data["comparisons"]}
    assert verdicts <= {"no evidence", "negligible", "slower", "faster", "not enough data"}


def test_report_threshold_option_reaches_the_analysis(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(DATA / "amd-epyc-2vcpu-default.parquet"), "--json",
                 "--threshold", "0.5"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    # At a 50 % practical threshold no shift in this campaign can be practically relevant.
    assert not {c["verdict"] for c in data["comparisons"]} & {"slower", "faster"}


def test_report_on_a_file_that_is_not_a_campaign(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.parquet"
    bad.write_text("hello")
    with pytest.raises(SystemExit) as info:
        main(["report", str(bad)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not a readable Parquet file" in err
