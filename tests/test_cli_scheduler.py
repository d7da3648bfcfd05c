"""``hvload run --scheduler ADDRESS`` ends in one line within its timeout, whatever answers.

Dask's own client bounds only its TCP connect: a web server at the address hung it for
minutes, a service sending garbage made it try to allocate exabytes, and a ``tls://``
address without certificates ended in a traceback. Here each of those answers from a
thread of the test, and ``hvload run`` must end in one line, within ``--agent-timeout``
plus the time its imports take, create nothing, and measure nothing.
"""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")

TIMEOUT = 1.0
#: What a refused run may take beyond its timeout: the imports of `hvload run` and the
#: scheduling of a busy machine (the promise is a bound, not a speed).
SLACK = 15.0


def _serve(handler: Callable[[socket.socket], None]) -> Iterator[str]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()
    held: list[socket.socket] = []

    def loop() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        server.close()
        for conn in held:
            conn.close()


def _garbage(conn: socket.socket) -> None:
    # Read as a Dask frame header, these bytes claim a length of exabytes.
    try:
        conn.sendall(b"\xff" * 64 + b"not dask" * 64)
    except OSError:
        pass


def _silent(conn: socket.socket) -> None:
    """Accepts and never says a word (a service waiting for its own protocol)."""


@pytest.fixture
def garbage() -> Iterator[str]:
    yield from _serve(_garbage)


@pytest.fixture
def silent() -> Iterator[str]:
    yield from _serve(_silent)


@pytest.fixture
def http_server() -> Iterator[str]:
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>not a scheduler</html>")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"tcp://127.0.0.1:{port}"


def _run(cli, tmp_path: Path, address: str) -> tuple[int, str, float]:
    out = tmp_path / "never.parquet"
    t0 = time.monotonic()
    status, stdout, err = cli(
        "run", "-o", str(out), "--no-progress", "--scheduler", address, "--vm-levels", "0,1",
        "--agent-timeout", str(TIMEOUT),
    )  # fmt: skip
    elapsed = time.monotonic() - t0
    assert stdout == ""
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "nothing was measured or written" in err, err
    assert list(tmp_path.iterdir()) == [], "nothing is created"
    return status, err, elapsed


@pytest.mark.slow
@pytest.mark.parametrize(
    ("server", "status", "needle"),
    [
        ("closed_port", 1, "could not reach the Dask scheduler at"),
        ("garbage", 2, "does not answer as a Dask scheduler"),
        ("silent", 2, "accepts connections but does not answer as a Dask scheduler within 1 s"),
        ("http_server", 2, "accepts connections but does not answer as a Dask scheduler"),
    ],
)
def test_whatever_answers_the_run_ends_in_one_line_within_its_timeout(
    request: pytest.FixtureRequest, tmp_path: Path, cli, server: str, status: int, needle: str
) -> None:
    address = request.getfixturevalue(server)
    got, err, elapsed = _run(cli, tmp_path, address)
    assert got == status, err
    assert needle in err and address in err, err
    assert elapsed < TIMEOUT + SLACK, f"ended after {elapsed:.1f} s"


@pytest.mark.slow
def test_tls_without_certificates_is_refused_before_connecting(
    tmp_path: Path, cli, silent: str
) -> None:
    address = silent.replace("tcp://", "tls://")
    status, err, _ = _run(cli, tmp_path, address)
    assert status == 2 and "tls:// needs certificates" in err, err


def test_the_deadline_holds_without_the_imports(silent: str, garbage: str) -> None:
    """The exchange itself: bounded by the timeout (a busy machine adds only its delay)."""
    from hvload.workload.remote._pool import _reach

    for address in (silent, garbage):
        t0 = time.monotonic()
        with pytest.raises(ValueError, match="does not answer as a Dask scheduler"):
            _reach(address, 0.5, None)
        assert time.monotonic() - t0 < 0.5 + 5.0


@pytest.mark.slow
def test_a_real_scheduler_passes_the_check() -> None:
    from distributed import LocalCluster

    from hvload.workload.remote import AgentPool
    from hvload.workload.remote._pool import _reach

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        _reach(cluster.scheduler_address, 10.0, None)
        # By its address, the pool gets past the check and connects its client.
        with pytest.raises(ValueError, match="no load agent is connected"):
            AgentPool(cluster.scheduler_address, timeout=10.0)
