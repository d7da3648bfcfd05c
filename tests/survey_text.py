"""The parts of the thesis's survey text the tests need, and the checker that ties them to it.

The survey (``shared/reference/hypercall-survey.txt``) and the platform notes
(``shared/reference/platform-facts.md``) live outside the repository. The tests read only the
excerpts shipped in ``tests/data``:

- ``table_7_1.tsv``: Table 7.1, one row per call with the marked column;
- ``survey_excerpts.tsv``: per Table 7.1 row, the label its description carries in the
  survey and the short quotations :mod:`hvload.survey.judgments` rests on;
- ``platform_facts_call_codes.txt``: the paragraph of platform-facts.md §4 with the call
  codes and classes of the 26 calls.

Whoever has the reference folder checks the excerpts against it with::

    python tests/survey_text.py /path/to/shared/reference

which prints each problem found, or one line saying all excerpts were found, and exits 1 or 0.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
TABLE = DATA / "table_7_1.tsv"
EXCERPTS = DATA / "survey_excerpts.tsv"
CALL_CODES = DATA / "platform_facts_call_codes.txt"

INTRODUCTION = "(introduction)"
#: The label of a call's description in the survey -> its Table 7.1 column.
LABELS = {"SUITABLE": "suitable", "MAYBE SUITABLE": "maybe", "UNSUITABLE": "unsuitable"}
_COLUMNS = ("suitable", "maybe", "unsuitable")


def normalise(text: str) -> str:
    """Markup (``**``, backticks) dropped and whitespace collapsed, as quotations are kept."""
    return " ".join(text.replace("**", "").replace("`", "").split())


def _data_lines(path: Path) -> list[list[str]]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return [ln.split("\t") for ln in lines]


def load_table() -> list[tuple[str, str]]:
    """The shipped Table 7.1 as (survey name, verdict), in printed order."""
    header, *rows = _data_lines(TABLE)
    assert header == ["survey_name", "verdict"], header
    return [(r[0], r[1]) for r in rows]


def load_excerpts() -> list[tuple[str, str, str]]:
    """The shipped excerpts as (row, label, quotation); a row without quotations has ""."""
    header, *rows = _data_lines(EXCERPTS)
    assert header == ["row", "label", "quote"], header
    return [(r[0], r[1], r[2] if len(r) > 2 else "") for r in rows]


def parse_table_7_1(text: str) -> list[tuple[str, str]]:
    """Rows of Table 7.1 in the survey text as (survey name, verdict), in printed order."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split("\t")[0] == "Hypercall")
    header = lines[start].split("\t")
    if header[1:] != ["✓", "?", "X"]:
        raise ValueError(f"unexpected Table 7.1 header {header!r}")
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        cells = line.split("\t")
        marks = [i for i, cell in enumerate(cells[1:4]) if cell.strip() == "X"]
        if len(marks) != 1:
            raise ValueError(f"Table 7.1 row {line!r} marks {len(marks)} columns")
        rows.append((cells[0], _COLUMNS[marks[0]]))
    return rows


def parse_descriptions(text: str) -> dict[str, tuple[str, str]]:
    """Each call's description as {name as the survey spells it there: (label, text)}.

    The opening paragraphs come under :data:`INTRODUCTION` with label "-". Descriptions are
    list items "- **[LABEL] Name:** ..." that may run over a page break; the list ends at
    the paragraph introducing Table 7.1.
    """
    flat = normalise(text)
    end = flat.find("To provide a better overview")
    flat = flat[: end if end >= 0 else len(flat)]
    items = re.split(r"- \[((?:MAYBE )?(?:UN)?SUITABLE)\] (Hv\w+):? ?:?", flat)
    out = {INTRODUCTION: ("-", items[0])}
    for label, name, body in zip(items[1::3], items[2::3], items[3::3], strict=True):
        out[name] = (label, body.strip())
    return out


def check_survey(text: str, table_name: dict[str, str] | None = None) -> list[str]:
    """Problems of the shipped table and excerpts against the survey's text (none: [])."""
    problems = []
    if parse_table_7_1(text) != load_table():
        problems.append("tests/data/table_7_1.tsv differs from Table 7.1 in the survey text")
    descriptions = parse_descriptions(text)
    by_row = {}
    for name, (label, body) in descriptions.items():
        row = (table_name or {}).get(name, name)
        by_row[row] = (label, body)
    table = dict(load_table())
    for row, label, quote in load_excerpts():
        if row not in by_row:
            problems.append(f"{row}: no description of that call in the survey text")
            continue
        found_label, body = by_row[row]
        if label != found_label:
            problems.append(f"{row}: label {label!r}, the survey says {found_label!r}")
        if row != INTRODUCTION and LABELS.get(label) != table.get(row):
            problems.append(f"{row}: label {label!r} but Table 7.1 says {table.get(row)!r}")
        if quote and normalise(quote) not in body:
            problems.append(f"{row}: quotation not in its description: {quote!r}")
    return problems


def check_platform_facts(text: str) -> list[str]:
    """Problems of the shipped call-code paragraph against platform-facts.md (none: [])."""
    shipped = normalise(CALL_CODES.read_text(encoding="utf-8"))
    if shipped not in normalise(text):
        return ["tests/data/platform_facts_call_codes.txt is not a paragraph of platform-facts.md"]
    return []


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python tests/survey_text.py SHARED_REFERENCE_DIR\n")
        return 2
    from hvload.survey import catalog

    ref = Path(argv[0])
    names = {c.name: c.table_name for c in catalog.HYPERCALLS}
    problems = check_survey((ref / "hypercall-survey.txt").read_text(encoding="utf-8"), names)
    problems += check_platform_facts((ref / "platform-facts.md").read_text(encoding="utf-8"))
    for p in problems:
        sys.stdout.write(p + "\n")
    if not problems:
        n = len([q for *_, q in load_excerpts() if q])
        sys.stdout.write(
            f"ok: Table 7.1 (26 rows), {n} quotations with their rows and labels, and the "
            "call-code paragraph were all found in the reference texts\n"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
