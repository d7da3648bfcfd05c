"""Published VM-exit costs, and where this machine's CPUID / hypercall cost falls among them.

``hvload/survey/data/exit_costs.csv`` holds one row per source and setting (source, CPU,
hypervisor, nesting, mitigations, exit kind, cycles). :func:`place` sets a measured cost
against the single-level KVM CPUID figures and the nested ones, and names the most likely
explanation of a difference with the factors :mod:`hvload.measure.check` read (mitigations,
nesting hints); :func:`band_lines` does it for a campaign's metadata or ``hvload info``.

A user-mode hypercall on plain KVM is one exit plus KVM's CPL check (it returns -1 without
dispatching), so it is placed against the same CPUID band; the published rows are CPUID
exits, which KVM handles in a few hundred instructions.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["FIELDS", "ExitCost", "Placement", "band_lines", "place", "reference"]

#: The columns of exit_costs.csv, in order.
FIELDS: tuple[str, ...] = (
    "source",
    "cpu",
    "vendor",
    "hypervisor",
    "nesting",
    "mitigations",
    "exit_kind",
    "cycles",
    "cycles_bound",
    "statistic",
    "note",
)
#: Exit kinds the table may name.
EXIT_KINDS: tuple[str, ...] = ("cpuid", "vmcall", "vmmcall", "tsc_deadline", "io", "mmio", "msr")


@dataclass(frozen=True)
class ExitCost:
    """One published exit cost (a row of exit_costs.csv)."""

    source: str
    cpu: str
    vendor: str
    hypervisor: str
    nesting: str
    mitigations: str
    exit_kind: str
    cycles: int
    cycles_bound: str
    statistic: str
    note: str

    @property
    def third_party(self) -> bool:
        """Whether the row comes from outside hvload (not the project's own measurement)."""
        return "project measurement" not in self.source


def reference() -> list[ExitCost]:
    """The rows of exit_costs.csv, each checked (a malformed field is refused by name)."""
    text = (resources.files("hvload.survey") / "data" / "exit_costs.csv").read_text("utf-8")
    body = "".join(line for line in io.StringIO(text) if not line.startswith("#"))
    reader = csv.DictReader(io.StringIO(body))
    if tuple(reader.fieldnames or ()) != FIELDS:
        raise ValueError(f"exit_costs.csv columns {reader.fieldnames} are not {list(FIELDS)}")
    rows = []
    for i, row in enumerate(reader, start=2):
        if row["exit_kind"] not in EXIT_KINDS:
            raise ValueError(
                f"exit_costs.csv row {i}: exit_kind {row['exit_kind']!r} not in {EXIT_KINDS}"
            )
        if row["cycles_bound"] not in ("exact", "at_least"):
            raise ValueError(f"exit_costs.csv row {i}: cycles_bound {row['cycles_bound']!r}")
        if not row["cycles"].isdigit() or not 10 <= int(row["cycles"]) <= 1_000_000:
            raise ValueError(
                f"exit_costs.csv row {i}: cycles {row['cycles']!r} is not a "
                "cycle count (10 to 1,000,000)"
            )
        words = {k: row[k] for k in FIELDS if k != "cycles"}
        rows.append(ExitCost(cycles=int(row["cycles"]), **words))
    return rows


@dataclass(frozen=True)
class Placement:
    """A measured cost against the published band, with the likely explanation."""

    what: str
    cycles: float
    single_off: int
    single_on: int
    nested_low: int
    nested_high: int
    explanation: str
    sources: tuple[str, ...]

    @property
    def ratio(self) -> float:
        """The cost over single-level KVM's with mitigations off."""
        return self.cycles / self.single_off

    def lines(self) -> list[str]:
        """The placement in words: the ratios, the explanation, the sources."""
        return [
            f"{self.what}: {self.cycles:,.0f} cycles = {self.ratio:.1f}x single-level KVM "
            f"with mitigations off ({self.single_off:,}), {self.cycles / self.single_on:.1f}x "
            f"with them on ({self.single_on:,}+); nested KVM on Hyper-V: "
            f"{self.nested_low:,} (enlightened VMCS) to {self.nested_high:,}",
            f"most likely: {self.explanation}",
            "sources: " + "; ".join(self.sources),
        ]


def _pick(rows: Sequence[ExitCost], **match: str) -> list[ExitCost]:
    return [r for r in rows if r.third_party and all(getattr(r, k) == v for k, v in match.items())]


def place(
    cycles: float,
    *,
    what: str = "CPUID exit here",
    mitigations: bool | None = None,
    nesting_hint: str | None = None,
    rows: Sequence[ExitCost] | None = None,
) -> Placement:
    """Place ``cycles`` (one exit) against the published CPUID exit costs.

    ``mitigations``: whether speculation mitigations are in force here (None: unknown);
    ``nesting_hint``: what suggests nesting here (e.g. ``"nested_pvm=1"``), or None.
    """
    if not cycles > 0:
        raise ValueError(f"cycles {cycles!r} is not a cost; give a positive number of cycles")
    rows = reference() if rows is None else rows
    single = _pick(rows, exit_kind="cpuid", nesting="none", hypervisor="KVM")
    nested = [r for r in _pick(rows, exit_kind="cpuid") if r.nesting.startswith("nested")]
    off = min(r.cycles for r in single if r.mitigations == "off")
    on = max(r.cycles for r in single if r.mitigations == "on")
    low, high = min(r.cycles for r in nested), max(r.cycles for r in nested)
    mit = {True: "mitigations on", False: "mitigations off", None: "mitigations not recorded"}
    parts: list[str]
    if cycles <= on * 1.25:
        # Within a quarter of single-level KVM with mitigations: no need for nesting.
        parts = ["within single-level KVM's published range: a first-level guest", mit[mitigations]]
    else:
        where = (
            f"below the published nested figures ({low:,}-{high:,}): a faster nested "
            "path (such as PVM or an enlightened VMCS)"
            if cycles < low * 0.8
            else "in the range of the published nested figures"
        )
        hint = f" (nesting configured here: {nesting_hint})" if nesting_hint else ""
        parts = [
            f"{cycles / off:.1f}x single-level KVM (mitigations off): probably nested{hint}",
            mit[mitigations],
            where,
        ]
    sources = tuple(dict.fromkeys(r.source for r in (*single, *nested)))
    return Placement(what, float(cycles), off, on, low, high, ", ".join(parts), sources)


def _factors(hygiene: Sequence[Mapping[str, Any]] | None) -> tuple[bool | None, str | None]:
    """Mitigations in force and the nesting hint, from hvload check's findings."""
    mitigations: bool | None = None
    hint: str | None = None
    for f in hygiene or ():
        value = str(f.get("value", ""))
        if f.get("name") == "mitigations" and f.get("status") in ("ok", "info"):
            mitigations = f.get("status") == "info"
        elif f.get("name") == "nesting" and "nested" in value:
            hint = "; ".join(p for p in value.split("; ") if "nested" in p or "pvm" in p)
    return mitigations, hint


def band_lines(metadata: Mapping[str, Any]) -> list[str]:
    """Where the CPUID (and hypercall) cost recorded in ``metadata`` falls, as lines.

    ``metadata`` is a campaign's metadata (its ``platform`` report holds the short bursts
    of every trap taken at the start of the run, ``hygiene`` what hvload check found) or
    ``{"platform": PlatformInfo.to_dict(), "hygiene": findings}`` for ``hvload info``.
    Empty when no CPUID cost was measured.
    """
    platform = metadata.get("platform") or {}
    traps = {str(t.get("name")): t for t in platform.get("traps") or () if isinstance(t, dict)}
    mitigations, hint = _factors(metadata.get("hygiene"))
    lines: list[str] = []
    rows = reference()
    for name, t in traps.items():
        median = t.get("median_cycles")
        if not median or not (name.startswith("cpuid") or name.startswith("hypercall/")):
            continue
        what = (
            f"{name} here (median of {t.get('samples') or '?'} samples)"
            if name.startswith("cpuid")
            else f"{name} here (one exit plus KVM's CPL check; median)"
        )
        lines.extend(
            place(
                float(median), what=what, mitigations=mitigations, nesting_hint=hint, rows=rows
            ).lines()
        )
    if lines and mitigations is None:
        lines.append(
            "(this file records no hvload check findings: mitigations and nesting hints unknown)"
        )
    # The sources line repeats per trap; keep one, at the end.
    sources = [ln for ln in lines if ln.startswith("sources: ")]
    return [ln for ln in lines if not ln.startswith("sources: ")] + sources[:1]
