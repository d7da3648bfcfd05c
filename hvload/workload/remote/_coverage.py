"""Whether remote load covered the probe: the clock offset of an exchange with an agent
(:class:`Exchange`), each agent's load window against the probe window
(:func:`agent_window`), the block row it gives (:func:`block_row`), and the per-level
summary of a finished campaign (:func:`coverage_text`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Exchange:
    """One request/response with an agent: this clock's send and receive times, the
    agent's receive and reply times. Gives the clock offset within ``error``."""

    c0: int
    recv: int
    reply: int
    c1: int

    @property
    def offset(self) -> float:
        """Agent clock minus this clock (ns)."""
        return ((self.recv - self.c0) + (self.reply - self.c1)) / 2

    @property
    def error(self) -> float:
        """Largest error of :attr:`offset` (ns): half the round trip's network part."""
        return max(((self.c1 - self.c0) - (self.reply - self.recv)) / 2, 0.0)


def agent_window(
    name: str,
    answer: dict[str, Any],
    start: Exchange | None,
    stop: Exchange,
    window: tuple[int, int] | None,
    *,
    lease: float,
    rate_tolerance: float,
) -> dict[str, Any]:
    """How agent ``name``'s load window (its stop ``answer``) covered the probe
    ``window``, mapped onto this clock with the better of the start and stop exchanges;
    ``problem`` says why the block is flagged, or is None."""
    exchanges = [e for e in (start, stop) if e is not None]
    best = min(exchanges, key=lambda e: e.error)
    entry: dict[str, Any] = {
        "agent": name,
        "clock_offset_ms": best.offset / 1e6,
        "clock_error_ms": best.error / 1e6,
        # Time the agent itself took to start and to stop (the rest is the network).
        "agent_start_ms": (start.reply - start.recv) / 1e6 if start else None,
        "agent_stop_ms": (stop.reply - stop.recv) / 1e6,
        "start_ns": None,
        "end_ns": None,
        "cover": None,
        "lead_ms": None,
        "lag_ms": None,
        "expired": answer.get("expired_ns") is not None,
        "problem": None,
    }
    problems = []
    if answer.get("error"):
        problems.append(f"a load worker failed ({answer['error']})")
    if answer.get("expired_ns") is not None:
        problems.append(f"its lease of {lease:g} s expired before the stop")
    first, last = answer.get("first_ns"), answer.get("last_ns")
    if first is None or last is None:
        problems.append("it reported no load window")
    else:
        lo, hi = first - best.offset, last - best.offset
        entry["start_ns"], entry["end_ns"] = round(lo), round(hi)
        # On the agent's own clock, no offset needed: running before it said so,
        # and still running when the stop arrived.
        if start is not None and first > start.reply:
            problems.append("its first call came after it reported running")
        if last < answer["recv_ns"] and answer.get("expired_ns") is None:
            problems.append("its load ended before the stop arrived")
        if window is not None:
            p0, p1 = window
            span = max(p1 - p0, 1)
            overlap = max(0.0, min(hi, p1) - max(lo, p0))
            entry["cover"] = min(overlap / span, 1.0)
            entry["lead_ms"] = (p0 - lo) / 1e6
            entry["lag_ms"] = (hi - p1) / 1e6
            if entry["cover"] < 1.0:
                problems.append(
                    f"its load covered {entry['cover']:.1%} of the probe window "
                    f"(clock error up to {best.error / 1e6:.3f} ms)"
                )
    for d in answer.get("stats", []):
        target = d.get("target_rate")
        if target and d["achieved_rate"] < (1 - rate_tolerance) * target:
            problems.append(
                f"CPU {d['cpu']} achieved {d['achieved_rate'] / target:.1%} of its target "
                f"rate {target:,.0f}/s"
            )
    if problems:
        entry["problem"] = f"agent {name!r}: " + "; ".join(problems)
    return entry


def block_row(
    window: tuple[int, int] | None,
    windows: list[dict[str, Any]],
    problems: list[str],
    stop_ns: int,
    *,
    start_ms: float,
) -> dict[str, Any]:
    """The block row's remote-load keys: the probe window, every agent's window
    (:func:`agent_window`), the worst coverage over agents and the coordination cost."""

    def pick(key: str, fn: Any) -> float | None:
        values = [w.get(key) for w in windows]
        if not values or any(v is None for v in values):
            return None
        return float(fn(values))

    return {
        "probe_start_ns": window[0] if window else None,
        "probe_end_ns": window[1] if window else None,
        "agents": len(windows),
        "load_ok": not problems,
        "load_problem": "; ".join(problems) or None,
        "load_cover": pick("cover", min),
        "load_lead_ms": pick("lead_ms", min),
        "load_lag_ms": pick("lag_ms", min),
        "clock_error_ms": pick("clock_error_ms", max),
        "remote_start_ms": start_ms,
        "remote_stop_ms": stop_ns / 1e6,
        "agent_windows": windows,
    }


def coverage_text(camp: Any) -> str:
    """Per level: how the remote load covered the probe windows, and what coordination cost."""
    import pandas as pd

    blocks = camp.blocks
    agents = camp.metadata.get("load_agents") or {}
    lines = [f"Load agents ({len(agents)}):"]
    for name, a in agents.items():
        p = a.get("platform") or {}
        tsc = f"{p['tsc_hz'] / 1e6:,.3f} MHz" if p.get("tsc_hz") else "TSC unknown"
        lines.append(
            f"  {name}: {p.get('hostname')}, {p.get('cpu_vendor')} {p.get('cpu_brand')} under "
            f"{p.get('hypervisor')}, {tsc}; CPUs {a.get('cpus')}; clock offset "
            f"{a.get('clock_offset_ms', float('nan')):+.3f} ms "
            f"(+- {a.get('clock_error_ms', float('nan')):.3f})"
        )
    if blocks.empty or "agents" not in blocks.columns:
        return "\n".join(lines) + "\n"
    b = blocks.copy()
    b["flagged"] = b["load_ok"].eq(False) if "load_ok" in b.columns else False
    cols = ("agents", "load_cover", "load_lead_ms", "load_lag_ms", "clock_error_ms",
            "remote_start_ms", "remote_stop_ms")  # fmt: skip
    for c in cols:
        b[c] = pd.to_numeric(b[c], errors="coerce") if c in b.columns else float("nan")
    g = b.groupby(["level_index", "level"], sort=True)
    table = pd.DataFrame(
        {
            "blocks": g.size(),
            "agents": g["agents"].max(),
            "flagged": g["flagged"].sum(),
            "cover min": g["load_cover"].min(),
            "lead ms min": g["load_lead_ms"].min(),
            "lag ms min": g["load_lag_ms"].min(),
            "clock err ms": g["clock_error_ms"].max(),
            "start ms": g["remote_start_ms"].median(),
            "stop ms": g["remote_stop_ms"].median(),
        }
    ).reset_index(level="level_index", drop=True)
    lines.append(
        "Remote load per level (cover: share of each probe window inside every agent's load "
        "window; lead/lag: load before/after the probe; start/stop: coordination, median)"
    )
    lines.append(table.to_string(float_format=lambda x: f"{x:,.3f}", na_rep="-"))
    return "\n".join(lines) + "\n"
