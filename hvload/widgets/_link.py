"""A link that reopens the dashboard's Browse view: campaign, levels, figure, threshold,
reference level and unit.

The view's state travels in the page's query string, e.g.
``/?campaign=runs/a.parquet&level=0%25&level=50%25&figure=ladder&threshold=2.5``
``&reference=50%25&unit=cycles``. Voila starts the page's kernel with the query of the
request in ``QUERY_STRING`` (and the URL in ``VOILA_REQUEST_URL``);
:func:`hvload.widgets.dashboard.served` hands it to the page, which opens the Browse tab
on that view. The token never travels in a link: the server sends a request that carries
``?token=`` on to the same address without it once the token's cookie is set
(``hvload.widgets._voila``), so the kernel never sees it, and a link is built from the
six fields above alone, never from the query it was opened with.

A link is read as untrusted text (anyone may hand one over): :func:`parse_query` checks
its form, :func:`check_state` that it names a campaign file the page lists inside
``--data`` (``_confine``: no ``..``, no absolute path, no link leading out), real levels
of that file (the reference among those shown), a figure kind, a threshold in the
box's range and a unit. Anything else is one
line above the tabs and the default view, never a traceback.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import ipywidgets as w

if TYPE_CHECKING:
    from ._common import CampaignView
    from .browser import Browser

__all__ = [
    "MAX_QUERY", "THRESHOLD_RANGE", "UNITS", "LinkError", "LinkRow", "Opening", "ViewState",
    "check_state", "page_url", "parse_query", "state_query", "view_state",
]  # fmt: skip

#: The longest query read (a link of the six fields with 64 levels fits easily).
MAX_QUERY = 8192
#: Fields read from a query: a link with more is refused before any is looked at.
_MAX_FIELDS = 100
#: At most this many levels, and this long a value.
_MAX_LEVELS = 64
_MAX_VALUE = 1024
#: The threshold box's range in percent (``CampaignView``'s ``BoundedFloatText``).
THRESHOLD_RANGE = (0.0, 10.0)
_KEYS = ("campaign", "level", "figure", "threshold", "reference", "unit")
#: The unit toggle's values.
UNITS = ("ns", "cycles")


class LinkError(ValueError):
    """A link that does not name a view the page can show (one line: what and why)."""


@dataclass(frozen=True)
class ViewState:
    """What a link reopens.

    Attributes
    ----------
    campaign
        The campaign file, relative to the data folder (``/`` separated).
    levels
        The levels shown, in campaign order; empty: all of them.
    figure
        A key of ``hvload.plots.FIGURES``; None: the default.
    threshold
        The practical threshold in percent, as the threshold box shows it; None: default.
    reference
        The reference level every other is compared with; None: the default.
    unit
        ``"ns"`` or ``"cycles"``; None: the default (ns where the TSC is known).
    """

    campaign: str
    levels: tuple[str, ...] = ()
    figure: str | None = None
    threshold: float | None = None
    reference: str | None = None
    unit: str | None = None

    def browser_options(self) -> dict[str, Any]:
        """The keyword arguments of :class:`~hvload.widgets.Browser` this state asks for."""
        options: dict[str, Any] = {}
        if self.levels:
            options["levels"] = self.levels
        if self.figure is not None:
            options["figure"] = self.figure
        if self.threshold is not None:
            options["threshold"] = self.threshold / 100
        if self.reference is not None:
            options["reference"] = self.reference
        if self.unit is not None:
            options["unit"] = self.unit
        return options


def _shown(value: str) -> str:
    """A value as a message quotes it: repr, cut short (a hostile link may be long)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _figures() -> tuple[str, ...]:
    from .. import plots

    return tuple(plots.FIGURES)


def _threshold_text(percent: float) -> str:
    # The box holds binary floats (2.3000000000000003); a link shows what a person typed.
    return f"{percent:.6f}".rstrip("0").rstrip(".") or "0"


def state_query(state: ViewState) -> str:
    """``state`` as a URL query (no ``?``): campaign, each level, figure, threshold,
    reference, unit."""
    pairs = [("campaign", state.campaign), *(("level", level) for level in state.levels)]
    if state.figure is not None:
        pairs.append(("figure", state.figure))
    if state.threshold is not None:
        pairs.append(("threshold", _threshold_text(state.threshold)))
    if state.reference is not None:
        pairs.append(("reference", state.reference))
    if state.unit is not None:
        pairs.append(("unit", state.unit))
    # %20 rather than '+' for spaces, '/' kept: the link stays readable.
    return urlencode(pairs, quote_via=quote, safe="/")


def _one(fields: Mapping[str, list[str]], key: str) -> str | None:
    values = fields.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise LinkError(f"the link gives {key} {len(values)} times; give it once")
    return values[0]


def parse_query(query: str) -> ViewState | None:
    """The view a query asks for, None when it names none, or a one-line LinkError.

    Only the form is checked here (a relative campaign path without ``..``, a known
    figure, a threshold in range, distinct levels, a unit); :func:`check_state` checks
    the rest against the data folder. Fields other than the six are ignored.
    """
    if not query:
        return None
    if len(query) > MAX_QUERY:
        raise LinkError(f"the link's query has {len(query):,} characters; at most {MAX_QUERY:,}")
    try:
        pairs = parse_qsl(
            query, keep_blank_values=True, max_num_fields=_MAX_FIELDS, errors="strict"
        )
    except (ValueError, UnicodeError) as exc:
        raise LinkError(f"the link's query cannot be read: {exc}") from None
    fields: dict[str, list[str]] = {}
    for key, value in pairs:
        if key in _KEYS:
            fields.setdefault(key, []).append(value)
    if not fields:
        return None
    for key, values in fields.items():
        for value in values:
            if len(value) > _MAX_VALUE:
                raise LinkError(f"the link's {key} has {len(value):,} characters; "
                                f"at most {_MAX_VALUE:,}")  # fmt: skip
            if any(ord(c) < 32 or ord(c) == 127 for c in value):
                raise LinkError(f"the link's {key} {_shown(value)} holds control characters")
    campaign = _one(fields, "campaign")
    if not campaign:
        raise LinkError("the link names no campaign (campaign=FILE, relative to the data folder)")
    path = PurePosixPath(campaign)
    if path.is_absolute() or campaign.startswith("\\"):
        raise LinkError(f"the link's campaign {_shown(campaign)} is absolute; "
                        "give it relative to the data folder")  # fmt: skip
    if ".." in path.parts:
        raise LinkError(f"the link's campaign {_shown(campaign)} is refused: '..' is not allowed")
    levels = tuple(fields.get("level", ()))
    if len(levels) > _MAX_LEVELS:
        raise LinkError(f"the link gives {len(levels)} levels; at most {_MAX_LEVELS}")
    for level in levels:
        if not level.strip():
            raise LinkError("the link gives an empty level name")
        if levels.count(level) > 1:
            raise LinkError(f"the link gives level {_shown(level)} twice")
    figure = _one(fields, "figure")
    if figure is not None and figure not in _figures():
        raise LinkError(f"the link's figure {_shown(figure)} is not one of: "
                        f"{', '.join(_figures())}")  # fmt: skip
    text = _one(fields, "threshold")
    threshold = None
    if text is not None:
        low, high = THRESHOLD_RANGE
        try:
            threshold = float(text)
        except ValueError:
            threshold = math.nan
        if not (math.isfinite(threshold) and low <= threshold <= high):
            raise LinkError(f"the link's threshold {_shown(text)} is not a number of percent "
                            f"from {low:g} to {high:g}")  # fmt: skip
    reference = _one(fields, "reference")
    if reference is not None and not reference.strip():
        raise LinkError("the link gives an empty reference level")
    if reference is not None and levels and reference not in levels:
        raise LinkError(f"the link's reference {_shown(reference)} is not one of its levels")
    unit = _one(fields, "unit")
    if unit is not None and unit not in UNITS:
        raise LinkError(f"the link's unit {_shown(unit)} is not one of: {', '.join(UNITS)}")
    return ViewState(str(path), levels, figure, threshold, reference, unit)


def check_state(
    state: ViewState, root: Path | None, offered: Sequence[tuple[str, str]]
) -> tuple[ViewState, str]:
    """``state`` with its levels in campaign order, and the file it names; or a LinkError.

    ``offered`` is what the page's campaign chooser lists: ``(path relative to the data
    folder, path)`` pairs, already inside ``root``. The campaign must be one of them, its
    path confined to ``root`` (``_confine.inside``), and the levels must be levels of
    that file (read from its footer, not its samples).
    """
    from ..store import read_footer
    from ._confine import OutsideError, confine, inside

    if root is None:
        raise LinkError("this page has no data folder to open a linked campaign from")
    try:
        path = confine(root, state.campaign, "the link's campaign")
    except (OutsideError, FileNotFoundError) as exc:
        raise LinkError(str(exc)) from None
    files = {label: value for label, value in offered}
    file = files.get(state.campaign)
    if file is None or not inside(root, Path(file)) or Path(file).resolve() != path:
        raise LinkError(f"the link's campaign {_shown(state.campaign)} is not a campaign file "
                        "this page lists")  # fmt: skip
    if not state.levels and state.reference is None:
        return state, file
    try:
        metadata = read_footer(path)[0]
    except Exception as exc:  # a damaged file: the Browse tab says more when it is chosen
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LinkError(
            f"the link's campaign {_shown(state.campaign)} cannot be read: {first}"
        ) from None
    names = [str(level.get("name")) for level in metadata["design"]["levels"]]
    asked = [*state.levels, *([state.reference] if state.reference is not None else [])]
    missing = [level for level in asked if level not in names]
    if missing:
        raise LinkError(f"the link's level {_shown(missing[0])} is not a level of "
                        f"{state.campaign} (levels: {', '.join(names)})")  # fmt: skip
    ordered = tuple(n for n in names if n in state.levels)
    return ViewState(
        state.campaign, ordered, state.figure, state.threshold, state.reference, state.unit
    ), file


def view_state(view: CampaignView, campaign: str) -> ViewState:
    """What ``view`` (showing ``campaign``, relative to the data folder) shows now."""
    chosen = set(view.shown.value)
    levels = tuple(str(n) for n in view.shown.options if n in chosen)
    reference = view.reference.value
    return ViewState(
        campaign, levels, str(view.figure.value), float(view.threshold.value),
        None if reference is None else str(reference), str(view.unit.value),
    )  # fmt: skip


def page_url(query: str, environ: Mapping[str, str] | None = None) -> str:
    """The page's address with ``query``: scheme, host and path of the request Voila
    started the kernel for (``VOILA_REQUEST_URL``), never its query, user or fragment;
    ``?query`` alone when the kernel was not told."""
    env = os.environ if environ is None else environ
    parts = urlsplit(env.get("VOILA_REQUEST_URL", ""))
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a malformed port
        host, port = None, None
    if parts.scheme not in ("http", "https") or not host:
        return f"?{query}"
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    return urlunsplit((parts.scheme, netloc, parts.path or "/", query, ""))


#: Puts the link on the clipboard where the browser allows it (a secure context such as
#: http://127.0.0.1); elsewhere the button says so and the link itself is there to copy.
_COPY = (
    "if (navigator.clipboard) { navigator.clipboard.writeText(this.previousElementSibling.href)"
    ".then(() => { this.textContent = 'link copied'; }, () => { this.textContent = "
    "'copy by hand'; }); } else { this.textContent = 'copy by hand'; }"
)


class LinkRow:
    """The link to what a view shows, kept up to date as its controls change.

    ``campaign`` is the file's path relative to the data folder, or a function giving it
    for the campaign shown now (None: no link, e.g. while a run is still measuring), for
    a view that shows one campaign after another (the Explorer).
    """

    def __init__(self, view: CampaignView, campaign: str | Callable[[], str | None]) -> None:
        self.view = view
        self.campaign = campaign
        self.widget = w.HTML(value="")
        self.widget.add_class("hvload-link-row")
        for control in (view.figure, view.shown, view.threshold, view.reference, view.unit):
            control.observe(lambda change: self.update(), names="value")
        view.on_shown.append(self.update)
        self.update()

    @property
    def query(self) -> str:
        """The view's query, or "" when there is no campaign file to link to."""
        campaign = self.campaign() if callable(self.campaign) else self.campaign
        return "" if campaign is None else state_query(view_state(self.view, campaign))

    def update(self) -> None:
        query = self.query
        if not query:
            self.widget.value = ""
            return
        url = page_url(query)
        # The href is relative: the browser completes it with the address it shows (also
        # behind a proxy); the text is the address as the server saw it.
        self.widget.value = (
            f'<span style="color:#555">link to this view:</span> <a class="hvload-view-link" '
            f'href="?{html.escape(query, quote=True)}" target="_blank" rel="noopener" '
            # A long address wraps anywhere rather than widen an 800 px page.
            'style="overflow-wrap:anywhere">'
            f"{html.escape(url)}</a> "
            f'<button type="button" class="hvload-copy-link" onclick="{html.escape(_COPY)}">'
            "copy link</button>"
        )


class Opening:
    """What the page was opened with: a checked view to show first, or why not.

    ``query`` is None outside ``hvload dashboard`` (no link row then); ``offered`` the
    chooser's ``(label, path)`` pairs.
    """

    def __init__(
        self, query: str | None, root: Path | None, offered: Sequence[tuple[str, str]]
    ) -> None:
        self.linked = query is not None
        self.root = root
        self.state: ViewState | None = None
        self.file: str | None = None
        #: One line (HTML) saying why the link was not followed; empty when it was.
        self.note = ""
        try:
            state = parse_query(query or "")
            if state is not None:
                self.state, self.file = check_state(state, root, offered)
        except LinkError as exc:
            self.note = (
                f'<p class="hvload-link-note" style="color:#b00020">link not followed: '
                f"{html.escape(str(exc))}; showing the default view</p>"
            )
        #: The tab to show first: Browse for a linked view, else Measure.
        self.tab = 1 if self.state is not None else 0

    def browser(self, path: str) -> Browser:
        """A Browser of ``path``: the linked view the first time its file is shown."""
        from .browser import Browser

        options: dict[str, Any] = {}
        if self.state is not None and path == self.file:
            options = self.state.browser_options()
            self.state = None  # once: choosing the file again later starts from defaults
        view = Browser(path, root=self.root, **options)
        if self.linked and self.root is not None:
            try:
                label = Path(path).relative_to(self.root).as_posix()
            except ValueError:
                label = Path(path).resolve().relative_to(self.root).as_posix()
            row = LinkRow(view, label)
            view.downloads.widget.children = (*view.downloads.widget.children, row.widget)
        return view
