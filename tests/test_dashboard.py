"""``hvload dashboard``: what it runs and how it refuses, without a browser.

Serving the page in Chromium, offline, is tested in ``test_browser.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from hvload.cli import main
from hvload.widgets import Browser, Explorer, dashboard
from hvload.widgets._confine import OutsideError, confine, inside

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DEFAULT = DATA / "amd-epyc-2vcpu-default.parquet"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_command_binds_to_this_machine_with_a_token() -> None:
    port = _free_port()
    argv, env, url = dashboard.command(port=port, data_dir=DATA)
    assert "--Voila.ip=127.0.0.1" in argv and f"--port={port}" in argv
    token = env[dashboard.TOKEN_ENV]
    assert len(token) >= 24 and url == f"http://127.0.0.1:{port}/?token={token}"
    # Never on the command line, where every local user reads it in ps.
    assert not any(token in a for a in argv) and not any("token" in a for a in argv)
    assert dashboard.command(port=port)[1][dashboard.TOKEN_ENV] != token, "a new one each time"
    # Voila reads hvload's settings only, and finds hvload's template on the data path.
    assert f"--Voila.config_file_paths={dashboard.SHARE}" in argv
    assert env["JUPYTER_PATH"].split(":")[0] == str(dashboard.SHARE)
    assert env["HVLOAD_DATA"] == env[dashboard.ROOT_ENV] == str(DATA)
    settings = json.loads((dashboard.SHARE / "voila.json").read_text())
    assert settings["VoilaConfiguration"]["template"] == "hvload"
    csp = settings["Voila"]["tornado_settings"]["headers"]["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    template = dashboard.SHARE / "voila" / "templates" / "hvload" / "index.html.j2"
    assert "cdn" not in template.read_text().lower().replace("from a cdn", "")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "0"], "port=0"),
        (["--port", "70000"], "port=70000"),
        (["--port", "-1"], "port=-1"),
        (["--token", ""], "--token '' is empty"),
        (["--token", "abc", "--data", "/nonexistent"], "does not exist"),
        (["--data", "/nonexistent"], "'/nonexistent' does not exist"),
        (["--data", __file__], "is not a folder"),
        (["--data", ""], "--data '' is empty"),
        (["--ip", "not.an.ip"], "'not.an.ip' is not an IP address"),
        (["--ip", "192.0.2.1"], "'192.0.2.1' --port 8866: cannot listen there"),
        (["--token-file", "/nonexistent"], "'/nonexistent' is not a readable file"),
        (["--token", "a" * 20, "--token-file", __file__], "not both"),
    ],
)
def test_bad_arguments_get_one_line(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def execve(*_: object) -> None:
        raise AssertionError("the server was started")

    monkeypatch.setattr(os, "execve", execve)
    with pytest.raises(SystemExit) as stop:
        main(["dashboard", "--data", str(DATA), *args])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_token_sources_and_warnings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(dashboard.TOKEN_ENV, raising=False)
    assert dashboard.token_from() == (None, [])  # command() draws one
    token, notes = dashboard.token_from("abc")
    assert token == "abc" and len(notes) == 2
    assert "visible to every local user in ps" in notes[0] and "--token-file" in notes[0]
    assert "3 characters" in notes[1]
    file = tmp_path / "token"
    file.write_text("t" * 32 + "\n")
    file.chmod(0o600)
    assert dashboard.token_from(token_file=file) == ("t" * 32, [])
    file.chmod(0o644)
    assert "readable by others" in dashboard.token_from(token_file=file)[1][0]
    monkeypatch.setenv(dashboard.TOKEN_ENV, "e" * 16)
    assert dashboard.token_from() == ("e" * 16, [])
    file.write_text("\n")
    with pytest.raises(ValueError, match="holds no token"):
        dashboard.token_from(token_file=file)


def test_the_server_does_not_start_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hvload.widgets import _voila

    monkeypatch.delenv(_voila.TOKEN_ENV, raising=False)
    assert _voila.main(["--port=1"]) == 2  # Voila itself would serve with no token at all
    assert "no token in HVLOAD_DASHBOARD_TOKEN" in capsys.readouterr().err


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """A data folder with a campaign and ways out of it, and a decoy folder outside."""
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    shutil.copy(DEFAULT, data / "inside.parquet")
    shutil.copy(DEFAULT, outside / "secret.parquet")
    (data / "linkdir").symlink_to(outside)
    (data / "link.parquet").symlink_to(outside / "secret.parquet")
    (data / "dangling").symlink_to(outside / "new")
    return {"data": data.resolve(), "outside": outside.resolve()}


def _digest(folder: Path) -> str:
    """Names, sizes and contents of everything under ``folder``."""
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def test_confine_refuses_every_way_out(tree: dict[str, Path]) -> None:
    data, outside = tree["data"], tree["outside"]
    assert confine(data, "inside.parquet", "f") == data / "inside.parquet"
    assert confine(data, data / "runs", "save in", must_exist=False) == data / "runs"
    assert confine(None, "~/x", "free") == Path("~/x").expanduser()  # a notebook: as before
    for way, message in [
        (outside, "outside the data folder"), ("../outside", "'..' is not allowed"),
        (data / ".." / "outside", "'..' is not allowed"), ("linkdir", "outside the data folder"),
        ("link.parquet", "outside the data folder"), ("/etc", "outside the data folder"),
    ]:  # fmt: skip
        with pytest.raises(OutsideError, match=message):
            confine(data, way, "directory")
    for way in ("dangling", "dangling/runs", "linkdir/runs"):  # where a run would write
        with pytest.raises(OutsideError):
            confine(data, way, "save in", must_exist=False)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        confine(data, "nothing", "directory")
    assert not inside(data, data / "link.parquet") and inside(data, data / "inside.parquet")


def test_explorer_and_browser_stay_in_the_root(tree: dict[str, Path]) -> None:
    data, outside = tree["data"], tree["outside"]
    before = _digest(outside)
    info = cast(Any, SimpleNamespace(traps=[], kernel_traps=[]))
    e = Explorer(data, info=info, open_first=False, root=data)
    # Only the campaign inside is offered; the link to the file outside is not.
    assert [name for name, _ in e.files.options] == ["inside.parquet"]
    assert e.runs_dir.value == str(data / "runs")
    for way in (str(outside), "../outside", "linkdir", str(data / "linkdir")):
        e.directory.value = way
        e.scan_button.click()
        assert "OutsideError" in e.status.value and e.files.options == (), way
        assert len(e.status.value.splitlines()) == 1
    for way in (
        str(outside / "secret.parquet"),
        str(data / "link.parquet"),
        "linkdir/secret.parquet",
    ):
        e.files.options = [("x", way)]
        e.files.value = way
        e.open_button.click()
        assert "OutsideError" in e.status.value and e.campaign is None, way
    with pytest.raises(OutsideError):
        e.open(data / "link.parquet")
    # "save in" outside is said as it is typed and refused by Run, before anything else.
    for way in (str(outside), "../outside", "linkdir", "dangling"):
        e.runs_dir.value = way
        assert "OutsideError" in e.status.value and "save in" in e.status.value, way
        with pytest.raises(OutsideError):
            e.start()
    e.runs_dir.value = "runs"
    assert "OutsideError" not in e.status.value, "a refusal that no longer holds is cleared"
    with pytest.raises(OutsideError):
        e.start(path=outside / "new.parquet")
    e.open("inside.parquet")  # relative to the root
    assert e.campaign is not None
    with pytest.raises(OutsideError):
        Browser(data / "link.parquet", root=data)
    assert Browser("inside.parquet", root=data).whole.path == data / "inside.parquet"
    assert _digest(outside) == before and sorted(p.name for p in outside.iterdir()) == [
        "secret.parquet"
    ]
    # Without a root (a notebook), the explorer goes where it is told, as before.
    free = Explorer(data, info=info, open_first=False)
    assert [p.name for p in free.scan(outside)] == ["secret.parquet"]


def test_the_page_lists_only_files_inside(
    tree: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tree["data"]
    monkeypatch.setenv(dashboard.ROOT_ENV, str(data))
    page = dashboard.served()
    chooser = page.children[1].children[1].children[0].children[0]
    assert [name for name, _ in chooser.options] == ["inside.parquet"]
    assert page.explorer.root == data
    monkeypatch.delenv(dashboard.ROOT_ENV)
    assert "hvload dashboard" in dashboard.served().value  # not served unconfined


def test_without_voila_it_says_how_to_install(monkeypatch: pytest.MonkeyPatch, cli) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    status, _, err = cli("dashboard")
    assert status == 2
    assert "pip install 'hvload[dashboard]'" in err and len(err.strip().splitlines()) == 1


#: Routes asked for without the token: Voila's, Jupyter's, and made-up ones.
ROUTES = [
    "/", "/?token=wrong", "/voila/", "/voila/templates/", "/voila/templates/hvload/",
    "/voila/templates/hvload/static/voila.js", "/voila/static/voila-style.js",
    "/voila/render/dashboard.ipynb", "/voila/tree", "/voila/files/inside.parquet",
    "/voila/api/shutdown/x", "/voila/api/themes/x", "/voila/api/contents",
    "/voila/labextensions/@jupyter-widgets/jupyterlab-manager/package.json",
    f"/api/kernels/{'0' * 8}-{'0' * 4}-{'0' * 4}-{'0' * 4}-{'0' * 12}",
    f"/api/kernels/{'0' * 8}-{'0' * 4}-{'0' * 4}-{'0' * 4}-{'0' * 12}/channels",
    "/api/kernels", "/api/contents", "/api/sessions", "/api/", "/static/", "/login", "/logout",
    "/tree", "/lab", "/favicon.ico", "/random/path", "/%2e%2e/%2e%2e/etc/passwd",
]  # fmt: skip


def _ask(
    url: str, method: str = "GET", headers: dict[str, str] | None = None,
    opener: urllib.request.OpenerDirector | None = None,
) -> tuple[int, str]:  # fmt: skip
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener()).open(request, timeout=60) as answer:
            return int(answer.status), answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")


@pytest.mark.slow
def test_server_hides_its_token_and_refuses_without_it(tmp_path: Path) -> None:
    """The server as ``hvload dashboard`` starts it: no token in any command line, and
    403/404 with no traceback for every route asked without it."""
    psutil = pytest.importorskip("psutil")
    pytest.importorskip("voila")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(DEFAULT, data / "inside.parquet")
    token = secrets.token_hex(16)
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "token").chmod(0o600)
    port = _free_port()
    # --open, with a "browser" that records what it was given.
    opener, seen = tmp_path / "browser", tmp_path / "seen"
    page = '"${1#file://}"'
    opener.write_text(f'#!/bin/sh\n{{ echo "$@"; stat -c %a {page}; cat {page}; }} > {seen}.tmp\n'
                      f"mv {seen}.tmp {seen}\n")  # fmt: skip
    opener.chmod(0o700)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "BROWSER": str(opener)}
    env.pop(dashboard.TOKEN_ENV, None)
    argv = [sys.executable, "-m", "hvload", "dashboard", f"--port={port}", f"--data={data}",
            f"--token-file={tmp_path / 'token'}", "--open"]  # fmt: skip
    log = tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 90
        while _ready(f"{base}/voila/static/voila-style.js?token={token}") != 200:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        _wait_for(seen.exists, 30)
        args, mode, *page_text = seen.read_text().splitlines()
        assert token not in args and mode == "600" and token in "".join(page_text)
        codes = {route: _ask(base + route) for route in ROUTES}
        codes["POST /"] = _ask(base + "/", "POST")
        codes["POST /api/kernels"] = _ask(base + "/api/kernels", "POST")
        upgrade = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
        codes["websocket"] = _ask(base + ROUTES[15], headers=upgrade)
        bad = {r: c for r, (c, _) in codes.items() if c not in (403, 404)}
        assert not bad, f"answered without the token: {bad}"
        assert not [r for r, (_, body) in codes.items() if "Traceback" in body]
        # With the token the page is served (again without the token in its URL, once its
        # cookie is set), and its kernel starts.
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        status, page = _ask(f"{base}/?token={token}", opener=browser)
        assert status == 200 and "hvload" in page
        server = psutil.Process(proc.pid)
        family = [server, *server.children(recursive=True)]
        assert len(family) >= 2, "a kernel runs the page"
        for p in family:
            assert not any(token in a for a in p.cmdline()), p.cmdline()
        for kernel in family[1:]:  # and no kernel inherits it
            assert token not in "".join(kernel.environ().values())
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "Traceback" not in text and "Uncaught exception" not in text, text[-3000:]
    assert "warning" not in text, "a token from a 0600 file is not warned about"


def _wait_for(what: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(0.1)


def _ready(url: str) -> int:
    try:
        return _ask(url)[0]
    except (urllib.error.URLError, OSError):
        return 0
