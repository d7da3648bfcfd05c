"""One analysis configuration, shared by the API, ``hvload report``/``run``, plots and widgets.

Every place that analyses a campaign takes an :class:`AnalysisConfig` (or its
fields as keyword arguments), so the numbers a user reads are the same
wherever they read them: the same samples left out, the same significance
level and practical threshold, the same baseline, the same metric.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Accepted ``correction`` names.
CORRECTIONS: tuple[str, ...] = ("holm", "bh", "none")

__all__ = ["DEFAULT", "EXCLUDABLE", "METRICS", "AnalysisConfig"]

#: Flags that ``exclude`` accepts.
EXCLUDABLE: tuple[str, ...] = ("migrated", "warmup", "outlier")
#: What can be analysed: the service time of every sample, or (open loop) the
#: response time measured from the sample's intended start.
METRICS: dict[str, str] = {
    "cycles": "service time: TSC ticks from just before the trap to just after it",
    "response": (
        "response time: TSC ticks from the sample's intended start (open-loop pacing) "
        "to just after the trap, so a late start counts"
    ),
}
_ALIASES = {"warm-up": "warmup", "outliers": "outlier", "migration": "migrated"}


def _number(name: str, value: Any, low: float, high: float, *, closed: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    inside = ok and (low <= value <= high if closed else low < value < high)
    if not inside:
        bracket = "[" if closed else "("
        close = "]" if closed else ")"
        raise ValueError(
            f"{name}={value!r} is not allowed; it must be in {bracket}{low:g}, {high:g}{close}"
        )
    return float(value)


def _exclude(value: str | Iterable[str]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    if isinstance(value, str) and value.strip().lower() == "none":
        return ()
    flags: list[str] = []
    for item in items:
        name = _ALIASES.get(str(item).strip(), str(item).strip())
        if name not in EXCLUDABLE:
            raise ValueError(f"cannot exclude {item!r}; allowed: {list(EXCLUDABLE)} or 'none'")
        if name not in flags:
            flags.append(name)
    return tuple(flags)


@dataclass(frozen=True)
class AnalysisConfig:
    """How a campaign is analysed.

    Parameters
    ----------
    alpha : float, default 0.05
        Significance level of the family of comparisons; intervals are at
        ``1 - alpha`` and labelled so.
    threshold : float, default 0.01
        Practical threshold: a change of the typical block statistic smaller than
        this fraction (of the reference's own statistic) does not matter.
    correction : {"holm", "bh", "none"}, default "holm"
        Multiplicity adjustment over all comparisons (median and p99 together).
    exclude : str or iterable of str, default ("warmup",)
        Flagged samples left out: ``"warmup"`` (declared by the design),
        ``"migrated"``, ``"outlier"``; ``"none"`` or ``()`` keeps everything.
    metric : {"cycles", "response"}, default "cycles"
        Service time, or open-loop response time (see :data:`METRICS`).
    baseline : str, optional
        Label of the reference level; by default the campaign's recorded baseline,
        else the level with the lowest load.
    probe : str, optional
        Which probe to analyse, by label; the main probe by default (a campaign may
        measure control probes beside it, see :func:`hvload.stats.attribute`).
    power : float, default 0.8
        Power at which the minimum detectable effect is reported.
    gate : bool, default True
        Claim a pairwise change of a block statistic only when the Friedman test of
        that statistic over all levels rejects at ``alpha`` (a protected procedure:
        it can only remove claims, so the family-wise error stays controlled).
    outlier_k : float, default 10
        Scaled MADs beyond the level median that make a sample an outlier.
    n_permutations : int, default 9999
        Random within-round permutations behind the Friedman test's p-value.
    n_bootstrap : int, default 1999
        Round-cluster bootstrap resamples (and sign flips) behind the level-p99
        intervals and comparisons (:mod:`hvload.stats.tails`); 0 skips them (NaN
        intervals, no level-p99 comparisons).
    n_sim : int, default 2000
        Simulated campaigns behind the minimum detectable effect; 0 skips it.
    seed : int or None, default 0
        Seed of the permutation test and of the power simulation.
    """

    alpha: float = 0.05
    threshold: float = 0.01
    correction: str = "holm"
    exclude: tuple[str, ...] = ("warmup",)
    metric: str = "cycles"
    baseline: str | None = None
    probe: str | None = None
    power: float = 0.8
    gate: bool = True
    outlier_k: float = 10.0
    n_permutations: int = 9999
    n_bootstrap: int = 1999
    n_sim: int = 2000
    seed: int | None = 0

    def __post_init__(self) -> None:
        _number("alpha", self.alpha, 0.0, 0.5)
        _number("threshold", self.threshold, 0.0, 10.0, closed=True)
        _number("power", self.power, 0.0, 1.0)
        _number("outlier_k", self.outlier_k, 0.0, math.inf)
        if self.correction not in CORRECTIONS:
            raise ValueError(
                f"correction={self.correction!r} is not allowed; choose from {list(CORRECTIONS)}"
            )
        if not isinstance(self.gate, bool):
            raise ValueError(f"gate={self.gate!r} is not allowed; it must be True or False")
        if self.metric not in METRICS:
            raise ValueError(f"metric={self.metric!r} is not allowed; choose from {list(METRICS)}")
        for name in ("baseline", "probe"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name}={value!r} must be a label or None")
        n = self.n_permutations
        if isinstance(n, bool) or not isinstance(n, int) or n < 99:
            raise ValueError(f"n_permutations={n!r} is not allowed; it must be an integer >= 99")
        n = self.n_bootstrap
        if isinstance(n, bool) or not isinstance(n, int) or (n < 99 and n != 0):
            raise ValueError(
                f"n_bootstrap={n!r} is not allowed; it must be 0 (no level-p99 inference) "
                "or an integer >= 99"
            )
        if isinstance(self.n_sim, bool) or not isinstance(self.n_sim, int) or self.n_sim < 0:
            raise ValueError(f"n_sim={self.n_sim!r} is not allowed; it must be an integer >= 0")
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise ValueError(f"seed={self.seed!r} must be an integer or None")
        object.__setattr__(self, "exclude", _exclude(self.exclude))

    @property
    def confidence(self) -> float:
        """Confidence level of every interval: ``1 - alpha``."""
        return 1.0 - self.alpha

    @property
    def ci_label(self) -> str:
        """How intervals are labelled in tables, e.g. ``"95% CI"``."""
        return f"{round(100 * self.confidence, 6):g}% CI"

    def replace(self, **changes: Any) -> AnalysisConfig:
        """A copy with some fields changed (validated again); unknown names are an error."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown analysis option(s) {unknown}; allowed: {sorted(names)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the settings, as recorded in every analysis."""
        d = dataclasses.asdict(self)
        d["exclude"] = list(self.exclude)
        d["confidence"] = self.confidence
        return d


#: The configuration every entry point uses unless told otherwise.
DEFAULT = AnalysisConfig()
