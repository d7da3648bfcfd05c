"""One campaign report: the block policy, the analysis, the applied load and the coverage.

Every entry point that shows a campaign's results (``hvload report`` and ``hvload run``,
:func:`hvload.analyze`, :func:`hvload.plan`, the widgets, :mod:`hvload.reproduce`, the
notebooks) goes through :class:`CampaignReport` or the two functions here, so they
analyse the same blocks and print the same numbers. The block policy itself lives in
:mod:`hvload.campaign` (``usable``): blocks flagged ``load_ok = False`` (load that was
not known to run as designed over the probe window) are left out, with a note each,
unless ``include_flagged=True``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .. import stats
from ..campaign import applied_load_text, left_out, usable
from ..model import Campaign
from ..stats import Analysis, AnalysisConfig
from ..stats.sequential import sequential_text
from ._streamed import StreamedCampaign, in_file, streamed

__all__ = ["CampaignReport", "admitted", "analyze", "plan", "sequential_config"]


def admitted(camp: Any, *, include_flagged: bool = False) -> Any:
    """The part of ``camp`` the analysis uses: the block policy applied.

    Anything that is not a :class:`~hvload.model.Campaign` (e.g. a bare sample table)
    has no block flags and comes back unchanged, as does every campaign with
    ``include_flagged=True``.
    """
    if isinstance(camp, StreamedCampaign):
        return camp
    if in_file(camp):
        # Its samples stay in the file: the analysis reads them block by block.
        return streamed(camp, (lambda c: c) if include_flagged else usable)
    if include_flagged or not isinstance(camp, Campaign):
        return camp
    return usable(camp)


def sequential_config(camp: Any, config: AnalysisConfig | None) -> AnalysisConfig | None:
    """The configuration a campaign is analysed with: for a sequential campaign
    (``metadata["sequential"]``, ``hvload run --until decided``) alpha split over its
    planned looks, the level every look was analysed at (:mod:`hvload.stats.sequential`);
    ``config`` itself for any other."""
    record = (getattr(camp, "metadata", None) or {}).get("sequential")
    if not record or not record.get("planned"):
        return config
    config = config or stats.DEFAULT
    return config.replace(alpha=config.alpha / len(record["planned"]))


def _with_policy(analysis: Analysis, used: Any) -> Analysis:
    notes = tuple((getattr(used, "metadata", None) or {}).get("left_out") or ())
    if not notes:
        return analysis
    summary = (
        f"{len(notes)} block{'s' if len(notes) != 1 else ''} left out: their load did not run "
        "as designed over the probe window (kept in the file; include_flagged=True analyses "
        "them)"
    )
    return replace(analysis, left_out=notes, notes=(*analysis.notes, summary))


def analyze(
    camp: Any,
    config: AnalysisConfig | None = None,
    *,
    include_flagged: bool = False,
    tsc_hz: float | None = None,
    **options: Any,
) -> Analysis:
    """:func:`hvload.stats.analyze` on the blocks the block policy admits.

    Blocks flagged ``load_ok = False`` are left out unless ``include_flagged``; the
    result's ``left_out`` holds one note per block left out (also in ``to_dict()``), and
    its notes say how many. Parameters otherwise as :func:`hvload.stats.analyze`.
    """
    used = admitted(camp, include_flagged=include_flagged)
    config = sequential_config(camp, (config or stats.DEFAULT).replace(**options))
    return _with_policy(stats.analyze(used, config, tsc_hz=tsc_hz), used)


def plan(camp: Any, effect: float, *, include_flagged: bool = False, **kwargs: Any) -> Any:
    """:func:`hvload.stats.plan` on the blocks the block policy admits (the same blocks
    :func:`analyze` and ``hvload report`` use)."""
    return stats.plan(admitted(camp, include_flagged=include_flagged), effect, **kwargs)


@dataclass(frozen=True)
class CampaignReport:
    """A campaign's results as every entry point shows them.

    Attributes
    ----------
    campaign
        The campaign as stored (every block).
    used
        The blocks the analysis admitted (:func:`admitted`).
    analysis
        :func:`analyze` of ``used``.
    """

    campaign: Campaign
    used: Campaign
    analysis: Analysis

    @classmethod
    def build(
        cls,
        camp: Campaign,
        config: AnalysisConfig | None = None,
        *,
        include_flagged: bool = False,
        **options: Any,
    ) -> CampaignReport:
        """Apply the block policy to ``camp`` and analyse what it admits."""
        used = admitted(camp, include_flagged=include_flagged)
        config = sequential_config(camp, (config or stats.DEFAULT).replace(**options))
        analysis = _with_policy(stats.analyze(used, config), used)
        return cls(camp, used, analysis)

    @property
    def sequential(self) -> dict[str, Any] | None:
        """A sequential campaign's looks (``metadata["sequential"]``); None for others."""
        record = self.campaign.metadata.get("sequential")
        return dict(record) if record else None

    @property
    def left_out(self) -> tuple[str, ...]:
        """One note per block the policy left out."""
        return self.analysis.left_out

    @property
    def applied_load(self) -> str:
        """The load each level actually ran (achieved rates against targets), as text."""
        return applied_load_text(self.used.blocks)

    @property
    def coverage(self) -> str:
        """How remote load agents covered the probe windows; empty without agents."""
        if not self.used.metadata.get("load_agents"):
            return ""
        from ..workload.remote import coverage_text

        return "\n" + coverage_text(self.used)

    def to_text(self, *, brief: bool = False) -> str:
        """The report as ``hvload report`` (or, ``brief``, ``hvload run``) prints it."""
        record = self.sequential
        at = self.analysis.config.alpha if self.analysis.config is not None else None
        head = "" if record is None else sequential_text(record, at) + "\n"
        return (
            head + stats.to_text(self.analysis, brief=brief) + "\n" + left_out(self.used)
            + self.applied_load + self.coverage
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The report as ``hvload report --json`` prints it (with ``sequential``, the
        looks taken, for a sequential campaign only)."""
        out = stats.to_dict(self.analysis)
        record = self.sequential
        if record is not None:
            out["sequential"] = {
                **record,
                "verdicts_are_sequential": True,
                "analysed_at_alpha": self.analysis.config.alpha
                if self.analysis.config is not None
                else None,
            }
        return out

    def __str__(self) -> str:
        return self.to_text()
