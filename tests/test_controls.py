"""Control probes beside the main probe, and the noise each block saw, on real traps."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from markers import needs_two, needs_x86

import hvload
import hvload.campaign as campaign
from hvload.cli import main
from hvload.measure import executor, noise
from hvload.workload.schedule import Level

PROBE_CPU = min(os.sched_getaffinity(0))


@needs_x86
def test_syscall_trap_is_a_kernel_round_trip_not_an_exit() -> None:
    trap = executor.syscall_trap()
    assert trap.label == "syscall/getppid" and executor.probe(trap).ok
    b = executor.burst(trap, 5000)
    # getppid returns the parent's pid in RAX: the call really ran.
    assert (b.rax == os.getppid()).all()
    floor = np.median(executor.burst(executor.null_trap(), 5000).cycles)
    exit_ = np.median(executor.burst(executor.cpuid_trap(0), 5000).cycles)
    median = np.median(b.cycles)
    print(f"median cycles: null {floor:.0f}, syscall {median:.0f}, cpuid {exit_:.0f}")
    assert floor < median < exit_
    with pytest.raises(ValueError, match="call='reboot' is not allowed"):
        executor.syscall_trap("reboot")


def _design(**kw: object) -> campaign.Design:
    args: dict[str, object] = {
        "probe": executor.cpuid_trap(0), "levels": (Level("idle", 0.0),),
        "probe_cpu": PROBE_CPU, "samples": 1000, "rounds": 2, "warmup": 10,
        "controls": (executor.null_trap(), executor.syscall_trap()), "sub_burst": 100,
    }  # fmt: skip
    args.update(kw)
    return campaign.Design(**args)  # type: ignore[arg-type]


def test_design_checks_its_controls() -> None:
    with pytest.raises(ValueError, match="repeat"):
        _design(controls=(executor.null_trap(), executor.null_trap()))
    with pytest.raises(ValueError, match="sub_burst=0"):
        _design(sub_burst=0)
    d = _design()
    assert d.per_block == 3 * 1010
    assert d.to_dict()["probes"] == ["cpuid(0x0,0x0)", "null", "syscall/getppid"]


@needs_x86
def test_block_interleaves_the_probes_and_records_its_noise() -> None:
    d = _design()
    meta = campaign.metadata_for(d, executor_tsc(), {"hypervisor": "test"})
    camp = campaign.run(d, meta=meta)
    s = camp.samples
    assert len(s) == 2 * d.per_block
    assert (s.groupby("block")["probe_index"].value_counts() == 1010).all()
    # Inside a block the probes alternate: each probe's samples span the block.
    first = s[s["block"] == 0]
    spans = first.groupby("probe_index")["start"].agg(["min", "max"])
    assert (spans["min"] < spans["max"].min()).all()
    medians = s[~s["warmup"]].groupby("probe_index")["cycles"].median()
    assert medians[1] < medians[2] < medians[0]  # null < syscall < cpuid exit
    for col in noise.NOISE_COLUMNS:
        assert col in camp.blocks.columns
    assert (camp.blocks["probe_ns"] > 0).all()
    assert camp.metadata["platform"]["system"]["sources"]


def executor_tsc() -> float:
    from hvload.measure.machine import tsc_frequency

    return tsc_frequency()[0]


@needs_x86
@needs_two
def test_a_cpu_burner_shows_up_as_involuntary_context_switches(tmp_path: Path) -> None:
    """What the noise columns promise, on a quiet or a busy machine: a block's
    ``ctx_involuntary`` is the measuring thread's own count over the block, so it lies
    within this thread's count around the whole run, and a CPU-bound process pinned to the
    probe CPU for the whole block shows up in it. Nothing is compared with a "quiet" block:
    on a busy machine there is none."""
    d = _design(samples=15_000, rounds=1, probe_gap=int(executor_tsc() / 20_000), controls=())
    meta = campaign.metadata_for(d, executor_tsc(), {"hypervisor": "test"})
    burner = subprocess.Popen(
        [sys.executable, "-c",
         f"import os; os.sched_setaffinity(0, {{{PROBE_CPU}}})\nwhile True: pass"],
    )  # fmt: skip
    try:
        time.sleep(0.2)  # the interpreter is up and spinning before the block starts
        before = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
        busy = campaign.run(d, meta=meta).blocks.iloc[0]
        around = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - before
    finally:
        burner.kill()
        burner.wait()
    seconds = busy["probe_ns"] / 1e9
    print(
        f"involuntary context switches: {busy.ctx_involuntary} in the block ({seconds:.2f} s),"
        f" {around} around the run"
    )
    # 0.75 s of probing that shares its CPU with a process that never sleeps: the
    # scheduler preempts it every few milliseconds (sched_latency_ns is 6-24 ms).
    assert 10 <= busy["ctx_involuntary"] <= around


@needs_x86
@needs_two
def test_hvload_run_quick_records_controls_and_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "controls.parquet"
    assert main(["run", "--quick", "--no-progress", "--seed", "2", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    camp = hvload.load(out)
    probes = camp.metadata["design"]["probes"]
    assert probes[1:] == ["null", "syscall/getppid"]
    assert sorted(camp.samples["probe_index"].unique()) == [0, 1, 2]
    for col in noise.NOISE_COLUMNS:
        assert col in camp.blocks.columns
    assert "Attribution" not in text  # the brief summary of run
    result = hvload.analyze(camp)
    assert result.attribution is not None and result.attribution.controls == tuple(probes[1:])
    plain = tmp_path / "plain.parquet"
    assert main(["run", "--quick", "--no-progress", "--controls", "none", "-o", str(plain)]) == 0
    assert hvload.load(plain).metadata["design"]["probes"] == probes[:1]
    with pytest.raises(SystemExit) as info:
        main(["run", "--quick", "--controls", "rdtsc", "-o", str(tmp_path / "x.parquet")])
    assert info.value.code == 2
    assert "(--controls rdtsc) is not allowed" in capsys.readouterr().err
