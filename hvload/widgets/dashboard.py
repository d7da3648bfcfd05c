"""The dashboard: the explorer and the browser as a standalone web app (``hvload dashboard``).

:func:`app` is the page: the :class:`~hvload.widgets.Explorer` in one tab, a
:class:`~hvload.widgets.Browser` of any stored campaign under the run list
(:class:`~hvload.widgets.RunList`) in the second and two campaigns compared
(:class:`~hvload.widgets.Compare`) in the third. :func:`serve` runs
it with Voila (``pip install 'hvload[dashboard]'``), which executes the small notebook
shipped in ``hvload/widgets/share/dashboard.ipynb`` for each visitor and shows its widgets
without code. The server listens on 127.0.0.1 unless told otherwise and asks for a
token, which reaches it through the environment, never its command line (see
``hvload.widgets._voila``: without the token every route answers 403 or 404). The page
reads and writes only inside the data folder it was started on (``--data``). Voila reads
only hvload's configuration, ``hvload/widgets/share/voila.json``: the page is rendered
by hvload's template (``hvload/widgets/share/voila``), which loads nothing from the
internet (Voila's own bundle carries the icon fonts), and a Content-Security-Policy
header keeps the browser from fetching anything from another origin should some part
of the page ask.
"""

from __future__ import annotations

import html
import ipaddress
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

__all__ = [
    "DEFAULT_PORT", "MIN_TOKEN", "ROOT_ENV", "SHARE", "TOKEN_ENV", "app", "check_ip", "command",
    "data_root", "serve", "served", "token_from",
]  # fmt: skip

#: Where the dashboard notebook and hvload's Voila template are shipped.
SHARE = Path(__file__).resolve().parent / "share"
#: Port of ``hvload dashboard`` when none is given.
DEFAULT_PORT = 8866
#: A token shorter than this is accepted with a warning (the default has 32 characters).
MIN_TOKEN = 16
#: The environment variable that tells the dashboard's notebook its folder (``--data``).
ROOT_ENV = "HVLOAD_DASHBOARD_DATA"
#: Where ``hvload dashboard`` reads a token when none is given on its command line.
TOKEN_ENV = "HVLOAD_DASHBOARD_TOKEN"


def served() -> w.Widget:
    """The page of ``hvload dashboard``: :func:`app` confined to its ``--data`` folder."""
    root = os.environ.get(ROOT_ENV)
    if not root:  # the notebook run by something else than hvload dashboard
        import ipywidgets as w

        return w.HTML(f"<p>Start this page with <code>hvload dashboard</code> ({ROOT_ENV}).</p>")
    # The query of the page's URL (Voila sets it; the token never reaches it): a linked view.
    return app(root, root=root, link=os.environ.get("QUERY_STRING", ""))


def app(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    link: str | None = None,
) -> w.Widget:
    """The dashboard page: measure (the explorer) and browse (a stored campaign).

    Parameters
    ----------
    data_dir
        Directory of stored campaigns (default: :func:`hvload.notebook.find_data_dir`,
        which reads ``$HVLOAD_DATA`` first; ``hvload dashboard --data`` sets it).
    root
        The folder the page may read and write in (``hvload dashboard --data``); None
        leaves the explorer free (a notebook).
    link
        The page URL's query: a view to open first (``hvload.widgets._link``); None
        outside ``hvload dashboard`` (no link to the view then).
    """
    import ipywidgets as w

    from ..measure.machine import platform
    from ..notebook import campaign_files
    from ._confine import inside
    from ._link import LinkRow, Opening
    from ._runs import RunList
    from .compare import Compare
    from .explorer import Explorer

    info = platform(probe_samples=0)
    explorer = Explorer(data_dir, info=info, root=root)
    data = explorer.data_dir
    top = explorer.root
    chooser = w.Dropdown(description="campaign", layout=w.Layout(width="560px"))
    rescan = w.Button(description="Rescan", icon="refresh", tooltip="look for new campaign files")
    holder = w.VBox()

    def files() -> list[tuple[str, str]]:
        found: list[Path] = []
        for folder in (data, data / "runs") if data is not None else ():
            if folder.is_dir():
                found += campaign_files(folder)
        if top is not None:  # no link that leads out of the folder
            found = [p for p in found if inside(top, p)]
        return [(str(p.relative_to(data)), str(p)) for p in found] if data is not None else []

    def show(path: str | None) -> None:
        if not path:
            holder.children = (w.HTML("<p>No campaign file found; measure one first.</p>"),)
            return
        try:
            holder.children = (opening.browser(path).widget,)
        except Exception as exc:  # a damaged file is reported, the page stays up
            holder.children = (
                w.HTML(f"<p><b>{type(exc).__name__}</b>: {html.escape(str(exc))}</p>"),
            )

    opening = Opening(link, top, files())
    if opening.linked and data is not None:
        # The Explorer's view links to the campaign it shows once that is a finished file
        # the Browse tab lists (never while a run is still measuring).
        def explored() -> str | None:
            path = getattr(explorer.whole, "path", None)
            if path is None or explorer._partial:
                return None
            listed = {Path(value).resolve(): label for label, value in files()}
            return listed.get(Path(path).resolve())

        row = LinkRow(explorer, explored)
        explorer.downloads.widget.children = (*explorer.downloads.widget.children, row.widget)

    def scan(_: object = None) -> None:
        current = chooser.value or opening.file
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
        f"<code>{html.escape(str(data))}</code>.</p>{opening.note}"
    )
    # The run list between the chooser and the browser; both rescanned by its button.
    runs = RunList(data, root=top) if data is not None else None
    if runs is not None:
        rescan.on_click(lambda _: runs.refresh())
    compare = Compare(data, root=top)
    browse = [runs.widget] if runs is not None else []
    tabs = w.Tab(
        children=[
            explorer.widget,
            w.VBox([w.HBox([chooser, rescan]), *browse, holder]),
            compare.widget,
        ],
        titles=["Measure", "Browse", "Compare"],
        selected_index=opening.tab,
    )
    page = w.VBox([header, tabs])
    page.explorer = explorer
    page.compare, page.runs = compare, runs
    return page


def check_ip(ip: str, port: int = 0) -> str:
    """``ip`` if the server can listen there (on ``port``), else a one-line ValueError.

    Only a numeric address (or ``localhost``) is taken: a host name would be looked up
    in DNS each start and could point anywhere. The address must be this machine's and
    ``port`` free, so that a mistake is said before Voila starts.
    """
    text = ip.strip()
    allowed = "give a numeric address of this machine, such as 127.0.0.1, ::1 or 0.0.0.0"
    if text != "localhost":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise ValueError(f"--ip {ip!r} is not an IP address; {allowed}") from None
    try:
        info = socket.getaddrinfo(text, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICSERV)
        family, kind, proto, _, address = info[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            probe.bind(address)
    except OSError as exc:
        raise ValueError(f"--ip {ip!r} --port {port}: cannot listen there ({exc.strerror or exc}); "
                         f"{allowed}, and a free port") from None  # fmt: skip
    return text


def data_root(data_dir: str | os.PathLike[str] | None) -> Path:
    """The folder the dashboard serves (resolved), or a one-line ValueError."""
    if data_dir is None:
        from ..notebook import find_data_dir

        try:
            return find_data_dir()
        except FileNotFoundError:
            raise ValueError("no --data given and no data/ folder of campaign files found "
                             "here or above; give --data FOLDER") from None  # fmt: skip
    path = Path(data_dir).expanduser()
    if not os.fspath(data_dir).strip():  # an empty name would serve the working folder
        raise ValueError("--data '' is empty; give the folder of stored campaigns")
    if not path.exists():
        raise ValueError(f"--data {os.fspath(data_dir)!r} does not exist; give the folder "
                         "of stored campaigns")  # fmt: skip
    if not path.is_dir():
        raise ValueError(f"--data {os.fspath(data_dir)!r} is not a folder; give the folder "
                         "of stored campaigns")  # fmt: skip
    return path.resolve(strict=True)


def token_from(
    token: str | None = None, token_file: str | os.PathLike[str] | None = None
) -> tuple[str | None, list[str]]:
    """The token ``hvload dashboard`` uses, and warnings about it.

    From ``token_file`` (its first line), else ``token`` (warned about: a command line is
    readable by every local user in ``ps``), else ``$HVLOAD_DASHBOARD_TOKEN``, else None
    (:func:`command` draws one). A token shorter than :data:`MIN_TOKEN` is warned about.
    """
    if token is not None and token_file is not None:
        raise ValueError("give --token or --token-file, not both")
    notes = []
    if token_file is not None:
        path = Path(token_file).expanduser()
        if not path.is_file():
            raise ValueError(f"--token-file {os.fspath(token_file)!r} is not a readable file")
        text = path.read_text(errors="replace").splitlines()
        token = text[0].strip() if text else ""
        if not token:
            raise ValueError(f"--token-file {os.fspath(token_file)!r} holds no token")
        if path.stat().st_mode & 0o077:
            notes.append(f"{path} is readable by others; chmod 600 it")
    elif token == "":
        raise ValueError("--token '' is empty: the dashboard can run measurements; give one")
    elif token is not None:
        notes.append(f"a token on the command line is visible to every local user in ps; "
                     f"use --token-file PATH or {TOKEN_ENV}")  # fmt: skip
    elif os.environ.get(TOKEN_ENV):
        token = os.environ[TOKEN_ENV]
    if token is not None and 0 < len(token) < MIN_TOKEN:
        notes.append(
            f"the token has {len(token)} characters; a guessed token runs measurements "
            f"here: use {MIN_TOKEN} or more (or let hvload draw one)"
        )
    return token, notes


def command(
    *,
    port: int = DEFAULT_PORT,
    ip: str = "127.0.0.1",
    token: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    open_browser: bool = False,
) -> tuple[list[str], dict[str, str], str]:
    """The server's command line, environment and URL that :func:`serve` uses.

    The token is in the environment (``HVLOAD_DASHBOARD_TOKEN``, which the server removes
    before it starts a kernel) and in the URL, never in the command line.

    Returns
    -------
    argv, env, url
        ``token`` is drawn at random when None; ``url`` carries it.

    Raises
    ------
    ValueError
        A port out of 1..65535, an address that is not this machine's, a data folder
        that is missing or not a folder, or an empty token.
    """
    from urllib.parse import quote

    if not 0 < port < 65536:
        raise ValueError(f"port={port} is not allowed; it must be in 1..65535")
    if not ip.strip():
        raise ValueError("ip='' is not allowed; give an address such as 127.0.0.1")
    token = secrets.token_urlsafe(24) if token is None else token
    if not token:
        raise ValueError("an empty token is not allowed: the dashboard can run measurements")
    ip = check_ip(ip, port)
    root = data_root(data_dir)
    env = dict(os.environ)
    # Voila finds hvload's template on the Jupyter data path.
    env["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(SHARE), os.environ.get("JUPYTER_PATH", "")) if p
    )
    env["HVLOAD_DATA"] = env[ROOT_ENV] = str(root)
    env[TOKEN_ENV] = token
    argv = [
        sys.executable, "-m", "hvload.widgets._voila", str(SHARE / "dashboard.ipynb"),
        # hvload's settings only (template, headers), not a voila.json of the folder.
        f"--Voila.config_file_paths={SHARE}",
        f"--port={port}", f"--Voila.ip={ip}",
        "--Voila.open_browser=" + ("True" if open_browser else "False"),
    ]  # fmt: skip
    host = f"[{ip}]" if ":" in ip else ip
    return argv, env, f"http://{host}:{port}/?token={quote(token, safe='')}"


def serve(
    *,
    port: int = DEFAULT_PORT,
    ip: str = "127.0.0.1",
    token: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    open_browser: bool = False,
    argv_extra: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> None:
    """Run the dashboard server in this process (it replaces it) until it is stopped.

    ``notes`` (those of :func:`token_from`) are printed as warnings once every argument
    is known to be good, so that a refusal stays one line.

    Raises
    ------
    MissingExtraError
        When Voila is not installed (``pip install 'hvload[dashboard]'``).
    ValueError
        As :func:`command`, before anything starts.
    """
    check_extra("voila", "the dashboard")
    argv, env, url = command(
        port=port, ip=ip, token=token, data_dir=data_dir, open_browser=open_browser
    )
    for note in notes:
        sys.stderr.write(f"hvload dashboard: warning: {note}\n")
    sys.stderr.write(f"hvload dashboard: serving {env[ROOT_ENV]} on {url}\n")
    if ip not in ("127.0.0.1", "localhost", "::1"):
        sys.stderr.write(
            f"hvload dashboard: note: listening on {ip}, not only this machine; "
            "anyone with the token can run measurements here\n"
        )
    sys.stderr.flush()
    sys.stdout.flush()
    os.execve(sys.executable, [*argv, *argv_extra], env)
