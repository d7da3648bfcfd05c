"""Export and share (issue 23): downloads of a view, and a link that reopens it.

Without a browser: the downloads are built by the same methods the buttons call, and the
link's state is built and read as the dashboard does. In Chromium (the download event,
a copied link opened in a new page): ``test_browser_share.py``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("hvload.plots")

from hypothesis import given, settings
from hypothesis import strategies as st

import hvload
from hvload.plots import FIGURES
from hvload.widgets import Browser, dashboard
from hvload.widgets import _export as export
from hvload.widgets._common import level_names
from hvload.widgets._link import (
    MAX_QUERY,
    LinkError,
    Opening,
    ViewState,
    check_state,
    page_url,
    parse_query,
    state_query,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DEFAULT = DATA / "amd-epyc-2vcpu-default.parquet"
GOLDEN = ROOT / "tests" / "data" / "golden_report"


@pytest.fixture(autouse=True)
def _headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")


# -- the link's state ------------------------------------------------------------------

_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=30
).filter(lambda s: s.strip() != "")


@settings(max_examples=200, deadline=None)
@given(
    # A first part starting with "\\" is refused as absolute (a Windows-style path), on purpose.
    campaign=st.lists(_names.filter(lambda s: s not in (".", "..") and "/" not in s),
                      min_size=1, max_size=3).filter(lambda parts: not parts[0].startswith("\\")),
    levels=st.lists(_names, max_size=6, unique=True),
    figure=st.one_of(st.none(), st.sampled_from(sorted(FIGURES))),
    threshold=st.one_of(st.none(), st.floats(0, 10)),
    pick=st.one_of(st.none(), st.integers(0, 5)),
    unit=st.one_of(st.none(), st.sampled_from(["ns", "cycles"])),
)  # fmt: skip
def test_the_state_survives_its_link(
    campaign: list[str], levels: list[str], figure: str | None, threshold: float | None,
    pick: int | None, unit: str | None,
) -> None:  # fmt: skip
    """Any level or file name (spaces, %, &, =, #, +, non-ASCII) comes back as it went."""
    reference = levels[pick % len(levels)] if levels and pick is not None else None
    state = ViewState("/".join(campaign), tuple(levels), figure, threshold, reference, unit)
    query = state_query(state)
    assert "token" not in query.split("=")[0::2]
    back = parse_query(query)
    assert back is not None
    assert (back.campaign, back.levels, back.figure) == (state.campaign, state.levels, figure)
    assert (back.reference, back.unit) == (reference, unit)
    if threshold is None:
        assert back.threshold is None
    else:  # written as a person would type it: six decimals
        assert back.threshold == pytest.approx(threshold, abs=5e-7)


def test_a_link_reads_as_written() -> None:
    state = parse_query(
        "campaign=runs/a%20b.parquet&level=0%25&level=50%25&figure=ladder&threshold=2.5"
    )
    assert state == ViewState("runs/a b.parquet", ("0%", "50%"), "ladder", 2.5)
    assert state.browser_options() == {
        "levels": ("0%", "50%"), "figure": "ladder", "threshold": 0.025,
    }  # fmt: skip
    assert state_query(state) == (
        "campaign=runs/a%20b.parquet&level=0%25&level=50%25&figure=ladder&threshold=2.5"
    )
    # Nothing of ours in the query (Voila's own, a stray token): no linked view.
    for query in ("", "token=abc", "voila-template=x&theme=dark"):
        assert parse_query(query) is None
    # Unknown fields are ignored beside ours.
    assert parse_query("campaign=a.parquet&utm=x") == ViewState("a.parquet")


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("campaign=/etc/passwd", "is absolute"),
        ("campaign=%2Fetc%2Fpasswd", "is absolute"),
        ("campaign=../outside/secret.parquet", "'..' is not allowed"),
        ("campaign=runs/../../x.parquet", "'..' is not allowed"),
        ("campaign=a.parquet&campaign=b.parquet", "campaign 2 times"),
        ("figure=ladder", "names no campaign"),
        ("campaign=", "names no campaign"),
        ("campaign=a.parquet&figure=%3Cscript%3E", "is not one of"),
        ("campaign=a.parquet&threshold=abc", "threshold 'abc'"),
        ("campaign=a.parquet&threshold=nan", "threshold 'nan'"),
        ("campaign=a.parquet&threshold=inf", "threshold 'inf'"),
        ("campaign=a.parquet&threshold=1e999", "threshold '1e999'"),
        ("campaign=a.parquet&threshold=-1", "from 0 to 10"),
        ("campaign=a.parquet&threshold=10.5", "from 0 to 10"),
        ("campaign=a.parquet&threshold=1&threshold=2", "threshold 2 times"),
        ("campaign=a%00.parquet", "control characters"),
        ("campaign=a.parquet&level=%0Ax", "control characters"),
        ("campaign=a.parquet&level=", "empty level"),
        ("campaign=a.parquet&level=0%25&level=0%25", "twice"),
        ("campaign=a.parquet" + "".join(f"&level={i}" for i in range(65)), "at most 64"),
        ("campaign=%ff.parquet", "cannot be read"),
        ("campaign=a.parquet" + "&x=1" * 101, "cannot be read"),
        ("campaign=a.parquet&unit=ms", "unit 'ms' is not one of: ns, cycles"),
        ("campaign=a.parquet&unit=ns&unit=cycles", "unit 2 times"),
        ("campaign=a.parquet&reference=", "empty reference"),
        ("campaign=a.parquet&level=0%25&reference=50%25", "'50%' is not one of its levels"),
        ("campaign=" + "a" * (MAX_QUERY + 1), "characters; at most"),
        ("campaign=" + "a" * 2000, "at most 1,024"),
    ],
)  # fmt: skip
def test_a_hostile_link_gets_one_line(query: str, said: str) -> None:
    with pytest.raises(LinkError) as info:
        parse_query(query)
    message = str(info.value)
    assert said in message and "\n" not in message and len(message) < 400, message


def test_page_url_never_carries_the_query_it_came_with() -> None:
    env = {"VOILA_REQUEST_URL": "http://user:pw@127.0.0.1:8866/?token=secret&campaign=x#frag"}
    assert page_url("campaign=a.parquet", env) == "http://127.0.0.1:8866/?campaign=a.parquet"
    assert page_url("q=1", {"VOILA_REQUEST_URL": "http://[::1]:80/"}) == "http://[::1]:80/?q=1"
    for bad in ({}, {"VOILA_REQUEST_URL": "javascript:alert(1)"},
                {"VOILA_REQUEST_URL": "http://h:99999/"}):  # fmt: skip
        assert page_url("q=1", bad) == "?q=1"


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A data folder with a campaign (and one in runs/), a link out, and a decoy outside."""
    data, outside = tmp_path / "data", tmp_path / "outside"
    (data / "runs").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(DEFAULT, data / "inside.parquet")
    shutil.copy(DEFAULT, outside / "secret.parquet")
    (data / "link.parquet").symlink_to(outside / "secret.parquet")
    (data / "runs" / "text.parquet").write_text("not a campaign")
    return {"data": data.resolve(), "outside": outside.resolve()}


def _offered(data: Path) -> list[tuple[str, str]]:
    return [("inside.parquet", str(data / "inside.parquet")),
            ("runs/text.parquet", str(data / "runs" / "text.parquet"))]  # fmt: skip


def test_a_link_names_a_listed_file_and_its_levels(tree: dict[str, Path]) -> None:
    data, outside = tree["data"], tree["outside"]
    state, file = check_state(ViewState("inside.parquet", ("75%", "0%")), data, _offered(data))
    assert file == str(data / "inside.parquet")
    assert state.levels == ("0%", "75%"), "put in campaign order"
    for state, said in [
        (ViewState("link.parquet"), "outside the data folder"),
        (ViewState(str(outside / "secret.parquet")), "outside the data folder"),
        (ViewState("missing.parquet"), "does not exist"),
        (ViewState("runs"), "not a campaign file this page lists"),
        (ViewState("inside.parquet", ("0%", "33%")), "'33%' is not a level"),
        (ViewState("inside.parquet", reference="33%"), "'33%' is not a level"),
        (ViewState("runs/text.parquet", ("0%",)), "cannot be read"),
    ]:
        with pytest.raises(LinkError, match=said) as info:
            check_state(state, data, _offered(data))
        assert "\n" not in str(info.value)
    with pytest.raises(LinkError, match="no data folder"):
        check_state(ViewState("inside.parquet"), None, [])


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("campaign=link.parquet", "outside the data folder"),
        ("campaign=../outside/secret.parquet", "'..' is not allowed"),
        ("campaign=inside.parquet&threshold=%3Cb%3Ex", "threshold '<b>x'"),
    ],
)
def test_a_bad_link_opens_the_default_view(tree: dict[str, Path], query: str, said: str) -> None:
    opening = Opening(query, tree["data"], _offered(tree["data"]))
    assert opening.state is None and opening.file is None and opening.tab == 0
    text = html.unescape(opening.note)
    assert said in text and opening.note.count("<p") == 1 and "\n" not in opening.note
    assert "<b>" not in opening.note, "the value is escaped"


# -- downloads -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def view() -> Browser:
    return Browser(DEFAULT)


def test_downloads_are_what_the_view_shows(view: Browser) -> None:
    from PIL import Image

    d = view.downloads
    assert d.widget.layout.display is None, "shown with the figure"
    png = d.figure("png")
    assert png.name == "amd-epyc-2vcpu-default-ecdf.png" and png.mime == "image/png"
    shown = Image.open(io.BytesIO(base64.b64decode(view.output.outputs[0]["data"]["image/png"])))
    assert Image.open(io.BytesIO(png.data)).size == (2 * shown.size[0], 2 * shown.size[1])
    svg = ET.fromstring(d.figure("svg").data)
    assert svg.tag.endswith("svg")
    csv = d.table()
    table = pd.read_csv(io.BytesIO(csv.data), keep_default_na=False, na_values=[""])
    assert view.analysis is not None
    assert len(table) == len(view.analysis.comparisons)
    assert list(table["verdict"]) == list(view.analysis.comparisons["verdict"])
    # The JSON is `hvload report --json`'s, byte for byte (test_golden_report ties it).
    report = d.report("json")
    assert report.data.decode() == (GOLDEN / "amd-epyc-2vcpu-default.json").read_text()
    for fmt, (ext, mime) in export.REPORT_FILES.items():
        got = d.report(fmt)
        assert got.name.endswith(f"-report.{ext}") and got.mime == mime and got.data
    assert d.campaign_file().data == DEFAULT.read_bytes()
    # The link a button prepares goes with the view it was made from.
    prepared = d.prepare(d.table)
    assert prepared is not None and 'download="amd-epyc-2vcpu-default-comparisons.csv"' in (
        d.link.value
    )
    assert "data:text/csv;charset=utf-8;base64," in d.link.value
    view.set_figure("ladder")
    assert d.link.value == ""
    assert d.figure("png").name.endswith("-ladder.png")
    view.set_figure("ecdf")


def test_the_html_report_is_hvload_reports(view: Browser, cli: Any) -> None:
    """The richest format (tables, figures, band), against `hvload report --format html`."""
    code, out, err = cli("report", str(DEFAULT), "--format", "html")
    assert code == 0, err
    assert view.downloads.report("html").data.decode() == out


def test_downloads_refuse_in_one_line(
    view: Browser, tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = view.downloads
    monkeypatch.setattr(export, "MAX_FILE_BYTES", 1_000_000)
    assert d.prepare(d.campaign_file) is None
    assert "over the 977 KiB a download link carries" in d.link.value
    assert "<a" not in d.link.value and "\n" not in d.link.value
    # A file outside the root (here: the shipped one, for a page on another folder).
    with pytest.raises(export.Refused, match="not inside the data folder"):
        export.Downloads(view, root=tree["data"]).campaign_file()
    view.set_figure("attribution")  # this campaign measured no controls
    with pytest.raises(export.Refused, match="no control probes"):
        d.figure("png")
    view.set_figure("ecdf")
    # No level chosen: nothing shown, nothing to download, and the row hides.
    levels = view.levels.value
    view.set_levels(())
    try:
        for action in (d.table, d.report, d.figure):
            with pytest.raises(export.Refused, match="choose at least one level"):
                action()
        assert d.widget.layout.display == "none"
    finally:
        view.set_levels(levels)


def _widgets(root: Any) -> list[Any]:
    """Every widget below ``root`` (its children, theirs, ...)."""
    out = [root]
    for child in getattr(root, "children", ()):
        out += _widgets(child)
    return out


def test_the_dashboard_opens_a_linked_view(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tree["data"]
    monkeypatch.setenv(dashboard.ROOT_ENV, str(data))
    monkeypatch.setenv("QUERY_STRING", "campaign=inside.parquet&level=0%25&level=75%25"
                       "&figure=ladder&threshold=2.5&reference=75%25&unit=cycles")  # fmt: skip
    monkeypatch.setenv("VOILA_REQUEST_URL", "http://127.0.0.1:8866/?token=secret")
    page = dashboard.served()
    tabs = page.children[1]
    assert tabs.selected_index == 1
    browse = tabs.children[1].children[-1].children[0]
    view = next(c for c in browse.children if "hvload-downloads" in c._dom_classes)
    row = view.children[-1]
    assert "hvload-link-row" in row._dom_classes
    assert 'href="?campaign=inside.parquet&amp;level=0%25&amp;level=75%25&amp;figure=ladder' \
        "&amp;threshold=2.5&amp;reference=75%25&amp;unit=cycles" in row.value  # fmt: skip
    assert "http://127.0.0.1:8866/?campaign=inside.parquet" in row.value
    assert "secret" not in row.value and "token" not in row.value
    # The view itself: the linked levels, figure and threshold.
    # The view's controls: their first row holds figure, threshold and reference level.
    figure, threshold = browse.children[1].children[1].children[0].children[:2]
    assert (figure.value, threshold.value) == ("ladder", 2.5)
    assert math.isclose(threshold.value, 2.5)
    controls = {c.description: c for c in _widgets(browse) if getattr(c, "description", "")}
    assert controls["reference level"].value == "75%" and controls["unit"].value == "cycles"
    # The report a button prepares is the linked view's: its levels at its threshold.
    buttons = {c.description: c for c in view.children[0].children}
    buttons["report format"].value = "json"
    buttons["report"].click()
    link = view.children[1].value
    uri = link.split('href="', 1)[1].split('"', 1)[0]
    report = json.loads(base64.b64decode(uri.split("base64,", 1)[1]))
    assert report["settings"]["threshold"] == pytest.approx(0.025)
    assert report["design"]["levels"] == ["0%", "75%"]
    # The link follows the view's controls.
    figure.value = "ecdf"
    assert "figure=ecdf" in row.value and "figure=ladder" not in row.value
    controls["unit"].value = "ns"
    controls["reference level"].value = "0%"
    assert "reference=0%25&amp;unit=ns" in row.value


def test_the_dashboard_says_why_it_does_not_follow_a_link(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(dashboard.ROOT_ENV, str(tree["data"]))
    monkeypatch.setenv("QUERY_STRING", "campaign=link.parquet&figure=ladder")
    page = dashboard.served()
    header, tabs = page.children
    assert tabs.selected_index == 0, "the default view"
    note = html.unescape(header.value.split('class="hvload-link-note"', 1)[1])
    assert "link not followed: the link's campaign 'link.parquet' is outside the data folder" in (
        note
    )
    browse = tabs.children[1].children[-1].children[0]
    figure = browse.children[1].children[1].children[0].children[0]
    assert figure.value == "ecdf", "nothing of the refused link is applied"


def test_the_explorer_downloads_what_it_shows(tree: dict[str, Path]) -> None:
    from types import SimpleNamespace

    from hvload.widgets import Explorer

    data = tree["data"]
    info: Any = SimpleNamespace(traps=[], kernel_traps=[])
    e = Explorer(data, info=info, open_first=False, root=data)
    assert e.downloads.widget.layout.display == "none", "nothing shown yet, no downloads"
    e.open("inside.parquet")
    assert e.downloads.widget.layout.display is None
    assert e.downloads.campaign_file().data == DEFAULT.read_bytes()
    golden = (GOLDEN / "amd-epyc-2vcpu-default.json").read_text()
    assert e.downloads.report("json").data.decode() == golden
    assert e.downloads.figure("png").name == "inside-ecdf.png"
    # The HTML report names the file inside the data folder, not where that lies.
    page = e.downloads.report("html").data.decode()
    assert '<p class="small">inside.parquet</p>' in page and str(data) not in page


def test_the_explorer_links_to_the_finished_campaign_it_shows(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tree["data"]
    monkeypatch.setenv(dashboard.ROOT_ENV, str(data))
    monkeypatch.setenv("QUERY_STRING", "")
    monkeypatch.setenv("VOILA_REQUEST_URL", "http://127.0.0.1:8866/")
    page = dashboard.served()
    explorer = page.explorer
    row = next(c for c in explorer.downloads.widget.children
               if "hvload-link-row" in c._dom_classes)  # fmt: skip
    assert row.value == "", "nothing shown yet: no link"
    explorer.open(str(data / "inside.parquet"))
    assert 'href="?campaign=inside.parquet&amp;level=0%25' in row.value
    assert "http://127.0.0.1:8866/?campaign=inside.parquet" in row.value
    explorer.unit.value = "cycles"
    assert "unit=cycles" in row.value
    # What it links to is a view the Browse tab opens: the same file, levels and unit.
    query = html.unescape(row.value.split('href="?', 1)[1].split('"', 1)[0])
    state = parse_query(query)
    assert state is not None
    checked, file = check_state(state, data, _offered(data))
    assert Path(file) == data / "inside.parquet" and checked.unit == "cycles"
    assert checked.levels == tuple(level_names(explorer.whole))
    # A campaign the Browse tab would not list (outside the data folder): no link.
    explorer.show(hvload.load(DEFAULT))
    assert row.value == ""
