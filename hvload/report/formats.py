"""A campaign report or a comparison of campaigns in the formats people share them in.

``text`` and ``json`` are :class:`~hvload.report.CampaignReport`'s own renderings (the
JSON byte for byte what ``hvload report --json`` always printed). The others:

``markdown``
    Pipe tables (platform, design, noise, per level, comparisons with verdicts,
    attribution) that fit a GitHub issue comment or a mail to a list.
``csv``
    ONE file with a ``table`` column (``levels``, ``comparisons``,
    ``level_p99_comparisons``, ``attribution``)
    and the union of the tables' columns; ``pandas.read_csv`` reads it back and
    ``frame[frame.table == "levels"].dropna(axis=1, how="all")`` is the per-level table.
    Read it with ``pd.read_csv(path, keep_default_na=False, na_values=[""])``: only empty
    cells are missing, so the control probe named ``null`` stays a label.
    One file, not several, so that ``hvload report --format csv > x.csv`` works on a pipe.
``html``
    One self-contained file: the tables and the figures of :mod:`hvload.plots`
    embedded as base64 PNG, no script and no request (a Content-Security-Policy forbids
    any), so it reads the same with JavaScript off and offline.

The templates are Jinja2 (``hvload/report/templates``); the numbers come from the JSON
report (:mod:`._tables`), so every format shows the same digits.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ._tables import attribution_table, comparison_table, level_table, tail_comparison_table

__all__ = ["FORMATS", "compare_csv", "render_comparison", "render_report", "report_csv"]

#: Every output format of ``hvload report`` and ``hvload compare``.
FORMATS: tuple[str, ...] = ("text", "json", "html", "markdown", "csv")


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not allowed; use one of {', '.join(FORMATS)}")


def _cell(value: Any) -> str:
    # A pipe or a line break inside a cell would end the Markdown table row.
    return str(value).replace("|", "\\|").replace("\n", " ")


#: Columns whose cells are words (left-aligned in Markdown); the others are numbers.
_TEXT_COLUMNS = frozenset(
    {
        "level",
        "reference",
        "on",
        "control",
        "verdict",
        "group",
        "unit",
        "main",
        "probe",
        "cpu_brand",
        "hypervisor",
        "kernel",
        "host",
    }
)


def _separator(header: list[str]) -> str:
    """The Markdown line under a table's header: words left, numbers right."""
    return "|" + "|".join(":---" if h in _TEXT_COLUMNS else "---:" for h in header) + "|"


def _env() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hvload.report", "templates"),
        # Escaping is for HTML only: a Markdown table holds '<' as written.
        autoescape=jinja2.select_autoescape(["html.j2"], default_for_string=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["cell"] = _cell
    env.filters["separator"] = _separator
    return env


def _version() -> str:
    from .. import __version__

    return __version__


def _frames(tables: dict[str, pd.DataFrame]) -> str:
    parts = [
        frame.assign(table=name)[["table", *frame.columns]]
        for name, frame in tables.items()
        if not frame.empty
    ]
    if not parts:
        return "table\n"
    return pd.concat(parts, ignore_index=True, sort=False).to_csv(index=False)


def report_csv(report: Any) -> str:
    """The per-level, comparison and attribution tables of ``report`` as one CSV text."""
    data = report.to_dict()
    return _frames(
        {
            "levels": level_table(data),
            "comparisons": comparison_table(data),
            "level_p99_comparisons": tail_comparison_table(data),
            "attribution": attribution_table(data),
        }
    )


def compare_csv(result: Any) -> str:
    """The per-level and comparison tables of a CampaignComparison as one CSV text."""
    return _frames({"levels": result.levels, "comparisons": result.comparisons})


def render_report(report: Any, fmt: str = "text", *, band: list[str] | None = None) -> str:
    """``report`` (a :class:`~hvload.report.CampaignReport`) in ``fmt``.

    ``band`` holds the lines that place the campaign's exit cost against published
    costs (:func:`hvload.survey.exit_costs.band_lines`); text, Markdown and HTML show
    them, JSON and CSV never do (their shape stays what scripts expect).
    """
    _check(fmt)
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt == "csv":
        return report_csv(report)
    from .normalised import normalised_text

    normalised = normalised_text(report.used)
    if fmt == "text":
        text = report.to_text()
        if normalised:
            text += "\n" + "".join(f"{line}\n" for line in normalised)
        if band:
            text += "\nAgainst published exit costs\n" + "".join(f"  {b}\n" for b in band)
        return text
    from ._context import report_context

    context = report_context(report, band)
    context["normalised"] = normalised
    if fmt == "markdown":
        return str(_env().get_template("report.md.j2").render(**context))
    from ._figures import figure_uris

    context.update(figures=figure_uris(report), version=_version())
    return str(_env().get_template("report.html.j2").render(**context))


def render_comparison(result: Any, fmt: str = "text") -> str:
    """A :class:`~hvload.datasets.CampaignComparison` in ``fmt``."""
    _check(fmt)
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2) + "\n"
    if fmt == "text":
        return str(result.to_text())
    if fmt == "csv":
        return compare_csv(result)
    from ._context import comparison_context

    context = comparison_context(result)
    if fmt == "markdown":
        return str(_env().get_template("compare.md.j2").render(**context))
    from ._figures import png_uri

    figure = png_uri(result.figure())
    return str(
        _env().get_template("compare.html.j2").render(**context, figure=figure, version=_version())
    )
