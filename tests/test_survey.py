"""The survey's verdicts derived from rules, against Table 7.1 as the thesis prints it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from hvload import catalog, survey
from hvload.catalog import Effect, Knowledge, Parameter
from hvload.cli import main
from hvload.survey import HVLOAD, THESIS, Profile, Verdict, classify

SURVEY_TEXT = (
    Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "hypercall-survey.txt"
)
SHIPPED_TABLE = Path(__file__).resolve().parent / "data" / "table_7_1.tsv"

# Table 7.1 marks one of three columns (suitable, maybe, unsuitable) with an X.
_COLUMNS = ("suitable", "maybe", "unsuitable")

# The rows that change when the survey is re-run for hvload's own profile.
HVLOAD_CHANGES = {
    "HvFlushVirtualAddressList": ("unsuitable", "maybe"),
    "HvFlushVirtualAddressSpaceEx": ("unsuitable", "suitable"),
    "HvFlushVirtualAddressListEx": ("unsuitable", "maybe"),
    "HvSendSyntheticClusterIpiEx": ("unsuitable", "maybe"),
    "HvGetVpRegisters": ("unsuitable", "suitable"),
    "HvGetVpIndexFromApicId": ("unsuitable", "suitable"),
}


def parse_table_7_1(text: str) -> list[tuple[str, str]]:
    """Rows of Table 7.1 as (survey name, verdict), in printed order."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split("\t")[0] == "Hypercall")
    header = lines[start].split("\t")
    assert header[1:] == ["✓", "?", "X"]
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = line.split("\t")
        marks = [i for i, cell in enumerate(cells[1:4]) if cell.strip() == "X"]
        assert len(marks) == 1, line
        rows.append((cells[0], _COLUMNS[marks[0]]))
    return rows


def load_shipped_table() -> list[tuple[str, str]]:
    lines = SHIPPED_TABLE.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "survey_name\tverdict"
    return [tuple(line.split("\t")) for line in lines[1:]]  # type: ignore[misc]


@pytest.fixture(scope="module")
def table() -> list[tuple[str, str]]:
    return load_shipped_table()


@pytest.mark.skipif(not SURVEY_TEXT.exists(), reason="shared/reference not present")
def test_shipped_table_equals_survey_text() -> None:
    parsed = parse_table_7_1(SURVEY_TEXT.read_text(encoding="utf-8"))
    assert parsed == load_shipped_table()


def test_table_has_26_rows_with_thesis_counts(table: list[tuple[str, str]]) -> None:
    assert len(table) == 26
    counts = {v: sum(1 for _, verdict in table if verdict == v) for v in _COLUMNS}
    assert counts == {"suitable": 4, "maybe": 6, "unsuitable": 16}


def test_derived_classification_matches_table_7_1(table: list[tuple[str, str]]) -> None:
    assert sorted(c.table_name for c in catalog.HYPERCALLS) == sorted(n for n, _ in table)
    for survey_name, expected in table:
        got = classify(catalog.get(survey_name), THESIS)
        assert got.verdict.value == expected, (survey_name, got.reasons)
        assert got.reasons


def test_counts() -> None:
    verdicts = [a.verdict for a in survey.survey(THESIS)]
    assert [verdicts.count(v) for v in Verdict] == [4, 6, 16]


def test_changing_one_attribute_changes_the_verdict() -> None:
    rep_call = catalog.get("HvGetVpRegisters")
    assert classify(rep_call).verdict is Verdict.UNSUITABLE
    as_simple = dataclasses.replace(rep_call, rep=False)
    assert classify(as_simple).verdict is Verdict.SUITABLE

    flush = catalog.get("HvFlushVirtualAddressSpace")
    assert classify(flush).verdict is Verdict.SUITABLE
    assert classify(dataclasses.replace(flush, rep=True)).verdict is Verdict.UNSUITABLE
    assert classify(dataclasses.replace(flush, effect=Effect.UNKNOWN)).verdict is Verdict.MAYBE

    vtl_call = catalog.get("HvVtlCall")
    assert classify(vtl_call).verdict is Verdict.MAYBE
    understood = dataclasses.replace(vtl_call, effect=Effect.IDEMPOTENT)
    assert classify(understood).verdict is Verdict.SUITABLE

    needs_id = dataclasses.replace(
        catalog.get("HvExtCallQueryCapabilities"),
        parameters=(Parameter("PartitionId", Knowledge.RUNTIME),),
    )
    assert classify(needs_id).verdict is Verdict.UNSUITABLE


def test_knowledge_in_the_profile_decides() -> None:
    translate = catalog.get("HvTranslateVirtualAddress")
    knows_pages = dataclasses.replace(THESIS, knows=THESIS.knows | {Knowledge.RANGE})
    assert classify(translate, THESIS).verdict is Verdict.MAYBE
    assert classify(translate, knows_pages).verdict is Verdict.SUITABLE

    # A reliable monitor supplies connection IDs, but what repeated messages do stays unknown.
    post = catalog.get("HvPostMessage")
    monitor = dataclasses.replace(THESIS, knows=THESIS.knows | {Knowledge.MONITOR})
    result = classify(post, monitor)
    assert result.verdict is Verdict.MAYBE
    assert not any("ConnectionId" in r for r in result.reasons)
    blind = Profile("blind", "no guessing", rep_calls=False, variable_headers=False)
    assert classify(post, blind).verdict is Verdict.UNSUITABLE


def test_survey_rep_naming_reaches_verdict_through_variable_header() -> None:
    for name in ("HvFlushVirtualAddressSpaceEx", "HvSendSyntheticClusterIpiEx"):
        call = catalog.get(name)
        assert not call.rep and call.variable_header
        result = classify(call, THESIS)
        assert result.verdict is Verdict.UNSUITABLE
        assert any("variable-size" in r for r in result.reasons)


def test_hvload_profile_changes() -> None:
    got = {
        c.after.call.name: (c.before.verdict.value, c.after.verdict.value)
        for c in survey.changes(THESIS, HVLOAD)
    }
    assert got == HVLOAD_CHANGES
    verdicts = [a.verdict for a in survey.survey(HVLOAD)]
    assert [verdicts.count(v) for v in Verdict] == [7, 9, 10]


def test_survey_frame() -> None:
    df = survey.to_frame(HVLOAD)
    assert len(df) == 26
    assert df.loc["HvGetVpRegisters", "verdict"] == "suitable"
    assert df["verdict"].cat.ordered


def test_cli_json_matches_table_7_1(
    capsys: pytest.CaptureFixture[str], table: list[tuple[str, str]]
) -> None:
    assert main(["survey", "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    assert len(objects) == 26
    for obj in objects:
        assert {"name", "survey_name", "code", "rep", "variable_header", "verdict"} <= set(obj)
        assert isinstance(obj["reasons"], list) and obj["reasons"]
        assert obj["changed_from"] is None
    assert {o["survey_name"]: o["verdict"] for o in objects} == dict(table)


def test_cli_hvload_lists_changed_rows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survey", "--framework", "hvload"]) == 0
    out = capsys.readouterr().out
    marked = {line.split()[1] for line in out.splitlines() if line.startswith("* ")}
    assert marked == set(HVLOAD_CHANGES)
    for name, (before, after) in HVLOAD_CHANGES.items():
        assert f"  {name}: {before} -> {after}" in out
    assert "26 calls: 7 suitable, 9 maybe, 10 unsuitable; 6 changed" in out


def test_cli_hvload_json_marks_changes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survey", "--framework", "hvload", "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    changed = {o["name"]: (o["changed_from"], o["verdict"]) for o in objects if o["changed_from"]}
    assert changed == HVLOAD_CHANGES


def test_cli_thesis_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survey"]) == 0
    out = capsys.readouterr().out
    assert "26 calls: 4 suitable, 6 maybe, 16 unsuitable" in out
    assert "HvNotifyLongSpinWait" in out and "0x0008" in out
    assert "* " not in out
