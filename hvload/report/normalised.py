"""Exit cost on a scale that travels between CPUs: relative to the controls in the same blocks.

Cycles of one exit are not comparable between two CPUs (other clocks, other cores, other
microcode), but hvload measures control probes beside the main probe in every block, so
each block carries its own yardsticks:

``minus-null``
    block median of the main probe minus that of the ``null`` control (the timing floor:
    ``lfence; rdtsc`` ... ``rdtscp; lfence`` around no instruction), in cycles: the exit
    alone, without the cost of timing it.
``over-syscall``
    block median of the main probe over that of the ``syscall/...`` control (a round trip
    into the guest kernel, which no hypervisor sees): how many system calls one exit
    costs. Both scale with the core's speed, so the ratio is free of the clock and much of
    the core; what remains is the exit path (hypervisor, nesting, mitigations).

Per level, the typical value is the median over blocks with its order-statistic interval
(as ``hvload report`` does for the block median). :func:`compare_normalised` compares two
campaigns' no-load levels on one of these scales: Hodges-Lehmann ratio of the block values
with its interval and a Mann-Whitney test, the blocks being the units (one campaign each).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "NORMALISATIONS",
    "NormalisedComparison",
    "compare_normalised",
    "normalised_blocks",
    "normalised_levels",
    "normalised_text",
]

#: Scale -> (the control it needs, what it means, its unit).
NORMALISATIONS: dict[str, tuple[str, str, str]] = {
    "minus-null": ("null", "exit - null floor (block median minus the null control's)", "cycles"),
    "over-syscall": ("syscall", "exit / syscall (block median over the syscall control's)", "x"),
}


def _control(labels: list[str], kind: str) -> int | None:
    for i, label in enumerate(labels):
        if i and (label == kind or label.startswith(kind + "/")):
            return i
    return None


def normalised_blocks(camp: Any) -> pd.DataFrame:
    """One row per block: the main probe's and the controls' block medians, both scales.

    Warm-up samples are left out. Columns: ``round``, ``level``, ``level_index``,
    ``main``, ``null``, ``syscall`` (NaN where the campaign lacks that control),
    ``minus-null`` and ``over-syscall``. ``frame.attrs["controls"]`` names the controls.
    """
    design = camp.metadata.get("design") or {}
    labels = [str(p) for p in design.get("probes") or [design.get("probe_label", "main")]]
    own = getattr(camp, "hvload_block_medians", None)
    if callable(own):  # a campaign left in its file: from its block statistics
        med = own()
    else:
        samples = camp.samples
        if "warmup" in samples.columns:
            samples = samples[~samples["warmup"].astype(bool).to_numpy()]
        if "probe_index" not in samples.columns:
            samples = samples.assign(probe_index=0)
        med = (
            samples.groupby(["round", "level_index", "probe_index"], observed=True)["cycles"]
            .median()
            .unstack("probe_index")
        )
    out = pd.DataFrame(index=med.index).reset_index()
    names = list(design.get("levels") or [])
    out["level"] = [
        (lv.get("name") if isinstance(lv, dict) else str(lv)) if i < len(names) else str(i)
        for i, lv in (
            (int(i), names[int(i)] if int(i) < len(names) else None) for i in out["level_index"]
        )
    ]
    out["main"] = med[0].to_numpy() if 0 in med.columns else np.nan
    controls: dict[str, str] = {}
    for kind in ("null", "syscall"):
        idx = _control(labels, kind)
        out[kind] = med[idx].to_numpy() if idx is not None and idx in med.columns else np.nan
        if idx is not None:
            controls[kind] = labels[idx]
    out["minus-null"] = out["main"] - out["null"]
    out["over-syscall"] = out["main"] / out["syscall"]
    out.attrs["controls"] = controls
    out.attrs["probe"] = labels[0]
    columns = [
        "round",
        "level",
        "level_index",
        "main",
        "null",
        "syscall",
        "minus-null",
        "over-syscall",
    ]
    frame = out[columns].copy()
    frame.attrs.update(out.attrs)
    return frame


def normalised_levels(camp: Any, *, confidence: float = 0.95) -> pd.DataFrame:
    """Per level, the typical block (median over blocks) on both scales with its interval."""
    from ..stats.intervals import median_interval

    blocks = normalised_blocks(camp)
    tsc = camp.metadata.get("tsc_hz")
    rows = []
    for (index, level), group in blocks.groupby(["level_index", "level"], sort=True):
        row: dict[str, Any] = {"level": level, "level_index": index, "blocks": len(group)}
        for scale in NORMALISATIONS:
            values = group[scale].to_numpy(dtype=float)
            if np.isfinite(values).any():
                mid, low, high = median_interval(values, confidence)
            else:
                mid = low = high = math.nan
            row.update({scale: mid, f"{scale}_low": low, f"{scale}_high": high})
        if tsc:
            row["minus-null_ns"] = row["minus-null"] / float(tsc) * 1e9
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs.update(blocks.attrs)
    return frame


def _cell(row: pd.Series, scale: str, digits: int) -> str:
    if not math.isfinite(row[scale]):
        return "-"
    return (
        f"{row[scale]:,.{digits}f} [{row[scale + '_low']:,.{digits}f}, "
        f"{row[scale + '_high']:,.{digits}f}]"
    )


def normalised_text(camp: Any) -> list[str]:
    """The per-level table of both scales as lines (empty without control probes)."""
    levels = normalised_levels(camp)
    controls = levels.attrs.get("controls") or {}
    if not controls:
        return []
    lines = [
        f"Normalised to the controls in the same blocks ({', '.join(controls.values())}); "
        "typical block, 95% CI"
    ]
    head = f"{'level':<10} {'blocks':>6}  {'exit - null (cycles)':>28}  {'exit / syscall':>24}"
    lines.append(head)
    for _, r in levels.iterrows():
        lines.append(
            f"{r['level']!s:<10} {r['blocks']:>6}  {_cell(r, 'minus-null', 0):>28}  "
            f"{_cell(r, 'over-syscall', 2):>24}"
        )
    return lines


@dataclass(frozen=True)
class NormalisedComparison:
    """Two campaigns' no-load levels on one normalised scale."""

    scale: str
    reference: str
    other: str
    reference_level: str
    other_level: str
    controls: dict[str, str]
    reference_value: float
    other_value: float
    ratio: float
    ratio_low: float
    ratio_high: float
    pvalue: float
    n_reference: int
    n_other: int

    def to_dict(self) -> dict[str, Any]:
        from ..stats.results import jsonable

        return dict(jsonable(self.__dict__))

    def to_text(self) -> str:
        _, meaning, unit = NORMALISATIONS[self.scale]
        fmt = (lambda v: f"{v:,.0f} cycles") if unit == "cycles" else (lambda v: f"{v:.2f}x")
        return (
            f"Normalised comparison, {meaning}\n"
            f"  controls used: {self.controls[self.reference]} in {self.reference}, "
            f"{self.controls[self.other]} in {self.other} (the same blocks as the main probe)\n"
            f"  {self.reference} ({self.reference_level}, {self.n_reference} blocks): "
            f"{fmt(self.reference_value)}\n"
            f"  {self.other} ({self.other_level}, {self.n_other} blocks): "
            f"{fmt(self.other_value)}\n"
            f"  ratio {self.other} / {self.reference}: {self.ratio:.3f} "
            f"[{self.ratio_low:.3f}, {self.ratio_high:.3f}] (95% CI, Hodges-Lehmann on log "
            f"block values), Mann-Whitney p = {self.pvalue:.3g}\n"
        )


def _no_load(blocks: pd.DataFrame, camp: Any) -> tuple[str, pd.DataFrame]:
    """The baseline level's blocks: the design's baseline, else the first level."""
    baseline = (camp.metadata.get("design") or {}).get("baseline")
    names = list(dict.fromkeys(blocks.sort_values("level_index")["level"]))
    level = baseline if baseline in names else names[0]
    return str(level), blocks[blocks["level"] == level]


def compare_normalised(
    camps: dict[str, Any], scale: str, *, confidence: float = 0.95
) -> NormalisedComparison:
    """Compare the first campaign of ``camps`` (name -> campaign) with the second on
    ``scale`` (a key of :data:`NORMALISATIONS`), at each one's baseline level."""
    from ..stats.twosample import two_sample

    if scale not in NORMALISATIONS:
        raise ValueError(
            f"normalisation {scale!r} is not allowed; use one of {', '.join(NORMALISATIONS)}"
        )
    if len(camps) != 2:
        raise ValueError(f"a normalised comparison takes two campaigns, got {len(camps)}")
    control = NORMALISATIONS[scale][0]
    values, levels, controls = [], [], {}
    for name, camp in camps.items():
        blocks = normalised_blocks(camp)
        if control not in blocks.attrs["controls"]:
            raise ValueError(
                f"{name} has no {control} control in its blocks; --normalise "
                f"{scale} needs one (hvload run --controls {control},...)"
            )
        controls[name] = blocks.attrs["controls"][control]
        level, rows = _no_load(blocks, camp)
        levels.append(level)
        v = rows[scale].to_numpy(dtype=float)
        values.append(v[np.isfinite(v) & (v > 0)])
    ref, other = list(camps)
    result = two_sample(np.log(values[0]), np.log(values[1]), confidence=confidence)
    ci = result.confidence_interval()
    return NormalisedComparison(
        scale,
        ref,
        other,
        levels[0],
        levels[1],
        controls,
        float(np.median(values[0])),
        float(np.median(values[1])),
        result.ratio,
        ci.low,
        ci.high,
        result.pvalue,
        len(values[0]),
        len(values[1]),
    )
