"""Local load that falls short of its target rate flags its block, as remote load does.

What hvload promises, and what is asserted here, holds on a busy machine too: a block is
flagged ``load_ok = False`` exactly when a paced local worker's *recorded* achieved rate
is under 95 % of its target, the flagged blocks stay in the file, and the block policy
leaves them out of the analysis with a note. Whether a given block falls short depends on
the machine; the throttled and unreachable cases below fall short on any machine.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from markers import needs_two, needs_x86

import hvload
import hvload.campaign as campaign
from hvload import store
from hvload.measure.machine import tsc_frequency
from hvload.report import CampaignReport
from hvload.stats import DEFAULT
from hvload.workload import generator, schedule
from hvload.workload.generator import RATE_TOLERANCE, WorkerStats, shortfalls

LOAD_CPU = max(os.sched_getaffinity(0))
PROBE_CPU = min(os.sched_getaffinity(0))


def _stats(target: float | None, achieved: float, cpu: int = 1) -> WorkerStats:
    return WorkerStats(
        cpu=cpu, trap="null", schedule="constant" if target else "max", target_rate=target,
        achieved_rate=achieved, calls=0, seconds=1.0, lateness_mean=0.0,
        lateness_p50=0.0, lateness_p99=0.0, lateness_max=0,
    )  # fmt: skip


# -- the rule, without measuring ------------------------------------------------------------


def test_a_paced_worker_under_95_percent_is_a_shortfall() -> None:
    assert RATE_TOLERANCE == 0.05
    assert shortfalls([_stats(1000.0, 950.0)]) == []
    assert shortfalls([_stats(1000.0, 949.0)]) == [
        "CPU 1 achieved 94.9% of its target rate 1,000/s"
    ]
    assert shortfalls([_stats(1000.0, float("nan"))]), "an unknown rate is no proof it ran"
    assert shortfalls([_stats(None, 10.0)]) == [], "back to back (100 %): no target"


def test_the_flags_of_every_check_are_combined_not_overridden() -> None:
    flags = campaign.runner._load_flags
    short, fine, top = [_stats(1000.0, 500.0)], [_stats(1000.0, 1000.0)], [_stats(None, 9.0)]
    assert flags({}, {}, []) == {} and flags({}, {}, top) == {}, "nothing judged: no keys"
    assert flags({}, {}, fine) == {"load_ok": True, "load_problem": None}
    got = flags({}, {}, short)
    assert got["load_ok"] is False and got["load_problem"].startswith("local load: CPU 1")
    # Kernel-mediated load is judged by what the kernel delivered, not by the calls made.
    assert flags({}, {"load_ok": True}, short) == {"load_ok": True, "load_problem": None}
    kernel = {"load_ok": False, "load_problem": "the kernel delivered 10 CAL interrupts/s"}
    assert flags({}, kernel, fine)["load_problem"] == kernel["load_problem"]
    # A remote driver's flag is kept beside a local shortfall, its reason first; a True
    # from one check never clears another's False.
    got = flags({"load_ok": False, "load_problem": "agent 'b' lost"}, {}, short)
    assert got["load_ok"] is False
    assert got["load_problem"].startswith("agent 'b' lost; local load: CPU 1 achieved 50.0%")
    assert flags({"load_ok": True}, {}, short)["load_ok"] is False
    remote = [WorkerStats(**{**_stats(1000.0, 10.0).__dict__, "agent": "b"})]
    assert flags({"load_ok": True}, {}, remote)["load_ok"] is True, "remote: the driver judges"


# -- measured campaigns ----------------------------------------------------------------------


def _design(saturation: float) -> campaign.Design:
    levels = schedule.fraction_levels([0, 0.5, 1.0], [LOAD_CPU], hvload.null_trap(), saturation)
    return campaign.Design(
        probe=hvload.null_trap(), levels=levels, probe_cpu=PROBE_CPU, samples=200, rounds=2,
        warmup=5, seed=3,
    )  # fmt: skip


def _throttle(monkeypatch: pytest.MonkeyPatch, factor: int) -> None:
    """Every paced local worker issues its calls ``factor`` times further apart than its
    schedule says: a real worker, really slower than its recorded target."""
    real = generator._Worker.__init__

    def slowed(self: Any, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        self.gaps = np.asarray(self.gaps) * factor

    monkeypatch.setattr(generator._Worker, "__init__", slowed)


def _assert_flagged_iff_short(blocks: pd.DataFrame) -> pd.Series:
    """Flagged exactly where a recorded paced worker achieved < 95 % of its target."""
    short = pd.Series(
        [
            any(w["target_rate"] and not w["achieved_rate"] >= 0.95 * w["target_rate"] for w in ws)
            for ws in blocks["worker_stats"]
        ],
        index=blocks.index,
    )
    flagged = blocks["load_ok"].eq(False) if "load_ok" in blocks.columns else short & False
    assert (flagged == short).all(), blocks[["level", "achieved_rate", "target_rate"]]
    for _, b in blocks[flagged].iterrows():
        assert b["load_problem"].startswith("local load: CPU "), b["load_problem"]
    return flagged


@pytest.mark.slow
@needs_x86
@needs_two
@pytest.mark.parametrize(
    ("saturation", "throttle"),
    [
        (2e9, 1),  # 50 % is 1e9 calls/s: no CPU issues a call every few cycles
        (2e4, 4),  # 50 % is 10,000 calls/s, reachable, but every worker is 4x too slow
    ],
    ids=["unreachable", "throttled"],
)
def test_local_load_that_falls_short_is_flagged_and_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, saturation: float, throttle: int
) -> None:
    if throttle > 1:
        _throttle(monkeypatch, throttle)
    d = _design(saturation)
    meta = campaign.metadata_for(d, tsc_frequency()[0], {"hypervisor": "test"})
    path = tmp_path / "short.parquet"
    campaign.run(d, path, meta=meta, saturation=saturation)
    camp = store.load(path)
    blocks = camp.blocks
    flagged = _assert_flagged_iff_short(blocks)
    half = blocks["level"].eq("50%")
    assert flagged[half].all(), "every 50 % block fell short"
    assert not flagged[~half].any(), "0 % (no workers) and 100 % (no target) cannot"
    assert blocks.loc[~half, "load_ok"].isna().all(), "nothing judged, nothing recorded"
    # The block policy leaves them out, with a note naming each.
    used = campaign.usable(camp)
    assert set(used.blocks["level"]) == {"0%", "100%"}
    assert len(used.metadata["left_out"]) == int(half.sum())
    assert all("local load: CPU" in n for n in used.metadata["left_out"])
    report = CampaignReport.build(camp, DEFAULT)
    assert "Left out of the analysis: 2 blocks" in report.to_text()
    status, out, err = cli("report", str(path))
    assert status == 0, err
    assert "Left out of the analysis: 2 blocks" in out and "local load: CPU" in out


@pytest.mark.slow
@needs_x86
@needs_two
def test_an_unthrottled_run_is_flagged_only_where_it_fell_short(tmp_path: Path) -> None:
    """A busy machine may make a block fall short: then, and only then, it is flagged."""
    d = _design(2e5)
    meta = campaign.metadata_for(d, tsc_frequency()[0], {"hypervisor": "test"})
    camp = campaign.run(d, meta=meta, saturation=2e5)
    _assert_flagged_iff_short(camp.blocks)
