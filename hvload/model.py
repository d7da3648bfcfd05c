"""The campaign data model: designs, blocks, campaigns and the sample schema.

A leaf module: :mod:`hvload.campaign` (which runs designs) and :mod:`hvload.store` (which
writes and reads campaign files) both import it, and it imports neither. It also holds
the size limits both of them apply before allocating anything: a design whose data
would not fit in this machine's memory is refused when it is built, and a file that
claims more samples than that is refused before it is read.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

if TYPE_CHECKING:
    from .measure.executor import Trap
    from .workload.schedule import Level

__all__ = [
    "BYTES_PER_SAMPLE",
    "FORMAT_VERSION",
    "LEAN_KINDS",
    "LEGACY_COLUMNS",
    "SAMPLE_COLUMNS",
    "SAMPLE_DTYPES",
    "BlockResult",
    "Campaign",
    "Design",
    "absolute_start",
    "available_memory",
    "check_sizes",
    "lean_campaign",
    "lean_samples",
    "probes_of",
    "sample_columns",
    "wide_samples",
]

#: Version of the campaign file format; 2 added page checksums and per-block digests,
#: 3 the ``probe_index`` column (control probes measured beside the main probe), 4 stores
#: ``start`` and ``response`` as ``due`` and ``late`` (see :mod:`hvload.store`).
FORMAT_VERSION = 4

#: Columns of a campaign's sample table, in order. Inside a block the rows come probe by
#: probe (``probe_index`` 0 is the main probe, then the controls in design order), each
#: probe's samples in the order it measured them (``sample``); ``start`` keeps the TSC
#: at which each was taken, so the interleaving of the probes can be reconstructed.
SAMPLE_COLUMNS = (
    "campaign", "round", "level", "level_index", "block", "probe_index", "sample", "start",
    "cycles", "response", "rax", "cpu", "migrated", "warmup",
)  # fmt: skip
#: The columns of format 1 and 2 files, written before control probes existed.
LEGACY_COLUMNS = tuple(c for c in SAMPLE_COLUMNS if c != "probe_index")


def sample_columns(format_version: int) -> tuple[str, ...]:
    """The sample columns a file of ``format_version`` holds."""
    return SAMPLE_COLUMNS if format_version >= 3 else LEGACY_COLUMNS


def _count(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r} is not allowed; it must be an integer >= {minimum}")
    return int(value)


#: numpy dtype of each sample column as measured and digested ("str" for the text
#: columns, constant per block); in memory a loaded campaign is leaner (:data:`LEAN_KINDS`).
SAMPLE_DTYPES = {
    "campaign": "str", "round": "int32", "level": "str", "level_index": "int32",
    "block": "int32", "probe_index": "int16", "sample": "int64", "start": "int64",
    "cycles": "int64", "response": "int64", "rax": "int64", "cpu": "int16", "migrated": "bool",
    "warmup": "bool",
}  # fmt: skip

#: Memory one sample needs at the peak of writing or reading a campaign (the Arrow parts,
#: the merged table and the pandas frame each hold about 70 bytes of it), a deliberately
#: high estimate used to refuse sizes that cannot fit before anything is allocated.
BYTES_PER_SAMPLE = 256
#: Memory per block for the block order and the block table (Python objects).
BYTES_PER_BLOCK = 2048


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation here (Linux ``MemAvailable``)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _human(nbytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if nbytes < 1024 or unit == "PiB":
            return f"{nbytes:,.0f} {unit}" if unit == "bytes" else f"{nbytes:,.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_sizes(rounds: int, levels: int, samples: int, warmup: int = 0) -> int:
    """Refuse a campaign whose samples would not fit in this machine's memory.

    A campaign is merged and read back whole, so its ``rounds x levels x (warmup +
    samples)`` samples must fit in the memory available now (at
    :data:`BYTES_PER_SAMPLE` each), together with the block order. Returns the
    estimate in bytes.

    Raises
    ------
    ValueError
        Naming the sizes, the estimate and the memory available.
    """
    _count("rounds", rounds, 1)
    _count("levels", levels, 1)
    _count("samples", samples, 1)
    _count("warmup", warmup, 0)
    blocks = rounds * levels
    need = blocks * (samples + warmup) * BYTES_PER_SAMPLE + blocks * BYTES_PER_BLOCK
    have = available_memory()
    if have is not None and need > have:
        raise ValueError(
            f"rounds={rounds} x {levels} levels x (warmup {warmup} + samples {samples}) "
            f"needs about {_human(need)} of memory ({BYTES_PER_SAMPLE} bytes per sample); "
            f"this machine has {_human(have)} available: use fewer rounds or samples"
        )
    return need


@dataclass(frozen=True)
class Design:
    """What a campaign measures and how often.

    Parameters
    ----------
    probe
        The trap whose latency is measured.
    levels
        Load levels in order of increasing load (non-decreasing ``value``; repeated
        values, as in an A/A design, keep their given order).
    probe_cpu
        CPU the probe runs on (no load worker may use it).
    samples
        Measured probe samples per block (after the warm-up).
    rounds
        Rounds; each measures every level once, in random order.
    warmup
        Extra samples at the start of each block, kept and flagged ``warmup``.
    probe_gap
        Cycles between intended probe starts (0 = back to back).
    settle
        Seconds between starting a level's load and the first probe sample.
    seed
        Seed of the block order.
    baseline
        Name of the reference level of every comparison; the first (lowest load)
        level when not given.
    controls
        Control probes measured in the same blocks as ``probe`` (e.g. the null trap,
        a system call): every probe takes ``warmup + samples`` samples per block, in
        sub-bursts of ``sub_burst`` samples whose order is shuffled per block, so all
        see the same load and the same drift.
    sub_burst
        Samples per sub-burst when there are controls.
    control_gap
        Cycles between the controls' intended starts inside a sub-burst (0, the
        default, issues them back to back: they are compared by their block medians,
        and pacing them like the main probe would only lengthen the block).
    """

    probe: Trap
    levels: tuple[Level, ...]
    probe_cpu: int
    samples: int
    rounds: int
    warmup: int = 0
    probe_gap: int = 0
    settle: float = 0.01
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    controls: tuple[Trap, ...] = ()
    sub_burst: int = 250
    control_gap: int = 0

    def __post_init__(self) -> None:
        _count("samples", self.samples, 1)
        _count("rounds", self.rounds, 1)
        _count("warmup", self.warmup, 0)
        _count("probe_gap", self.probe_gap, 0)
        _count("seed", self.seed, 0)
        if not self.levels:
            raise ValueError("levels is empty; a campaign needs at least one load level")
        names = [lv.name for lv in self.levels]
        if len(set(names)) != len(names):
            raise ValueError(f"level names {names} repeat; each level needs its own name")
        values = [lv.value for lv in self.levels]
        if any(b < a for a, b in itertools.pairwise(values)):
            raise ValueError(
                f"levels {names} are not in order of increasing load (values {values}); "
                "sort them by value: trend tests and neighbour comparisons follow this order"
            )
        if self.baseline is None:
            object.__setattr__(self, "baseline", names[0])
        elif self.baseline not in names:
            raise ValueError(f"baseline={self.baseline!r} is not a level; levels: {names}")
        allowed = os.sched_getaffinity(0)
        if self.probe_cpu not in allowed:
            raise ValueError(
                f"probe_cpu={self.probe_cpu} is not allowed; allowed: {sorted(allowed)}"
            )
        for lv in self.levels:
            for w in lv.workers:
                # A remote worker's CPU is a CPU of its agent's machine, not of this one.
                if w.cpu == self.probe_cpu and getattr(w, "agent", None) is None:
                    raise ValueError(
                        f"level {lv.name!r} puts a load worker on the probe CPU {w.cpu}"
                    )
        if not self.settle >= 0:
            raise ValueError(f"settle={self.settle!r} must be >= 0 seconds")
        from .measure.executor import MAX_GAP

        if self.probe_gap > MAX_GAP:
            raise ValueError(
                f"probe_gap={self.probe_gap} cycles is not allowed; the most is {MAX_GAP} "
                "(2**36): raise the probe rate"
            )
        _count("sub_burst", self.sub_burst, 1)
        _count("control_gap", self.control_gap, 0)
        object.__setattr__(self, "controls", tuple(self.controls))
        labels = [t.label for t in self.probes]
        if len(set(labels)) != len(labels):
            raise ValueError(f"probes {labels} repeat; each control must differ from the others")
        # Refused here, before a writer creates anything: the whole campaign is merged
        # and read back in memory.
        k = len(self.probes)
        check_sizes(self.rounds, len(self.levels), self.samples * k, self.warmup * k)

    @property
    def probes(self) -> tuple[Trap, ...]:
        """The main probe, then the controls: ``probe_index`` order."""
        return (self.probe, *self.controls)

    @property
    def per_block(self) -> int:
        """Sample rows per block: every probe's warm-up and samples."""
        return len(self.probes) * (self.warmup + self.samples)

    @property
    def blocks(self) -> int:
        """Number of blocks: rounds x levels."""
        return self.rounds * len(self.levels)

    def order(self) -> list[list[int]]:
        """Level indices in the order each round measures them (seeded permutations)."""
        rng = np.random.default_rng(self.seed)
        return [list(rng.permutation(len(self.levels))) for _ in range(self.rounds)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe.to_dict(),
            "probe_label": self.probe.label,
            "levels": [lv.to_dict() for lv in self.levels],
            "probe_cpu": self.probe_cpu,
            "samples": self.samples,
            "rounds": self.rounds,
            "warmup": self.warmup,
            "probe_gap": self.probe_gap,
            "settle": self.settle,
            "seed": self.seed,
            "baseline": self.baseline,
            "controls": [t.to_dict() for t in self.controls],
            "probes": [t.label for t in self.probes],
            "sub_burst": self.sub_burst,
            "control_gap": self.control_gap,
            **self.extra,
        }


def probes_of(design: dict[str, Any]) -> list[str]:
    """Probe labels of a recorded design, in ``probe_index`` order (old files: one)."""
    probes = design.get("probes")
    if isinstance(probes, list) and probes and all(isinstance(p, str) for p in probes):
        return list(probes)
    return [str(design.get("probe_label") or "probe")]


@dataclass(frozen=True)
class BlockResult:
    """One block: its probe samples (tidy rows) and its block-table row."""

    samples: pd.DataFrame
    block: dict[str, Any]


@dataclass
class Campaign:
    """A campaign's data: samples, blocks and metadata (as :func:`hvload.load` returns).

    Attributes
    ----------
    samples
        One row per probe sample; columns :data:`SAMPLE_COLUMNS`.
    blocks
        One row per block: level, round, times, target and achieved load.
    metadata
        Platform, design, versions, times, what RAX means here, TSC frequency.
    path
        The file it was read from or written to, if any.
    """

    samples: pd.DataFrame
    blocks: pd.DataFrame
    metadata: dict[str, Any]
    path: Path | None = None

    @property
    def tsc_hz(self) -> float | None:
        return self.metadata.get("tsc_hz")

    @property
    def complete(self) -> bool:
        """Whether every block of the design was measured."""
        design = self.metadata.get("design", {})
        expected = design.get("rounds", 0) * len(design.get("levels", ()))
        return len(self.blocks) == expected


# -- lean samples in memory -------------------------------------------------------------------

#: How each sample column is held in memory by :func:`lean_samples` (what :func:`hvload.load`
#: returns): ``category`` for the text columns (one small code per row, ``level`` with the
#: design's levels as its categories, in load order); ``id``: the narrowest unsigned integer
#: type that holds the column's values; ``ticks``: ``int32`` where the values fit, else
#: ``int64`` (TSC ticks, signed so that differences of latencies cannot wrap); ``offset``:
#: ``start`` counted from its block's first sample (the block's TSC origin is
#: ``blocks["start_tsc"]``), ``uint32`` where a block spans less than 2**32 ticks (1.6 s at
#: 2.6 GHz), else ``int64``; ``code``: the narrowest signed type (RAX, a status);
#: ``flag``: Arrow booleans (``bool[pyarrow]``), one bit per sample. A default-sized
#: campaign then takes 22.25 bytes per sample, 23.25 with the system-call control (its
#: RAX needs two bytes): benchmarks/bench_dataset.py, tests/test_lean.py.
LEAN_KINDS = {
    "campaign": "category", "round": "id", "level": "category", "level_index": "id",
    "block": "id", "probe_index": "id", "sample": "id", "start": "offset", "cycles": "ticks",
    "response": "ticks", "rax": "code", "cpu": "id", "migrated": "flag", "warmup": "flag",
}  # fmt: skip

_BITS = (8, 16, 32, 64)


def _narrowest(values: np.ndarray, *, unsigned: bool, min_bits: int = 8) -> np.dtype:
    """The narrowest integer dtype of at least ``min_bits`` that holds ``values``."""
    if values.size == 0:
        lo = hi = 0
    else:
        lo, hi = int(values.min()), int(values.max())
    kind = "uint" if unsigned and lo >= 0 else "int"  # a negative value forces a signed type
    for bits in _BITS:
        if bits < min_bits:
            continue
        dtype = np.dtype(f"{kind}{bits}")
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return dtype
    return np.dtype(np.int64)


def _block_codes(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dense code of each row's block and the block ids, in order of first appearance."""
    codes, ids = pd.factorize(block, sort=False)
    return codes.astype(np.intp, copy=False), np.asarray(ids, dtype=np.int64)


def _category(values: Any, categories: Sequence[str]) -> pd.Categorical:
    """``values`` as a Categorical whose categories start with ``categories``.

    Unused categories stay (a level of the design with no block yet is still a level).
    The categories are plain Python strings (object dtype): turning the column into an
    array or text is then several times faster than with Arrow-backed strings.
    """
    if isinstance(values, pd.Categorical):
        codes, have = values.codes, [str(c) for c in values.categories]
    else:
        codes, uniques = pd.factorize(np.asarray(values, dtype=object))
        have = [str(c) for c in uniques]
    known = list(dict.fromkeys(str(c) for c in categories))
    extra = [c for c in dict.fromkeys(have) if c not in set(known)]
    final = known + extra
    where = {c: i for i, c in enumerate(final)}
    remap = np.array([where[c] for c in have] + [-1], dtype=np.int32)  # -1 stays missing
    new_codes = remap[np.asarray(codes, dtype=np.int64)]
    return pd.Categorical.from_codes(new_codes, categories=pd.Index(final, dtype=object))


def lean_samples(
    columns: Mapping[str, Any], *, levels: Sequence[str] = (), campaign: str | None = None
) -> tuple[pd.DataFrame, dict[int, int]]:
    """The lean in-memory sample table (:data:`LEAN_KINDS`) from full-width columns.

    Parameters
    ----------
    columns
        Every column of :data:`SAMPLE_COLUMNS`: numpy integer or bool arrays, the text
        columns as arrays of str or :class:`pandas.Categorical`; ``start`` in absolute TSC
        ticks.
    levels
        The design's level names in order: the categories of ``level``.
    campaign
        The campaign id: the first category of ``campaign``.

    Returns
    -------
    samples, origins
        The table, and each block's TSC origin (block id -> ``start`` of its first
        sample, the smallest in the block) that its ``start`` values count from.
    """
    if "probe_index" not in columns:  # before format 3: the main probe only
        columns = {**columns, "probe_index": np.zeros(len(columns["block"]), np.uint8)}
    block = np.asarray(columns["block"])
    codes, ids = _block_codes(block)
    start = np.asarray(columns["start"], dtype=np.int64)
    origin = np.full(ids.size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(origin, codes, start)
    offset = start - origin[codes] if start.size else start
    out: dict[str, Any] = {}
    for name in SAMPLE_COLUMNS:
        kind = LEAN_KINDS[name]
        if name == "start":
            fits = offset.size == 0 or int(offset.max()) < 2**32
            out[name] = offset.astype(np.uint32 if fits else np.int64)
            continue
        values = columns[name]
        if kind == "category":
            cats = [campaign] if name == "campaign" and campaign is not None else []
            out[name] = _category(values, levels if name == "level" else cats)
        elif kind == "flag":
            out[name] = pd.arrays.ArrowExtensionArray(pa.array(np.asarray(values, dtype=bool)))
        else:
            arr = np.asarray(values)
            if kind == "id":
                dtype = _narrowest(arr, unsigned=True)
            elif kind == "ticks":
                dtype = _narrowest(arr, unsigned=False, min_bits=32)
            else:
                dtype = _narrowest(arr, unsigned=False)
            out[name] = arr.astype(dtype, copy=False)
    frame = pd.DataFrame(out, copy=False)
    return frame, {int(b): int(o) for b, o in zip(ids.tolist(), origin.tolist(), strict=True)}


def absolute_start(samples: pd.DataFrame, blocks: pd.DataFrame | None) -> np.ndarray:
    """``start`` of every sample in absolute TSC ticks (``int64``).

    A loaded campaign counts ``start`` from its block's first sample; ``blocks["start_tsc"]``
    is that origin. Without that column ``start`` is taken as absolute already.
    """
    start = samples["start"].to_numpy(dtype=np.int64)
    if blocks is None or "start_tsc" not in blocks.columns or not len(samples):
        return start
    origin = pd.Series(blocks["start_tsc"].to_numpy(dtype=np.int64),
                       index=blocks["block"].to_numpy(dtype=np.int64))  # fmt: skip
    codes, ids = _block_codes(samples["block"].to_numpy(dtype=np.int64))
    known = origin.reindex(ids)
    if known.isna().any():
        missing = ids[known.isna().to_numpy()].tolist()[:5]
        raise ValueError(f"block(s) {missing} have samples but no start_tsc in the block table")
    return start + known.to_numpy(dtype=np.int64)[codes]


def wide_samples(samples: pd.DataFrame, blocks: pd.DataFrame | None = None) -> pd.DataFrame:
    """The sample table in the measured dtypes (:data:`SAMPLE_DTYPES`), ``start`` absolute.

    The inverse of :func:`lean_samples`, for writing a campaign and for code that wants
    plain ``int64`` columns; it takes four times the memory of the lean table.
    """
    out: dict[str, Any] = {}
    for name in SAMPLE_COLUMNS:
        dtype = SAMPLE_DTYPES[name]
        if name == "start":
            out[name] = absolute_start(samples, blocks)
        elif name not in samples.columns and name == "probe_index":  # the main probe only
            out[name] = np.zeros(len(samples), dtype=dtype)
        elif dtype == "str":
            out[name] = samples[name].astype(str).to_numpy(dtype=object)
        else:
            out[name] = samples[name].to_numpy(dtype=dtype)
    return pd.DataFrame(out, copy=False)


def lean_campaign(
    samples: pd.DataFrame, blocks: pd.DataFrame, metadata: dict[str, Any], path: Path | None = None
) -> Campaign:
    """A :class:`Campaign` with lean samples from full-width ones (absolute ``start``)."""
    design = metadata.get("design") or {}
    names = [lv.get("name") for lv in design.get("levels") or () if isinstance(lv, dict)]
    cols = {c: samples[c].to_numpy() for c in SAMPLE_COLUMNS if c in samples.columns}
    lean, origins = lean_samples(cols, levels=names, campaign=metadata.get("campaign"))
    blocks = blocks.copy()
    if len(blocks):
        blocks["start_tsc"] = pd.array([origins.get(int(b)) for b in blocks["block"]], "Int64")
    return Campaign(lean, blocks, metadata, path)
