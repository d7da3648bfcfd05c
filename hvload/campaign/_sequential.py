"""The runner's side of a sequential campaign (``hvload run --until decided``).

The design is built for the most rounds (``max_rounds``); :class:`Sequential` watches
the blocks as they are measured and, when a round that is a planned look completes,
takes the look with :func:`hvload.stats.sequential.look` on everything measured so far,
through the block policy the report uses (:func:`usable`, then
:func:`hvload.stats.analyze`, which is what ``hvload report`` runs for a campaign in
memory). The first look where every comparison is decided, or the last, stops the run
at that round's end. What it did goes into the campaign's metadata as ``sequential``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from .. import stats
from ..model import BlockResult, Campaign
from ..stats.sequential import DEFAULT_LOOKS, METHOD, Look, Looks, look, plan_looks
from ._policy import usable

__all__ = ["SAMPLE_KEEP", "Sequential"]

#: The sample columns a look's analysis reads (the rest stay in the file only).
SAMPLE_KEEP = ("round", "level", "level_index", "block", "probe_index", "sample", "cycles",
               "response", "migrated", "warmup")  # fmt: skip


class Sequential:
    """Takes the planned looks of a sequential campaign as its blocks are measured.

    Parameters
    ----------
    looks
        The planned looks (:func:`hvload.stats.sequential.plan_looks`).
    config
        The analysis configuration; its ``alpha`` is the campaign's (``looks.alpha``).
    n_levels
        Levels per round: a round is complete after this many blocks of it.
    until
        ``"decided"`` or ``"decided-median"`` (:data:`hvload.stats.sequential.UNTIL`).
    max_seconds
        A time limit: at the end of the first round after it, that round becomes the
        next planned look, and the last. The looks taken stay at most the planned
        number, each at ``alpha / looks``, so the union bound holds as planned.
    """

    def __init__(
        self, looks: Looks, config: stats.AnalysisConfig, n_levels: int, until: str = "decided",
        max_seconds: float | None = None,
    ) -> None:  # fmt: skip
        self.looks = looks
        self.until = until
        self.max_seconds = max_seconds
        self._t0 = time.monotonic()
        self.config = config
        self.n_levels = n_levels
        self.taken: list[Look] = []
        # Column -> one array per block: cheaper to keep than the blocks' frames.
        self._samples: dict[str, list[np.ndarray]] = {}
        self._blocks: list[dict[str, Any]] = []
        self._meta: dict[str, Any] = {}
        self._stopped_by = "stopped before a deciding look (interrupted or stop requested)"

    @classmethod
    def for_spec(cls, spec: Any, config: stats.AnalysisConfig) -> Sequential | None:
        """The sequential side of a run of ``spec`` (a :class:`~hvload.campaign.CampaignSpec`)
        analysed with ``config``; None for a campaign of fixed rounds. The looks are planned
        at the configuration's alpha and correction (a ValueError says when ``max_rounds``
        leaves no room for them)."""
        if spec.until is None:
            return None
        looks = plan_looks(
            spec.n_levels, int(spec.sizes["rounds"]), looks=spec.looks or DEFAULT_LOOKS,
            alpha=config.alpha, correction=config.correction,
        )  # fmt: skip
        return cls(looks, config, spec.n_levels, spec.until, spec.max_time)

    def start(self, meta: dict[str, Any]) -> None:
        """The run's metadata, with the plan recorded (the looks are added as taken)."""
        self._meta = meta
        self._t0 = time.monotonic()
        meta["sequential"] = self.record()

    def campaign(self) -> Campaign:
        """What has been measured so far, as a campaign in memory."""
        samples = pd.DataFrame({c: np.concatenate(v) for c, v in self._samples.items()})
        return Campaign(samples, pd.DataFrame(self._blocks), self._meta)

    def analyse(self, config: stats.AnalysisConfig) -> stats.Analysis:
        """The analysis ``hvload report`` makes of the blocks measured so far."""
        return stats.analyze(usable(self.campaign()), config)

    def after_block(self, result: BlockResult) -> bool:
        """Take ``result``; True when the run should stop after it (a deciding look)."""
        frame = result.samples
        for c in SAMPLE_KEEP:
            if c in frame.columns:
                self._samples.setdefault(c, []).append(frame[c].to_numpy())
        self._blocks.append(result.block)
        if int(result.block["position"]) != self.n_levels - 1:
            return False
        rounds = int(result.block["round"]) + 1
        index = self.looks.index(rounds)
        late = self.max_seconds is not None and time.monotonic() - self._t0 >= self.max_seconds
        if index is None and not late:
            return False
        if index is None:
            index = len(self.taken)  # the time limit takes the next planned look here
        taken = look(self.analyse, self.looks, index, self.config, self.until)
        if late:
            taken = replace(taken, rounds=rounds, last=True)
        self.taken.append(taken)
        if taken.stop:
            self._stopped_by = (
                f"every comparison decided at look {index + 1}"
                if taken.decided
                else f"time limit ({self.max_seconds:g} s) reached after {rounds} rounds "
                "with comparisons undecided"
                if late
                else f"max_rounds reached ({taken.rounds} rounds) with comparisons undecided"
            )
        self._meta["sequential"] = self.record()
        return taken.stop

    def record(self) -> dict[str, Any]:
        """The ``sequential`` metadata: the plan, the method and every look taken."""
        return {
            "until": self.until,
            "method": METHOD,
            **self.looks.to_dict(),
            "correction": self.config.correction,
            "threshold": self.config.threshold,
            "max_seconds": self.max_seconds,
            "looks": [t.to_dict() for t in self.taken],
            "stopped_by": self._stopped_by,
        }
