"""Load from neighbour machines (issue 15): remote load agents through Dask distributed.

A ``distributed.LocalCluster`` of two worker processes bound to 127.0.0.1 plays two
neighbour VMs; their load is pinned to the highest CPU and the probe runs on the lowest
(CPU 1 and CPU 0 on the project's 2-vCPU machine). The campaigns are small: what is
tested is the coordination (coverage, rates, faults, no load left behind), not latency.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from markers import needs_two, needs_x86, timing

import hvload
import hvload.campaign as campaign
from hvload import store
from hvload.campaign.remote import prepare as prepare_remote
from hvload.cli import main
from hvload.workload import remote, schedule

distributed = pytest.importorskip("distributed")

LOAD_CPU = max(os.sched_getaffinity(0))
PROBE_CPU = min(os.sched_getaffinity(0))
AGENTS = ["0", "1"]
#: Remote workers' rate: modest, so that two "VMs" sharing one CPU can both reach it.
RATE = 20_000.0


def _load_threads() -> list[str]:
    """Names of the load threads running in this process (run on every worker)."""
    import threading

    return sorted(t.name for t in threading.enumerate() if t.name.startswith("hvload-load"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two worker processes on 127.0.0.1, each an agent (one thread, hvload-load=1)."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, resources={remote.AGENT_RESOURCE: 1},
        silence_logs=logging.CRITICAL,
    ) as cl:  # fmt: skip
        yield cl


@pytest.fixture(scope="module")
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c


def _remote_threads(client: Any) -> dict[str, list[str]]:
    return client.run(_load_threads)


def _wait(predicate: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# -- no cluster needed ------------------------------------------------------------------


def test_vm_levels_and_loads_parse() -> None:
    levels = remote.parse_vm_levels("0, 1,2,vm-b+vm-c@50%,local+vm-b@20000/s")
    assert [lv.count for lv in levels[:3]] == [0, 1, 2]
    assert levels[3].parts == (("vm-b", None), ("vm-c", ("fraction", 0.5)))
    assert levels[4].parts == (("local", None), ("vm-b", ("rate", 20000.0)))
    assert remote.parse_load("max") == ("max", None) == remote.parse_load("100%")
    bad = [("", "empty"), ("-1", "not a machine name"), ("a+a", "twice"),
           ("a@7", "not a load"), ("a@0%", "lies in"), ("a b", "machine name")]  # fmt: skip
    for text, needle in bad:
        with pytest.raises(ValueError, match=needle):
            remote.parse_vm_levels(text)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--vm-levels", "0,1"], "--scheduler and --vm-levels go together"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler and --vm-levels go together"),
        (["--vm-load", "50%"], "--vm-load needs --scheduler"),
        (["--scheduler", "tcp://x:1", "--vm-levels", "0,a@7"], "not a load"),
        (["--scheduler", "tcp://x:1", "--vm-levels", "0,1", "--levels", "0,50"], "not both"),
        (["--scheduler", "tcp://x:1", "--vm-levels", "0,1", "--vm-cpus", "a"], "--vm-cpus"),
        (["--scheduler", "tcp://x:1", "--vm-levels", "0,1", "--lease", "0"], "--lease 0"),
        (["--scheduler", "tcp://x:1", "--vm-levels", "0,1", "--baseline", "3"], "--baseline"),
        (["--scheduler", " ", "--vm-levels", "0,1"], "not an address"),
    ],
)
def test_remote_options_are_checked_before_anything_is_contacted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    out = tmp_path / "never.parquet"
    with pytest.raises(SystemExit) as exc:
        main(["run", "-o", str(out), "--no-progress", *argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_scheduler_is_one_line_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never.parquet"
    argv = ["run", "-o", str(out), "--no-progress", "--scheduler", "tcp://127.0.0.1:9",
            "--vm-levels", "0,1", "--agent-timeout", "0.5"]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 1, err
    assert "could not reach the Dask scheduler at tcp://127.0.0.1:9" in err, err
    assert "nothing was measured or written" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def _flagged_campaign() -> campaign.Campaign:
    rows = []
    samples = []
    for block, (rnd, level, ok) in enumerate([(0, "0 VMs", True), (0, "1 VM", False),
                                              (1, "1 VM", True), (1, "0 VMs", True)]):  # fmt: skip
        index = 0 if level == "0 VMs" else 1
        rows.append({"campaign": "c", "round": rnd, "level": level, "level_index": index,
                     "block": block, "load_ok": ok,
                     "load_problem": None if ok else "agent 'b': lost"})  # fmt: skip
        samples.append(pd.DataFrame({"round": rnd, "level": level, "level_index": index,
                                     "block": block, "cycles": np.arange(10) + 100}))  # fmt: skip
    return campaign.Campaign(pd.concat(samples, ignore_index=True), pd.DataFrame(rows), {})


def test_flagged_blocks_are_left_out_of_the_analysis_with_a_note() -> None:
    camp = _flagged_campaign()
    kept = campaign.usable(camp)
    assert sorted(kept.blocks["block"]) == [0, 2, 3]
    assert sorted(kept.samples["block"].unique()) == [0, 2, 3]
    text = campaign.left_out(kept)
    assert "1 block " in text and "block 1 (round 0, level '1 VM'): agent 'b': lost" in text
    assert len(camp.blocks) == 4  # the campaign itself is untouched
    local = campaign.Campaign(camp.samples, camp.blocks.drop(columns="load_ok"), {})
    assert campaign.usable(local) is local and campaign.left_out(local) == ""


# -- two neighbour "VMs" ----------------------------------------------------------------


@pytest.fixture(scope="module")
def neighbours(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> campaign.Campaign:
    """0, 1 and 2 loaded VMs at 20,000 cpuid/s each on the load CPU, probe cpuid paced
    at 20,000/s on the probe CPU: 3 levels x 2 rounds of 0.5 s probe windows (long enough
    that a worker descheduled for a few ms when the stop arrives stays within 5 %)."""
    path = tmp_path_factory.mktemp("neighbours") / "neighbours.parquet"
    with remote.AgentPool(cluster, agents=AGENTS) as pool:
        plan = prepare_remote(
            pool, "0,1,2", vm_load=f"{RATE:.0f}/s", vm_cpus=[LOAD_CPU], probe="cpuid",
            probe_cpu=PROBE_CPU, samples=10000, warmup=100, rounds=2, probe_rate=20_000,
            controls=None, seed=15,
        )  # fmt: skip
        return plan.run(path)


@timing
@needs_x86
@needs_two
def test_a_campaign_through_two_neighbours_is_complete_and_covered(
    neighbours: campaign.Campaign, client: Any
) -> None:
    camp = store.load(neighbours.path)  # everything below survives the file
    assert camp.complete
    d = camp.metadata["design"]
    assert [lv["name"] for lv in d["levels"]] == ["0 VMs", "1 VM", "2 VMs"]
    assert len(camp.samples) == len(camp.blocks) * (d["warmup"] + d["samples"])
    assert (camp.samples.groupby("block").size() == d["warmup"] + d["samples"]).all()
    # Every agent's platform is recorded, with its CPUs and clock.
    agents = camp.metadata["load_agents"]
    assert sorted(agents) == AGENTS
    for a in agents.values():
        p = a["platform"]
        assert p["hostname"] and p["cpu_vendor"] and p["hypervisor"] and p["tsc_hz"] > 0
        assert LOAD_CPU in a["cpus"] and a["clock_error_ms"] >= 0
    for _, b in camp.blocks.iterrows():
        k = int(b["level_value"])
        assert b["agents"] == k and b["workers"] == k
        assert b["probe_start_ns"] < b["probe_end_ns"]
        if k == 0:
            assert b["load_ok"], b["load_problem"]  # no load: nothing can fall short
            continue
        assert len(b["agent_windows"]) == k
        remote_stats = [s for s in b["worker_stats"] if s.get("agent") is not None]
        assert sorted(s["agent"] for s in remote_stats) == AGENTS[:k]
        # What should flag this block, worked out here from what the block recorded.
        reasons = []
        for s in remote_stats:
            assert s["cpu"] == LOAD_CPU and s["target_rate"] == pytest.approx(RATE, rel=1e-3)
            # The rate recorded is the rate that ran: the worker's calls over its seconds,
            # and an open-loop schedule never runs ahead of its target.
            assert s["achieved_rate"] == pytest.approx(s["calls"] / s["seconds"], rel=1e-9)
            assert s["calls"] - 1 <= s["target_rate"] * s["seconds"] * 1.001, s
            ratio = s["achieved_rate"] / s["target_rate"]
            if ratio < 0.95:  # the pool's default rate tolerance, 5 %
                reasons.append(f"CPU {s['cpu']} achieved {ratio:.1%} of its target rate")
        for w in b["agent_windows"]:
            assert w["start_ns"] < w["end_ns"] and not w["expired"]
            if w["cover"] < 1.0:
                reasons.append(f"its load covered {w['cover']:.1%} of the probe window")
            else:  # the load ran from before the probe's first sample to after its last
                assert w["start_ns"] < b["probe_start_ns"] and w["end_ns"] > b["probe_end_ns"]
        # A quiet machine reaches the rate; a busy one may not, and then the block is
        # flagged with the reason: the flag and the words follow exactly from the record.
        assert b["load_ok"] is (not reasons), (b["load_problem"], reasons)
        for reason in reasons:
            assert reason in b["load_problem"], (b["load_problem"], reason)
        if b["load_ok"]:
            assert b["load_cover"] == 1.0 and b["load_lead_ms"] > 0 and b["load_lag_ms"] > 0
    # The analysis leaves out exactly the flagged blocks, and says so for each.
    kept = campaign.usable(camp)
    flagged = camp.blocks[camp.blocks["load_ok"].eq(False)]
    assert sorted(kept.blocks["block"]) == sorted(set(camp.blocks["block"]) - set(flagged["block"]))
    note = campaign.left_out(kept)
    assert (note == "") is flagged.empty
    for _, b in flagged.iterrows():
        assert f"block {b['block']} (round {b['round']}, level '{b['level']}')" in note
    if kept.blocks["level"].nunique() == len(d["levels"]):  # every level still has a block
        result = hvload.analyze(kept)
        assert list(result.levels["level"]) == ["0 VMs", "1 VM", "2 VMs"]
    # No load is left on the neighbours.
    assert not any(_remote_threads(client).values())


@timing
@needs_x86
@needs_two
def test_report_shows_the_agents_and_the_coverage(
    neighbours: campaign.Campaign, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(neighbours.path)]) == 0
    out = capsys.readouterr().out
    assert "Load agents (2):" in out and "Remote load per level" in out
    # Blocks whose agents fell short (a busy machine) are left out, and the report says so.
    flagged = int(neighbours.blocks["load_ok"].eq(False).sum())
    assert ("Left out" in out) is (flagged > 0), out
    if flagged:
        assert f"{flagged} block" in out


@timing
@needs_x86
@needs_two
def test_an_agent_whose_lease_is_not_renewed_stops_by_itself(cluster: Any, client: Any) -> None:
    with remote.AgentPool(cluster, agents=AGENTS[:1]) as pool:
        spec = schedule.WorkerSpec(LOAD_CPU, hvload.null_trap(), schedule.Max())
        # Started by hand: no campaign, so nobody renews the half-second lease.
        pool._send("0", "start", [spec], 0.5).result(timeout=30)
        assert pool._send("0", "status").result(timeout=30)["running"]
        t0 = time.monotonic()
        assert _wait(lambda: not pool._send("0", "status").result(timeout=30)["running"], 10)
        assert time.monotonic() - t0 < 5
        report = pool._send("0", "stop").result(timeout=30)
        assert report["expired_ns"] is not None and report["stats"][0]["calls"] > 0
    assert not any(_remote_threads(client).values())


def _cli_run(address: str, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "hvload", "run", "--scheduler", address, "--agents", "0,1",
        "--vm-cpus", str(LOAD_CPU), "--probe", "cpuid", "--probe-cpu", str(PROBE_CPU),
        "--controls", "none", "--no-progress", "--seed", "5", "-o", str(out), *extra,
    ]  # fmt: skip


@timing
@needs_x86
@needs_two
def test_a_sequential_campaign_through_neighbours_stops_at_a_look_with_no_load_left(
    cluster: Any, client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--until`` with remote load: the looks are taken on the blocks the neighbours'
    load ran beside, the file ends at the stopping look's round, and the agents' load
    is stopped whichever look ended the run. (Before the tests that kill an agent: the
    cluster's two workers are both needed.)"""
    out = tmp_path / "sequential.parquet"
    argv = _cli_run(cluster.scheduler_address, out, "--vm-levels", "0,1", "--until",
                    "decided-median", "--max-rounds", "10", "--looks", "2", "--samples",
                    "2000", "--vm-load", f"{RATE:.0f}/s")[3:]  # fmt: skip
    code = main(argv)
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "sequential: looks at rounds" in err and "the verdicts are sequential" in stdout
    assert not any(_remote_threads(client).values())
    camp = store.load(out)
    record = camp.metadata["sequential"]
    taken = record["looks"]
    assert record["until"] == "decided-median" and len(record["planned"]) == 2
    assert record["planned"][-1] == 10 and 1 <= len(taken) <= 2
    assert [t["rounds"] for t in taken] == record["planned"][: len(taken)]
    # Nothing measured after the stopping look's round, and every block had its agents.
    assert int(camp.blocks["round"].max()) + 1 == taken[-1]["rounds"]
    assert len(camp.blocks) == 2 * taken[-1]["rounds"]
    assert sorted(camp.metadata["load_agents"]) == AGENTS
    assert set(camp.blocks.loc[camp.blocks["level_value"] == 1, "agents"]) == {1}
    assert record["stopped_by"].startswith(
        "every comparison decided" if taken[-1]["decided"] else "max_rounds reached"
    )
    # The report analyses the file at the looks' alpha and says so.
    assert main(["report", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"each look analysed at alpha 0.05/2 = {record['alpha_per_look']:.4g}" in text
    assert "Load agents (2):" in text


@timing
@needs_x86
@needs_two
def test_sigterm_stops_the_remote_load_and_keeps_finished_blocks(
    cluster: Any, client: Any, tmp_path: Path
) -> None:
    out = tmp_path / "stopped.parquet"
    cmd = _cli_run(cluster.scheduler_address, out, "--vm-levels", "1,2", "--rounds", "20",
                   "--samples", "4000", "--vm-load", "max")  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parts = out.with_name(out.name + ".parts")
    _wait(lambda: len(list(parts.glob("block-*.parquet"))) >= 2 or proc.poll() is not None, 90)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "load stopped" in err and "kept in" in err
    assert not any(_remote_threads(client).values())
    camp = store.load(out)
    assert 2 <= len(camp.blocks) < 40
    # Load at "max" has no rate to fall short of; a block flagged on a busy machine (its
    # load not covering the probe window) says which agent and why.
    for problem in camp.blocks.loc[camp.blocks["load_ok"].eq(False), "load_problem"]:
        assert isinstance(problem, str) and problem.startswith("agent '"), problem


@timing
@needs_x86
@needs_two
def test_a_killed_coordinator_leaves_no_load_on_the_neighbours(
    cluster: Any, client: Any, tmp_path: Path
) -> None:
    out = tmp_path / "killed.parquet"
    # One block of 200,000 samples at 20,000/s: 10 s, far longer than the wait below.
    cmd = _cli_run(cluster.scheduler_address, out, "--vm-levels", "2", "--rounds", "2",
                   "--samples", "200000", "--vm-load", "max", "--lease", "1")  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        running = _wait(lambda: all(_remote_threads(client).values()) or proc.poll() is not None,
                        90)  # fmt: skip
        assert running and proc.poll() is None, proc.communicate(timeout=10)
        proc.kill()  # SIGKILL: nothing of the coordinator runs any more
        proc.wait(timeout=30)
        t0 = time.monotonic()
        assert _wait(lambda: not any(_remote_threads(client).values()), 10)
        # The lease (1 s) or the release of the actors ends the load, whichever comes first.
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


@needs_x86
@needs_two
def test_an_agent_listens_on_loopback_only_and_reports_its_platform(
    cluster: Any, client: Any
) -> None:
    psutil = pytest.importorskip("psutil")
    cmd = [sys.executable, "-m", "hvload", "agent", cluster.scheduler_address, "--name",
           "guest", "--cpus", str(LOAD_CPU)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        names = lambda: [w["name"] for w in client.scheduler_info()["workers"].values()]  # noqa: E731
        assert _wait(lambda: "guest" in names() or proc.poll() is not None, 60), names()
        listening = [
            c.laddr for c in psutil.Process(proc.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        ]  # fmt: skip
        assert listening and all(a.ip == "127.0.0.1" for a in listening), listening
        with remote.AgentPool(cluster, agents=["guest"]) as pool:
            assert pool.info["guest"]["cpus"] == [LOAD_CPU]
            assert pool.platform("guest")["tsc_hz"] > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert "hvload agent 'guest':" in err and f"load CPUs [{LOAD_CPU}]" in err, err
    assert proc.returncode == 143, err
    assert "Traceback" not in err, err


@timing
@needs_x86
@needs_two
def test_a_neighbour_killed_mid_campaign_stops_it_keeping_finished_blocks(
    cluster: Any, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """The documented rule: the block the agent died in is kept and flagged, the
    campaign stops with status 1, every finished block is kept, no load remains."""
    pids = client.run(os.getpid)
    killed: list[int] = []
    real_start = remote.AgentPool.start

    def start_then_kill(pool: remote.AgentPool, index: int) -> None:
        real_start(pool, index)
        pool_starts.append(index)
        if len(pool_starts) == 3:  # the third block: both agents are loading now
            pid = pool.info["1"]["pid"]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    pool_starts: list[int] = []
    monkeypatch.setattr(remote.AgentPool, "start", start_then_kill)
    out = tmp_path / "lost.parquet"
    argv = _cli_run(cluster.scheduler_address, out, "--vm-levels", "2,2", "--rounds", "3",
                    "--samples", "2000", "--vm-load", f"{RATE:.0f}/s")[3:]  # fmt: skip
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 1, err
    assert killed and killed[0] in pids.values()
    line = [ln for ln in err.splitlines() if ln.startswith("hvload run: error:")]
    assert len(line) == 1 and "agent '1' was lost during a block" in line[0], err
    assert "3 of 6 blocks kept in" in line[0] and "Traceback" not in err
    camp = store.load(out)
    assert list(camp.blocks["block"]) == [0, 1, 2]
    last = camp.blocks.iloc[-1]
    assert last["load_ok"] is False or last["load_ok"] == False  # noqa: E712
    assert "agent '1' lost during the block" in last["load_problem"]
    assert not any("lost" in str(p) for p in camp.blocks["load_problem"].iloc[:2])
    assert "block 2 (round 1" in campaign.left_out(campaign.usable(camp))
    # The dead neighbour's load died with it; the other one's was stopped.
    assert _wait(lambda: _gone(killed[0]), 10)
    assert not any(_remote_threads(client).values())


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ")[1].startswith("Z")  # a zombie runs nothing
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
