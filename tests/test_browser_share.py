"""Export and share in a real browser: downloads from the dashboard, and a copied link.

``hvload dashboard`` on 127.0.0.1 (random port and token) over a copy of the shipped
Intel controls campaign; Debian's Chromium through Playwright (``executable_path``,
nothing downloaded), one server and one browser context for the module. The figure, the
table and the report are saved through the page's own download links and opened: the
PNG decodes at twice the size the page shows, the CSV reads with pandas, the JSON is
``hvload report --format json``'s for that file (``tests/data/golden_report``, which
``test_golden_report.py`` holds to the command's output). A link copied from the view
opens the same campaign, levels, figure and threshold in a new page, without the token.
The server, fixtures and helpers are ``test_browser.py``'s; screenshots go to
``test-artifacts/browser/share-*``.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from test_browser import (
    CHROMIUM,
    ROOT,
    Shots,
    Watch,
    _env,
    _free_port,
    _hover_titles,
    _no_widget_errors,
    _server,
    _text,
    _wait,
    sync_api,
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found: apt-get install -y chromium (or set HVLOAD_CHROMIUM)",
)

CAMPAIGN = "intel-xeon-16vcpu-controls.parquet"
GOLDEN = ROOT / "tests" / "data" / "golden_report" / "intel-xeon-16vcpu-controls.json"
#: The view the link must carry over: two levels, another figure, another threshold.
LEVELS = ["0 CPUs", "15 CPUs"]
FIGURE = "ladder"
THRESHOLD = "2.5"
REFERENCE = "15 CPUs"


_OVERFLOW = "() => document.scrollingElement.scrollWidth > document.documentElement.clientWidth + 1"


@dataclass
class Served:
    url: str
    token: str
    data: Path
    saved: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("share")
    data, saved = tmp / "data", tmp / "saved"
    data.mkdir()
    saved.mkdir()
    shutil.copy(ROOT / "data" / CAMPAIGN, data)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**_env(tmp), "HVLOAD_DASHBOARD_TOKEN": token, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "hvload", "dashboard", f"--port={port}", f"--data={data}"]
    url = f"http://127.0.0.1:{port}"
    with _server(argv, env, f"{url}/voila/static/voila-style.js?token={token}",
                 tmp / "dashboard.log"):  # fmt: skip
        yield Served(url, token, data.resolve(), saved)


@pytest.fixture(scope="module")
def context(served: Served) -> Iterator[tuple[Any, Watch]]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        ctx.set_default_timeout(120_000)
        # http://127.0.0.1 is a secure context: the copy button may use the clipboard.
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=served.url)
        watch = Watch()
        watch.attach(ctx, ctx.new_page())
        yield ctx, watch
        ctx.close()
        browser.close()


@pytest.fixture(scope="module")
def browse(served: Served, context: tuple[Any, Watch]) -> Any:
    """The dashboard's Browse tab on the Intel campaign, its figure drawn."""
    ctx, _ = context
    page = ctx.pages[0]
    response = page.goto(f"{served.url}/?token={served.token}")
    assert response is not None and response.ok
    # The downloads work under the page's policy as shipped (nothing loosened for them).
    policy = response.headers.get("content-security-policy") or ""
    assert "default-src 'self'" in policy and "img-src 'self' data: blob:" in policy
    page.get_by_role("tab", name="Browse").click()
    page.locator(".hvload-browser .hvload-output img").first.wait_for()
    return page


def _save(page: Any, served: Served, button: str, suffix: str) -> Path:
    """Press a download button, then the link it prepares; the file the browser saved."""
    page.locator(f".hvload-browser .hvload-export-{button}").first.click()
    link = page.locator(f'.hvload-browser a.hvload-download-link[download$="{suffix}"]').first
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.failure() is None, download.failure()
    path = served.saved / download.suggested_filename
    download.save_as(path)
    return path


def test_downloads_open_as_what_the_page_shows(
    served: Served, context: tuple[Any, Watch], browse: Any
) -> None:
    from PIL import Image

    page, (_, watch) = browse, context
    shots = Shots("share-downloads")
    shown = page.locator(".hvload-browser .hvload-output img").first
    natural = shown.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
    png = _save(page, served, "figure-png", ".png")
    assert png.name == "intel-xeon-16vcpu-controls-ecdf.png"
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size == (2 * natural[0], 2 * natural[1])
    shots(page, "png-link", locator=page.locator(".hvload-browser .hvload-downloads").first)
    import pandas as pd

    golden = json.loads(GOLDEN.read_text())
    table = pd.read_csv(_save(page, served, "table-csv", ".csv"), keep_default_na=False,
                        na_values=[""])  # fmt: skip
    assert list(table["verdict"]) == [c["verdict"] for c in golden["comparisons"]]
    assert list(table["level"]) == [c["level"] for c in golden["comparisons"]]
    page.locator(".hvload-browser .hvload-export-format select").first.select_option("json")
    report = _save(page, served, "report", ".json")
    assert report.read_text() == GOLDEN.read_text(), "hvload report --format json, byte for byte"
    page.locator(".hvload-browser .hvload-export-format select").first.select_option("html")
    text = _save(page, served, "report", ".html").read_text()
    assert text.lstrip().lower().startswith("<!doctype html")
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', text)) >= 3
    assert "intel-xeon-16vcpu-controls" in text and "<script" not in text.lower()
    # The campaign file (18 MB) is over what a link carries: one line says where it is.
    page.locator(".hvload-browser .hvload-export-campaign-file").first.click()
    _wait(lambda: "over the" in _text(page, ".hvload-browser .hvload-download"), 30)
    line = _text(page, ".hvload-browser .hvload-download")
    assert CAMPAIGN in line and "\n" not in line.strip()
    assert page.locator(".hvload-browser a.hvload-download-link").count() == 0
    shots(page, "campaign-too-large", locator=page.locator(".hvload-browser").first)
    _no_widget_errors(page, watch, "downloads")
    assert not watch.outside, f"requests left 127.0.0.1: {watch.outside}"


def test_a_copied_link_reopens_the_view(
    served: Served, context: tuple[Any, Watch], browse: Any
) -> None:
    page, (ctx, watch) = browse, context
    shots = Shots("share-link")
    view = page.locator(".hvload-browser").first
    view.locator(".hvload-levels-shown select").first.select_option(LEVELS)
    view.locator(".hvload-figure select").first.select_option(FIGURE)
    box = view.locator(".hvload-threshold input").first
    box.fill(THRESHOLD)
    box.press("Enter")
    _wait(lambda: "practical threshold 2.50" in _text(page, ".hvload-browser .hvload-table")
          and f"figure {FIGURE} of" in _text(page, ".hvload-browser .hvload-caption"), 120,
          step=0.2)  # fmt: skip
    view.locator(".hvload-reference select").first.select_option(REFERENCE)
    view.locator(".hvload-unit button", has_text="cycles").first.click()
    # The link follows the controls once the view is redrawn.
    anchor = view.locator("a.hvload-view-link").first
    _wait(lambda: "threshold=2.5" in str(anchor.get_attribute("href"))
          and "unit=cycles" in str(anchor.get_attribute("href")), 60, step=0.1)  # fmt: skip
    copy = view.locator("button.hvload-copy-link").first
    copy.click()
    _wait(lambda: copy.inner_text() == "link copied", 10)
    link = str(page.evaluate("() => navigator.clipboard.readText()"))
    shots(page, "changed-view", locator=view)
    parts = urlsplit(link)
    query = parse_qs(parts.query)
    assert link.startswith(served.url + "/?") and served.token not in link
    assert "token" not in query and query == {
        "campaign": [CAMPAIGN], "level": LEVELS, "figure": [FIGURE], "threshold": [THRESHOLD],
        "reference": [REFERENCE], "unit": ["cycles"],
    }  # fmt: skip
    # The same address as the link on the page shows (the server's view of the page).
    assert anchor.inner_text() == link
    # A new page (the token's cookie, never the token) opens on the same view.
    other = ctx.new_page()
    other.on("pageerror", lambda exc: watch.errors.append(str(exc)))
    response = other.goto(link)
    assert response is not None and response.ok and served.token not in other.url
    again = other.locator(".hvload-browser").first
    other.locator(".hvload-browser .hvload-output img").first.wait_for()
    _wait(lambda: "practical threshold 2.50" in _text(other, ".hvload-browser .hvload-table"),
          60, step=0.2)  # fmt: skip
    assert CAMPAIGN in _text(other, ".hvload-browser .widget-html-content")
    assert f"figure {FIGURE} of {CAMPAIGN}" in _text(other, ".hvload-browser .hvload-caption")
    assert again.locator(".hvload-figure select").first.input_value() == FIGURE
    assert float(again.locator(".hvload-threshold input").first.input_value()) == 2.5
    chosen = again.locator(".hvload-levels-shown select option:checked").all_inner_texts()
    assert [c.replace("\xa0", " ") for c in chosen] == LEVELS  # the widget shows &nbsp;
    reference = again.locator(".hvload-reference select").first.input_value()
    assert reference.replace("\xa0", " ") == REFERENCE
    unit = again.locator(".hvload-unit button.mod-active").first.inner_text()
    assert unit.strip() == "cycles"
    assert other.get_by_role("tab", name="Browse", selected=True).count() == 1
    shots(other, "reopened", locator=again)
    # At 800 px the downloads and the long link wrap inside the page.
    other.set_viewport_size({"width": 800, "height": 1000})
    _wait(lambda: not other.evaluate(_OVERFLOW), 10, step=0.1)
    shots(other, "reopened-800px", locator=again)
    # Values on hover: the points lie over the image also when it is scaled down, and
    # each says its level and latency.
    title = _hover_titles(other, again.locator(".hvload-output .hvload-hover").first)[-1]
    assert "15 CPUs" in title and "percentile: " in title and "latency (" in title, title
    _no_widget_errors(other, watch, "reopened view")
    assert not watch.outside, f"requests left 127.0.0.1: {watch.outside}"
    other.close()
