"""Helpers the notebooks share: where ``data/`` is, which platform to describe, which campaign.

Every decision a notebook makes (measure here or read a stored campaign, where the shipped
campaigns are, how to say what a sample contains) lives here, so that it is tested with the
package and the notebooks stay a sequence of calls and prose.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .campaign.runner import Campaign
    from .measure.machine import PlatformInfo

__all__ = [
    "DATA_ENV",
    "NumberTable",
    "TextBlock",
    "TextTable",
    "campaign_files",
    "can_measure",
    "describe_campaign",
    "find_data_dir",
    "format_number",
    "number_table",
    "obtain_campaign",
    "platform_record",
    "resolve_campaign",
    "text_block",
    "text_table",
]

#: Environment variable naming the campaign directory, consulted before any search.
DATA_ENV = "HVLOAD_DATA"
_SUFFIXES = (".parquet",)


def _has_campaigns(directory: Path) -> bool:
    return directory.is_dir() and any(p.suffix in _SUFFIXES for p in directory.iterdir())


def find_data_dir(hint: str | os.PathLike[str] | None = None) -> Path:
    """The directory of shipped campaigns.

    Parameters
    ----------
    hint
        A directory to use. A relative hint that does not exist from the working directory
        is also tried by its last component in the working directory and each parent
        (so ``"../data"`` works from ``notebooks/`` and from the repository root).

    Returns
    -------
    pathlib.Path
        The first candidate that exists and holds a campaign file: the hint, then
        ``$HVLOAD_DATA``, then ``data/`` in the working directory or a parent, then
        ``data/`` beside the installed package (an editable install of the repository).

    Raises
    ------
    FileNotFoundError
        When no candidate holds a campaign; the message lists what was tried.
    """
    tried: list[Path] = []
    candidates: list[Path] = []
    cwd = Path.cwd()
    if hint is not None:
        hint = Path(hint).expanduser()
        candidates.append(hint)
        if not hint.is_absolute():
            candidates += [parent / hint.name for parent in (cwd, *cwd.parents)]
    if os.environ.get(DATA_ENV):
        candidates.append(Path(os.environ[DATA_ENV]).expanduser())
    candidates += [parent / "data" for parent in (cwd, *cwd.parents)]
    candidates.append(Path(__file__).resolve().parents[1] / "data")
    for c in candidates:
        tried.append(c)
        if _has_campaigns(c):
            return c.resolve()
    shown = ", ".join(str(t) for t in dict.fromkeys(tried[:6]))
    raise FileNotFoundError(
        f"no directory with campaign files (*.parquet) found; tried {shown} ... "
        f"Pass data_dir= or set {DATA_ENV}"
    )


def campaign_files(directory: str | os.PathLike[str] | None = None) -> list[Path]:
    """Campaign files (``*.parquet``) in ``directory`` (default :func:`find_data_dir`), sorted."""
    root = find_data_dir() if directory is None else Path(directory).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix in _SUFFIXES)


def resolve_campaign(
    name: str | os.PathLike[str], data_dir: str | os.PathLike[str] | None = None
) -> Path:
    """A campaign file given as a path, or as a file name inside the data directory."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    try:
        root = find_data_dir(data_dir)
    except FileNotFoundError:
        root = None
    if root is not None and (root / path.name).is_file():
        return root / path.name
    raise FileNotFoundError(f"campaign file {str(name)!r} not found (data directory: {root})")


def can_measure(info: PlatformInfo | None = None) -> tuple[bool, str]:
    """Whether any trap runs here, and why not when none does.

    Parameters
    ----------
    info
        A platform report; by default one with fork probes only (no bursts).

    Returns
    -------
    ok, reason
        ``reason`` is empty when ``ok``; otherwise the refusal of the first trap.
    """
    if info is None:
        from .measure.machine import platform

        info = platform(probe_samples=0)
    if any(t.supported for t in info.traps):
        return True, ""
    reasons = [t.reason for t in info.traps if t.reason]
    return False, reasons[0] if reasons else "no trap is supported on this machine"


def _platform_from_dict(record: dict[str, Any]) -> PlatformInfo:
    from .measure.machine import PlatformInfo, TrapReport

    names = {f.name for f in dataclasses.fields(PlatformInfo)}
    trap_names = {f.name for f in dataclasses.fields(TrapReport)}
    values = {k: v for k, v in record.items() if k in names}
    values["traps"] = [
        TrapReport(**{k: v for k, v in t.items() if k in trap_names})
        for t in record.get("traps", [])
    ]
    # Files written by an older hvload may lack a field; None reads as "not recorded".
    for name in names - values.keys():
        values[name] = None
    return PlatformInfo(**values)


def platform_record(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    probe_samples: int = 2000,
    campaign: str | os.PathLike[str] | None = None,
) -> tuple[PlatformInfo, str]:
    """This machine's platform report, or a stored one where nothing can be measured here.

    Parameters
    ----------
    data_dir
        Where to look for a campaign when this machine cannot measure.
    probe_samples
        Samples per trap burst in the live report.
    campaign
        The stored campaign whose platform record to use (default: the first file).

    Returns
    -------
    info, source
        The report and one sentence saying whether it is live or which file it came from.
    """
    from .measure.machine import platform

    live = platform(probe_samples=probe_samples)
    ok, reason = can_measure(live)
    if ok:
        return live, f"measured now on {live.hostname}"
    from .store import load

    path = (
        resolve_campaign(campaign, data_dir)
        if campaign is not None
        else campaign_files(find_data_dir(data_dir))[0]
    )
    stored = load(path).metadata.get("platform") or {}
    return _platform_from_dict(stored), (
        f"this machine cannot measure ({reason}); shown instead: the platform recorded in "
        f"{path.name} on {stored.get('hostname')} at {stored.get('time_utc')}"
    )


def obtain_campaign(
    path: str | os.PathLike[str] | None = None,
    *,
    measure: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    levels: Sequence[float] = (0.0, 0.5, 1.0),
    samples: int = 2000,
    rounds: int = 12,
    warmup: int = 100,
    seed: int | None = None,
) -> tuple[Campaign, str]:
    """A campaign for analysis: measured now when asked and possible, else read from a file.

    Parameters
    ----------
    path
        Campaign file (a path, or a name inside the data directory); default: the first
        file of the data directory.
    measure
        Run a new campaign here (``levels`` as fractions of saturation, the sizes given)
        when this machine can measure; otherwise, or when False, read ``path``.
    data_dir
        Where the shipped campaigns are (see :func:`find_data_dir`).
    levels, samples, rounds, warmup, seed
        The small campaign's design.

    Returns
    -------
    campaign, source
        The campaign and one sentence on where it came from.
    """
    from .store import load

    why = "measure=False"
    if measure:
        ok, reason = can_measure()
        if ok:
            from .campaign import prepare

            plan = prepare(
                fractions=tuple(levels), samples=samples, rounds=rounds, warmup=warmup, seed=seed
            )
            camp = plan.run()
            d = plan.design
            return camp, (
                f"measured now: probe {d.probe.label}, {len(d.levels)} levels x {d.rounds} "
                f"rounds, {d.samples} samples per block (seed {d.seed})"
            )
        why = f"measuring is not possible here ({reason})"
    file = (
        resolve_campaign(path, data_dir)
        if path is not None
        else campaign_files(find_data_dir(data_dir))[0]
    )
    return load(file), f"read from {file.name} ({why})"


def describe_campaign(campaign: Campaign) -> str:
    """Markdown: where and how a campaign was measured and what one sample contains."""
    meta = campaign.metadata
    design = meta.get("design", {})
    levels = ", ".join(str(lv.get("name")) for lv in design.get("levels", []))
    tsc = meta.get("tsc_hz")
    tsc_text = f"{tsc / 1e6:,.2f} MHz" if tsc else "unknown (figures stay in cycles)"
    samples = campaign.samples
    rax = samples["rax"].value_counts().head(3) if "rax" in samples else None
    rax_text = (
        ", ".join(f"{int(v)} ({n:,} samples)" for v, n in rax.items())  # type: ignore[call-overload]  # RAX values are integers
        if rax is not None and len(rax)
        else "not recorded"
    )
    name = campaign.path.name if campaign.path is not None else "(in memory)"
    lines = [
        f"- **file**: `{name}`, campaign `{meta.get('campaign')}`, "
        f"{meta.get('start_utc')} to {meta.get('end_utc')}",
        f"- **machine**: {meta.get('cpu')} on `{meta.get('hostname')}`, hypervisor "
        f"**{meta.get('hypervisor')}**, TSC {tsc_text}",
        f"- **design**: probe `{design.get('probe_label')}` on CPU {design.get('probe_cpu')}; "
        f"levels {levels}; {design.get('rounds')} rounds; {design.get('warmup')} warm-up + "
        f"{design.get('samples')} samples per block; seed {design.get('seed')}",
        f"- **one sample is**: {meta.get('measured')}",
        f"- **what the probe did on this hypervisor**: {meta.get('rax_meaning')}",
        f"- **RAX values seen** (most common): {rax_text}",
    ]
    return "\n".join(lines) + "\n"


class TextBlock:
    """Fixed-width text that a notebook shows unwrapped, scrolling sideways when wide.

    JupyterLab and Voila wrap long lines of printed output, which breaks the columns of
    a report; this shows ``text`` as HTML ``<pre>`` without wrapping, and as the text
    itself wherever HTML is not rendered.
    """

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        import html

        return (
            '<pre style="white-space:pre; overflow-x:auto; font-size:12px; line-height:1.3; '
            'margin:0">' + html.escape(self.text) + "</pre>"
        )

    def __repr__(self) -> str:
        return self.text


def text_block(text: object) -> TextBlock:
    """``display(text_block(report))`` shows a text report without wrapping its lines."""
    return TextBlock(str(text))


class TextTable:
    """A table of prose (reasons, quotations, notes) shown whole and readable.

    pandas cuts long cells short (``display.max_colwidth``) and JupyterLab right-aligns
    every cell; this shows every cell in full, left-aligned and wrapped, with the
    columns in a table that fits the page's width where it can.
    """

    def __init__(self, frame: pd.DataFrame, max_width: str = "34em") -> None:
        self.frame = frame
        self.max_width = max_width

    def _repr_html_(self) -> str:
        import html

        # Styles on each cell: JupyterLab's own table rules (right-aligned cells) would
        # win over a style sheet, and a sanitizer may drop one.
        frame = self.frame
        # Words are never broken ("nonst|op_tsc"): a column is at least as wide as its
        # longest word (up to 40 characters), so that no word runs into the next cell.
        longest = [
            min(40, max((len(w) for v in [c, *frame[c]] for w in str(v).split()), default=1))
            for c in frame.columns
        ]
        base = (
            "text-align:left; vertical-align:top; white-space:normal; "
            "overflow-wrap:normal; word-break:keep-all; hyphens:none; "
            f"max-width:{self.max_width}; padding:0.25em 0.6em"
        )

        def cell(k: int) -> str:
            return base if k < 0 else f"{base}; min-width:{longest[k]}ch"

        def text(value: object) -> str:
            missing = value is None or (isinstance(value, float) and value != value)
            return "" if missing else html.escape(str(value))

        def row(values: list[object], tag: str) -> str:
            cells = "".join(
                f'<{tag} style="{cell(k - 1)}">{text(v)}</{tag}>' for k, v in enumerate(values)
            )
            return f"<tr>{cells}</tr>"

        index_name = frame.index.name or ""
        head = row([index_name, *frame.columns], "th")
        body = "".join(
            row([index, *values], "td")
            for index, values in zip(frame.index, frame.itertuples(index=False), strict=True)
        )
        # A table wider than the output scrolls inside its own box, not the page.
        return (
            f'<div style="{_SCROLL}"><table style="border-collapse:collapse; '
            f'table-layout:auto">'
            f"<thead>{head}</thead><tbody>{body}</tbody></table></div>"
        )

    def __repr__(self) -> str:
        import pandas as pd

        with pd.option_context("display.max_colwidth", None, "display.width", 200):
            return self.frame.to_string()


def text_table(frame: pd.DataFrame, max_width: str = "34em") -> TextTable:
    """``display(text_table(df))`` shows a table of prose in full, left-aligned and wrapped."""
    return TextTable(frame, max_width)


#: The box a wide table scrolls in: sideways within the output, never the whole page.
_SCROLL = "overflow-x:auto; max-width:100%"


def format_number(value: object) -> str:
    """A number as a person reads it: thousands separators, decimals by magnitude.

    Whole numbers (also when stored as floats) get none: ``9,063,109``; others keep
    about three significant digits, at most two decimals from 10 up: ``3,655``,
    ``36.55``, ``3.66``, ``0.0366``. Missing values are an empty string; anything that
    is not a number is shown as written.
    """
    import math
    import numbers

    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if not isinstance(value, numbers.Real):
        return str(value)
    x = float(value)
    if math.isnan(x):
        return ""
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if isinstance(value, numbers.Integral) or (x.is_integer() and abs(x) < 1e15):
        return f"{x:,.0f}"
    size = abs(x)
    if size >= 100:
        return f"{x:,.0f}"
    if size >= 10:
        return f"{x:,.1f}"
    if size >= 1:
        return f"{x:.2f}"
    if size >= 1e-4:
        return f"{x:.3g}"
    return f"{x:.2e}"


class NumberTable:
    """A table of measurements for people: thousands separators, units in the headers.

    Columns named ``..._ns`` get ``(ns)`` in their header, numbers are formatted by
    :func:`format_number` and right-aligned, text is left-aligned, and a table wider
    than the output scrolls inside its own box.
    """

    def __init__(self, frame: pd.DataFrame, units: dict[str, str] | None = None) -> None:
        self.frame = frame
        self.units = dict(units or {})

    def header(self, column: object) -> str:
        name = str(column)
        unit = self.units.get(name)
        if unit is None and name.endswith("_ns"):
            name, unit = name[: -len("_ns")], "ns"
        return f"{name} ({unit})" if unit else name

    def _repr_html_(self) -> str:
        import html
        import numbers

        pad = "padding:0.2em 0.6em; white-space:nowrap"

        def td(value: object, tag: str = "td") -> str:
            is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
            align = "right" if is_number else "left"
            shown = format_number(value) if is_number else ("" if value is None else str(value))
            return f'<{tag} style="text-align:{align}; {pad}">{html.escape(shown)}</{tag}>'

        frame = self.frame
        heads = [frame.index.name or "", *map(self.header, frame.columns)]
        head = "".join(
            f'<th style="text-align:left; {pad}">{html.escape(str(h))}</th>' for h in heads
        )
        body = "".join(
            "<tr>" + td(index, "th") + "".join(td(v) for v in values) + "</tr>"
            for index, values in zip(frame.index, frame.itertuples(index=False), strict=True)
        )
        return (
            f'<div style="{_SCROLL}"><table style="border-collapse:collapse">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )

    def __repr__(self) -> str:
        shown = self.frame.rename(columns=self.header)
        return shown.to_string(formatters={c: format_number for c in shown.columns})


def number_table(frame: pd.DataFrame, units: dict[str, str] | None = None) -> NumberTable:
    """``display(number_table(df))`` shows a table of numbers formatted for people.

    ``units`` names the unit of a column (``{"tsc_hz": "Hz"}``); ``..._ns`` columns are
    in ns without being named.
    """
    return NumberTable(frame, units)
