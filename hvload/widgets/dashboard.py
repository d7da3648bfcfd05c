"""The dashboard: the explorer and the browser as a standalone web app (``hvload dashboard``).

:func:`app` is the page: the :class:`~hvload.widgets.Explorer` in one tab and a
:class:`~hvload.widgets.Browser` of any stored campaign in the other. :func:`serve` runs
it with Voila (``pip install 'hvload[dashboard]'``), which executes the small notebook
shipped in ``hvload/widgets/share/dashboard.ipynb`` for each visitor and shows its widgets
without code. The server listens on 127.0.0.1 unless told otherwise and asks for a
token. Voila reads only hvload's configuration, ``hvload/widgets/share/voila.json``: the page is
rendered by hvload's template (``hvload/widgets/share/voila``), which loads nothing from the
internet (Voila's own bundle carries the icon fonts), and a Content-Security-Policy
header keeps the browser from fetching anything from another origin should some part
of the page ask.
"""

from __future__ import annotations

import html
import os
import secrets
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .._optional import check_extra

if TYPE_CHECKING:
    import ipywidgets as w

__all__ = ["DEFAULT_PORT", "SHARE", "app", "command", "serve"]

#: Where the dashboard notebook and hvload's Voila template are shipped.
SHARE = Path(__file__).resolve().parent / "share"
#: Port of ``hvload dashboard`` when none is given.
DEFAULT_PORT = 8866


def app(data_dir: str | os.PathLike[str] | None = None) -> w.Widget:
    """The dashboard page: measure (the explorer) and browse (a stored campaign).

    Parameters
    ----------
    data_dir
        Directory of stored campaigns (default: :func:`hvload.notebook.find_data_dir`,
        which reads ``$HVLOAD_DATA`` first; ``hvload dashboard --data`` sets it).
    """
    import ipywidgets as w

    from ..measure.machine import platform
    from ..notebook import campaign_files
    from .browser import Browser
    from .explorer import Explorer

    info = platform(probe_samples=0)
    explorer = Explorer(data_dir, info=info)
    data = explorer.data_dir
    chooser = w.Dropdown(description="campaign", layout=w.Layout(width="560px"))
    rescan = w.Button(description="Rescan", icon="refresh", tooltip="look for new campaign files")
    holder = w.VBox()

    def files() -> list[tuple[str, str]]:
        found: list[Path] = []
        for folder in (data, data / "runs") if data is not None else ():
            if folder.is_dir():
                found += campaign_files(folder)
        return [(str(p.relative_to(data)), str(p)) for p in found] if data is not None else []

    def show(path: str | None) -> None:
        if not path:
            holder.children = (w.HTML("<p>No campaign file found; measure one first.</p>"),)
            return
        try:
            holder.children = (Browser(path).widget,)
        except Exception as exc:  # a damaged file is reported, the page stays up
            holder.children = (
                w.HTML(f"<p><b>{type(exc).__name__}</b>: {html.escape(str(exc))}</p>"),
            )

    def scan(_: object = None) -> None:
        current = chooser.value
        chooser.options = files()
        values = [v for _, v in chooser.options]
        chooser.value = current if current in values else (values[0] if values else None)

    chooser.observe(lambda change: show(change["new"]), names="value")
    rescan.on_click(scan)
    scan()
    if chooser.value is None:
        show(None)
    header = w.HTML(
        f"<h3>hvload dashboard</h3><p>{html.escape(str(info.cpu_brand))} on "
        f"<code>{html.escape(socket.gethostname())}</code>, hypervisor "
        f"<b>{html.escape(str(info.hypervisor))}</b>; campaigns in "
        f"<code>{html.escape(str(data))}</code>.</p>"
    )
    tabs = w.Tab(
        children=[explorer.widget, w.VBox([w.HBox([chooser, rescan]), holder])],
        titles=["Measure", "Browse"],
    )
    page = w.VBox([header, tabs])
    page.explorer = explorer
    return page


def command(
    *,
    port: int = DEFAULT_PORT,
    ip: str = "127.0.0.1",
    token: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    open_browser: bool = False,
) -> tuple[list[str], dict[str, str], str]:
    """The Voila command line, environment and URL that :func:`serve` uses.

    Returns
    -------
    argv, env, url
        ``token`` is drawn at random when None; ``url`` carries it.
    """
    if not 0 < port < 65536:
        raise ValueError(f"port={port} is not allowed; it must be in 1..65535")
    if not ip.strip():
        raise ValueError("ip='' is not allowed; give an address such as 127.0.0.1")
    token = secrets.token_urlsafe(24) if token is None else token
    if not token:
        raise ValueError("an empty token is not allowed: the dashboard can run measurements")
    env = dict(os.environ)
    # Voila finds hvload's template on the Jupyter data path.
    env["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(SHARE), os.environ.get("JUPYTER_PATH", "")) if p
    )
    if data_dir is not None:
        env["HVLOAD_DATA"] = str(Path(data_dir).expanduser().resolve())
    argv = [
        sys.executable, "-m", "voila", str(SHARE / "dashboard.ipynb"),
        # hvload's settings only (template, headers), not a voila.json of the folder.
        f"--Voila.config_file_paths={SHARE}",
        f"--port={port}", f"--Voila.ip={ip}", f"--token={token}",
        "--Voila.open_browser=" + ("True" if open_browser else "False"),
    ]  # fmt: skip
    host = f"[{ip}]" if ":" in ip else ip
    return argv, env, f"http://{host}:{port}/?token={token}"


def serve(
    *,
    port: int = DEFAULT_PORT,
    ip: str = "127.0.0.1",
    token: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    open_browser: bool = False,
    argv_extra: Sequence[str] = (),
) -> None:
    """Run the dashboard server in this process (it replaces it) until it is stopped.

    Raises
    ------
    MissingExtraError
        When Voila is not installed (``pip install 'hvload[dashboard]'``).
    """
    check_extra("voila", "the dashboard")
    argv, env, url = command(
        port=port, ip=ip, token=token, data_dir=data_dir, open_browser=open_browser
    )
    sys.stderr.write(f"hvload dashboard: serving on {url}\n")
    if ip not in ("127.0.0.1", "localhost", "::1"):
        sys.stderr.write(
            f"hvload dashboard: note: listening on {ip}, not only this machine; "
            "anyone with the token can run measurements here\n"
        )
    sys.stderr.flush()
    sys.stdout.flush()
    os.execve(sys.executable, [*argv, *argv_extra], env)
