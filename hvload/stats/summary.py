"""Per-level descriptive statistics and the rule that flags extreme outliers.

Outlier rule
------------
A sample is an *extreme outlier* when it lies more than ``k`` scaled MADs from
its level's median: ``|x - median| > k * max(1.4826 * MAD, 1 cycle)``, with the
median and MAD taken over every sample of the level (before any exclusion) and
``k = 10`` by default. 1.4826 * MAD estimates the standard deviation of the
bulk of the distribution while ignoring the tail; ``k = 10`` is far beyond
anything Gaussian jitter produces, so what it flags are interrupts, host
preemption and clock glitches. The 1-cycle floor keeps a level whose samples
are nearly all identical (MAD 0) from flagging every sample that differs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .blocks import Counts, mad, quantiles

__all__ = [
    "MAD_SCALE",
    "OUTLIER_K",
    "QUANTILES",
    "STATISTICS",
    "describe",
    "describe_counts",
    "outlier_bounds",
    "to_ns",
]

#: Consistency constant: ``MAD_SCALE * MAD`` estimates sigma for normal data.
MAD_SCALE = 1.4826
#: Default number of scaled MADs beyond which a sample is an extreme outlier.
OUTLIER_K = 10.0
#: Quantiles reported per level, by column name.
QUANTILES: dict[str, float] = {
    "min": 0.0,
    "median": 0.5,
    "p90": 0.90,
    "p99": 0.99,
    "p99.9": 0.999,
    "p99.99": 0.9999,
    "max": 1.0,
}
#: Summary statistics in report order (all in cycles; ``*_ns`` twins in ns).
STATISTICS: tuple[str, ...] = (
    "min",
    "mean",
    "median",
    "p90",
    "p99",
    "p99.9",
    "p99.99",
    "max",
    "iqr",
    "mad",
)


def to_ns(cycles: float | np.ndarray, tsc_hz: float | None) -> float | np.ndarray:
    """Convert TSC cycles to nanoseconds; NaN when ``tsc_hz`` is None."""
    if tsc_hz is None:
        return np.asarray(cycles, dtype=np.float64) * np.nan
    return np.asarray(cycles, dtype=np.float64) * (1e9 / tsc_hz)


def outlier_bounds(c: Counts, k: float = OUTLIER_K) -> tuple[float, float]:
    """Lower and upper limits outside which a sample is an extreme outlier.

    Parameters
    ----------
    c : Counts
        All samples of one level.
    k : float, default 10
        Number of scaled MADs.

    Returns
    -------
    tuple of float
        ``(median - k * s, median + k * s)`` with ``s = max(1.4826 * MAD, 1)``;
        ``(-inf, inf)`` for an empty level.
    """
    if c.n == 0:
        return -np.inf, np.inf
    median = float(quantiles(c, [0.5])[0])
    scale = max(MAD_SCALE * mad(c, median), 1.0)
    return median - k * scale, median + k * scale


def describe_counts(c: Counts, tsc_hz: float | None = None) -> dict[str, float]:
    """Summary statistics of a pooled sample given as value counts.

    Returns
    -------
    dict
        Keys of :data:`STATISTICS` in cycles and the same keys suffixed
        ``_ns``; NaN everywhere for an empty sample.
    """
    names = list(QUANTILES)
    qs = quantiles(c, [*QUANTILES.values(), 0.25, 0.75])
    out: dict[str, float] = {}
    if c.n:
        mean = float(np.dot(c.values.astype(np.float64), c.counts.astype(np.float64)) / c.n)
        median = float(qs[names.index("median")])
        spread = {"iqr": float(qs[-1] - qs[-2]), "mad": mad(c, median)}
    else:
        mean = float("nan")
        spread = {"iqr": float("nan"), "mad": float("nan")}
    by_name = {**dict(zip(names, (float(v) for v in qs[: len(names)]), strict=True))}
    by_name["mean"] = mean
    by_name.update(spread)
    for name in STATISTICS:
        out[name] = by_name[name]
    for name in STATISTICS:
        out[f"{name}_ns"] = float(to_ns(out[name], tsc_hz))
    return out


def describe(values: Any, *, tsc_hz: float | None = None) -> dict[str, float]:
    """Summary statistics of a plain 1-D array of cycle counts.

    Parameters
    ----------
    values : array_like
        Whole numbers of TSC cycles (any order).
    tsc_hz : float, optional
        TSC frequency for the ``*_ns`` figures (NaN without it).

    Returns
    -------
    dict
        ``n`` and the keys of :data:`STATISTICS`, in cycles and ``_ns``.

    Raises
    ------
    ValueError
        If ``values`` is empty, not 1-D, not numeric, or holds NaN or
        non-integer values.
    """
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("values is empty; need at least one sample")
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"values must be numeric cycle counts, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError("values holds NaN or infinite entries; only whole numbers are allowed")
        if (arr != np.round(arr)).any():
            raise ValueError("values holds non-integer entries; only whole numbers are allowed")
    ints = np.sort(arr.astype(np.int64))
    starts = np.concatenate(([0], np.flatnonzero(np.diff(ints)) + 1))
    counts = np.diff(np.concatenate((starts, [ints.size])))
    return {"n": int(ints.size), **describe_counts(Counts(ints[starts], counts), tsc_hz)}
