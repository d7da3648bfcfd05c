"""The dashboard's live view in a real browser (Playwright + Debian's Chromium): during a
run, a threshold and a unit changed by the user show in the table and in the figure's
caption (written after its image) alike, and still after the next block's redraw; the
time left is called an estimate; no "stopping after this block" is left after Stop; the
table's headers and verdict words explain themselves on hover; the Browse tab has the same
controls and the campaign info panel.

One short run on ``hvload dashboard`` (127.0.0.1, random port and token) over a copy of
one shipped campaign; it measures, so run it by hand under the shared lock:
``flock /work/tools/measure.lock python -m pytest tests/test_browser_live.py``.
Screenshots go to ``test-artifacts/browser/`` (or ``$HVLOAD_ARTIFACTS``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright for Python is not installed (pip install '.[test]')"
)
pytest.importorskip("voila", reason="Voila is not installed (pip install '.[dashboard]')")

from test_browser import (  # noqa: E402
    ARTIFACTS,
    CHROMIUM,
    ROOT,
    _free_port,
    _measuring_works,
    _server,
    _wait,
)

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium found: apt-get install -y chromium (or set HVLOAD_CHROMIUM)",
    ),
    pytest.mark.skipif(
        os.environ.get("HVLOAD_NO_MEASURE") == "1" or not _measuring_works(),
        reason="this machine cannot issue any trap",
    ),
]


@contextlib.contextmanager
def _dashboard(tmp: Path) -> Iterator[str]:
    """``hvload dashboard`` over a copy of the shipped default campaign; yields its URL."""
    data = tmp / "data"
    data.mkdir()
    shutil.copy(ROOT / "data" / "amd-epyc-2vcpu-default.parquet", data)
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ, "MPLBACKEND": "Agg", "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "HVLOAD_DASHBOARD_TOKEN": token, "PYTHONPATH": str(ROOT),
    }  # fmt: skip
    argv = [sys.executable, "-m", "hvload", "dashboard", f"--port={port}", f"--data={data}"]
    url = f"http://127.0.0.1:{port}"
    probe = f"{url}/voila/static/voila-style.js?token={token}"
    with _server(argv, env, probe, tmp / "dashboard.log"):
        yield f"{url}/?token={token}"


def _shot(page: Any, name: str, locator: Any) -> None:
    """A screenshot of ``locator`` whole: the page made tall enough for it first."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    box = locator.bounding_box() or {"height": 0}
    page.set_viewport_size({"width": size["width"], "height": int(box["height"]) + 200})
    locator.screenshot(path=str(ARTIFACTS / f"live-{name}.png"))
    page.set_viewport_size(size)
    sys.stderr.write(f"{time.monotonic() - STARTED:5.1f} s: screenshot {name}\n")


STARTED = time.monotonic()


def _view(page: Any) -> dict[str, Any]:
    """What the page shows now: the controls' values, the table's and the caption's."""
    return page.evaluate(
        """() => {
          const q = (s) => document.querySelector(s);
          const text = (s) => (q(s) ? q(s).innerText.replace(/\\u00a0/g, ' ') : '');
          const heads = [...document.querySelectorAll('.hvload-table th')].map(t => t.innerText);
          return {
            threshold: q('.hvload-threshold input') ? q('.hvload-threshold input').value : null,
            unit: text('.hvload-unit .mod-active'),
            table_threshold: text('.hvload-table .hvload-table-threshold'),
            table_unit: (heads.find(h => h.startsWith('change (') && h !== 'change (%)') || ''),
            caption: text('.hvload-caption'),
            pending: text('.hvload-pending'),
            progress: text('.hvload-progress-text'),
            status: text('.hvload-status'),
            image: !!q('.hvload-output img'),
          };
        }"""
    )


def _agree(v: dict[str, Any], threshold: str, unit: str) -> bool:
    """Box, table and figure caption all say ``threshold`` % and ``unit``."""
    return (
        v["pending"] == ""
        and float(v["threshold"] or "nan") == float(threshold)
        and v["table_threshold"] == f"{threshold} %"
        and f"threshold {threshold} %" in v["caption"]
        and v["unit"] == unit
        and v["table_unit"] == f"change ({unit})"
        and f"· {unit} · threshold" in v["caption"]
        and v["image"]
    )


def _agree_within(page: Any, threshold: str, unit: str, timeout: float) -> None:
    try:
        took = _wait(lambda: _agree(_view(page), threshold, unit), timeout)
    except TimeoutError:
        raise AssertionError(
            f"not {threshold} % and {unit} in {timeout} s: {_view(page)}"
        ) from None
    sys.stderr.write(f"table and figure at {threshold} %, {unit} after {took:.2f} s\n")


def _blocks(v: dict[str, Any]) -> int:
    found = re.search(r"\((\d+) of \d+ blocks\)", v["caption"])
    return int(found.group(1)) if found else 0


def test_live_view_controls_table_and_figure_agree(tmp_path: Path) -> None:
    global STARTED
    STARTED = time.monotonic()
    with sync_api.sync_playwright() as pw, _dashboard(tmp_path) as url:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.set_default_timeout(60_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(url)
        explorer = page.locator(".hvload-explorer").first
        explorer.wait_for(timeout=60_000)
        for css, value in ((".hvload-samples", 2000), (".hvload-rounds", 40),
                           (".hvload-levels", "0, 100")):  # fmt: skip
            box = page.locator(f"{css} input").first
            box.fill(str(value))
            box.press("Enter")
        sys.stderr.write(f"{time.monotonic() - STARTED:5.1f} s: page ready, Run\n")
        page.locator("button.hvload-run").first.click()
        # A round's two blocks: the live table compares them.
        _wait(lambda: "100% vs 0%" in page.locator(".hvload-table").first.inner_text(), 60)
        # The caption is written after its figure is sent: then the two agree.
        _agree_within(page, "1.00", "ns", 20)
        v = _view(page)
        assert re.search(r"about .+ left \(estimate\)", v["progress"]), v["progress"]
        # The headers and verdict words explain themselves.
        titles = page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('.hvload-table th abbr')]
                 .map(a => [a.innerText, a.title]))"""
        )
        for name in ("CLES", "p (adj.)", "change (%)", "verdict", "on"):
            assert titles.get(name), (name, titles)
        verdict = page.locator(".hvload-table td.hvload-verdict").first
        assert (verdict.get_attribute("title") or "").startswith(verdict.inner_text().strip())
        assert page.locator(".hvload-table .hvload-adjusted").first.is_visible()
        _shot(page, "01-running", explorer)
        # Threshold, then unit: each answered at once, and kept by the next block's redraw.
        box = page.locator(".hvload-threshold input").first
        box.fill("3")
        box.press("Enter")
        _agree_within(page, "3.00", "ns", 20)
        page.locator(".hvload-unit button", has_text="cycles").first.click()
        _agree_within(page, "3.00", "cycles", 20)
        seen = _blocks(_view(page))
        _wait(lambda: _blocks(_view(page)) > seen, 30)
        v = _view(page)
        assert _agree(v, "3.00", "cycles"), v
        _shot(page, "02-after-next-block", explorer)
        # Stop: "stopping after this block" while the block ends, gone once it has.
        page.locator("button.hvload-stop").first.click()
        _wait(lambda: "stopped" in _view(page)["status"], 20)
        _wait(lambda: page.locator("button.hvload-run").first.is_enabled(), 20)
        v = _view(page)
        assert "stopping" not in v["progress"] and "stopping" not in v["status"], v
        assert "estimate" not in v["progress"], v
        assert _agree(v, "3.00", "cycles"), v
        # The campaign info panel, its warnings opened.
        header = explorer.locator(".hvload-info .jupyter-widget-Collapse-header")
        header.filter(has_text="warnings").click()
        _wait(lambda: explorer.locator(".hvload-info-warnings").first.is_visible(), 10)
        _shot(page, "03-stopped", explorer)
        # The Browse tab (built with the page): the same controls and panel.
        page.get_by_role("tab", name="Browse").click()
        browse = page.locator(".hvload-browser").first
        browse.locator(".hvload-output img").first.wait_for(timeout=30_000)
        assert browse.locator(".hvload-reference select").first.input_value() == "0%"
        assert browse.locator(".hvload-table th abbr").count() >= 9
        browse.locator(".hvload-info .jupyter-widget-Collapse-header").first.click()
        _shot(page, "04-browse", browse)
        assert not errors, errors
        browser.close()
