"""Behaviour of the executor on the machine the tests run on (real traps, no mocks of them)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest
from markers import timing

import hvload
from hvload.errors import BurstInterrupted, TrapFaultError, UnsupportedPlatformError
from hvload.measure import _exec, cpu, executor

pytestmark = pytest.mark.hardware


def _other_instruction() -> str:
    return "vmcall" if cpu.vendor() in ("AuthenticAMD", "HygonGenuine") else "vmmcall"


@pytest.mark.parametrize("trap", ["null", "cpuid", "hypercall"])
def test_dtypes_and_shapes(trap: str) -> None:
    b = hvload.burst(trap, 500)
    assert b.n == 500
    for name in ("start", "cycles", "response", "rax"):
        arr = getattr(b, name)
        assert arr.dtype == np.int64 and arr.shape == (500,), name
    for name in ("cpu_begin", "cpu_end"):
        assert getattr(b, name).dtype == np.uint16
    assert b.migrated.dtype == np.bool_ and b.migrated.shape == (500,)
    assert (b.cycles > 0).all()
    assert (np.diff(b.start) > 0).all(), "start timestamps must increase within one CPU"
    assert np.array_equal(b.response, b.cycles), "unpaced: response time is service time"
    frame = b.to_frame()
    assert list(frame.columns) == [
        "start", "cycles", "response", "rax", "cpu_begin", "cpu_end", "migrated",
    ]  # fmt: skip


def test_trap_results_match_the_instruction() -> None:
    assert (hvload.burst("null", 100).rax == 0).all()
    # CPUID leaf 0 returns the highest basic leaf in EAX: the same number every time.
    eax = cpu.cpuid(0)[0]
    assert (hvload.burst(hvload.cpuid_trap(0), 100).rax == eax).all()


@timing
@pytest.mark.skipif(cpu.hypervisor() != "KVM", reason="KVM's user-mode refusal")
def test_native_hypercall_on_kvm_returns_minus_one() -> None:
    b = hvload.burst("hypercall", 200)
    assert (b.rax == -1).all(), "plain KVM refuses CPL-3 hypercalls with -KVM_EPERM"
    # A real exit costs far more than the timer floor.
    assert np.median(b.cycles) > 10 * np.median(hvload.burst("null", 200).cycles)


@timing
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_migration_is_marked() -> None:
    """Move the measuring thread between CPUs during a burst; moved samples are flagged.

    On a busy machine this thread may not get a CPU again before the burst ends, so the
    burst is tried again (at most five times) until it ran on both CPUs."""
    cpus = sorted(os.sched_getaffinity(0))[:2]
    for _ in range(5):
        b = _burst_while_moving(cpus)
        if set(np.unique(b.cpu_begin)) == set(cpus):
            break
    assert set(np.unique(b.cpu_begin)) == set(cpus), "the thread ran on both CPUs"
    moved = b.migrated
    assert moved.sum() >= 1
    assert np.array_equal(moved, b.cpu_begin != b.cpu_end)
    # Samples that did not move stay on one CPU, so their intervals are plain floors.
    assert np.median(b.cycles[~moved]) < 1000


def _burst_while_moving(cpus: list[int]) -> hvload.Burst:
    """A burst of null samples on a thread that this thread moves between ``cpus`` about
    every millisecond for as long as the burst runs."""
    result: dict[str, hvload.Burst] = {}
    tid: list[int] = []
    started = threading.Event()

    def run() -> None:
        tid.append(threading.get_native_id())
        os.sched_setaffinity(0, {cpus[0]})
        started.set()
        result["b"] = hvload.burst("null", 3_000_000)

    t = threading.Thread(target=run)
    t.start()
    started.wait()
    try:
        i = 0
        while t.is_alive():
            i += 1
            with contextlib.suppress(ProcessLookupError):  # the burst ended just now
                os.sched_setaffinity(tid[0], {cpus[i % 2]})
            time.sleep(0.001)
    finally:
        t.join()
    return result["b"]


@timing
def test_pacing_open_loop() -> None:
    """What open-loop pacing promises, on a quiet or a busy machine: every sample is due
    exactly ``gap`` after the one before, never starts before it is due, and a late start
    is recorded (response - cycles), so the achieved spacing is the recorded one."""
    gap = 5000
    b = hvload.burst("null", 20_000, gap=gap)
    late = b.response - b.cycles
    due = b.start - late
    assert (late >= 0).all(), "no sample starts before it is due"
    assert (np.diff(due) == gap).all(), "the schedule is exact: first + k * gap"
    achieved = np.diff(b.start).astype(float)
    # The spacing that ran is the schedule plus the change in recorded lateness.
    assert np.array_equal(achieved, gap + np.diff(late))
    assert (b.response >= b.cycles).all(), "response time can never be shorter than service"


@timing
def test_pacing_shows_late_starts() -> None:
    """A gap shorter than the trap itself makes every start late; response grows."""
    b = hvload.burst("cpuid", 2000, gap=100)
    late = b.response - b.cycles
    assert late[-1] > late[0]
    assert late[-1] > 1000 * 100, "lateness accumulates over the burst (open loop)"


def test_wrong_vendor_opcode_raises_and_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    if cpu.hypervisor() != "KVM":
        pytest.skip("the other vendor's opcode faults under KVM")
    trap = hvload.hyperv_hypercall(0, instruction=_other_instruction())
    with pytest.raises(TrapFaultError) as info:
        hvload.burst(trap, 10)
    err = info.value
    assert err.signal in (signal.SIGSEGV, signal.SIGILL)
    msg = str(err)
    assert signal.Signals(err.signal).name in msg
    assert "What works instead" in msg and "cpuid" in msg

    calls = []
    real = _exec.probe_in_child
    monkeypatch.setattr(_exec, "probe_in_child", lambda *a, **k: calls.append(a) or real(*a, **k))
    with pytest.raises(TrapFaultError):
        hvload.burst(trap, 10)
    assert calls == [], "the second attempt must come from the cache, without forking"


def test_fault_does_not_kill_a_fresh_interpreter() -> None:
    if cpu.hypervisor() != "KVM":
        pytest.skip("the other vendor's opcode faults under KVM")
    code = (
        "import hvload\n"
        f"t = hvload.hyperv_hypercall(0, instruction={_other_instruction()!r})\n"
        "try:\n    hvload.burst(t, 5)\n"
        "except hvload.TrapFaultError as e:\n    print('caught', e.signal)\n"
        "print('alive', hvload.burst('null', 5).n)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "caught" in out.stdout and "alive 5" in out.stdout


@timing
def test_null_burst_releases_gil_and_allocates_nothing_per_sample() -> None:
    n = 10_000_000
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    tracemalloc.start()
    try:
        t = threading.Thread(target=count)
        t.start()
        time.sleep(0.05)
        before = ticks
        b = hvload.burst("null", n)
        during = ticks - before
        stop.set()
        t.join()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert b.n == n
    assert during > 1000, f"the other thread advanced only {during} times during the burst"
    arrays = n * _exec.BYTES_PER_SAMPLE
    assert peak < arrays + 4 * 2**20, f"peak {peak} bytes vs {arrays} for the arrays"


@timing
def test_ctrl_c_keeps_measured_samples() -> None:
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    # About 10 s if never interrupted: 10**6 samples every 26,000 cycles (~10 us).
    with pytest.raises(BurstInterrupted) as info:
        hvload.burst("null", 1_000_000, gap=26_000, chunk=1000)
    timer.cancel()
    part = info.value.partial
    assert 0 < part.n < 1_000_000
    assert part.n % 1000 == 0, "only whole chunks are returned"
    assert (part.start > 0).all() and (part.response >= part.cycles).all()


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: hvload.burst("null", 0), "n=0"),
        (lambda: hvload.burst("null", -5), "n=-5"),
        (lambda: hvload.burst("null", 2.5), "n=2.5"),
        (lambda: hvload.burst("null", 10**15), "n=1000000000000000"),
        (lambda: hvload.burst("vmfunc", 10), "'vmfunc'"),
        (lambda: hvload.make_trap("hypercall", control=2**64), "control=0x10000000000000000"),
        (lambda: hvload.hyperv_hypercall(-1), "control=-0x1"),
        (lambda: hvload.burst("null", 10, gap=-1), "gap=-1"),
        (lambda: hvload.cpuid_trap(leaf=2**32), "leaf=0x100000000"),
        (lambda: hvload.hyperv_hypercall(1, instruction="syscall"), "'syscall'"),
    ],
)
def test_bad_arguments_name_the_value(call, needle: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert needle in str(info.value)


def test_unsupported_architecture_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_exec, "SUPPORTED", False)
    with pytest.raises(UnsupportedPlatformError, match="not supported on"):
        hvload.burst("null", 10)
    info = hvload.platform(probe_samples=10)
    assert not any(t.supported for t in info.traps)


@timing
def test_platform_report_and_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    from hvload.cli import main

    info = hvload.platform(probe_samples=200)
    assert info.arch == "x86_64" and info.cpu_vendor
    assert info.tsc_hz and info.tsc_method
    assert {t.name for t in info.traps} >= {"null", "cpuid(0x0,0x0)"}
    assert main(["info", "--json", "--samples", "100"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["hypervisor"] == info.hypervisor
    if info.hypervisor == "KVM":
        native = data["hypercall_instruction"]
        rows = {t["name"]: t for t in data["traps"]}
        assert rows[f"hypercall/{native}"]["supported"]
        assert rows[f"hypercall/{native}"]["rax_values"] == [-1]
        assert not rows[f"hypercall/{_other_instruction()}"]["supported"]
        assert "What works instead" in rows[f"hypercall/{_other_instruction()}"]["reason"]


@timing
def test_tsc_frequency_methods_agree() -> None:
    from hvload.measure.machine import tsc_frequency

    hz, method, methods, agreement = tsc_frequency()
    assert 1e8 < hz < 1e10 and method in methods
    for ppm in agreement.values():
        assert abs(ppm) < 2000, "an enumerated TSC frequency and the calibration disagree"


def test_executor_module_api_is_exported() -> None:
    for name in ("burst", "probe", "platform", "make_trap", "TrapFaultError"):
        assert getattr(hvload, name)
    assert executor.TRAP_KINDS == ("null", "cpuid", "syscall", "hypercall", "ipi", "tlb-flush")
