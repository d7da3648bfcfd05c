"""``hvload dashboard``: what it runs and how it refuses, without a browser.

Serving the page in Chromium, offline, is tested in ``test_browser.py``.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from hvload.cli import main
from hvload.widgets import dashboard


def test_command_binds_to_this_machine_with_a_token() -> None:
    argv, env, url = dashboard.command(port=9123, data_dir="data")
    assert "--Voila.ip=127.0.0.1" in argv and "--port=9123" in argv
    token = next(a.split("=", 1)[1] for a in argv if a.startswith("--token="))
    assert len(token) >= 24 and url == f"http://127.0.0.1:9123/?token={token}"
    assert dashboard.command()[2] != dashboard.command()[2], "a new token every time"
    # Voila reads hvload's settings only, and finds hvload's template on the data path.
    assert f"--Voila.config_file_paths={dashboard.SHARE}" in argv
    assert env["JUPYTER_PATH"].split(":")[0] == str(dashboard.SHARE)
    assert env["HVLOAD_DATA"].endswith("data")
    settings = json.loads((dashboard.SHARE / "voila.json").read_text())
    assert settings["VoilaConfiguration"]["template"] == "hvload"
    csp = settings["Voila"]["tornado_settings"]["headers"]["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    template = dashboard.SHARE / "voila" / "templates" / "hvload" / "index.html.j2"
    assert "cdn" not in template.read_text().lower().replace("from a cdn", "")


@pytest.mark.parametrize(
    ("args", "needle"),
    [(["--port", "0"], "port=0"), (["--port", "70000"], "port=70000"), (["--token", ""], "token")],
)
def test_bad_arguments_get_one_line(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["dashboard", *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1


def test_without_voila_it_says_how_to_install(monkeypatch: pytest.MonkeyPatch, cli) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    status, _, err = cli("dashboard")
    assert status == 2
    assert "pip install 'hvload[dashboard]'" in err and len(err.strip().splitlines()) == 1
