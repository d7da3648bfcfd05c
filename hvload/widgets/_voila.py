"""Voila as ``hvload dashboard`` runs it: ``python -m hvload.widgets._voila NOTEBOOK ...``.

Voila itself with four differences, all in who may see what:

- the token comes from the environment (``HVLOAD_DASHBOARD_TOKEN``, removed before any
  kernel starts), never from the command line, where every local user reads it in
  ``ps``; without one the server does not start (Voila would serve without any);
- a request without the token (or its cookie) gets 403 where Voila would redirect to
  a login page, and anything but the page itself and Voila's own routes gets 404:
  no login or logout page (the token travels in the URL ``hvload dashboard`` prints,
  and the page redirects to itself without it once its cookie is set), no page for
  every path, no files beside the notebook (``/voila/files/``);
- ``--open`` hands the browser a private file that leads to the page with the token,
  not the URL itself (which would be on the browser's command line);
- a malformed template path (``/voila/templates/``) is a 404, not a 500 with a traceback,
  and no error page carries one.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["TOKEN_ENV", "main"]

#: The environment variable that carries the token to the server.
TOKEN_ENV = "HVLOAD_DASHBOARD_TOKEN"


def _handlers(handlers: Sequence[Any]) -> list[Any]:
    """Voila's routes, each guarded: 403 without the token, 404 for a malformed path."""
    import tornado.web
    from jupyter_server.base.handlers import JupyterHandler
    from voila.static_file_handler import TemplateStaticFileHandler
    from voila.tornado.handler import TornadoVoilaHandler

    class Plain:
        """No error page beyond its status line: no template to fail, no traceback."""

        def write_error(self: Any, status_code: int, **kwargs: Any) -> None:
            self.set_header("Content-Type", "text/plain; charset=UTF-8")
            self.finish(f"{status_code}: {self._reason}\n")

    class NoLogin(Plain):
        """Without a user, 403: there is no login page to send anyone to, and no route
        (not even a static file Jupyter marks public) answers a request without the token."""

        def get_login_url(self: Any) -> str:
            raise tornado.web.HTTPError(403)

        async def prepare(self: Any) -> None:
            done = super().prepare()  # type: ignore[misc]
            if inspect.isawaitable(done):
                await done
            if self.current_user is None:
                raise tornado.web.HTTPError(403)

    class Templates:
        """``<template>/static/<file>`` or 404 (Voila's handler raises on anything else)."""

        def parse_url_path(self: Any, path: str) -> str:
            parts = path.split("/", 2)
            if len(parts) != 3 or parts[1] != "static" or not parts[2]:
                raise tornado.web.HTTPError(404)
            return str(super().parse_url_path(path))  # type: ignore[misc]

    class CleanUrl:
        """Once the token has set its cookie, the page again without it: the token leaves
        the address bar and the browser's history, and the kernel's environment (Voila
        gives the kernel the URL of the request)."""

        async def get(self: Any, *args: Any, **kwargs: Any) -> None:
            query = self.request.query_arguments
            if "token" not in query:
                await super().get(*args, **kwargs)  # type: ignore[misc]
                return
            rest = urlencode({k: v for k, v in query.items() if k != "token"}, doseq=True)
            self.redirect(self.request.path + (f"?{rest}" if rest else ""))

    out = []
    for pattern, handler, *rest in handlers:
        # No login page (the token is in the URL), and no files beside the notebook
        # (hvload's share folder): the page reads what its widgets read, inside --data.
        if pattern in ("/login", "/logout", "/voila/files/(.*)"):
            continue
        if pattern == "/(.*)":  # the notebook at / only, not at every path
            pattern = "/()"
        bases: tuple[type, ...] = (NoLogin,)
        if handler is TemplateStaticFileHandler:
            bases = (NoLogin, Templates)
        if handler is TornadoVoilaHandler:
            bases = (NoLogin, CleanUrl)
        if not issubclass(handler, JupyterHandler):
            # Voila's static files are served to anyone; here only to the token's holder.
            bases = (*bases, JupyterHandler)
        out.append((pattern, type(handler.__name__, (*bases, handler), {}), *rest))
    return out


def _open_browser(app: Any, url: str) -> None:
    """Open ``url`` (it carries the token) in a browser, but not on its command line.

    The browser is given a file that sends it on to ``url``, readable by this user only
    (as ``mkstemp`` makes it) and removed a minute later; Voila's own page for this has
    no token, so it would only meet a 403.
    """
    import html
    import tempfile
    import threading
    import webbrowser
    from pathlib import Path

    import tornado.ioloop

    try:
        browser = webbrowser.get(app.browser or None)
    except webbrowser.Error as exc:
        app.log.warning("No web browser found: %s.", exc)
        return
    fd, name = tempfile.mkstemp(prefix="hvload-dashboard-", suffix=".html")
    with open(fd, "w", encoding="utf-8") as page:
        page.write(f'<meta http-equiv="refresh" content="0;url={html.escape(url)}">\n')
    tornado.ioloop.IOLoop.current().call_later(60, Path(name).unlink, missing_ok=True)
    opened = Path(name).as_uri()
    threading.Thread(
        target=browser.open, args=(opened, app.webbrowser_open_new), daemon=True
    ).start()


def main(argv: Sequence[str] | None = None) -> int:
    """Run Voila with the token of :data:`TOKEN_ENV`; return its exit status."""
    token = os.environ.pop(TOKEN_ENV, "")
    if not token:
        sys.stderr.write(f"hvload dashboard: no token in {TOKEN_ENV}; not serving without one\n")
        return 2
    from voila.app import Voila

    class HvloadVoila(Voila):
        def init_handlers(self) -> list[Any]:
            return _handlers(super().init_handlers())

        def launch_browser(self) -> None:
            _open_browser(self, f"{self.connection_url}?token={quote(token, safe='')}")

    HvloadVoila.launch_instance(list(sys.argv[1:] if argv is None else argv), token=token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
