"""Regenerate the survey tables and every figure and report from stored campaigns alone.

:func:`reproduce` never issues a trap: Table 7.1 follows from the catalogue and the survey
rules, and the figures and ``hvload report`` output from the campaign files. It is what
``notebooks/04_reproduce.ipynb`` runs, and it works on any machine that can read Parquet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .notebook import campaign_files, find_data_dir, resolve_campaign

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .campaign.runner import Campaign
    from .stats import Analysis, AnalysisConfig
    from .survey.rules import Profile

__all__ = [
    "draw_figure",
    "figure",
    "figure_image",
    "figure_png",
    "markdown_table",
    "reproduce",
    "survey_table",
    "write_campaign",
    "write_survey",
]


def _figures() -> dict[str, Any]:
    from . import plots

    return dict(plots.FIGURES)


def draw_figure(
    name: str,
    data: Any,
    *,
    analysis: Analysis | None = None,
    ax: Axes | None = None,
    unit: str = "cycles",
    levels: Iterable[str] | None = None,
    config: AnalysisConfig | None = None,
) -> Axes:
    """Draw the figure ``name`` of :data:`hvload.plots.FIGURES` for ``data``.

    The figures that rest on an analysis (``load_curve``, ``verdicts``) are given
    ``analysis`` when it is passed, so that a configuration or a level choice made
    elsewhere is the one they show and nothing is analysed twice.

    Parameters
    ----------
    name
        A key of ``hvload.plots.FIGURES``.
    data
        A campaign or a samples DataFrame.
    analysis
        An analysis of ``data`` (of the chosen levels), if one is at hand.
    ax
        Axes to draw into; a new figure when None.
    unit
        ``"cycles"`` or ``"ns"``.
    levels
        Level names to draw (all when None).
    config
        The analysis configuration (exclusions, metric, threshold, ...); the
        analysis's own when ``analysis`` is given, else :data:`hvload.stats.DEFAULT`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from . import plots

    figures = _figures()
    if name not in figures:
        raise ValueError(f"unknown figure {name!r}; choose one of {sorted(figures)}")
    chosen = list(levels) if levels is not None else None
    if analysis is not None and analysis.config is not None:
        config = analysis.config
    if name == "verdicts":
        if analysis is not None:
            return plots.verdict_map(analysis, ax=ax, unit=unit, levels=chosen, on="median")
        return plots.verdict_map(data, ax=ax, unit=unit, levels=chosen, on="median", config=config)
    if name == "load_curve":
        return plots.load_curve(
            data, analysis=analysis, ax=ax, unit=unit, levels=chosen, config=config
        )
    return figures[name](data, ax=ax, unit=unit, levels=chosen, config=config)


def _source(campaign: Campaign) -> str:
    if campaign.path is not None:
        return f"data: {campaign.path.name}"
    return f"data: campaign {campaign.metadata.get('campaign')}, measured now"


def figure(
    name: str,
    campaign: Campaign,
    *,
    analysis: Analysis | None = None,
    unit: str | None = None,
    levels: Iterable[str] | None = None,
    config: AnalysisConfig | None = None,
    size: tuple[float, float] = (9.0, 5.0),
    include_flagged: bool = False,
) -> Figure:
    """One figure as a standalone matplotlib Figure, its data file named above the plot.

    The Figure is not registered with pyplot, so nothing else shows it twice and it is
    freed with its last reference. ``unit`` defaults to ns where the TSC frequency is known.
    It draws the blocks ``hvload report`` analyses (:func:`hvload.report.admitted`):
    blocks flagged ``load_ok = False`` are left out unless ``include_flagged``. See
    :func:`draw_figure` for the other parameters.
    """
    from matplotlib.figure import Figure

    from .report import admitted

    # Idempotent: a campaign already admitted (the widgets', write_campaign's) is kept as is.
    campaign = admitted(campaign, include_flagged=include_flagged)
    if unit is None:
        unit = "ns" if campaign.metadata.get("tsc_hz") else "cycles"
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    draw_figure(name, campaign, analysis=analysis, ax=ax, unit=unit, levels=levels, config=config)
    # The plot's own title says what and where; the file name ties a PNG to its data.
    fig.suptitle(_source(campaign), x=0.01, ha="left", fontsize="small", color="0.35")
    return fig


def figure_png(name: str, campaign: Campaign, *, dpi: int = 90, **kwargs: Any) -> bytes:
    """:func:`figure` rendered to PNG bytes (keyword arguments as for :func:`figure`)."""
    import io

    buf = io.BytesIO()
    figure(name, campaign, **kwargs).savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def figure_image(name: str, campaign: Campaign, *, dpi: int = 90, **kwargs: Any) -> Any:
    """:func:`figure` as an ``IPython.display.Image``, for ``display()`` in a notebook.

    A PNG is shown whatever matplotlib backend the kernel has: under ``MPLBACKEND=Agg``
    (headless runs) a bare Figure would display as text only.
    """
    from IPython.display import Image

    return Image(data=figure_png(name, campaign, dpi=dpi, **kwargs), format="png")


def markdown_table(frame: pd.DataFrame, *, index: bool = True) -> str:
    """A GitHub-flavoured Markdown table (pandas' own needs ``tabulate``, not a dependency)."""
    df = frame.reset_index() if index else frame
    header = [str(c) for c in df.columns]

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join(lines) + "\n"


def survey_table(profile: Profile | None = None, *, base: Profile | None = None) -> pd.DataFrame:
    """The survey for ``profile`` (default: the thesis's, i.e. Table 7.1) as shown in print.

    Parameters
    ----------
    profile
        Framework profile to judge for; :data:`hvload.survey.THESIS` by default.
    base
        When given, a ``was`` column holds the verdict for ``base`` on rows that differ
        (and is empty elsewhere).

    Returns
    -------
    pandas.DataFrame
        Indexed by the survey's name of each call: code (hex), class, verdict, reasons; a
        hypothetical profile adds a ``framework`` column that says so on every row.
    """
    from . import survey

    profile = survey.THESIS if profile is None else profile
    df = survey.to_frame(profile)
    out = df[["survey_name", "code", "class", "verdict", "reasons"]].copy()
    out["code"] = out["code"].map(lambda c: f"0x{int(c):04X}")
    out["class"] = out["class"] + df["variable_header"].map({True: " + var. header", False: ""})
    out["verdict"] = out["verdict"].astype(str)
    if base is not None:
        changed = {c.after.call.name: c.before.verdict.value for c in survey.changes(base, profile)}
        out.insert(4, "was", [changed.get(n, "") for n in out.index])
    if profile.hypothetical:
        out.insert(0, "framework", f"{profile.name} (HYPOTHETICAL)")
    return out.set_index("survey_name").rename_axis("hypercall")


def _counts(table: pd.DataFrame) -> str:
    counts = table["verdict"].value_counts()
    order = ("suitable", "maybe", "unsuitable")
    return f"{len(table)} calls: " + ", ".join(f"{int(counts.get(v, 0))} {v}" for v in order)


def write_survey(out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write Table 7.1 and the table re-judged for a hypothetical framework into ``out_dir``.

    CSV and Markdown each: ``table_7_1`` (the rules with the thesis's framework),
    ``table_7_1_ring0_hypothetical`` (the same rules for
    :data:`hvload.survey.RING0_HYPOTHETICAL`, a ring-0 framework with rep and
    variable-header support that does not exist) and ``table_7_1_changes`` (its rows that
    differ). Titles and a ``framework`` column mark the re-judged tables hypothetical. hvload
    itself issues hypercalls from CPL 3 and can execute none of the calls on any platform
    (``hvload survey --framework hvload``), so it has no re-judged table here.
    """
    from . import survey

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hypo = survey.RING0_HYPOTHETICAL
    thesis = survey_table(survey.THESIS)
    rejudged = survey_table(hypo, base=survey.THESIS)
    changed = rejudged[rejudged["was"] != ""]
    written = []
    for stem, table, title in (
        ("table_7_1", thesis, f"Table 7.1 reproduced from the rules: {survey.THESIS.description}"),
        (
            "table_7_1_ring0_hypothetical",
            rejudged,
            f"HYPOTHETICAL: the survey re-judged for {hypo.description}",
        ),
        (
            "table_7_1_changes",
            changed,
            "HYPOTHETICAL: rows whose verdict changes for a ring-0 framework with rep and "
            "variable-header support",
        ),
    ):
        csv = out / f"{stem}.csv"
        table.to_csv(csv)
        md = out / f"{stem}.md"
        md.write_text(f"# {title}\n\n{markdown_table(table)}\n{_counts(table)}\n")
        written += [csv, md]
    return written


def write_campaign(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    config: AnalysisConfig | None = None,
    unit: str | None = None,
    dpi: int = 110,
    step: Callable[[str], None] | None = None,
) -> list[Path]:
    """Every figure of ``hvload.plots.FIGURES`` as PNG and the report as text and JSON.

    Outputs go to ``out_dir/<file stem>/``: ``<figure>.png``, ``report.txt`` (what
    ``hvload report`` prints) and ``report.json`` (``hvload report --json``).
    Report and figures rest on the blocks the block policy admits
    (:class:`hvload.report.CampaignReport`); the report names those it left out.
    ``step`` is called with the name of each part as it is done (analysis, each
    figure, report): ``len(FIGURES) + 2`` calls.
    """
    from .report import CampaignReport
    from .store import load

    camp = load(path)
    target = Path(out_dir) / Path(path).stem
    target.mkdir(parents=True, exist_ok=True)
    report = CampaignReport.build(camp, config)
    done = step if step is not None else (lambda name: None)
    done("analysis")
    written = []
    for name in _figures():
        fig = figure(name, report.used, analysis=report.analysis, unit=unit)
        png = target / f"{name}.png"
        fig.savefig(png, dpi=dpi)
        written.append(png)
        done(name)
    text = target / "report.txt"
    text.write_text(report.to_text())
    js = target / "report.json"
    js.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    done("report")
    return [*written, text, js]


def reproduce(
    data_dir: str | os.PathLike[str] = "data",
    out_dir: str | os.PathLike[str] = "figures",
    *,
    files: Iterable[str | os.PathLike[str]] | None = None,
    config: AnalysisConfig | None = None,
    unit: str | None = None,
    progress: bool = False,
) -> list[Path]:
    """Regenerate the survey tables and, per campaign, every figure and report.

    Nothing is measured: this works where no trap can be issued.

    Parameters
    ----------
    data_dir
        Directory of campaign files; a relative path is also looked for from parent
        directories (see :func:`hvload.notebook.find_data_dir`).
    out_dir
        Where to write; created if missing. Existing files of the same names are replaced.
    files
        Campaign files to use (paths, or names inside ``data_dir``); all ``*.parquet``
        files of ``data_dir`` when None.
    config
        Analysis configuration of the reports and figures (:data:`hvload.stats.DEFAULT`
        when None, as ``hvload report`` uses).
    unit
        ``"cycles"`` or ``"ns"``; by default ns where a campaign records its TSC frequency.
    progress
        Show a progress bar (``tqdm.auto``: a widget in a notebook, text elsewhere) that
        advances with each analysis, figure and report, naming the file and the part.

    Returns
    -------
    list of pathlib.Path
        Every file written, tables first, then per campaign its figures and reports.
    """
    from tqdm.auto import tqdm

    out = Path(out_dir)
    if files is None:
        chosen = campaign_files(find_data_dir(data_dir))
    else:
        chosen = [resolve_campaign(f, data_dir) for f in files]
    per_file = len(_figures()) + 2
    with tqdm(
        total=1 + per_file * len(chosen), unit="part", desc="reproduce", disable=not progress
    ) as bar:
        bar.set_postfix_str("Table 7.1")
        written = write_survey(out)
        bar.update()
        for path in chosen:

            def step(name: str, path: Path = path) -> None:
                bar.set_postfix_str(f"{path.name}: {name}")
                bar.update()

            written += write_campaign(path, out, config=config, unit=unit, step=step)
    return written
