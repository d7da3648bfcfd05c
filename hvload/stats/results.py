"""Result objects, shaped like scipy's: named fields, ``confidence_interval()``, ``to_dict()``.

Every figure that could not be computed is NaN together with a ``status`` of
``"not enough data"`` and a ``message`` that says why, so no p-value is ever
reported without the data to back it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

import pandas as pd

from ._json import jsonable
from .config import CORRECTIONS

if TYPE_CHECKING:
    from .attribution import Attribution
    from .config import AnalysisConfig
    from .design import DesignCheck

__all__ = [
    "CORRECTIONS",
    "NOT_ENOUGH_DATA",
    "VERDICTS",
    "Analysis",
    "Comparison",
    "ConfidenceInterval",
    "LevelSummary",
    "TestResult",
    "Verdict",
    "jsonable",
]


class TextEnum(str, Enum):
    """An enum whose members compare and hash equal to their text, and print as it.

    ``Verdict.SLOWER == "slower"`` and ``"slower" in {Verdict.SLOWER}`` hold, so tables
    and JSON carry the plain words.
    """

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value


class Verdict(TextEnum):
    """The verdict of one comparison; see :mod:`hvload.stats.compare` for the rule."""

    SLOWER = "slower"
    FASTER = "faster"
    NEGLIGIBLE = "negligible"
    INCONCLUSIVE = "inconclusive"
    NO_EVIDENCE = "no evidence"
    NOT_ENOUGH_DATA = "not enough data"

    @property
    def is_difference(self) -> bool:
        """Whether the verdict claims a practically relevant change."""
        return self in (Verdict.SLOWER, Verdict.FASTER)


#: Status and verdict used wherever a test or interval lacks the data it needs.
NOT_ENOUGH_DATA = Verdict.NOT_ENOUGH_DATA
#: Every verdict a comparison can carry, as text.
VERDICTS: tuple[str, ...] = tuple(v.value for v in Verdict)


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

    The data are the per-round differences ``d = log(level) - log(reference)`` of
    a block statistic (``on``), one per round that holds both levels. The test is
    the exact Wilcoxon signed-rank test of ``d``; the effect is the
    Hodges-Lehmann estimate of ``d`` (the median of its Walsh averages) with the
    matching distribution-free signed-rank interval, reported as a ratio, as a
    relative change and as a change in cycles and ns of the reference's typical
    block statistic.

    Attributes
    ----------
    reference, level : str
        Level labels; the effect is ``level`` relative to ``reference``.
    on : str
        ``"median"`` or ``"p99"``: the block statistic compared.
    kind : str
        ``"baseline"``, ``"neighbour"`` or ``"baseline, neighbour"``.
    n_rounds : int
        Rounds holding both levels.
    statistic, pvalue, pvalue_adjusted : float
        Signed-rank statistic ``min(T+, T-)``, exact p-value, and p-value
        adjusted over the whole family.
    effect, effect_low, effect_high : float
        Ratio ``level / reference`` of the block statistic and its interval.
    relative_change, relative_change_low, relative_change_high : float
        ``effect - 1`` and its interval: the change as a fraction of the
        reference's own statistic (p99 change relative to the reference p99).
    change, change_low, change_high : float
        The relative change times the reference's typical block statistic, in cycles.
    change_ns, change_ns_low, change_ns_high : float
        The same in ns; NaN without a TSC frequency.
    reference_value, level_value : float
        Typical block statistic (median over the paired blocks), in cycles.
    cles : float
        Common-language effect size on pooled samples: P(level sample >
        reference sample) + P(equal) / 2. Descriptive only: it ignores the
        dependence between samples and carries no test. It describes whole
        distributions, so only ``median`` comparisons carry it (NaN on ``p99``).
    verdict : Verdict
        See :mod:`hvload.stats.compare`.
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
    relative_change: float
    relative_change_low: float
    relative_change_high: float
    change: float
    change_low: float
    change_high: float
    change_ns: float
    change_ns_low: float
    change_ns_high: float
    reference_value: float
    level_value: float
    cles: float
    verdict: Verdict
    message: str = ""

    def confidence_interval(self, unit: str = "ratio") -> ConfidenceInterval:
        """Interval of the effect: ``"ratio"``, ``"relative"`` change, ``"cycles"`` or ``"ns"``."""
        names = {
            "ratio": "effect",
            "relative": "relative_change",
            "cycles": "change",
            "ns": "change_ns",
        }
        if unit not in names:
            raise ValueError(f"unit={unit!r} is not allowed; choose from {list(names)}")
        base = names[unit]
        return ConfidenceInterval(getattr(self, f"{base}_low"), getattr(self, f"{base}_high"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN becomes None, the verdict its text)."""
        return jsonable(asdict(self))


@dataclass(frozen=True)
class LevelSummary:
    """Summary of one load level; figures in cycles, ``*_ns`` twins in ns.

    Three kinds of figures: the pooled samples of the level, described (``min``,
    ``mean``, ``median``, ``p90``, ``p99``, ... ``mad``); the *typical block*
    (``block_median``, ``block_p99``): the median over the level's blocks of each
    block's median or p99, with a distribution-free interval
    (``block_median_ci_low`` ...); and the *level p99* (``level_p99``, equal to the
    pooled ``p99``) with an interval that resamples rounds (``level_p99_ci_low``,
    ``level_p99_ci_high``; :mod:`hvload.stats.tails`). The typical-block p99 says what
    one block usually shows, the level p99 what the level's p99 latency is. The *level
    p99.9* (``level_p999``, ``level_p999_ci_low``, ``level_p999_ci_high``) is the pooled
    p99.9 with an interval by the same method, given only where every block holds at
    least 5 samples beyond it in expectation (NaN otherwise, ``level_p999_note`` says
    why).

    Attributes
    ----------
    level : str
        Level label.
    level_index : int
        Position in order of increasing load.
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
        The figures described above, in cycles and with ``_ns``.
    status, message : str
        ``"ok"`` or ``"not enough data"`` and why.
    level_p999_note : str
        Why ``level_p999`` is NaN (too few samples beyond the p99.9 per block, or too few
        rounds: :func:`hvload.stats.tails.level_p999_gap`); empty when it is given.
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
    level_p999_note: str = ""

    def __getitem__(self, name: str) -> float:
        """A statistic by name, e.g. ``summary["p99.9"]`` or ``summary["block_p99_ns"]``."""
        return self.stats[name]

    def confidence_interval(
        self, statistic: str = "median", unit: str = "cycles"
    ) -> ConfidenceInterval:
        """Interval of the typical block ``"median"`` / ``"p99"``, or the level p99 / p99.9.

        ``"p99"`` is the typical-block p99 (median over blocks of each block's p99);
        ``"level_p99"`` / ``"level_p999"`` the p99 / p99.9 of all the level's samples
        pooled (the p99.9's is NaN where the blocks are too small). Units ``"cycles"`` or
        ``"ns"``.
        """
        if statistic not in ("median", "p99", "level_p99", "level_p999"):
            raise ValueError(
                f"statistic must be 'median', 'p99', 'level_p99' or 'level_p999', got {statistic!r}"
            )
        if unit not in ("cycles", "ns"):
            raise ValueError(f"unit must be 'cycles' or 'ns', got {unit!r}")
        suffix = "_ns" if unit == "ns" else ""
        if statistic.startswith("level_"):
            base = f"{statistic}_ci"
            return ConfidenceInterval(
                self.stats[f"{base}_low{suffix}"], self.stats[f"{base}_high{suffix}"]
            )
        return ConfidenceInterval(
            self.stats[f"block_{statistic}_ci_low{suffix}"],
            self.stats[f"block_{statistic}_ci_high{suffix}"],
        )

    def row(self) -> dict[str, Any]:
        """Flat dict: the scalar fields followed by every statistic."""
        own = ("stats", "status", "message", "level_p999_note")
        base = {k: v for k, v in asdict(self).items() if k not in own}
        return {**base, **self.stats, "status": self.status, "message": self.message,
                "level_p999_note": self.level_p999_note}  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN becomes None)."""
        return jsonable(self.row())


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything :func:`hvload.stats.analyze` found; render with ``str()`` or ``to_dict()``.

    Attributes
    ----------
    levels : pandas.DataFrame
        One row per level, in load order (see :class:`LevelSummary`).
    comparisons : pandas.DataFrame
        One row per comparison (see :class:`Comparison`); verdicts as text.
    omnibus : dict of str to TestResult
        Friedman test on block medians (``"median"``) and block p99 (``"p99"``).
    trend : dict of str to TestResult
        Page's trend test (increasing with load) on the same two statistics.
    noise : pandas.DataFrame
        Per block statistic: the campaign's block noise and the minimum
        detectable effect of this design (see :mod:`hvload.stats.power`).
    design : dict
        Levels (load order), baseline, rounds, samples, TSC frequency, whether the
        design can reach a verdict and the rounds it would need.
    settings : dict
        The :class:`~hvload.stats.AnalysisConfig` it ran with, as a dict.
    notes : tuple of str
        Caveats worth reading (incomplete rounds, missing TSC frequency, ...).
    attribution : Attribution or None
        For campaigns with control probes: each level's change of the main probe set
        against the controls' (see :mod:`hvload.stats.attribution`), and the noise
        context of the blocks.
    """

    levels: pd.DataFrame
    comparisons: pd.DataFrame
    omnibus: dict[str, TestResult]
    trend: dict[str, TestResult]
    noise: pd.DataFrame
    design: dict[str, Any]
    settings: dict[str, Any]
    notes: tuple[str, ...]
    level_summaries: tuple[LevelSummary, ...] = ()
    comparison_results: tuple[Comparison, ...] = ()
    config: AnalysisConfig | None = None
    design_check: DesignCheck | None = None
    attribution: Attribution | None = None
    #: The level-p99 comparisons (``on="level_p99"``), their own Holm family; see
    #: :mod:`hvload.stats.tails`.
    tail_comparisons: tuple[Comparison, ...] = ()
    #: Blocks the block policy left out before this analysis (one note each; see
    #: :func:`hvload.analyze`); empty when every block was analysed.
    left_out: tuple[str, ...] = ()

    def level(self, label: str) -> LevelSummary:
        """The summary of level ``label``."""
        for s in self.level_summaries:
            if s.level == label:
                return s
        raise KeyError(f"no level {label!r}; levels are {[s.level for s in self.level_summaries]}")

    def comparison(self, reference: str, level: str, on: str = "median") -> Comparison:
        """The comparison of ``level`` against ``reference`` on ``on``.

        ``on`` is ``"median"`` or ``"p99"`` (typical-block statistics) or ``"level_p99"``.
        """
        for c in (*self.comparison_results, *self.tail_comparisons):
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
