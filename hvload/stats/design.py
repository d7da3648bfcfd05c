"""Whether a design can reach a verdict at all: the comparison family and its rounds.

hvload compares every level with the baseline and each level with its neighbour
in load order, on block medians and block p99: ``m`` tests in one family. The
signed-rank test on ``n`` rounds cannot give a p-value below ``2 / 2**n``, and
after Holm's (or Bonferroni's) adjustment the smallest p-value is multiplied by
``m``. So a design with too few rounds cannot produce ``slower`` or ``faster``
whatever the data, and its analysis says ``not enough data`` for every
comparison. :func:`check_design` says so *before* anything is measured, with the
number of rounds that would be enough; whether those rounds are enough to detect
a given change is a question of noise, answered by :func:`hvload.stats.plan`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from .ranks import min_pvalue
from .results import CORRECTIONS

__all__ = ["ON", "DesignCheck", "check_design", "comparison_pairs", "family_size", "rounds_needed"]

#: The block statistics every comparison is made on.
ON: tuple[str, ...] = ("median", "p99")


def comparison_pairs(n_levels: int, baseline: int = 0) -> list[tuple[int, int, str]]:
    """Pairs ``(reference, level, kind)`` of level indices in load order.

    Every other level against the baseline, then each level against its lower
    neighbour where that pair is not already a baseline pair. A pair that is
    both is listed once, kind ``"baseline, neighbour"``.
    """
    if not 0 <= baseline < max(n_levels, 1):
        raise ValueError(f"baseline index {baseline} is outside 0..{n_levels - 1}")
    neighbours = {(j - 1, j) for j in range(1, n_levels)}
    pairs = []
    for j in range(n_levels):
        if j == baseline:
            continue
        both = (min(baseline, j), max(baseline, j)) in neighbours
        pairs.append((baseline, j, "baseline, neighbour" if both else "baseline"))
    for a, b in sorted(neighbours):
        if baseline not in (a, b):
            pairs.append((a, b, "neighbour"))
    return pairs


def family_size(n_levels: int, baseline: int = 0) -> int:
    """Number of tests in the family: comparisons times the statistics in :data:`ON`."""
    return len(comparison_pairs(n_levels, baseline)) * len(ON) if n_levels > 1 else 0


def best_adjusted_pvalue(n_rounds: int, m: int, correction: str) -> float:
    """Smallest adjusted p-value any comparison can reach with ``n_rounds`` rounds.

    Holm's first step multiplies the smallest p-value by ``m``; Benjamini-Hochberg
    and no correction can at best keep it (when every test is at its minimum).
    """
    if correction not in CORRECTIONS:
        raise ValueError(
            f"correction={correction!r} is not allowed; choose from {list(CORRECTIONS)}"
        )
    p = min_pvalue(n_rounds)
    return min(1.0, p * m) if correction == "holm" else p


def rounds_needed(n_levels: int, *, alpha: float = 0.05, correction: str = "holm") -> int:
    """Fewest rounds with which a comparison can reach ``alpha`` after ``correction``.

    Also at least enough rounds for a signed-rank interval at ``1 - alpha``.
    """
    m = max(family_size(n_levels), 1)
    factor = m if correction == "holm" else 1
    # 2**(1 - n) * factor < alpha  <=>  n > 1 + log2(factor / alpha)
    n = math.floor(1 + math.log2(factor / alpha)) + 1
    while best_adjusted_pvalue(n, m, correction) >= alpha:
        n += 1
    while n > 1 and best_adjusted_pvalue(n - 1, m, correction) < alpha:
        n -= 1
    return n


@dataclass(frozen=True)
class DesignCheck:
    """What :func:`check_design` found.

    Attributes
    ----------
    can_decide : bool
        Whether any comparison can reach ``slower``/``faster`` with these rounds.
    n_levels, n_rounds, family_size, rounds_needed : int
        The design, its number of tests and the fewest rounds that can decide.
    best_pvalue : float
        Smallest adjusted p-value the design can produce.
    message : str
        One sentence for the user; empty when the design can decide.
    """

    can_decide: bool
    n_levels: int
    n_rounds: int
    family_size: int
    rounds_needed: int
    best_pvalue: float
    alpha: float
    correction: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


def check_design(
    n_levels: int, n_rounds: int, *, alpha: float = 0.05, correction: str = "holm"
) -> DesignCheck:
    """Say whether ``n_levels`` x ``n_rounds`` can reach a verdict at ``alpha``.

    Parameters
    ----------
    n_levels, n_rounds : int
        The design.
    alpha : float, default 0.05
        Significance level.
    correction : {"holm", "bh", "none"}, default "holm"
        Multiplicity adjustment.

    Returns
    -------
    DesignCheck

    Examples
    --------
    >>> check_design(5, 8).can_decide
    False
    >>> check_design(5, 8).rounds_needed
    10
    """
    for name, value in (("n_levels", n_levels), ("n_rounds", n_rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} is not allowed; it must be an integer >= 1")
    m = family_size(n_levels)
    if m == 0:
        return DesignCheck(
            False, n_levels, n_rounds, 0, 0, math.nan, alpha, correction,
            "a single level: there is nothing to compare",
        )  # fmt: skip
    need = rounds_needed(n_levels, alpha=alpha, correction=correction)
    best = best_adjusted_pvalue(n_rounds, m, correction)
    ok = best < alpha and n_rounds >= need
    message = (
        ""
        if ok
        else (
            f"{n_levels} levels x {n_rounds} rounds cannot reach a verdict: with {m} tests "
            f"({correction}) the smallest attainable adjusted p is {best:.3g} >= alpha "
            f"{alpha:g}; at least {need} rounds are needed (more to detect small changes: "
            "see hvload plan)"
        )
    )
    return DesignCheck(ok, n_levels, n_rounds, m, need, best, alpha, correction, message)
