"""Compare: two stored campaigns side by side, with ``hvload compare``'s own analysis.

A *baseline* and a *candidate* campaign are chosen from a data folder (the files the
dashboard's Browse tab offers); :meth:`Compare.compare` runs
:func:`hvload.datasets.compare.compare` on the pair, exactly as ``hvload compare BASELINE
CANDIDATE`` does (the baseline is the reference; every file verified; the same settings
but the practical threshold of the box), and shows

* a figure: the typical block median and p99 of every level of both campaigns with their
  intervals and verdicts (:meth:`CampaignComparison.figure`, the figure of ``hvload compare
  --figure``), or the ECDFs of the compared levels overlaid
  (:func:`hvload.plots.compare.compare_ecdf`); its values show on hover
  (:mod:`hvload.widgets._hover`);
* the change table: per compared level and statistic, both typical values, the change of
  the candidate in % of the baseline with its interval, the adjusted p-value and the
  verdict; and what could and could not be compared (the notes ``hvload compare`` prints).

A file that cannot be compared (damaged, not a campaign, the same file twice) is said in
one line; the controls stay usable. Every control calls a plain method, so the widget is
driven from tests and notebooks without a browser.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import numpy as np
import pandas as pd

from ._common import figure_output, text_output, threshold_box
from ._runs import BOX_STYLE, folder_files

if TYPE_CHECKING:
    from ..datasets import CampaignComparison

__all__ = ["FIGURES", "GROUPINGS", "Compare", "changes_html"]

#: What the Compare view compares: '' two files, else a column of
#: :attr:`hvload.datasets.Dataset.campaigns` that groups every campaign of the folder.
GROUPINGS = {
    "": "two files: baseline and candidate", "cpu_brand": "the folder, grouped by CPU",
    "host": "the folder, grouped by host", "hypervisor": "the folder, grouped by hypervisor",
    "kernel": "the folder, grouped by kernel", "probe": "the folder, grouped by probe",
    "date": "the folder, grouped by date",
}  # fmt: skip
#: The figures the Compare view offers: value -> label.
FIGURES = {"levels": "median and p99 per level", "ecdf": "ECDF, compared levels overlaid"}

_VERDICT_COLOURS = {
    "slower": "#f4c7c3", "faster": "#c8e6c9", "negligible": "#fff3c4",
    "inconclusive": "#ffe0b2", "no evidence": "#eeeeee", "not enough data": "#e0e0e0",
}  # fmt: skip


def _value(v: float, low: float, high: float) -> str:
    if not np.isfinite(v):
        return "-"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{v:,.0f}"
    # The interval under the value: the table then fits an 800 px window unscrolled.
    return f'{v:,.0f}<br><span style="color:#555">[{low:,.0f}, {high:,.0f}]</span>'


def changes_html(result: CampaignComparison, baseline: str, candidate: str) -> str:
    """The change table of a comparison of two campaigns as HTML (values escaped).

    One row per compared level and statistic: the baseline's and the candidate's typical
    block statistic with its interval (in the comparison's unit), the candidate's change
    in % of the baseline with its interval, the adjusted p-value and the verdict
    (coloured; its message on hover). Levels only one campaign has are named below it.
    """
    comp = result.comparisons
    lv = result.levels
    cfg = result.config
    ci = cfg.ci_label
    unit = html.escape(result.unit)
    several = comp["group"].nunique() > 1
    head = ["level" + (" (group)" if several else ""), "statistic",
            f"baseline ({unit}) {ci}", f"candidate ({unit}) {ci}",
            "change (%)", f"{ci} (%)", "p (adj.)", "verdict"]  # fmt: skip
    rows = []
    records: list[dict[str, Any]] = [{str(k): v for k, v in r.items()}
                                     for r in comp.to_dict("records")]  # fmt: skip
    values: dict[tuple[str, str], dict[str, Any]] = {
        (str(r["level"]), str(r["group"])): {str(k): v for k, v in r.items()}
        for r in lv.to_dict("records")
    }
    for r in records:
        on = str(r["on"])
        group_note = f'<br><span style="color:#555">{html.escape(str(r["group"]))}</span>'
        cells = [html.escape(str(r["level"])) + (group_note if several else ""),
                 "typical-block p99" if on == "p99" else html.escape(on)]  # fmt: skip
        for group in (result.reference, r["group"]):
            h = values.get((str(r["level"]), str(group)))
            cells.append("-" if h is None else
                         _value(h[on], h[f"{on}_ci_low"], h[f"{on}_ci_high"]))  # fmt: skip
        rel, low, high = (float(r[k]) for k in ("relative_change", "relative_change_low",
                                                 "relative_change_high"))  # fmt: skip
        cells.append(f"{100 * rel:+.2f}" if np.isfinite(rel) else "-")
        cells.append(f"{100 * low:+.2f} ..<br>{100 * high:+.2f}"
                     if np.isfinite(low) and np.isfinite(high) else "-")  # fmt: skip
        p = float(r["pvalue_adjusted"])
        cells.append(f"{p:.3g}" if np.isfinite(p) else "-")
        tds = "".join(
            f'<td style="text-align:{"left" if k < 2 else "right"}; white-space:nowrap">{c}</td>'
            for k, c in enumerate(cells)
        )
        verdict = str(r["verdict"])
        title = html.escape(str(r["message"] or ""), quote=True)
        colour = _VERDICT_COLOURS.get(verdict, "#fff")
        tds += (
            f'<td class="hvload-verdict" style="background:{colour}; white-space:nowrap" '
            f'title="{title}"><b>{html.escape(verdict)}</b></td>'
        )
        rows.append(f"<tr>{tds}</tr>")
    if not rows:
        table = "<p><b>No level in common</b>: nothing could be compared (see the notes).</p>"
    else:
        table = (
            '<div class="hvload-table-box" style="overflow-x:auto; max-width:100%">'
            '<table class="hvload-change-table" style="border-collapse:collapse" border="1" '
            'cellpadding="3"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
        )  # fmt: skip
    counts = comp["verdict"].value_counts()
    summary = ", ".join(f"{n} {html.escape(str(v))}" for v, n in counts.items()) or "no test"
    tests = len(comp)
    intro = (
        f"<p><b>{html.escape(candidate)}</b> (candidate) against <b>{html.escape(baseline)}"
        f"</b> (baseline), level by level: typical block median and p99 in {unit}. Change = "
        f"Hodges-Lehmann shift of the candidate's log block statistics over the baseline's, "
        f"in %; p from the Mann-Whitney test, adjusted ({html.escape(cfg.correction)}) over "
        f"{tests} test{'s' if tests != 1 else ''}; the {ci} of the change is not adjusted, "
        f"so an interval that excludes 0 can stand beside 'no evidence' when the adjusted p "
        f"misses alpha {cfg.alpha:g}. Practical threshold {100 * cfg.threshold:.2f}&nbsp;%; "
        f"{summary}.</p>"
    )
    caveats = [n for n in result.notes if n.startswith("CAVEAT")]
    others = [n for n in result.notes if not n.startswith("CAVEAT")]
    notes = "".join(
        f'<p style="color:#b00020"><b>{html.escape(n)}</b></p>' for n in caveats
    ) + (
        f"<details><summary>What can and cannot be compared ({len(others)} notes)</summary>"
        "<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in others) + "</ul></details>"
        if others else ""
    )  # fmt: skip
    return intro + table + notes


class Compare:
    """Two stored campaigns compared: a baseline and a candidate from a data folder.

    Parameters
    ----------
    data_dir
        The folder of campaign files offered (its ``runs/`` too); default the root, else
        :func:`hvload.notebook.find_data_dir`.
    baseline, candidate
        Files to compare at once (names relative to ``data_dir``, or paths); without
        both nothing is computed until :meth:`compare` (the Compare button).
    threshold
        Practical threshold, a fraction of the baseline's statistic (the box shows %).
    figure
        The figure shown first, a key of :data:`FIGURES`.
    root
        The folder the widget may read in (``hvload dashboard --data``): a file outside
        it is refused in one line.

    Attributes
    ----------
    result
        The :class:`~hvload.datasets.CampaignComparison` shown (None before the first
        comparison or after a refused one).
    error
        The one-line error of the last :meth:`compare` ('' when it succeeded).
    widget
        Everything as one ``ipywidgets.VBox``; the Compare displays as it.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        baseline: str | os.PathLike[str] | None = None,
        candidate: str | os.PathLike[str] | None = None,
        threshold: float = 0.01,
        figure: str = "levels",
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        from ..notebook import find_data_dir
        from ..stats import DEFAULT
        from ._confine import confine

        self.root = Path(root).expanduser().resolve(strict=True) if root is not None else None
        if self.root is not None:
            self.data: Path | None = confine(self.root, data_dir or self.root, "data_dir")
        else:
            try:
                self.data = find_data_dir(data_dir)
            except FileNotFoundError:
                self.data = Path(data_dir) if data_dir is not None else None
        self.config = DEFAULT.replace(threshold=float(threshold))
        self.result: CampaignComparison | None = None
        self.error = ""
        self._pair: tuple[Path, Path] | None = None  # two files (the ECDF overlays them)
        # What is compared: the files, the grouping column (None: one group per file), the
        # baseline file (its group is the reference).
        self._job: tuple[tuple[Path, ...], str | None, Path] | None = None
        self._dataset: Any = None  # (pair, dataset, block table): a threshold reuses them
        self._campaigns: dict[Path, Any] = {}
        tip = "the campaign compared against (the reference)"
        self.baseline = w.Dropdown(description="baseline", layout=w.Layout(width="460px"),
                                   tooltip=tip)  # fmt: skip
        tip = "the campaign whose change is measured"
        self.candidate = w.Dropdown(description="candidate", layout=w.Layout(width="460px"),
                                    tooltip=tip)  # fmt: skip
        self.threshold = threshold_box(threshold, "baseline's")
        self.figure = w.Dropdown(
            options=[(label, key) for key, label in FIGURES.items()],
            value=figure if figure in FIGURES else "levels", description="figure",
            layout=w.Layout(width="360px"),
        )  # fmt: skip
        self.by = w.Dropdown(
            options=[(label, key) for key, label in GROUPINGS.items()], value="",
            description="compare", layout=w.Layout(width="460px"),
            tooltip="two files, or every campaign of the folder grouped by a column "
            "(the baseline's group is the reference)",
        )  # fmt: skip
        self.by.observe(lambda change: self._mode(), names="value")
        self.button = w.Button(description="Compare", icon="balance-scale", button_style="primary",
                               tooltip="compare the candidate with the baseline")  # fmt: skip
        self.rescan = w.Button(description="Rescan", icon="refresh",
                               tooltip="look for new campaign files")  # fmt: skip
        self.status = w.HTML(value="<p>Choose a baseline and a candidate, then Compare.</p>")
        self.output = w.Output(layout=w.Layout(display="none"))
        self.table = w.HTML(value="")
        for control, css in (
            (self.baseline, "baseline"), (self.candidate, "candidate"),
            (self.threshold, "threshold"), (self.figure, "figure"), (self.button, "compare-button"),
            (self.rescan, "rescan"), (self.status, "status"), (self.by, "by"),
            (self.output, "output"), (self.table, "table"),
        ):  # fmt: skip
            control.add_class(f"hvload-{css}")
        self.button.on_click(lambda _: self.compare())
        self.rescan.on_click(lambda _: self.scan())
        self.figure.observe(lambda change: self.draw(), names="value")
        self.threshold.observe(lambda change: self._rethreshold(), names="value")
        self.widget = w.VBox(
            [
                w.HTML(BOX_STYLE),
                self.by,
                w.HBox([self.baseline, self.rescan]),
                w.HBox([self.candidate, self.button]),
                w.HBox([self.figure, self.threshold]),
                self.status,
                self.output,
                self.table,
            ]
        )
        self.widget.add_class("hvload-compare")
        self.scan()
        if baseline is not None and candidate is not None:
            self.compare(baseline, candidate)

    def _mode(self) -> None:
        """A grouped comparison has no candidate file: its box is disabled."""
        self.candidate.disabled = bool(self.by.value)

    # ------------------------------------------------------------------ files

    def _choices(self) -> list[tuple[str, str]]:
        files = folder_files(self.data, self.root)
        assert self.data is not None or not files
        return [
            (str(p.relative_to(self.data)) if self.data and p.is_relative_to(self.data)
             else p.name, str(p))
            for p in files
        ]  # fmt: skip

    def scan(self) -> None:
        """Offer the campaign files now in the folder (the choice kept where it still is)."""
        options = self._choices()
        values = [v for _, v in options]
        for box, default in ((self.baseline, 0), (self.candidate, 1)):
            current = box.value
            box.options = options
            box.value = (
                current if current in values
                else values[min(default, len(values) - 1)] if values else None
            )  # fmt: skip

    def _path(self, value: str | os.PathLike[str], what: str) -> Path:
        from ..notebook import resolve_campaign
        from ._confine import confine

        if self.root is not None:  # relative to the folder, never looked for elsewhere
            text = os.fspath(value)
            return confine(self.root, text if Path(text).is_absolute() else
                           (self.data or self.root) / text, f"{what} file")  # fmt: skip
        return resolve_campaign(value, self.data)

    # ------------------------------------------------------------------ comparing

    def compare(
        self,
        baseline: str | os.PathLike[str] | None = None,
        candidate: str | os.PathLike[str] | None = None,
        *,
        by: str | None = None,
    ) -> CampaignComparison | None:
        """Compare ``candidate`` with ``baseline`` (default: the two boxes' files).

        With ``by`` (default: the ``compare`` box; '' or None for two files), every
        campaign of the folder is compared, grouped by that column of
        :attr:`hvload.datasets.Dataset.campaigns` (``hvload compare FOLDER --by COLUMN``),
        with the baseline's group as the reference; ``candidate`` is not used.

        Returns the comparison, or None when it was refused; then :attr:`error` holds
        the one line the page shows.
        """
        by = by if by is not None else (self.by.value or None)
        self.button.disabled = True
        self.status.value = "<p><i>Comparing (every file verified first)...</i></p>"
        try:
            a = self._path(baseline if baseline is not None else self.baseline.value or "",
                           "baseline")  # fmt: skip
            if by:
                files = tuple(folder_files(self.data, self.root))
                self._pair, self._job = None, (files, by, a)
            else:
                b = self._path(candidate if candidate is not None else self.candidate.value
                               or "", "candidate")  # fmt: skip
                if a.resolve() == b.resolve():
                    raise ValueError(
                        f"baseline and candidate are the same file ({a.name}); choose two "
                        "campaigns to compare"
                    )
                self._pair, self._job = (a, b), ((a, b), None, a)
            self._run()
        except Exception as exc:  # a file that cannot be compared is one line, not a traceback
            self._fail(exc)
        finally:
            self.button.disabled = False
        return self.result

    def _run(self) -> None:
        """The comparison of :attr:`_job` at the threshold box's value."""
        from ..datasets import dataset
        from ..datasets.compare import compare

        assert self._job is not None
        files, by, base = self._job
        self.config = self.config.replace(threshold=float(self.threshold.value) / 100)
        cached = self._dataset
        if cached is None or cached[0] != (files, by):
            # What `hvload compare A B` (or `FOLDER --by COLUMN`) does: every file verified.
            ds = dataset(list(files), verify=True)
            blocks = ds.block_table(self.config, probe_only=True)
            cached = self._dataset = ((files, by), ds, blocks)
        ds = cached[1]
        reference = None
        if by:
            camps = ds.campaigns
            if by not in camps.columns:
                raise ValueError(f"by={by!r} is not a campaign column; choose from "
                                 f"{list(camps.columns)}")  # fmt: skip
            mine = camps[[Path(f).resolve() == base.resolve() for f in camps["file"]]]
            if mine.empty:
                raise ValueError(f"the baseline {base.name} is not among the folder's files")
            value = mine[by].iloc[0]
            reference = "(none)" if value is None or value != value else str(value)
        # The threshold changes only the verdicts: the block statistics are reused.
        result = compare(ds, by=by, reference=reference, config=self.config, blocks=cached[2])
        self.result, self.error = result, ""
        others = [str(g) for g in result.groups["group"] if g != result.reference]
        ref = html.escape(str(result.reference))
        if by:
            self.status.value = (
                f"<p>Compared {len(ds.campaigns)} campaigns grouped by <b>{html.escape(by)}"
                f"</b>: {', '.join(f'<b>{html.escape(g)}</b>' for g in others)} against the "
                f"baseline's group <b>{ref}</b>; {len(result.comparisons)} tests.</p>"
            )
        else:
            self.status.value = (
                f"<p>Compared <b>{html.escape(others[0])}</b> (candidate) with <b>{ref}</b> "
                f"(baseline): {len(result.comparisons)} tests.</p>"
            )
        self.table.value = changes_html(result, str(result.reference), ", ".join(others))
        self.draw()

    def _rethreshold(self) -> None:
        if self._job is None or self.result is None:
            return
        try:
            self._run()
        except Exception as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        self.result = None
        self._dataset = None
        first = str(exc).splitlines()[0] if str(exc) else ""
        self.error = f"{type(exc).__name__}: {first}"
        self.status.value = (
            f'<p><span style="color:#b00020"><b>{html.escape(type(exc).__name__)}</b>: '
            f"{html.escape(first)}</span></p>"
        )
        self.table.value = ""
        self.output.outputs = ()
        self.output.layout.display = "none"

    # ------------------------------------------------------------------ the figure

    def _loaded(self, path: Path) -> Any:
        from ..report import admitted
        from ..store import load

        if path not in self._campaigns:
            # The blocks the comparison used: those the block policy admits.
            self._campaigns = {path: admitted(load(path)), **self._campaigns}
            while len(self._campaigns) > 2:
                self._campaigns.pop(next(reversed(self._campaigns)))
        return self._campaigns[path]

    def draw(self) -> None:
        """Render the chosen figure of the comparison shown (nothing before one)."""
        result = self.result
        if result is None:
            return
        name = self.figure.value
        if name == "ecdf" and self._pair is None:
            self.output.outputs = (
                text_output("The ECDF overlay is drawn for two files (one campaign each); "
                            "choose 'two files' to see it."),
            )  # fmt: skip
            self.output.layout.display = None
            return
        try:
            import matplotlib.pyplot as plt

            if name == "ecdf":
                from ..plots.compare import compare_ecdf

                groups = list(result.groups["group"])
                pair = self._pair
                assert pair is not None  # the ECDF of a grouped comparison returned above
                campaigns = {g: self._loaded(p) for g, p in zip(groups, pair, strict=True)}
                fig = compare_ecdf(result, campaigns, figsize=(8.0, 5.0))
            else:
                fig = result.figure(figsize=(8.0, 6.2))
            output = figure_output(
                fig, f"<hvload compare figure {name}>", f"comparison figure {name}"
            )
            plt.close(fig)
        except Exception as exc:  # a figure that cannot be drawn leaves the table up
            outputs = (text_output(f"figure {name!r} failed: {exc}"),)
        else:
            outputs = (output,)
        self.output.outputs = outputs
        self.output.layout.display = None

    @property
    def changes(self) -> pd.DataFrame:
        """The change table as data: level, on, change and interval, adjusted p, verdict."""
        cols = ["level", "on", "relative_change", "relative_change_low",
                "relative_change_high", "pvalue_adjusted", "verdict"]  # fmt: skip
        if self.result is None:
            return pd.DataFrame(columns=cols)
        return self.result.comparisons[cols].reset_index(drop=True)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
