"""tests/burner.py, the busy-loop processes CI runs the ``timing`` tests under: one per CPU,
each pinned to its CPU and running, for as long as the command; none left afterwards, even
when the burner itself is killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BURNER = Path(__file__).with_name("burner.py")
#: The command run under the burner: prints the burner's other children (its spinners)
#: as PID, allowed CPUs and state, once they have pinned themselves; exits with status 3.
REPORT = """
import os, sys, time
ppid = os.getppid()
deadline = time.monotonic() + 10
while True:  # until every spinner has pinned itself (its interpreter starts first)
    rows = []
    for pid in open(f"/proc/{ppid}/task/{ppid}/children").read().split():
        if int(pid) != os.getpid():
            status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status"))
            rows.append((pid, status["Cpus_allowed_list"].strip(), status["State"].split()[0]))
    if all(cpus.isdigit() for _, cpus, _ in rows) or time.monotonic() > deadline:
        break
    time.sleep(0.01)
for row in rows:
    print(*row)
sys.exit(3)
"""

pytestmark = pytest.mark.skipif(
    not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(),
    reason="needs /proc/PID/task/TID/children (Linux)",
)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # a zombie runs nothing


def _wait_gone(pids: list[int], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return all(_gone(p) for p in pids)


def test_one_spinner_per_cpu_for_the_command_and_none_after() -> None:
    done = subprocess.run([sys.executable, str(BURNER), sys.executable, "-c", REPORT],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 3, done.stderr  # the command's status
    rows = [line.split() for line in done.stdout.splitlines()]
    cpus = sorted(os.sched_getaffinity(0))
    assert sorted(int(cpu) for _, cpu, _ in rows) == cpus, rows  # pinned, one per CPU
    assert all(state == "R" for _, _, state in rows), rows  # busy, never asleep
    assert "busy-loop processes" in done.stderr and "exit status 3" in done.stderr
    assert _wait_gone([int(pid) for pid, _, _ in rows], 1)


def test_a_killed_burner_takes_its_spinners_along() -> None:
    burner = subprocess.Popen([sys.executable, str(BURNER), "sleep", "60"],
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    children = Path(f"/proc/{burner.pid}/task/{burner.pid}/children")
    try:
        assert burner.stderr is not None
        assert "busy-loop processes" in burner.stderr.readline()  # the spinners run
        deadline = time.monotonic() + 10
        while len(children.read_text().split()) <= len(os.sched_getaffinity(0)):
            assert time.monotonic() < deadline, "the command did not start"
            time.sleep(0.01)
        cmdlines = {int(p): Path(f"/proc/{p}/cmdline").read_bytes() for p in
                    children.read_text().split()}  # fmt: skip
    finally:
        burner.send_signal(signal.SIGKILL)
        burner.wait()
    spinners = [p for p, cmd in cmdlines.items() if b"--spin" in cmd]
    pids = list(cmdlines)
    assert len(spinners) == len(os.sched_getaffinity(0)) == len(pids) - 1
    try:
        assert _wait_gone(spinners), "a spinner outlived the burner"
    finally:
        for p in set(pids) - set(spinners):  # the command is left to its own end: end it
            os.kill(p, signal.SIGTERM)
