"""Checking and unpacking the campaign's tidy sample table into flat arrays.

The analysis never touches pandas after this point: every later step works on
``int64`` cycle counts and a dense *cell* code per sample, where a cell is one
(round, level) pair, i.e. one block of the randomized complete block design.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FLAG_COLUMNS", "REQUIRED_COLUMNS", "Tidy", "samples_frame", "unpack"]

#: Columns every sample table must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("round", "level", "level_index", "cycles")
#: Boolean flag columns; absent ones are taken as all False.
FLAG_COLUMNS: tuple[str, ...] = ("migrated", "warmup")


@dataclass(frozen=True)
class Tidy:
    """A validated sample table as flat arrays.

    Attributes
    ----------
    cycles : numpy.ndarray
        ``int64`` service time of every sample, in TSC cycles.
    cell : numpy.ndarray
        ``intp`` code of the sample's block: ``round_code * n_levels + level_code``.
    migrated, warmup : numpy.ndarray
        Boolean flags per sample.
    levels : tuple of str
        Level labels in order of increasing load: ``level_index`` order, re-sorted by
        the design's level values when the metadata records them.
    rounds : numpy.ndarray
        The distinct ``round`` values, sorted; ``round_code`` indexes it.
    tsc_hz : float or None
        TSC frequency, or None when unknown.
    metadata : dict
        The campaign's metadata, or an empty dict.
    metric : str
        The column ``cycles`` holds: ``"cycles"`` or ``"response"``.
    level_values : tuple of float or None
        Load value of each level (fraction, CPU count, ...) where known.
    baseline : str or None
        The baseline the campaign recorded, if any.
    sample_order : numpy.ndarray or None
        Position of each sample inside its block (``sample`` column), if present.
    notes : tuple of str
        What unpacking changed or assumed (e.g. levels re-sorted by load).
    probe : str
        Label of the probe whose samples these are.
    probes : tuple of str
        Every probe of the campaign (main first, then the controls).
    """

    cycles: np.ndarray
    cell: np.ndarray
    migrated: np.ndarray
    warmup: np.ndarray
    levels: tuple[str, ...]
    rounds: np.ndarray
    tsc_hz: float | None
    metadata: dict[str, Any] = field(default_factory=dict)
    metric: str = "cycles"
    level_values: tuple[float | None, ...] = ()
    baseline: str | None = None
    sample_order: np.ndarray | None = None
    notes: tuple[str, ...] = ()
    probe: str = "probe"
    probes: tuple[str, ...] = ("probe",)

    @property
    def n_levels(self) -> int:
        """Number of load levels."""
        return len(self.levels)

    @property
    def n_rounds(self) -> int:
        """Number of rounds (design blocks)."""
        return len(self.rounds)

    @property
    def n_cells(self) -> int:
        """Number of (round, level) cells, filled or not."""
        return self.n_levels * self.n_rounds


def _dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map integer values to 0..k-1 in sorted order; return (codes, distinct values)."""
    lo = int(values.min())
    hi = int(values.max())
    # A lookup table is O(n) and beats hashing when the values are small
    # non-negative integers, which round and level numbers always are.
    if lo >= 0 and hi < 4 * values.size + 1_000_000:
        present = np.zeros(hi + 1, dtype=bool)
        present[values] = True
        distinct = np.flatnonzero(present)
        table = np.cumsum(present, dtype=np.intp) - 1
        return table[values], distinct
    codes, distinct = pd.factorize(values, sort=True)
    return codes.astype(np.intp, copy=False), np.asarray(distinct)


def _integer_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    col = frame[name]
    if col.isna().any():
        raise ValueError(
            f"column {name!r} has {int(col.isna().sum())} missing (NaN/NA) value(s); "
            "only whole numbers are allowed"
        )
    if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
        raise ValueError(f"column {name!r} must hold integers, got dtype {col.dtype}")
    if pd.api.types.is_integer_dtype(col.dtype):
        return col.to_numpy(dtype=np.int64)
    arr = col.to_numpy(dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"column {name!r} holds infinite values; only whole numbers are allowed")
    fractional = arr != np.round(arr)
    if fractional.any():
        raise ValueError(
            f"column {name!r} holds non-integer value {arr[fractional][0]!r}; "
            "only whole numbers are allowed"
        )
    return arr.astype(np.int64)


def _flag_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    col = frame[name]
    if col.isna().any():
        raise ValueError(
            f"column {name!r} has {int(col.isna().sum())} missing value(s); only True/False allowed"
        )
    if pd.api.types.is_bool_dtype(col.dtype):
        return col.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(col.dtype):
        arr = col.to_numpy()
        if ((arr != 0) & (arr != 1)).any():
            raise ValueError(
                f"column {name!r} holds values other than 0/1; only True/False allowed"
            )
        return arr.astype(bool)
    raise ValueError(f"column {name!r} must be boolean, got dtype {col.dtype}")


def _check_one_to_one(a: np.ndarray, na: int, b: np.ndarray, nb: int) -> int:
    """Return -1 if codes ``a`` and ``b`` pair one-to-one, else the first offending row."""
    b_of_a = np.empty(na, dtype=np.intp)
    b_of_a[a] = b
    bad = np.flatnonzero(b_of_a[a] != b)
    if bad.size:
        return int(bad[0])
    a_of_b = np.empty(nb, dtype=np.intp)
    a_of_b[b] = a
    bad = np.flatnonzero(a_of_b[b] != a)
    return int(bad[0]) if bad.size else -1


def _tsc_from(metadata: Mapping[str, Any] | None, tsc_hz: float | None) -> float | None:
    if tsc_hz is None and metadata:
        tsc_hz = metadata.get("tsc_hz")
    if tsc_hz is None:
        return None
    try:
        value = float(tsc_hz)
    except (TypeError, ValueError):
        raise ValueError(f"tsc_hz must be a positive number of Hz, got {tsc_hz!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"tsc_hz must be a positive number of Hz, got {tsc_hz!r}")
    return value


def _design_levels(metadata: Mapping[str, Any]) -> list[Any]:
    design = metadata.get("design") if isinstance(metadata, Mapping) else None
    levels = design.get("levels") if isinstance(design, Mapping) else None
    return list(levels) if isinstance(levels, list) else []


def _level_value(entry: Any) -> float | None:
    value = entry.get("value") if isinstance(entry, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if np.isfinite(value) else None


def _probe_labels(metadata: Mapping[str, Any]) -> list[str]:
    design = metadata.get("design") if isinstance(metadata, Mapping) else None
    probes = design.get("probes") if isinstance(design, Mapping) else None
    if isinstance(probes, list) and probes and all(isinstance(p, str) for p in probes):
        return list(probes)
    label = design.get("probe_label") if isinstance(design, Mapping) else None
    return [str(label) if label else "probe"]


def _select_probe(
    frame: pd.DataFrame, metadata: Mapping[str, Any], probe: str | None
) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    """The rows of one probe (the main one by default) and the campaign's probe labels."""
    labels = _probe_labels(metadata)
    if "probe_index" in frame.columns:
        index = _integer_column(frame, "probe_index")
        present = np.unique(index)
        if present.size and (present.min() < 0 or present.max() >= max(len(labels), 1)):
            labels = labels + [f"probe {i}" for i in range(len(labels), int(present.max()) + 1)]
    else:
        index = None
    if probe is None:
        chosen = 0
    elif probe in labels:
        chosen = labels.index(probe)
    else:
        raise ValueError(f"probe={probe!r} is not in this campaign; its probes: {labels}")
    if index is not None and (index != chosen).any():
        frame = frame[index == chosen]
        if len(frame) == 0:
            raise ValueError(f"probe {labels[chosen]!r} has no samples in this table")
    return frame, labels[chosen], tuple(labels)


def unpack(
    data: Any, *, tsc_hz: float | None = None, metric: str = "cycles", probe: str | None = None
) -> Tidy:
    """Validate a campaign or a sample table and return it as flat arrays.

    Parameters
    ----------
    data : campaign or pandas.DataFrame
        Either an object with ``.samples`` (DataFrame) and ``.metadata`` (dict)
        attributes, or the sample DataFrame itself. Required columns:
        ``round``, ``level``, ``level_index``, ``cycles``; optional: ``block``
        (checked against (round, level) when present), ``migrated``, ``warmup``
        (taken as all False when absent), ``response`` (for ``metric="response"``),
        ``sample`` (position inside the block).
    tsc_hz : float, optional
        TSC frequency in Hz; overrides ``metadata["tsc_hz"]``.
    metric : {"cycles", "response"}, default "cycles"
        Which column to analyse.
    probe : str, optional
        Which probe's samples to analyse, by label (``metadata["design"]["probes"]``);
        the main probe (``probe_index`` 0) by default.

    Returns
    -------
    Tidy

    Raises
    ------
    ValueError
        On a missing column, a non-numeric or NaN value, an empty table, or a
        ``level``/``level_index``/``block`` labelling that is not one-to-one.
    """
    metadata: dict[str, Any] = {}
    if isinstance(data, pd.DataFrame):
        frame = data
    elif hasattr(data, "samples"):
        frame = data.samples
        metadata = dict(getattr(data, "metadata", None) or {})
        if not isinstance(frame, pd.DataFrame):
            raise ValueError(
                f"campaign.samples must be a pandas DataFrame, got {type(frame).__name__}"
            )
    else:
        raise ValueError(
            "expected a campaign (with .samples and .metadata) or a samples DataFrame, "
            f"got {type(data).__name__}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"sample table lacks column(s) {missing}; required: {list(REQUIRED_COLUMNS)}, "
            f"optional: ['block', {', '.join(repr(c) for c in FLAG_COLUMNS)}]"
        )
    if len(frame) == 0:
        raise ValueError("sample table is empty; at least one sample per level is needed")
    frame, probe_label, probe_labels = _select_probe(frame, metadata, probe)
    if metric not in ("cycles", "response"):
        raise ValueError(f"metric={metric!r} is not allowed; choose 'cycles' or 'response'")
    if metric not in frame.columns:
        raise ValueError(
            f"metric={metric!r} needs a {metric!r} column; this sample table has "
            f"{list(frame.columns)}"
        )

    cycles = _integer_column(frame, metric)
    rounds = _integer_column(frame, "round")
    level_index = _integer_column(frame, "level_index")
    labels = frame["level"]
    if labels.isna().any():
        raise ValueError(f"column 'level' has {int(labels.isna().sum())} missing label(s)")

    round_code, round_values = _dense_codes(rounds)
    level_code, index_values = _dense_codes(level_index)
    label_code, label_values = pd.factorize(labels)
    label_code = label_code.astype(np.intp, copy=False)
    bad = _check_one_to_one(level_code, len(index_values), label_code, len(label_values))
    if bad >= 0:
        raise ValueError(
            "columns 'level' and 'level_index' must pair one-to-one; row "
            f"{bad} has level {labels.iloc[bad]!r} with level_index {int(level_index[bad])}, "
            "which another row pairs differently"
        )
    label_of_index = np.empty(len(index_values), dtype=np.intp)
    label_of_index[level_code] = label_code
    levels = tuple(str(label_values[i]) for i in label_of_index.tolist())

    notes: list[str] = []
    design_levels = _design_levels(metadata)
    values: tuple[float | None, ...] = tuple(
        _level_value(design_levels[int(i)]) if 0 <= int(i) < len(design_levels) else None
        for i in index_values
    )
    if values and all(v is not None for v in values):
        order = np.argsort(np.asarray(values, dtype=np.float64), kind="stable")
        if (order != np.arange(order.size)).any():
            # Older campaigns kept levels in typed order; tests and baselines need load order.
            rank = np.empty_like(order)
            rank[order] = np.arange(order.size)
            level_code = rank[level_code]
            levels = tuple(levels[i] for i in order)
            values = tuple(values[i] for i in order)
            notes.append(
                "levels were recorded out of load order; analysed in order of increasing "
                f"load: {list(levels)}"
            )

    n_levels = len(levels)
    cell = round_code * n_levels + level_code
    if "block" in frame.columns:
        block = _integer_column(frame, "block")
        block_code, block_values = _dense_codes(block)
        bad = _check_one_to_one(block_code, len(block_values), cell, len(round_values) * n_levels)
        if bad >= 0:
            raise ValueError(
                "column 'block' must be unique per (round, level); row "
                f"{bad} (block {int(block[bad])}, round {int(rounds[bad])}, "
                f"level {labels.iloc[bad]!r}) conflicts with another row"
            )

    if metric == "response" and (cycles < 0).any():
        raise ValueError("column 'response' holds negative values; it cannot be analysed")
    design = metadata.get("design")
    if not isinstance(design, Mapping):
        design = {}
    baseline = design.get("baseline") if isinstance(design.get("baseline"), str) else None
    sample_order = _integer_column(frame, "sample") if "sample" in frame.columns else None
    return Tidy(
        cycles=cycles,
        cell=cell.astype(np.intp, copy=False),
        migrated=_flag_column(frame, "migrated"),
        warmup=_flag_column(frame, "warmup"),
        levels=levels,
        rounds=round_values,
        tsc_hz=_tsc_from(metadata, tsc_hz),
        metadata=metadata,
        metric=metric,
        level_values=values,
        baseline=baseline,
        sample_order=sample_order,
        notes=tuple(notes),
        probe=probe_label,
        probes=probe_labels,
    )


def samples_frame(
    blocks: Mapping[str, Sequence[Sequence[int]] | np.ndarray],
    *,
    warmup: int = 0,
) -> pd.DataFrame:
    """Build a tidy sample table from per-level arrays of cycles.

    Parameters
    ----------
    blocks : mapping of str to 2-D array_like
        Level label to an array of shape ``(rounds, samples)``: row ``r`` is the
        block measured in round ``r``. Keys must be given in order of
        increasing load; the first is the baseline.
    warmup : int, default 0
        Flag the first ``warmup`` samples of every block as warm-up.

    Returns
    -------
    pandas.DataFrame
        Columns ``round, level, level_index, block, sample, cycles, migrated, warmup``.
    """
    parts = []
    n_levels = len(blocks)
    for li, (label, arr) in enumerate(blocks.items()):
        values = np.asarray(arr)
        if values.ndim != 2:
            raise ValueError(
                f"level {label!r}: expected a 2-D array (rounds, samples), got shape {values.shape}"
            )
        n_rounds, n_samples = values.shape
        rnd = np.repeat(np.arange(n_rounds), n_samples)
        idx = np.tile(np.arange(n_samples), n_rounds)
        parts.append(
            pd.DataFrame(
                {
                    "round": rnd,
                    "level": label,
                    "level_index": li,
                    "block": rnd * n_levels + li,
                    "sample": idx,
                    "cycles": values.ravel(),
                    "migrated": False,
                    "warmup": idx < warmup,
                }
            )
        )
    if not parts:
        raise ValueError("no levels given; need at least one")
    return pd.concat(parts, ignore_index=True)
