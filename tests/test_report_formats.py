"""``hvload report`` and ``hvload compare`` as Markdown, CSV and HTML (issue 22, item 1).

The renderings are read back with pandas (``pd.read_csv`` for the CSV, the pipe tables of
the Markdown parsed as a ``|``-separated table) and held against the JSON report of the
same campaign: every format shows the same levels, numbers and verdicts. The HTML is
checked here for what makes it one self-contained file (no script, no URL outside it, the
figures embedded); tests/test_browser_report.py opens it in Chromium.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import hvload
from hvload.cli import _parser
from hvload.report import CampaignReport
from hvload.report.formats import FORMATS, render_comparison, render_report
from hvload.survey.exit_costs import band_lines

DATA = Path(__file__).resolve().parents[1] / "data"
INTEL = DATA / "intel-xeon-16vcpu-controls.parquet"
AMD = DATA / "amd-epyc-2vcpu-controls.parquet"
AA = DATA / "amd-epyc-2vcpu-aa-noload.parquet"

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def report() -> CampaignReport:
    return CampaignReport.build(hvload.load(INTEL))


@pytest.fixture(scope="module")
def data(report: CampaignReport) -> dict:
    return report.to_dict()


def markdown_tables(text: str) -> dict[str, pd.DataFrame]:
    """Every pipe table of ``text`` read by pandas, keyed by the heading above it."""
    tables: dict[str, pd.DataFrame] = {}
    heading = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if (
            line.startswith("|")
            and i + 1 < len(lines)
            and re.fullmatch(r"\|(:?-+:?\|)+", lines[i + 1])
        ):
            block = [line]
            i += 2  # the separator line is Markdown, not data
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1
            body = "\n".join(row.strip().strip("|") for row in block)
            frame = pd.read_csv(
                io.StringIO(body),
                sep=r"\s*\|\s*",
                engine="python",
                dtype=str,
                skipinitialspace=True,
            )
            frame.columns = [c.strip() for c in frame.columns]
            tables[heading] = frame.apply(lambda col: col.str.strip())
            continue
        i += 1
    return tables


def number(text: str) -> float:
    return float(text.replace(",", "").split()[0])


def test_the_cli_offers_every_format() -> None:
    # Written out in the parser to keep scipy out of its import; they must agree.
    assert _parser.FORMATS == FORMATS


def test_markdown_tables_round_trip_through_pandas(report: CampaignReport, data: dict) -> None:
    text = render_report(report, "markdown", band=band_lines(report.campaign.metadata))
    tables = markdown_tables(text)
    levels = tables["Per level (cycles)"]
    assert list(levels["level"]) == [lv["level"] for lv in data["levels"]]
    typical = "typical block median [95% CI]"
    for (_, row), lv in zip(levels.iterrows(), data["levels"], strict=True):
        assert number(row["median"]) == pytest.approx(lv["median"], abs=0.5)
        # The level p99 is named as such, with its interval, never a bare "p99".
        level_p99 = row["level p99 [95% CI]"].replace(",", "").strip("]").split(" [")
        assert float(level_p99[0]) == pytest.approx(lv["level_p99"], abs=0.5)
        low, high = (float(x) for x in level_p99[1].split())
        assert (low, high) == pytest.approx(
            (lv["level_p99_ci_low"], lv["level_p99_ci_high"]), abs=0.5
        )
        assert number(row[typical]) == pytest.approx(lv["block_median"], abs=0.5)
    assert "p99" not in levels.columns
    assert "level p99 answers 'how slow is the slowest 1 % at this load'" in text
    comparisons = next(t for k, t in tables.items() if k.startswith("Comparisons"))
    assert list(comparisons["verdict"]) == [c["verdict"] for c in data["comparisons"]]
    assert "slower" in set(comparisons["verdict"])
    assert set(comparisons["on"]) == {"median", "block p99"}
    tails = next(t for k, t in tables.items() if k.startswith("Level p99 comparisons"))
    assert list(tails["verdict"]) == [c["verdict"] for c in data["tail_comparisons"]]
    assert [number(p) for p in tails["p adj"]] == pytest.approx(
        [c["pvalue_adjusted"] for c in data["tail_comparisons"]], abs=1e-4
    )
    attribution = next(t for k, t in tables.items() if k.startswith("Attribution"))
    assert list(attribution["verdict"]) == [a["verdict"] for a in data["attribution"]["table"]]
    # The plausibility band is in the text, with its sources.
    assert "single-level KVM" in text and "sources:" in text
    # It fits an issue comment (GitHub's limit is 65,536 characters).
    assert len(text) < 65_536


#: How the CSV is read back (the README says so): the control probe named "null" is a
#: label, not a missing value, so only empty cells are missing.
READ = {"keep_default_na": False, "na_values": [""]}


def test_csv_round_trips_through_read_csv(report: CampaignReport, data: dict) -> None:
    text = render_report(report, "csv")
    # Without the options, pandas reads the control label "null" as missing: that is why
    # the options are documented.
    assert "null" not in set(pd.read_csv(io.StringIO(text))["control"].dropna())
    frame = pd.read_csv(io.StringIO(text), **READ)
    assert set(frame["table"]) == {
        "levels",
        "comparisons",
        "level_p99_comparisons",
        "attribution",
    }
    levels = frame[frame["table"] == "levels"].dropna(axis=1, how="all")
    expected = pd.DataFrame(data["levels"])
    assert list(levels["level"]) == list(expected["level"])
    for col in (
        "n",
        "min",
        "median",
        "p99",
        "p99.9",
        "block_median",
        "block_p99_ci_high",
        "level_p99",
        "level_p99_ci_low",
        "level_p99_ci_high_ns",
        "median_ns",
    ):
        assert levels[col].to_numpy() == pytest.approx(expected[col].to_numpy(), rel=1e-12), col
    comps = frame[frame["table"] == "comparisons"].dropna(axis=1, how="all")
    exp = pd.DataFrame(data["comparisons"])
    assert list(comps["verdict"]) == list(exp["verdict"])
    assert comps["pvalue_adjusted"].to_numpy() == pytest.approx(exp["pvalue_adjusted"].to_numpy())
    assert comps["relative_change_low"].to_numpy() == pytest.approx(
        exp["relative_change_low"].to_numpy()
    )
    tails = frame[frame["table"] == "level_p99_comparisons"].dropna(axis=1, how="all")
    exp = pd.DataFrame(data["tail_comparisons"])
    assert list(tails["verdict"]) == list(exp["verdict"]) and "cles" not in tails
    assert tails["relative_change_high"].to_numpy() == pytest.approx(
        exp["relative_change_high"].to_numpy()
    )
    attr = frame[frame["table"] == "attribution"].dropna(axis=1, how="all")
    assert list(attr["control"]) == [a["control"] for a in data["attribution"]["table"]]


def test_html_is_one_file_with_tables_verdicts_and_figures(
    report: CampaignReport, data: dict
) -> None:
    html = render_report(report, "html", band=band_lines(report.campaign.metadata))
    assert "<script" not in html.lower()
    # No URL that a browser would fetch: every src is a data: URI, no link to a stylesheet.
    sources = re.findall(r'\ssrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"<link\b", html) and "@import" not in html and "url(" not in html
    for figure in ("fig-load_curve", "fig-attribution", "fig-ecdf"):
        assert f'id="{figure}"' in html
    assert "Content-Security-Policy" in html
    for verdict in {c["verdict"] for c in data["comparisons"]}:
        assert f">{verdict}</td>" in html
    # One verdict cell per comparison and per attribution row, in the JSON's order.
    cells = re.findall(r'<td class="text verdict [^"]*">([^<]*)</td>', html)
    expected = [c["verdict"] for c in data["comparisons"]]
    expected += [c["verdict"] for c in data["tail_comparisons"]]
    expected += [a["verdict"] for a in data["attribution"]["table"]]
    assert cells == expected
    assert 'id="level-p99-comparisons-table"' in html and "<th>level p99 [95% CI]</th>" in html
    assert 'id="sequential"' not in html  # a campaign of fixed size has no looks


def test_markdown_and_html_state_a_sequential_campaign_s_looks() -> None:
    """The looks of ``hvload run --until decided``, as the text report states them."""
    camp = hvload.load(AA)
    record = {"until": "decided", "planned": [10, 12], "alpha": 0.05, "alpha_per_look": 0.025,
              "method": "Bonferroni over the planned looks",
              "looks": [{"look": 1, "rounds": 10, "alpha": 0.025, "alpha_spent": 0.025,
                         "decided": False, "verdicts": {"0% vs 100% median": "no evidence"}}],
              "stopped_by": "max_rounds reached"}  # fmt: skip
    camp.metadata["sequential"] = record
    report = CampaignReport.build(camp)
    text = report.to_text()
    markdown = render_report(report, "markdown")
    html = render_report(report, "html")
    for line in ("the verdicts are sequential, each look analysed at alpha 0.05/2 = 0.025",
                 "planned looks at rounds 10, 12; 1 taken; stopped: max_rounds reached",
                 "look 1: 10 rounds, alpha spent 0.025, not decided (1 no evidence)"):  # fmt: skip
        assert line in text and line in markdown and line in html, line
    assert 'id="sequential"' in html


def test_text_keeps_the_report_and_adds_the_band(report: CampaignReport) -> None:
    band = band_lines(report.campaign.metadata)
    text = render_report(report, "text", band=band)
    assert text.startswith(report.to_text())
    assert "Against published exit costs" in text and band[0] in text
    # JSON never carries the band: the golden reports stay byte for byte.
    assert render_report(report, "json", band=band) == json.dumps(report.to_dict(), indent=2) + "\n"


def test_an_unknown_format_is_refused_by_name(report: CampaignReport) -> None:
    with pytest.raises(ValueError, match="'pdf' is not allowed"):
        render_report(report, "pdf")


def test_json_alias_is_byte_identical_and_o_writes_the_file(cli: Cli, tmp_path: Path) -> None:
    code, via_alias, err = cli("report", str(AA), "--json")
    assert code == 0, err
    code, via_format, err = cli("report", str(AA), "--format", "json")
    assert code == 0, err
    assert via_alias == via_format
    out = tmp_path / "r.md"
    code, stdout, err = cli("report", str(AA), "--format", "markdown", "-o", str(out))
    assert code == 0, err
    assert stdout == "" and f"written to {out}" in err
    assert out.read_text().startswith("### hvload report")
    assert not list(tmp_path.glob(".hvload-report-*")), "no temporary file left behind"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--json", "--format", "csv"], "--json and --format csv disagree"),
        (["--format", "html", "-o", "x.parquet"], "would overwrite a campaign file"),
        (["--format", "pdf"], "invalid choice: 'pdf'"),
    ],
)
def test_bad_format_options_are_one_line_and_exit_2(
    cli: Cli, args: list[str], message: str, tmp_path: Path
) -> None:
    code, out, err = cli("report", str(AA), *args)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1
    assert not (Path.cwd() / "x.parquet").exists()


def test_o_on_the_campaign_itself_is_refused(cli: Cli, tmp_path: Path) -> None:
    copy = tmp_path / "c.parquet"
    copy.write_bytes(AA.read_bytes())
    link = tmp_path / "c.html"
    link.symlink_to(copy)
    code, _, err = cli("report", str(copy), "--format", "html", "-o", str(link))
    assert code == 2 and "would overwrite a campaign file" in err
    assert copy.read_bytes() == AA.read_bytes()


@pytest.fixture(scope="module")
def comparison():  # type: ignore[no-untyped-def]
    pytest.importorskip("duckdb")
    from hvload.datasets.compare import compare

    return compare([AMD, INTEL], verify=False)


def test_compare_markdown_and_csv_round_trip(comparison) -> None:  # type: ignore[no-untyped-def]
    tables = markdown_tables(render_comparison(comparison, "markdown"))
    comps = tables["Comparisons"]
    assert list(comps["verdict"]) == list(comparison.comparisons["verdict"])
    frame = pd.read_csv(io.StringIO(render_comparison(comparison, "csv")), **READ)
    levels = frame[frame["table"] == "levels"].dropna(axis=1, how="all")
    assert levels["median"].to_numpy() == pytest.approx(comparison.levels["median"].to_numpy())
    rows = frame[frame["table"] == "comparisons"].dropna(axis=1, how="all")
    assert list(rows["verdict"]) == list(comparison.comparisons["verdict"])


def test_compare_html_is_self_contained(comparison) -> None:  # type: ignore[no-untyped-def]
    html = render_comparison(comparison, "html")
    assert "<script" not in html.lower()
    sources = re.findall(r'\ssrc="([^"]*)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert 'id="comparisons-table"' in html
