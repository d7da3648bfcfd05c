"""Result objects, shaped like scipy's: named fields, ``confidence_interval()``, ``to_dict()``.

Every figure that could not be computed is NaN together with a ``status`` of
``"not enough data"`` and a ``message`` that says why, so no p-value is ever
reported without the data to back it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import pandas as pd

__all__ = [
    "NOT_ENOUGH_DATA",
    "VERDICTS",
    "Analysis",
    "Comparison",
    "ConfidenceInterval",
    "LevelSummary",
    "TestResult",
    "jsonable",
]

#: Status and verdict used wherever a test or interval lacks the data it needs.
NOT_ENOUGH_DATA = "not enough data"
#: Every verdict a comparison can carry.
VERDICTS: tuple[str, ...] = ("no evidence", "negligible", "slower", "faster", NOT_ENOUGH_DATA)


def jsonable(value: Any) -> Any:
    """Convert numpy scalars, NaN and containers into plain JSON-ready Python values."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class ConfidenceInterval(NamedTuple):
    """A two-sided interval, as returned by scipy's ``confidence_interval()``."""

    low: float
    high: float


@dataclass(frozen=True)
class TestResult:
    """One hypothesis test on block-level statistics.

    Attributes
    ----------
    test : str
        ``"friedman"``, ``"page"`` or ``"wilcoxon"``.
    on : str
        The block statistic tested: ``"median"`` or ``"p99"``.
    statistic, pvalue : float
        As returned by the scipy function; NaN when not computed.
    n_rounds, n_levels : int
        Rounds (complete ones) and levels that entered the test.
    status : str
        ``"ok"`` or ``"not enough data"``.
    message : str
        Why the test was not computed, or a caveat.
    """

    __test__ = False  # keeps pytest from collecting this class

    test: str
    on: str
    statistic: float
    pvalue: float
    n_rounds: int
    n_levels: int
    status: str = "ok"
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(asdict(self))


@dataclass(frozen=True)
class Comparison:
    """One pairwise comparison of a level against a reference level.

    The test is a Wilcoxon signed-rank test on the per-round differences of the
    block statistic ``on``. The effect is the ratio of pooled medians
    (``on == "median"``) or the difference of pooled p99 in cycles
    (``on == "p99"``), level over/minus reference, with a paired block-bootstrap
    CI over rounds.

    Attributes
    ----------
    reference, level : str
        Level labels; the effect is ``level`` relative to ``reference``.
    on : str
        ``"median"`` or ``"p99"``.
    kind : str
        ``"baseline"``, ``"neighbour"`` or ``"baseline, neighbour"``.
    n_rounds : int
        Rounds holding both levels.
    statistic, pvalue, pvalue_adjusted : float
        Wilcoxon statistic, raw and multiplicity-adjusted p-value.
    effect, effect_low, effect_high : float
        Point estimate and CI (ratio, or difference in cycles).
    effect_ns, effect_ns_low, effect_ns_high : float
        The p99 difference in ns; NaN for ratios or without a TSC frequency.
    reference_value, level_value : float
        Pooled median or p99 of each level, in cycles.
    relative_change : float
        Effect as a fraction of the reference's pooled median; compared with
        the practical threshold.
    cles : float
        Common-language effect size on pooled samples: P(level sample >
        reference sample) + P(equal) / 2. Descriptive only: it ignores the
        dependence between samples and carries no test.
    verdict : str
        One of :data:`VERDICTS`.
    message : str
        Caveats, or why there is not enough data.
    """

    reference: str
    level: str
    on: str
    kind: str
    n_rounds: int
    statistic: float
    pvalue: float
    pvalue_adjusted: float
    effect: float
    effect_low: float
    effect_high: float
    effect_ns: float
    effect_ns_low: float
    effect_ns_high: float
    reference_value: float
    level_value: float
    relative_change: float
    cles: float
    verdict: str
    message: str = ""

    def confidence_interval(self, unit: str = "cycles") -> ConfidenceInterval:
        """Bootstrap CI of the effect; ``unit="ns"`` for the p99 difference in ns."""
        if unit == "ns":
            return ConfidenceInterval(self.effect_ns_low, self.effect_ns_high)
        if unit != "cycles":
            raise ValueError(f"unit must be 'cycles' or 'ns', got {unit!r}")
        return ConfidenceInterval(self.effect_low, self.effect_high)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(asdict(self))


@dataclass(frozen=True)
class LevelSummary:
    """Summary of one load level; figures in cycles, ``*_ns`` twins in ns.

    Attributes
    ----------
    level : str
        Level label.
    level_index : int
        Position in order of increasing load (0 is the baseline).
    n_blocks : int
        Blocks (rounds) with at least one analysed sample.
    n : int
        Samples analysed (after exclusions).
    n_total : int
        Samples in the table for this level.
    n_excluded : int
        Samples dropped because of ``exclude``.
    flagged_migrated, flagged_warmup, flagged_outlier : int
        Flag counts among all samples of the level (a sample can carry several).
    flagged_share : float
        Share of all samples carrying at least one flag.
    stats : dict
        ``min, mean, median, p90, p99, p99.9, p99.99, max, iqr, mad`` in cycles,
        the same keys with ``_ns``, and ``median_ci_low`` etc. for the CIs.
    status, message : str
        ``"ok"`` or ``"not enough data"`` and why.
    """

    level: str
    level_index: int
    n_blocks: int
    n: int
    n_total: int
    n_excluded: int
    flagged_migrated: int
    flagged_warmup: int
    flagged_outlier: int
    flagged_share: float
    stats: dict[str, float] = field(default_factory=dict)
    status: str = "ok"
    message: str = ""

    def __getitem__(self, name: str) -> float:
        """A statistic by name, e.g. ``summary["p99.9"]`` or ``summary["median_ns"]``."""
        return self.stats[name]

    def confidence_interval(
        self, statistic: str = "median", unit: str = "cycles"
    ) -> ConfidenceInterval:
        """Block-bootstrap CI of ``"median"`` or ``"p99"``, in ``"cycles"`` or ``"ns"``."""
        if statistic not in ("median", "p99"):
            raise ValueError(f"statistic must be 'median' or 'p99', got {statistic!r}")
        if unit not in ("cycles", "ns"):
            raise ValueError(f"unit must be 'cycles' or 'ns', got {unit!r}")
        suffix = "_ns" if unit == "ns" else ""
        return ConfidenceInterval(
            self.stats[f"{statistic}_ci_low{suffix}"], self.stats[f"{statistic}_ci_high{suffix}"]
        )

    def row(self) -> dict[str, Any]:
        """Flat dict: the scalar fields followed by every statistic."""
        base = {k: v for k, v in asdict(self).items() if k not in ("stats", "status", "message")}
        return {**base, **self.stats, "status": self.status, "message": self.message}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self.row())


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything :func:`hvload.stats.analyze` found; render with ``str()`` or ``to_dict()``.

    Attributes
    ----------
    levels : pandas.DataFrame
        One row per level (see :class:`LevelSummary`).
    comparisons : pandas.DataFrame
        One row per comparison (see :class:`Comparison`).
    omnibus : dict of str to TestResult
        Friedman test on block medians (``"median"``) and block p99 (``"p99"``).
    trend : dict of str to TestResult
        Page's trend test (increasing with load) on the same two statistics.
    design : dict
        Levels, rounds, complete rounds, samples, TSC frequency.
    settings : dict
        The options the analysis ran with.
    notes : tuple of str
        Caveats worth reading (incomplete rounds, missing TSC frequency, ...).
    """

    levels: pd.DataFrame
    comparisons: pd.DataFrame
    omnibus: dict[str, TestResult]
    trend: dict[str, TestResult]
    design: dict[str, Any]
    settings: dict[str, Any]
    notes: tuple[str, ...]
    level_summaries: tuple[LevelSummary, ...] = ()
    comparison_results: tuple[Comparison, ...] = ()

    def level(self, label: str) -> LevelSummary:
        """The summary of level ``label``."""
        for s in self.level_summaries:
            if s.level == label:
                return s
        raise KeyError(f"no level {label!r}; levels are {[s.level for s in self.level_summaries]}")

    def comparison(self, reference: str, level: str, on: str = "median") -> Comparison:
        """The comparison of ``level`` against ``reference`` on block ``on`` statistic."""
        for c in self.comparison_results:
            if (c.reference, c.level, c.on) == (reference, level, on):
                return c
        raise KeyError(f"no comparison {level!r} vs {reference!r} on {on!r}")

    def to_text(self, *, brief: bool = False) -> str:
        """Readable multi-line report; same as :func:`hvload.stats.to_text`."""
        from .report import to_text

        return to_text(self, brief=brief)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; same as :func:`hvload.stats.to_dict`."""
        from .report import to_dict

        return to_dict(self)

    def __str__(self) -> str:
        return self.to_text()
