"""Sequential campaigns: rounds are added until every comparison has a verdict.

``hvload run --until decided`` does not fix the number of rounds in advance. It plans
``looks`` analyses at fixed round counts (:func:`plan_looks`): the first where a verdict
first becomes reachable, the last at ``max_rounds``, the others evenly between. At each
look the whole analysis runs on the rounds measured so far (:func:`look`); the campaign
stops at the first look where every planned comparison is *decided*, or at the last
(``--until decided-median``: every comparison of block medians).

Decided verdicts are ``slower``, ``faster`` and ``negligible`` (:data:`DECIDED`): each
answers the question the comparison asks. ``inconclusive``, ``no evidence`` and ``not
enough data`` are not; more rounds can still turn them into an answer.

Why the repeated looks do not raise the false-alarm rate
--------------------------------------------------------
The method is a **Bonferroni split of alpha over the planned looks**: every look is
analysed with the significance level ``alpha / looks`` (the Holm correction over the
look's comparisons, the Friedman gate and the ``1 - alpha / looks`` intervals all use
it). A false ``slower`` or ``faster`` in a campaign needs one at some look; each look
has at most ``alpha / looks`` chance of one (the fixed-design guarantee at that
level), so by the union bound the whole campaign has at most ``alpha``, whatever the
correlation between the looks and whatever the stopping rule. The alpha spent after
look ``k`` is ``k * alpha / looks`` (recorded per look), a Pocock-shaped spending.

It was chosen over Lan-DeMets boundaries (O'Brien-Fleming or Pocock type) because
those get their extra power from the joint normal distribution of a z statistic over
the looks, which hvload's tests do not have: exact signed-rank p-values on few rounds,
Holm over the family, the Friedman gate and an interval condition in each verdict. The
union bound needs no such model, so the guarantee holds exactly as the fixed design's
does; and as every look uses the same level, the report of a sequential campaign is
the plain analysis at ``alpha / looks``, whichever look stopped it. The price is some
conservatism (the looks are positively correlated, so the true rate is below
``alpha``), paid in rounds, which the campaign measures only when it needs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .config import AnalysisConfig
from .design import rounds_needed
from .results import Analysis, Verdict

__all__ = [
    "DECIDED",
    "DEFAULT_LOOKS",
    "DEFAULT_MAX_ROUNDS",
    "MAX_ROUNDS_RANGE",
    "METHOD",
    "UNTIL",
    "Look",
    "Looks",
    "look",
    "plan_looks",
    "sequential_text",
]

#: What ``--until`` accepts, and the statistics whose comparisons must be decided: the
#: typical block's median and p99 of every pair, those of the block median only (block-p99
#: changes need many more rounds; their verdicts are still reported, at the same alpha),
#: or (``decided-all``) these and the level-p99 comparisons too, whose looks then run the
#: round bootstrap (:mod:`hvload.stats.tails`; a level-p99 change needs the most rounds).
UNTIL: dict[str, tuple[str, ...]] = {
    "decided": ("median", "p99"),
    "decided-median": ("median",),
    "decided-all": ("median", "p99", "level_p99"),
}
#: Verdicts that answer a comparison; a campaign stops when every comparison has one.
DECIDED: tuple[Verdict, ...] = (Verdict.SLOWER, Verdict.FASTER, Verdict.NEGLIGIBLE)
DEFAULT_MAX_ROUNDS = 40
DEFAULT_LOOKS = 4
#: Allowed ``max_rounds`` (a run of 10,000 rounds of 5 levels takes days already).
MAX_ROUNDS_RANGE = (2, 10_000)
METHOD = (
    "sequential: Bonferroni split of alpha over the planned looks (each look at "
    "alpha / looks; the union bound keeps any false slower/faster at most alpha)"
)


@dataclass(frozen=True)
class Looks:
    """The planned looks of a sequential campaign.

    Attributes
    ----------
    rounds
        Rounds measured at each look, increasing; the last is the most the campaign runs.
    alpha
        The campaign's significance level, split evenly over the looks.
    """

    rounds: tuple[int, ...]
    alpha: float

    @property
    def alpha_per_look(self) -> float:
        """The level every look is analysed at."""
        return self.alpha / len(self.rounds)

    def alpha_spent(self, index: int) -> float:
        """Alpha spent once look ``index`` (0-based) has been taken."""
        return (index + 1) * self.alpha_per_look

    def index(self, n_rounds: int) -> int | None:
        """The look taken after ``n_rounds`` rounds, or None if none is planned there."""
        return self.rounds.index(n_rounds) if n_rounds in self.rounds else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "planned": list(self.rounds),
            "alpha": self.alpha,
            "alpha_per_look": self.alpha_per_look,
        }


def plan_looks(
    n_levels: int,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    *,
    looks: int = DEFAULT_LOOKS,
    alpha: float = 0.05,
    correction: str = "holm",
) -> Looks:
    """The looks of a sequential campaign of ``n_levels`` levels.

    The first look is at the fewest rounds with which a comparison can reach
    ``alpha / looks`` after ``correction`` (:func:`~hvload.stats.rounds_needed`;
    earlier looks could only say ``not enough data``), the last at ``max_rounds``,
    the others evenly spaced between (rounded to whole rounds).

    Raises
    ------
    ValueError
        When ``max_rounds`` is below the first look or leaves no room for ``looks``
        distinct looks; the message says how many rounds are needed.
    """
    low, high = MAX_ROUNDS_RANGE
    if isinstance(looks, bool) or not isinstance(looks, int) or looks < 1:
        raise ValueError(f"looks={looks!r} is not allowed; it must be an integer >= 1")
    if (
        isinstance(max_rounds, bool)
        or not isinstance(max_rounds, int)
        or not low <= max_rounds <= high
    ):
        raise ValueError(
            f"max_rounds={max_rounds!r} is not allowed; it must be an integer in {low}..{high}"
        )
    first = max(2, rounds_needed(max(n_levels, 2), alpha=alpha / looks, correction=correction))
    need = first + looks - 1
    if max_rounds < need:
        raise ValueError(
            f"max_rounds={max_rounds} is not allowed with {looks} look(s) of {n_levels} levels: "
            f"at alpha {alpha:g}/{looks} ({correction}) the first verdict needs {first} rounds, "
            f"so {looks} looks need max_rounds >= {need}; allowed: {need}..{high}"
        )
    if looks == 1:
        return Looks((max_rounds,), alpha)
    step = (max_rounds - first) / (looks - 1)
    rounds = tuple(first + round(step * k) for k in range(looks))
    return Looks(rounds, alpha)


@dataclass(frozen=True)
class Look:
    """One look: the rounds it saw, the level it was analysed at, its verdicts."""

    index: int
    rounds: int
    alpha: float
    alpha_spent: float
    verdicts: dict[str, str] = field(default_factory=dict)
    decided: bool = False
    last: bool = False

    @property
    def stop(self) -> bool:
        """Whether the campaign ends here: every comparison decided, or the last look."""
        return self.decided or self.last

    def to_dict(self) -> dict[str, Any]:
        return {
            "look": self.index + 1,
            "rounds": self.rounds,
            "alpha": self.alpha,
            "alpha_spent": self.alpha_spent,
            "decided": self.decided,
            "verdicts": dict(self.verdicts),
        }


def _label(c: Any) -> str:
    return f"{c.reference} vs {c.level} {c.on}"


def look(
    analyse: Callable[[AnalysisConfig], Analysis],
    looks: Looks,
    index: int,
    config: AnalysisConfig,
    until: str = "decided",
) -> Look:
    """Take look ``index`` (0-based): the decision a sequential campaign makes.

    ``analyse`` runs the campaign's own analysis (the block policy applied) on the
    rounds measured so far with the configuration it is given: ``config`` at the
    look's level ``alpha / looks``. The minimum-detectable-effect simulation is skipped,
    and so is the level-p99 bootstrap unless ``until="decided-all"``: no verdict of a
    planned comparison depends on them. A look is decided when every planned comparison
    (``until="decided"``: the block median and p99 of every pair; ``"decided-median"``:
    the block median of every pair; ``"decided-all"``: those and the level p99 of every
    pair) has a verdict in :data:`DECIDED`.
    """
    if until not in UNTIL:
        raise ValueError(f"until={until!r} is not allowed; choose from {list(UNTIL)}")
    if config.alpha != looks.alpha:
        raise ValueError(
            f"the looks were planned at alpha {looks.alpha:g}, the analysis is at {config.alpha:g}"
        )
    tails = "level_p99" in UNTIL[until]
    at = config.replace(
        alpha=looks.alpha_per_look, n_sim=0, n_bootstrap=config.n_bootstrap if tails else 0
    )
    analysis = analyse(at)
    comparisons = [*analysis.comparison_results, *(analysis.tail_comparisons if tails else ())]
    verdicts = {_label(c): Verdict(c.verdict).value for c in comparisons}
    planned = [c for c in comparisons if c.on in UNTIL[until]]
    decided = bool(planned) and all(Verdict(c.verdict) in DECIDED for c in planned)
    return Look(
        index=index,
        rounds=looks.rounds[index],
        alpha=at.alpha,
        alpha_spent=looks.alpha_spent(index),
        verdicts=verdicts,
        decided=decided,
        last=index == len(looks.rounds) - 1,
    )


def sequential_text(record: dict[str, Any], analysed_at: float | None = None) -> str:
    """What a report says about a sequential campaign (``metadata["sequential"]``);
    ``analysed_at``: the alpha the report analyses at, said where it is not the run's."""
    taken: Sequence[dict[str, Any]] = record.get("looks") or ()
    planned = record.get("planned") or []
    per = record.get("alpha_per_look", math.nan)
    lines = [
        f"Sequential campaign (--until {record.get('until', 'decided')}): the verdicts are "
        f"sequential, each look analysed at alpha {record.get('alpha', math.nan):g}/"
        f"{len(planned)} = {per:.4g}",
        f"  method: {record.get('method', METHOD)}",
        f"  planned looks at rounds {', '.join(str(r) for r in planned)}; "
        f"{len(taken)} taken; stopped: {record.get('stopped_by', 'unknown')}",
    ]
    if analysed_at is not None and not math.isclose(analysed_at, per):
        lines.append(f"  this report: alpha {analysed_at * len(planned):g}/{len(planned)} = "
                     f"{analysed_at:.4g} (the run looked at {per:.4g})")  # fmt: skip
    for t in taken:
        counts: dict[str, int] = {}
        for v in (t.get("verdicts") or {}).values():
            counts[v] = counts.get(v, 0) + 1
        shown = ", ".join(f"{n} {v}" for v, n in counts.items()) or "no comparison"
        state = "decided" if t.get("decided") else "not decided"
        lines.append(
            f"  look {t.get('look')}: {t.get('rounds')} rounds, alpha spent "
            f"{t.get('alpha_spent', math.nan):.4g}, {state} ({shown})"
        )
    return "\n".join(lines) + "\n"
