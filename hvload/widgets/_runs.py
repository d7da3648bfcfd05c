"""The campaign files of a data folder: which there are, and the run list that describes them.

:func:`folder_files` finds the campaign files the dashboard offers (the data folder and its
``runs/``, links leading out of the confining folder left out), :func:`run_table` describes
each from its footer alone (metadata and block table, never the samples: a few tens of
milliseconds a file) and :class:`RunList` shows that table with a box to give a campaign a
name of one's own.

Campaign files are never written to: a name is kept in a small JSON file beside them,
:data:`NAMES_FILE` in the data folder, keyed by the campaign id, so it follows a file
that is moved or renamed within the folder. It is written whole under a temporary name
and renamed (never half written), and only inside the confining folder.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import tempfile
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "BOX_STYLE",
    "MAX_NAME",
    "NAMES_FILE",
    "RUN_COLUMNS",
    "RunList",
    "clean_name",
    "folder_files",
    "read_names",
    "run_table",
    "runs_html",
    "save_name",
]

#: The file, in the data folder, that keeps the names given to campaigns.
NAMES_FILE = ".hvload-names.json"
#: The longest name a campaign may be given (characters).
MAX_NAME = 80
#: CSS that keeps a widget's HTML within the page: a flex item is otherwise as wide as its
#: widest unbreakable content (a table), which pushes the prose beside it past the window's
#: edge, where the tab clips it; with this the prose wraps and the table scrolls in its box.
BOX_STYLE = (
    "<style>.hvload-compare, .hvload-runs, .hvload-compare .widget-html, .hvload-runs "
    ".widget-html, .hvload-compare .widget-html-content, .hvload-runs .widget-html-content "
    "{max-width: 100%; min-width: 0;} .hvload-compare .widget-html-content, .hvload-runs "
    ".widget-html-content {line-height: 1.45;} .hvload-compare .widget-html-content p, "
    ".hvload-runs .widget-html-content p {margin: 0.35em 0;} .hvload-compare .hvload-output "
    "img {max-width: 100%; height: auto;}</style>"
)
#: Columns of :func:`run_table`, in order.
RUN_COLUMNS = (
    "file", "name", "named", "probe", "levels", "rounds", "blocks", "status", "date",
    "campaign", "error",
)  # fmt: skip


def folder_files(data: Path | None, root: Path | None = None) -> list[Path]:
    """Campaign files in ``data`` and ``data/runs``; with ``root``, only those inside it.

    The same files the dashboard's Browse tab offers (``hvload.notebook.campaign_files``
    of each folder), so the run list, the browser and the comparison name the same ones.
    """
    from ..notebook import campaign_files
    from ._confine import inside

    if data is None:
        return []
    found: list[Path] = []
    for folder in (data, data / "runs"):
        if folder.is_dir():
            found += campaign_files(folder)
    if root is not None:  # no link that leads out of the folder
        found = [p for p in found if inside(root, p)]
    return found


def _names_path(data: Path, root: Path | None) -> Path:
    from ._confine import confine

    path = data / NAMES_FILE
    # The names file itself must not be a link out of the folder.
    return confine(root, path, "names file", must_exist=False) if root is not None else path


def read_names(data: Path, root: Path | None = None) -> dict[str, str]:
    """Campaign id -> the name given to it; empty when there is no names file.

    A names file that cannot be read or parsed gives no names (the run list then shows
    file names); it is not an error of the page.
    """
    try:
        path = _names_path(data, root)
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    names = raw.get("names") if isinstance(raw, dict) else None
    if not isinstance(names, dict):
        return {}
    return {str(k): str(v) for k, v in names.items() if isinstance(v, str) and v.strip()}


def clean_name(name: str) -> str:
    """``name`` stripped, or a one-line ValueError naming what is not allowed."""
    text = name.strip()
    if len(text) > MAX_NAME:
        raise ValueError(f"name {text[:20]!r}... has {len(text)} characters; at most {MAX_NAME}")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise ValueError(f"name {text!r} holds control characters; give plain text")
    return text


def save_name(data: Path, campaign: str, name: str, root: Path | None = None) -> dict[str, str]:
    """Give campaign ``campaign`` (its id) the name ``name`` ('' removes it); all names.

    Written to :data:`NAMES_FILE` in ``data`` (inside ``root``) whole, under a temporary
    name that is then renamed; the campaign files are not touched.
    """
    text = clean_name(name)
    path = _names_path(data, root)
    names = read_names(data, root)
    if text:
        names[campaign] = text
    else:
        names.pop(campaign, None)
    fd, tmp = tempfile.mkstemp(prefix=".hvload-names-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"names": names}, fh, indent=1, ensure_ascii=False, sort_keys=True)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return names


def _status(meta: Mapping[str, Any], n_blocks: int, designed: int) -> str:
    stopped = meta.get("stopped")
    if stopped:
        return f"stopped ({stopped})"
    if n_blocks >= designed:
        return "complete"
    return f"incomplete ({n_blocks} of {designed} blocks)"


def run_table(data: Path | None, root: Path | None = None) -> pd.DataFrame:
    """One row per campaign file in ``data`` (and ``data/runs``), from its footer alone.

    Columns (:data:`RUN_COLUMNS`): ``file`` (relative to ``data``), ``name`` (the one given,
    else the file's stem), ``named`` (whether one was given), ``probe``, ``levels``,
    ``rounds`` (complete rounds measured / designed), ``blocks`` (measured / designed),
    ``status`` (``complete``, ``stopped (why)`` or ``incomplete``), ``date`` (start, UTC),
    ``campaign`` (the id) and ``error`` (one line for a file that cannot be read; its
    other cells are then empty).
    """
    from ..store import read_footer

    if data is None:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    names = read_names(data, root)
    rows = []
    for path in folder_files(data, root):
        rel = str(path.relative_to(data)) if path.is_relative_to(data) else path.name
        row: dict[str, Any] = dict.fromkeys(RUN_COLUMNS, "")
        row.update(file=rel, name=path.stem, named=False)
        try:
            meta, blocks, _ = read_footer(path)
            design = meta["design"]
            levels = [str(lv["name"]) for lv in design["levels"]]
            rounds = int(design["rounds"])
            designed = rounds * len(levels)
            full = sum(1 for r in _rounds(blocks).values() if r == len(levels))
            start = meta.get("start_utc")
            given = names.get(str(meta["campaign"]))
            row.update(
                name=given or path.stem, named=bool(given),
                probe=str(design.get("probe_label") or ""), levels=", ".join(levels),
                rounds=f"{full} / {rounds}", blocks=f"{len(blocks)} / {designed}",
                status=_status(meta, len(blocks), designed),
                date=(start[:16].replace("T", " ") + " UTC") if isinstance(start, str) else "",
                campaign=str(meta["campaign"]),
            )  # fmt: skip
        except Exception as exc:  # a damaged file is one line of the list, not the page
            first = str(exc).splitlines()[0] if str(exc) else ""
            row.update(status="unreadable", error=f"{type(exc).__name__}: {first}")
        rows.append(row)
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def _rounds(blocks: list[dict[str, Any]]) -> dict[int, int]:
    """Round -> how many of its blocks were measured."""
    counts: dict[int, int] = {}
    for b in blocks:
        counts[int(b["round"])] = counts.get(int(b["round"]), 0) + 1
    return counts


_STATUS_COLOURS = {"complete": "#c8e6c9", "stopped": "#ffe0b2", "incomplete": "#ffe0b2",
                   "unreadable": "#f4c7c3"}  # fmt: skip


def runs_html(table: pd.DataFrame) -> str:
    """The run list as an HTML table (every value escaped), scrolling in its own box."""
    if table.empty:
        return "<p>No campaign files in this folder yet: measure one in the Measure tab.</p>"
    head = ["name<br>file", "probe", "levels", "rounds", "blocks", "status", "started (UTC)"]
    body = []
    for raw in table.to_dict("records"):
        r = {str(k): str(v) for k, v in raw.items()}
        colour = _STATUS_COLOURS.get(r["status"].split(" ")[0], "#ffffff")
        status = html.escape(f"{r['status']}: {r['error']}" if r["error"] else r["status"])
        name = html.escape(r["name"])
        date = html.escape(r["date"].removesuffix(" UTC")).replace(" ", "<br>", 1)
        # Long names and level lists wrap (at hyphens and commas): the list fits an 800 px
        # window; the counts stay on one line.
        cells = [
            (f"<b>{name}</b>" if raw["named"] else name)
            + f'<br><code style="color:#555">{html.escape(r["file"])}</code>',
            html.escape(r["probe"]), html.escape(r["levels"]),
            f'<span style="white-space:nowrap">{html.escape(r["rounds"])}</span>',
            f'<span style="white-space:nowrap">{html.escape(r["blocks"])}</span>',
        ]  # fmt: skip
        tds = "".join(f"<td>{c}</td>" for c in cells)
        tds += f'<td style="background:{colour}">{status}</td>'
        tds += f"<td>{date}</td>"
        body.append(f"<tr>{tds}</tr>")
    return (
        '<div class="hvload-table-box" style="overflow-x:auto; max-width:100%">'
        '<table class="hvload-run-table" style="border-collapse:collapse" border="1" '
        'cellpadding="3"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"
        "<tbody>" + "".join(body) + "</tbody></table></div>"
        f'<p style="color:#555">Names in bold were given here (kept in <code>{NAMES_FILE}'
        "</code> in the data folder, by campaign id; the campaign files are not changed); "
        "the others are file names.</p>"
    )


class RunList:
    """The campaign files of a folder as a table, with a box to name a campaign.

    Parameters
    ----------
    data_dir
        The folder of campaign files (its ``runs/`` is listed too).
    root
        The folder the list may read and write in (``hvload dashboard --data``); None
        confines nothing (a notebook).

    Attributes
    ----------
    table
        The run list as data (:func:`run_table`), after the last :meth:`refresh`.
    widget
        The list, the naming controls and a status line, as one ``ipywidgets.VBox``.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        import ipywidgets as w

        from ._confine import confine

        self.root = Path(root).expanduser().resolve(strict=True) if root is not None else None
        self.data = confine(self.root, data_dir, "data_dir") if self.root else Path(data_dir)
        self.html = w.HTML()
        self.chooser = w.Dropdown(description="campaign", layout=w.Layout(width="420px"))
        self.name = w.Text(description="name", placeholder="a name of your own",
                           layout=w.Layout(width="360px"))  # fmt: skip
        tip = f"keep the name in {NAMES_FILE} (the campaign files are not changed)"
        self.save = w.Button(description="Save name", icon="tag", tooltip=tip)
        self.status = w.HTML()
        for control, css in ((self.html, "run-list"), (self.chooser, "run-choice"),
                             (self.name, "run-name"), (self.save, "run-save"),
                             (self.status, "run-status")):  # fmt: skip
            control.add_class(f"hvload-{css}")
        self.save.on_click(lambda _: self.rename(self.chooser.value, self.name.value))
        self.chooser.observe(lambda change: self._fill_name(), names="value")
        self.table = pd.DataFrame(columns=list(RUN_COLUMNS))
        self.widget = w.VBox(
            [w.HTML(BOX_STYLE + "<b>Campaign files</b>"), self.html,
             w.HBox([self.chooser, self.name, self.save]), self.status]
        )  # fmt: skip
        self.widget.add_class("hvload-runs")
        self.refresh()

    def refresh(self) -> None:
        """Read every file's footer again and redraw the list."""
        self.table = run_table(self.data, self.root)
        self.html.value = runs_html(self.table)
        readable = self.table[self.table["campaign"] != ""]
        current = self.chooser.value
        self.chooser.options = [(f, c) for f, c in zip(readable["file"], readable["campaign"],
                                                        strict=True)]  # fmt: skip
        ids = list(readable["campaign"])
        self.chooser.value = current if current in ids else (ids[0] if ids else None)
        self._fill_name()

    def _fill_name(self) -> None:
        rows = self.table[self.table["campaign"] == self.chooser.value]
        self.name.value = str(rows["name"].iloc[0]) if len(rows) and rows["named"].iloc[0] else ""

    def rename(self, campaign: str | None, name: str) -> None:
        """Give the campaign with id ``campaign`` the name ``name`` ('' removes it).

        A refused name (too long, control characters) or a folder that cannot be written
        is said in one line; the list stays as it was.
        """
        from ._html import error_html

        if not campaign:
            self.status.value = "<span>No campaign chosen.</span>"
            return
        try:
            save_name(self.data, campaign, name, self.root)
        except (OSError, ValueError) as exc:
            self.status.value = error_html(exc)
            return
        self.refresh()
        said = html.escape(name.strip())
        self.status.value = f"<span>Named <b>{said}</b>.</span>" if said else "Name removed."
