"""Downloads of what a campaign view shows: its figure, its table, its report, its file.

A download is a link that carries its file as a ``data:`` URI with the ``download``
attribute: the browser saves it, with no server route (nothing new for the token to
guard) and no script. The page's Content-Security-Policy is unchanged: a download is a
navigation, which no fetch directive governs, and ``img-src data:`` was there already for
the figures. A button prepares one link at a time, because drawing a figure again or
rendering an HTML report takes seconds that no redraw should pay in advance; the link
goes as soon as the view changes, so what is saved is what is shown.

- figure: the figure the view shows, drawn again at twice the view's resolution (PNG)
  or as vectors (SVG);
- table: the comparison table the view shows, every column of the analysis, as CSV;
- report: the chosen levels at the chosen threshold in any format of ``hvload report``
  (:func:`hvload.report.formats.render_report`: with every level and the default
  threshold, the very bytes ``hvload report --format FMT`` prints for the file, named as
  a path inside the data folder, where the HTML report shows it);
- campaign file: the stored file itself, up to :data:`MAX_FILE_BYTES` (a ``data:`` URI
  is a third larger and travels through the widgets' websocket into the page); a larger
  one is named, with where it lies, in one line.
"""

from __future__ import annotations

import base64
import copy
import html
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ._html import error_html

if TYPE_CHECKING:
    from ._common import CampaignView

__all__ = ["FIGURE_DPI", "MAX_FILE_BYTES", "REPORT_FILES", "Download", "Downloads", "Refused"]

#: The view draws at 90 dpi; a downloaded PNG has twice the pixels each way.
FIGURE_DPI = 180
#: The largest campaign file offered for download (the shipped AMD campaigns fit).
MAX_FILE_BYTES = 10 * 2**20
#: Each format of ``hvload report``: file extension and media type.
REPORT_FILES: dict[str, tuple[str, str]] = {
    "text": ("txt", "text/plain"),
    "json": ("json", "application/json"),
    "html": ("html", "text/html"),
    "markdown": ("md", "text/markdown"),
    "csv": ("csv", "text/csv"),
}


class Refused(ValueError):
    """Nothing to download, and why (one line)."""


@dataclass(frozen=True)
class Download:
    """One file to hand the browser: its name, media type and bytes."""

    name: str
    mime: str
    data: bytes

    @property
    def uri(self) -> str:
        text = ";charset=utf-8" if self.mime.startswith(("text/", "application/json")) else ""
        return f"data:{self.mime}{text};base64,{base64.b64encode(self.data).decode('ascii')}"

    def html(self) -> str:
        """The link that saves it (the page shows it; a click downloads)."""
        return (
            f'<a class="hvload-download-link" download="{html.escape(self.name, quote=True)}" '
            f'href="{self.uri}">download {html.escape(self.name)}</a> '
            f'<span style="color:#555">({_size(len(self.data))})</span>'
        )


def _size(n: int) -> str:
    if n < 10_000:
        return f"{n:,} bytes"
    if n < 2**20:
        return f"{n / 1024:,.0f} KiB"
    return f"{n / 2**20:,.1f} MiB"


def _stem(view: CampaignView) -> str:
    path = view.whole.path if view.whole is not None else None
    # A name a file system and the download attribute both take as it is.
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem if path is not None else "")
    return stem.strip("._") or "campaign"


class Downloads:
    """Buttons that prepare a download of what ``view`` shows, and the link they prepare.

    Each button calls a plain method (:meth:`figure`, :meth:`table`, :meth:`report`,
    :meth:`campaign_file` through :meth:`prepare`), which returns the :class:`Download`
    or raises :class:`Refused`; a test drives them without a browser. The row is hidden
    while the view shows nothing. ``root`` is the folder a campaign file must lie in to
    be handed out (``hvload dashboard --data``).
    """

    def __init__(self, view: CampaignView, *, root: Path | None = None) -> None:
        from ..report.formats import FORMATS

        self.view = view
        self.root = root
        self.format = w.Dropdown(
            options=list(FORMATS), value="html", description="report format",
            layout=w.Layout(width="220px"), style={"description_width": "90px"},
        )  # fmt: skip
        actions: list[tuple[str, str, Callable[[], Download]]] = [
            ("figure PNG", "figure-png", lambda: self.figure("png")),
            ("figure SVG", "figure-svg", lambda: self.figure("svg")),
            ("table CSV", "table-csv", self.table),
            ("report", "report", lambda: self.report(str(self.format.value))),
            ("campaign file", "campaign-file", self.campaign_file),
        ]
        self.buttons: dict[str, w.Button] = {}
        for label, key, action in actions:
            button = w.Button(
                description=label, icon="download", layout=w.Layout(width="auto"),
                tooltip=f"prepare a download of the {label} shown",
            )  # fmt: skip
            button.add_class(f"hvload-export-{key}")
            button.on_click(lambda _, a=action: self.prepare(a))
            self.buttons[key] = button
        self.format.add_class("hvload-export-format")
        self.link = w.HTML(value="")
        self.link.add_class("hvload-download")
        row = [*(self.buttons[k] for k in ("figure-png", "figure-svg", "table-csv")),
               self.format, self.buttons["report"], self.buttons["campaign-file"]]  # fmt: skip
        self.widget = w.VBox(
            [w.HBox(row, layout=w.Layout(flex_flow="row wrap", align_items="center")), self.link]
        )
        self.widget.add_class("hvload-downloads")
        # A prepared link goes with the view it was made from.
        for control in (view.figure, view.table, view.caption):
            control.observe(lambda change: self._clear(), names="value")
        view.caption.observe(lambda change: self._show(), names="value")
        self._show()

    def _show(self) -> None:
        # The caption is written with each figure and emptied when there is none.
        self.widget.layout.display = None if self.view.caption.value else "none"

    def _clear(self) -> None:
        self.link.value = ""

    def prepare(self, action: Callable[[], Download]) -> Download | None:
        """Run ``action`` and show its link; a refusal or failure is one line instead."""
        self.link.value = '<span style="color:#555">preparing the download ...</span>'
        try:
            download = action()
        except Refused as exc:
            self.link.value = f'<span style="color:#6a4c00">{html.escape(str(exc))}</span>'
            return None
        except Exception as exc:  # shown where the link would be; a button has no caller
            self.link.value = error_html(exc)
            return None
        self.link.value = download.html()
        return download

    def _state(self) -> tuple[Any, Any, Any, Any, str, str, str]:
        view = self.view
        with view._view_lock:
            return (
                view.whole, view.campaign, view.analysis, view.config, str(view.figure.value),
                view._partial, view._unit(),
            )  # fmt: skip

    def figure(self, fmt: str = "png") -> Download:
        """The figure the view shows, as ``png`` or ``svg``."""
        from ..reproduce import figure
        from ._common import level_names

        if fmt not in ("png", "svg"):
            raise ValueError(f"figure format {fmt!r} is not allowed; use png or svg")
        _, campaign, analysis, config, name, _, unit = self._state()
        if campaign is None:
            raise Refused("no figure to download: choose at least one level")
        if name == "attribution" and not (campaign.metadata.get("design") or {}).get("controls"):
            raise Refused("no attribution figure: this campaign measured no control probes")
        fig = figure(
            name, campaign, analysis=analysis, unit=unit, levels=level_names(campaign),
            config=config,
        )  # fmt: skip
        buf = io.BytesIO()
        # No date in an SVG: the same view gives the same file.
        fig.savefig(
            buf, format=fmt, dpi=FIGURE_DPI, metadata={"Date": None} if fmt == "svg" else None
        )
        mime = "image/png" if fmt == "png" else "image/svg+xml"
        return Download(f"{_stem(self.view)}-{name}.{fmt}", mime, buf.getvalue())

    def table(self) -> Download:
        """The comparison table the view shows: every column of the analysis, as CSV."""
        _, _, analysis, _, _, _, _ = self._state()
        if analysis is None:
            raise Refused("no table to download: choose at least one level")
        text = analysis.comparisons.to_csv(index=False)
        return Download(f"{_stem(self.view)}-comparisons.csv", "text/csv", text.encode("utf-8"))

    def report(self, fmt: str = "html") -> Download:
        """The report of the levels and threshold shown, in ``fmt`` (as ``hvload report``)."""
        from ..report import CampaignReport
        from ..report.formats import render_report
        from ..survey.exit_costs import band_lines

        if fmt not in REPORT_FILES:
            raise ValueError(f"report format {fmt!r} is not allowed; use one of "
                             f"{', '.join(REPORT_FILES)}")  # fmt: skip
        whole, used, analysis, _, _, _, _ = self._state()
        if whole is None or used is None or analysis is None:
            raise Refused("no report to download: choose at least one level")
        # The analysis the view shows, not a second one: what is saved is what is shown.
        report = CampaignReport(self._named(whole), used, analysis)
        # As `hvload report` does: the published-cost band in the formats people read.
        band = band_lines(whole.metadata) if fmt in ("text", "markdown", "html") else None
        text = render_report(report, fmt, band=band)
        ext, mime = REPORT_FILES[fmt]
        return Download(f"{_stem(self.view)}-report.{ext}", mime, text.encode("utf-8"))

    def _named(self, whole: Any) -> Any:
        """``whole`` named by its path inside ``root`` (the HTML report prints it): a
        shared report tells where the file lies in the data folder, not on the server."""
        from ._confine import inside

        path = whole.path
        if self.root is None or path is None or not inside(self.root, Path(path)):
            return whole
        if getattr(whole, "loaded", True) is False:  # its samples still read from that path
            return whole
        named = copy.copy(whole)  # shallow: the samples are not copied
        named.path = Path(path).resolve().relative_to(self.root)
        return named

    def campaign_file(self) -> Download:
        """The stored campaign file, when it has one, lies inside ``root`` and is small."""
        from ._confine import inside

        whole, _, _, _, _, partial, _ = self._state()
        path = whole.path if whole is not None else None
        if partial:
            raise Refused("the campaign is still being measured; its file is complete "
                          "when the run ends")  # fmt: skip
        if path is None:
            raise Refused("this campaign has no file to download (it was not saved)")
        path = Path(path)
        if self.root is not None and not inside(self.root, path):
            raise Refused(f"{path.name} is not inside the data folder; it is not handed out")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            where = path.resolve()
            if self.root is not None:
                where = where.relative_to(self.root)
            raise Refused(
                f"the campaign file is {_size(size)}, over the {_size(MAX_FILE_BYTES)} a "
                f"download link carries; copy {where} from the data folder on the server"
            )
        with path.open("rb") as fh:  # at most the cap, should it have grown since
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise Refused(f"the campaign file grew past {_size(MAX_FILE_BYTES)}; try again")
        return Download(path.name, "application/vnd.apache.parquet", data)
