"""The one-file HTML report as Chromium shows it: offline, JavaScript off (issue 22).

``hvload report data/intel-xeon-16vcpu-controls.parquet --format html -o r.html`` is run
as a user runs it; the file is opened from disk in a context with JavaScript disabled,
every request other than the file itself is refused and recorded (the test fails on any),
and the page must show the per-level table, the comparisons with their verdicts and the
load-curve, attribution and distribution figures (decoded: each image has its drawn size,
not a broken-image box). A full-page screenshot goes to ``test-artifacts/browser/``.

Chromium is Debian's, driven through ``executable_path`` as in tests/test_browser.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install '.[test]')"
)

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = ROOT / "data" / "intel-xeon-16vcpu-controls.parquet"
ARTIFACTS = Path(os.environ.get("HVLOAD_ARTIFACTS", ROOT / "test-artifacts")) / "browser"


def _chromium() -> str | None:
    for candidate in (os.environ.get("HVLOAD_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found: apt-get install -y chromium (or set HVLOAD_CHROMIUM)",
)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "r.html"
    done = subprocess.run(
        [sys.executable, "-m", "hvload", "report", str(CAMPAIGN), "--format", "html", "-o",
         str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and out.is_file()
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield b
        b.close()


def test_html_report_offline_without_javascript(browser: Any, report_file: Path) -> None:
    url = report_file.as_uri()
    context = browser.new_context(
        viewport={"width": 1300, "height": 900}, java_script_enabled=False, offline=True
    )
    attempted: list[str] = []
    served: list[str] = []

    def route(r: Any) -> None:
        if r.request.url == url:
            served.append(url)
            r.continue_()
        else:  # anything else would need the network or another file: refuse it
            attempted.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="load")

    assert served == [url], "the routing saw the report itself"
    assert attempted == [], f"requests outside the file: {attempted}"
    assert errors == []
    # JavaScript is off in this context: a script would not have run (there is none).
    assert page.locator("script").count() == 0

    assert page.locator("h1").inner_text().startswith("hvload report: hypercall/vmcall")
    levels = page.locator("#levels-table")
    assert levels.is_visible()
    assert levels.locator("tbody tr").count() == 6
    assert "15 CPUs" in levels.inner_text()

    verdicts = page.locator("#comparisons-table td.verdict")
    assert verdicts.count() == 18
    texts = verdicts.all_inner_texts()
    assert texts.count("slower") == 5 and texts.count("no evidence") == 13
    assert page.locator("#comparisons-table td.v-slower").first.is_visible()
    assert page.locator("#attribution-table td.verdict").count() == 10
    assert page.locator(".band").is_visible()
    assert "single-level KVM" in page.locator(".band").inner_text()

    for figure in ("load_curve", "attribution", "ecdf", "ladder"):
        img = page.locator(f"#fig-{figure} img")
        img.scroll_into_view_if_needed()
        assert img.is_visible(), figure
        box = img.bounding_box()
        # A broken image is a small icon with its alt text; a decoded figure has its size.
        assert box is not None and box["width"] > 400 and box["height"] > 250, (figure, box)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-html-full.png"), full_page=True)
    page.locator("#comparisons").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "report-html-verdicts.png"))
    context.close()
