"""Run a command with a busy-loop process on every CPU this process may use.

    python tests/burner.py COMMAND [ARGS...]

CI runs the ``timing`` tests a second time this way (``.ci/run``): hvload studies load, so
its timing-sensitive tests must hold on a machine that is anything but idle. One spinner
per CPU of ``os.sched_getaffinity(0)``, each pinned to its CPU at normal priority, runs
from before the command starts until it ends; the exit status is the command's.

No spinner outlives the burner, however it ends: each asks the kernel to kill it when the
burner dies (``PR_SET_PDEATHSIG``, so even a SIGKILL of the burner takes them along), and
each also checks now and then that its parent is still the burner (where ``prctl`` is not
available). A SIGTERM or SIGINT of the burner stops the command and the spinners.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

#: prctl(2) option: the signal this process gets when its parent thread exits.
PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> None:
    """Ask for SIGKILL when the parent dies; exit now if it already has."""
    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died between the fork and the prctl: then nobody would signal.
    if os.getppid() != parent:
        os._exit(0)


def spin(parent: int, cpu: int) -> None:
    """Busy-loop on ``cpu`` until ``parent`` is gone (the body of one spinner)."""
    _die_with(parent)
    os.sched_setaffinity(0, {cpu})
    while True:
        # Pure computation, with a parent check about every few milliseconds' worth.
        for _ in range(100_000):
            pass
        if os.getppid() != parent:
            os._exit(0)


@contextlib.contextmanager
def burning(cpus: set[int] | None = None) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One spinner process per CPU in ``cpus`` (default: this process's affinity) for the
    duration of the ``with`` block; all of them are killed and reaped on the way out."""
    me = os.getpid()
    spinners = []
    try:
        for cpu in sorted(cpus if cpus is not None else os.sched_getaffinity(0)):
            spinners.append(
                subprocess.Popen([sys.executable, __file__, "--spin", str(me), str(cpu)])
            )
        yield spinners
    finally:
        for p in spinners:
            p.kill()
        for p in spinners:
            p.wait()


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "--spin":
        spin(int(argv[1]), int(argv[2]))
    if not argv or argv[0].startswith("-"):
        print("usage: python tests/burner.py COMMAND [ARGS...]", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    cpus = os.sched_getaffinity(0)
    t0 = time.monotonic()
    with burning(cpus) as spinners:
        pids = ", ".join(str(p.pid) for p in spinners)
        print(f"burner: {len(spinners)} busy-loop processes (PIDs {pids}) on CPUs "
              f"{sorted(cpus)}", file=sys.stderr, flush=True)  # fmt: skip
        proc = subprocess.Popen(argv)
        try:
            code = proc.wait()
            code = 128 - code if code < 0 else code  # killed by a signal: as a shell says
        finally:
            if proc.poll() is None:  # the burner was stopped: stop the command too
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        load = os.getloadavg()
    print(f"burner: {time.monotonic() - t0:.0f} s under load; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end; exit status {code}",
          file=sys.stderr, flush=True)  # fmt: skip
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
