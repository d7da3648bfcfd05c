"""Campaign reports: the block policy, the analysis and what was left out, rendered.

:class:`CampaignReport` is what ``hvload report``, ``hvload run``, the widgets,
:mod:`hvload.reproduce` and the notebooks show; :func:`analyze` and :func:`plan` are
``hvload.analyze`` and ``hvload.plan``: the statistics of :mod:`hvload.stats` on the
blocks the block policy admits.
"""

from .campaign_report import CampaignReport, admitted, analyze, plan

__all__ = ["CampaignReport", "admitted", "analyze", "plan"]
