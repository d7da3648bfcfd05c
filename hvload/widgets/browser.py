"""The Browser: one stored campaign, its levels, figure, practical threshold and verdicts.

Each control calls a plain method (``set_levels``, ``set_figure``, ``set_threshold``), and
the verdicts that follow are read back as data (:attr:`Browser.verdicts`), so it is
driven from tests without a browser.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as w
import pandas as pd

from ._common import CampaignView, level_names
from ._export import Downloads
from ._html import STYLE

if TYPE_CHECKING:
    from ..campaign import Campaign

__all__ = ["Browser"]


class Browser(CampaignView):
    """Browse one stored campaign: levels, figure type, practical threshold, verdicts.

    Parameters
    ----------
    campaign_or_path
        A campaign, or a campaign file (a path, or a name inside the data directory).
    threshold
        Initial practical threshold, a fraction of the reference's statistic (the threshold box
        shows percent).
    figure
        Initial figure, a key of ``hvload.plots.FIGURES``.
    levels
        Initially chosen levels (default: all); the reference level is chosen in its own
        control (:attr:`reference`; default: the campaign's baseline, else the lowest load).
    reference
        Initial reference level, one of the chosen levels (default as above).
    unit
        Initial unit, ``"ns"`` or ``"cycles"`` (default ns; cycles only where the
        campaign recorded no TSC frequency, whatever is asked).
    data_dir
        Where to look up a bare file name.
    root
        A folder the file must lie in (links resolved; ``hvload dashboard --data``): a
        path leading out of it is refused with :class:`PermissionError`.

    Attributes
    ----------
    whole
        The whole campaign.
    campaign, analysis
        The chosen levels and their analysis at the chosen threshold (None with no level).
    levels, threshold, figure
        The controls.
    widget
        The control as one ``ipywidgets.VBox``; the Browser displays as it.
    """

    def __init__(
        self,
        campaign_or_path: Campaign | str | os.PathLike[str],
        *,
        threshold: float = 0.01,
        figure: str = "ecdf",
        levels: Sequence[str] | None = None,
        reference: str | None = None,
        unit: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        from ..notebook import resolve_campaign
        from ..store import load
        from ._confine import confine

        self._init_views(figure, threshold, "levels")
        if isinstance(campaign_or_path, (str, os.PathLike)):
            top = Path(root).expanduser().resolve(strict=True) if root is not None else None
            if top is not None:  # relative to the root, never looked for elsewhere
                campaign = load(confine(top, campaign_or_path, "campaign file"))
            else:
                campaign = load(resolve_campaign(campaign_or_path, data_dir))
        else:
            campaign = campaign_or_path
        self.levels = self.shown
        names = level_names(campaign)
        self._quiet = True
        self.shown.options = names
        self.shown.value = tuple(levels) if levels is not None else tuple(names)
        self.shown.rows = max(2, min(8, len(names)))
        self._sync_controls(campaign, names)
        if reference is not None:
            if reference not in self.reference.options:
                raise ValueError(f"reference={reference!r} is not allowed; choose one of the "
                                 f"levels shown: {list(self.reference.options)}")  # fmt: skip
            self.reference.value = reference
        if unit is not None:
            if unit not in ("ns", "cycles"):
                raise ValueError(f"unit={unit!r} is not allowed; choose 'ns' or 'cycles'")
            if not self.unit.disabled:
                self.unit.value = unit
        self._quiet = False
        self.whole = campaign
        self.title = w.HTML(value=STYLE + self._title_html())
        self.downloads = Downloads(self, root=None if root is None else Path(root).resolve())
        self.widget = w.VBox(
            [
                self.title,
                w.HBox([self.shown, self.view_controls()]),
                self.info,
                self.downloads.widget,
                self.caption,
                self.output,
                self.table,
            ]
        )
        self.widget.add_class("hvload-browser")
        self.refresh()

    def _title_html(self) -> str:
        assert self.whole is not None
        meta = self.whole.metadata
        name = self.whole.path.name if self.whole.path is not None else "campaign"
        probe = meta.get("design", {}).get("probe_label")
        return (
            f"<b>{html.escape(name)}</b>: probe <code>{html.escape(str(probe))}</code>, "
            f"{html.escape(str(meta.get('cpu')))}, hypervisor "
            f"{html.escape(str(meta.get('hypervisor')))}"
        )

    @property
    def verdicts(self) -> pd.DataFrame:
        """Comparisons of the current analysis: reference, level, on, change, p, verdict."""
        if self.analysis is None:
            return pd.DataFrame(columns=["reference", "level", "on", "verdict"])
        cols = ["reference", "level", "on", "relative_change", "pvalue_adjusted", "verdict"]
        return self.analysis.comparisons[cols].reset_index(drop=True)

    def baseline_verdicts(self, on: str = "median") -> Mapping[str, str]:
        """``level -> verdict`` against the reference level (:attr:`reference`), on ``on``."""
        v = self.verdicts
        if v.empty:
            return {}
        reference = self.reference.value if self.campaign is not None else None
        v = v[(v["on"] == on) & (v["reference"] == reference)]
        return dict(zip(v["level"].astype(str), v["verdict"].astype(str), strict=True))

    def set_levels(self, levels: Sequence[str]) -> None:
        """Choose the levels to show (the reference level is :attr:`reference`'s)."""
        self.levels.value = tuple(levels)

    def set_figure(self, name: str) -> None:
        """Choose the figure type (a key of ``hvload.plots.FIGURES``)."""
        self.figure.value = name

    def set_threshold(self, fraction: float) -> None:
        """Set the practical threshold as a fraction of the median (0.02 = 2 %)."""
        self.threshold.value = 100 * fraction
