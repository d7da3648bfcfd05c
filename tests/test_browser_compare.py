"""The dashboard's Compare tab and run list in a real browser (Playwright + Debian's Chromium).

One ``hvload dashboard`` on 127.0.0.1 (random port, token through the environment) over a
copy of two shipped campaigns, the AMD default and the Intel CPU-levels one: the Browse
tab lists both in its run list, and the Compare tab shows them side by side (the figure
drawn and inside the page at 1280 and 800 px, the change table with its verdict words).
Nothing may leave 127.0.0.1. Chromium is Debian's, driven through ``executable_path``;
without it the test skips. Screenshots go to ``test-artifacts/browser/``. The helpers
(server, screenshots, request watch) are test_browser.py's.
"""

from __future__ import annotations

import secrets
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install '.[test]')"
)
pytest.importorskip("voila", reason="Voila is not installed (pip install '.[dashboard]')")

from test_browser import (  # noqa: E402
    _IMAGE_FIT,
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
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium found: apt-get install -y chromium (or set HVLOAD_CHROMIUM)",
)

AMD = "amd-epyc-2vcpu-default.parquet"
INTEL = "intel-xeon-16vcpu-cpu-levels.parquet"
#: Text of a widget that ends past its right edge or the window's (where the tab clips it):
#: prose, headings, tables and their boxes (a table wider than its box scrolls in it, out of
#: sight at its right; the change table must fit an 800 px window whole).
_CLIPPED = """(root) => {
  const edge = Math.min(root.getBoundingClientRect().right, document.documentElement.clientWidth);
  return Array.from(root.querySelectorAll('p, summary, b, .hvload-table-box, table'))
    .filter(e => !(e.parentElement && e.parentElement.closest('table')))
    .filter(e => e.getBoundingClientRect().width > 0 && e.getBoundingClientRect().right > edge + 1)
    .map(e => e.tagName + ': ' + e.textContent.slice(0, 60));
}"""
VERDICTS = ("slower", "faster", "negligible", "inconclusive", "no evidence", "not enough data")


@dataclass
class Served:
    url: str
    data: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``hvload dashboard`` over copies of the AMD default and Intel CPU-levels campaigns."""
    tmp = tmp_path_factory.mktemp("compare-dashboard")
    data = tmp / "data"
    data.mkdir()
    for name in (AMD, INTEL):
        shutil.copy(ROOT / "data" / name, data)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**_env(tmp), "HVLOAD_DASHBOARD_TOKEN": token, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "hvload", "dashboard", f"--port={port}", f"--data={data}"]
    url = f"http://127.0.0.1:{port}"
    probe = f"{url}/voila/static/voila-style.js?token={token}"
    with _server(argv, env, probe, tmp / "dashboard.log"):
        yield Served(f"{url}/?token={token}", data.resolve())


@pytest.fixture(scope="module")
def page(served: Served) -> Iterator[tuple[Any, Watch]]:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(60_000)
        p = context.new_page()
        watch = Watch()
        watch.attach(context, p)
        yield p, watch
        browser.close()


def test_run_list_and_compare_amd_with_intel(served: Served, page: tuple[Any, Watch]) -> None:
    p, watch = page
    shots = Shots("dashboard-compare")
    response = p.goto(served.url)
    assert response is not None and response.ok
    p.locator(".hvload-explorer").first.wait_for(timeout=120_000)

    # The run list: both files, their probes, design and status, from their footers.
    p.get_by_role("tab", name="Browse").click()
    runs = p.locator(".hvload-runs").first
    runs.locator(".hvload-run-table").wait_for()
    listed = _text(p, ".hvload-run-table")
    for text in ("amd-epyc-2vcpu-default", "intel-xeon-16vcpu-cpu-levels", "hypercall/vmmcall",
                 "hypercall/vmcall", "12 / 12", "10 / 10"):  # fmt: skip
        assert text in listed, text
    assert listed.count("complete") == 2
    shots(p, "run-list", locator=runs)
    p.set_viewport_size({"width": 800, "height": 1000})
    assert runs.evaluate(_CLIPPED) == [], "run list text past the window's edge at 800 px"
    p.set_viewport_size({"width": 1280, "height": 1000})

    # The Compare tab: the AMD campaign as baseline, the Intel one as candidate.
    p.get_by_role("tab", name="Compare").click()
    view = p.locator(".hvload-compare").first
    view.wait_for()
    view.locator(".hvload-baseline select").select_option(label=AMD)
    view.locator(".hvload-candidate select").select_option(label=INTEL)
    view.locator(".hvload-compare-button").click()
    table = view.locator(".hvload-change-table")
    table.wait_for(timeout=120_000)
    image = view.locator(".hvload-output img").first
    image.wait_for()
    text = _text(p, ".hvload-compare .hvload-table")
    assert "(candidate)" in text and "(baseline)" in text
    words = [v for v in VERDICTS if v in _text(p, ".hvload-change-table")]
    assert words, "no verdict word in the change table"
    assert "CAVEAT, the probes differ" in text
    for width in (1280, 800):
        p.set_viewport_size({"width": width, "height": 1000})
        _wait(lambda: image.evaluate(_IMAGE_FIT)["shown"] > 0, 10, step=0.1)
        fit = image.evaluate(_IMAGE_FIT)
        assert fit["natural"] > 0, "no figure"
        assert fit["right"] <= fit["page"] + 1 and not fit["overflow"], (width, fit)
        assert view.evaluate(_CLIPPED) == [], f"text past the window's edge at {width} px"
        shots(p, f"compare-{width}px", locator=view)
        # Values on hover: each point names its campaign, level and typical block value.
        for title in _hover_titles(p, view.locator(".hvload-output .hvload-hover").first):
            assert title.split("\n")[0] in (
                AMD.removesuffix(".parquet"),
                INTEL.removesuffix(".parquet"),
            ), title
            assert "\nload level: " in title and "\ntypical block " in title, title
    _no_widget_errors(p, watch, "dashboard compare")
    assert not watch.outside, f"requests left 127.0.0.1: {watch.outside}"
