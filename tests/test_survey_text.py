"""The survey's judgments against the excerpts of its text shipped in tests/data.

Nothing here reads outside the repository: the excerpts (Table 7.1, each row's label and the
quotations the judgments rest on) ship with the tests, and ``tests/survey_text.py`` checks
them against the full survey where it is available.
"""

from __future__ import annotations

from collections import Counter

import pytest
import survey_text
from survey_text import INTRODUCTION, LABELS, load_excerpts, load_table

from hvload.survey import catalog, judgments
from hvload.survey.judgments import Kind

ALL = judgments.FRAMEWORK + judgments.JUDGMENTS


def test_table_has_26_rows_with_thesis_counts() -> None:
    table = load_table()
    assert len(table) == 26
    assert Counter(v for _, v in table) == {"suitable": 4, "maybe": 6, "unsuitable": 16}
    assert sorted(c.table_name for c in catalog.HYPERCALLS) == sorted(n for n, _ in table)


def test_each_row_has_one_label_that_agrees_with_table_7_1() -> None:
    table = dict(load_table())
    labels: dict[str, set[str]] = {}
    for row, label, _ in load_excerpts():
        labels.setdefault(row, set()).add(label)
    assert set(labels) == set(table) | {INTRODUCTION}
    for row, found in labels.items():
        assert len(found) == 1, (row, found)
        if row != INTRODUCTION:
            assert LABELS[found.pop()] == table[row], row


def test_every_judgment_quotes_a_shipped_excerpt_of_its_row() -> None:
    excerpts = {(row, quote) for row, _, quote in load_excerpts() if quote}
    for j in ALL:
        assert (j.row, j.quote) in excerpts, j
    # ... and every shipped excerpt is used: the tests need nothing more of the survey.
    assert excerpts == {(j.row, j.quote) for j in ALL}


def test_quotations_are_short() -> None:
    # Short quotations of the thesis's words, not copied passages.
    for j in ALL:
        assert 3 <= len(j.quote.split()) <= 16, j.quote
    words = sum(len(q.split()) for _, _, q in load_excerpts())
    assert words < 350


def test_judgments_name_their_call_row_and_parameter() -> None:
    for j in judgments.JUDGMENTS:
        call = catalog.get(j.name)
        assert j.row == call.table_name
        if j.kind is Kind.KNOWLEDGE:
            assert j.subject in call.parameter_names
    assert judgments.for_call("HvVtlReturn")[0].source == (
        'survey, Table 7.1 row HvVtlReturn: "The same goes as for HvVtlCall"'
    )
    df = judgments.to_frame()
    assert len(df) == len(judgments.JUDGMENTS) and "quote" in df.columns


def test_bad_judgment_rows_are_refused() -> None:
    bad = judgments.Judgment("HvVtlCall", "HvVtlCall", Kind.KNOWLEDGE, "Nope", "range", "x y z")
    with pytest.raises(ValueError, match="'Nope' is not a parameter of HvVtlCall"):
        judgments._check(bad, 9)
    bad = judgments.Judgment("HvVtlCall", "HvVtlCall", Kind.EFFECT, "", "harmless", "x y z")
    with pytest.raises(ValueError, match="value 'harmless' not allowed for effect"):
        judgments._check(bad, 9)
    bad = judgments.Judgment(
        "HvFlushVirtualAddressList", "HvFlushVirtualAddressList", Kind.REMARK, "", "", "x y"
    )
    with pytest.raises(ValueError, match=r"row the Table 7\.1 name"):
        judgments._check(bad, 9)


def _survey_like_text() -> str:
    """A text shaped like the survey, built from the shipped excerpts alone."""
    rows: dict[str, tuple[str, list[str]]] = {}
    for row, label, quote in load_excerpts():
        rows.setdefault(row, (label, []))[1].append(quote)
    intro = " ".join(rows.pop(INTRODUCTION)[1])
    items = [
        f"- **[{label}] `{name}`:** Words. {' Words. '.join(quotes)} Words."
        for name, (label, quotes) in rows.items()
    ]
    marks = {"suitable": "X\t\t", "maybe": "\tX\t", "unsuitable": "\t\tX"}
    table = [f"{name}\t{marks[verdict]}" for name, verdict in load_table()]
    return "\n".join(
        [intro, "", *items, "", "To provide a better overview.", "", "Hypercall\t✓\t?\tX", *table]
    )


def test_checker_accepts_matching_text_and_reports_each_difference() -> None:
    text = _survey_like_text()
    assert survey_text.check_survey(text) == []

    changed = text.replace("It is unclear what the result of execution", "What the result of")
    assert survey_text.check_survey(changed) == [
        "HvVtlCall: quotation not in its description: "
        "'It is unclear what the result of execution will be'"
    ]
    relabelled = text.replace("[MAYBE SUITABLE] `HvVtlCall`", "[SUITABLE] `HvVtlCall`")
    assert survey_text.check_survey(relabelled) == [
        "HvVtlCall: label 'MAYBE SUITABLE', the survey says 'SUITABLE'"
    ]
    moved = text.replace("HvVtlCall\t\tX\t", "HvVtlCall\tX\t\t")
    assert survey_text.check_survey(moved) == [
        "tests/data/table_7_1.tsv differs from Table 7.1 in the survey text"
    ]


def test_call_code_paragraph_checker() -> None:
    paragraph = survey_text.CALL_CODES.read_text(encoding="utf-8")
    assert survey_text.check_platform_facts(f"# notes\n\n{paragraph}\nmore\n") == []
    assert survey_text.check_platform_facts(paragraph.replace("0x0052", "0x0053")) != []
