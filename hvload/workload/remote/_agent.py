"""The agent side of remote load: the :class:`LoadAgent` actor that runs one machine's
load workers on its Dask worker, its lease watchdog, and :func:`serve_agent`
(``hvload agent``), the worker process a neighbour machine runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ...errors import MeasurementError

if TYPE_CHECKING:
    from ...measure.executor import Trap
    from ..generator import LoadGenerator
    from ..schedule import Schedule, WorkerSpec

#: The Dask worker resource that marks a worker as an hvload load agent.
AGENT_RESOURCE = "hvload-load"
#: Environment variable with the CPUs an agent offers for load (default: its affinity).
CPUS_ENV = "HVLOAD_AGENT_CPUS"
#: Seconds an agent waits for its workers' first calls before it reports a failure.
_FIRST_CALL_S = 2.0

# Agents of this process that are running load: at most one at a time, so that two
# campaigns (or a stale actor of a dead one) never load the same machine together.
_ACTIVE: weakref.WeakSet[LoadAgent] = weakref.WeakSet()
_ACTIVE_LOCK = threading.Lock()


def check_agent_args(scheduler: str, death_timeout: float | None) -> None:
    """Refuse a scheduler address that is not ``tcp://HOST:PORT`` or ``tls://HOST:PORT``
    and a timeout that is not a finite number of seconds above 0, before anything starts
    (Dask would fail later with a traceback or an odd message)."""
    import math
    from urllib.parse import urlsplit

    example = "write e.g. tcp://10.0.0.1:8786"
    scheme, sep, _ = scheduler.partition("://")
    if not sep or scheme not in ("tcp", "tls"):
        raise ValueError(f"scheduler {scheduler!r} is not a tcp:// or tls:// address; {example}")
    try:
        parts = urlsplit(scheduler)
        port = parts.port
    except ValueError:
        port = -1
    if not parts.hostname or port is None or not 0 < port <= 65535 or parts.path.strip("/"):
        raise ValueError(f"scheduler {scheduler!r} needs a host and a port 1-65535; {example}")
    if death_timeout is not None and not (math.isfinite(death_timeout) and death_timeout > 0):
        raise ValueError(f"timeout {death_timeout} is not allowed; give a number of seconds > 0")


def _offered_cpus() -> list[int]:
    allowed = sorted(os.sched_getaffinity(0))
    text = os.environ.get(CPUS_ENV, "").strip()
    if not text:
        return allowed
    try:
        cpus = sorted({int(tok) for tok in text.split(",") if tok.strip()})
    except ValueError:
        raise ValueError(f"{CPUS_ENV}={text!r} is not a comma-separated list of CPUs") from None
    bad = [c for c in cpus if c not in allowed]
    if bad or not cpus:
        raise ValueError(f"{CPUS_ENV}={text!r}: CPU(s) {bad} not allowed here; allowed {allowed}")
    return cpus


class LoadAgent:
    """The load generator of one machine, as a Dask actor on that machine's worker.

    Created by :class:`AgentPool` (``client.submit(LoadAgent, actor=True, ...)``); its
    methods are called through the actor. The async methods run on the worker's event
    loop, so a start or stop costs one network round trip and no thread hand-over.
    """

    def __init__(self) -> None:
        from ...measure.machine import platform

        machine = platform(probe_samples=0)
        self.platform = machine.to_dict()
        self.tsc_hz = float(machine.tsc_hz or 0.0)
        self.cpus = _offered_cpus()
        self._lock = threading.Lock()
        self._gen: LoadGenerator | None = None
        self._ref: tuple[int, int] = (0, 0)
        self._deadline = 0.0
        self._expired_ns: int | None = None
        self._stopped: dict[str, Any] | None = None
        self._watchdog: threading.Thread | None = None

    # -- called by the pool -------------------------------------------------------------

    async def hello(self) -> dict[str, Any]:
        """This machine: platform, offered CPUs, process, clock."""
        return {
            "platform": self.platform,
            "cpus": self.cpus,
            "pid": os.getpid(),
            "time_ns": time.time_ns(),
        }

    async def clock(self) -> int:
        """This machine's wall clock (ns), for the pool's offset estimate."""
        return time.time_ns()

    def check(self, specs: Sequence[WorkerSpec]) -> None:
        """Refuse workers this machine cannot run (CPU not offered, trap that faults)."""
        from ...measure.executor import require

        if not self.tsc_hz:
            raise MeasurementError("the TSC frequency could not be determined on this machine")
        cpus = [w.cpu for w in specs]
        bad = [c for c in cpus if c not in self.cpus]
        if bad:
            raise ValueError(f"load CPU(s) {bad} are not offered there; offered: {self.cpus}")
        if len(set(cpus)) != len(cpus):
            raise ValueError(f"load CPUs {cpus} repeat a CPU; each CPU takes one worker")
        for w in specs:
            require(w.trap)

    def saturation(self, trap: Trap, cpu: int, seconds: float) -> float:
        """Calls per second one back-to-back worker of ``trap`` achieves on ``cpu`` here."""
        from ..generator import saturation_rate

        self.check([_spec(cpu, trap)])
        return saturation_rate(trap, cpu, self.tsc_hz, seconds)

    async def start(self, specs: Sequence[WorkerSpec], lease: float) -> dict[str, int]:
        """Start ``specs``; return once every worker has issued its first call."""
        from ...measure import _exec
        from ..generator import LoadGenerator

        recv = time.time_ns()
        with _ACTIVE_LOCK:
            others = [a for a in _ACTIVE if a is not self]
            if others:
                raise RuntimeError(
                    "this agent is already running load for another campaign; one campaign "
                    "at a time may use a machine"
                )
            _ACTIVE.add(self)
        try:
            with self._lock:
                self._halt()
                gen = LoadGenerator(specs, self.tsc_hz)
                gen.start()
                self._gen = gen
                self._expired_ns = None
                self._stopped = None
                self._deadline = time.monotonic() + lease
            until = time.monotonic() + _FIRST_CALL_S
            while any(c == 0 for c in gen.calls()):
                if time.monotonic() > until:
                    raise MeasurementError(
                        f"load workers did not issue a call within {_FIRST_CALL_S} s"
                    )
                # A blocking sleep: it lets the workers take the GIL to enter their
                # loops, where a spin on the event loop would hold it for 5 ms.
                time.sleep(20e-6)
            a = _exec.rdtsc()
            ns = time.time_ns()
            self._ref = ((a + _exec.rdtsc()) // 2, ns)

            if self._watchdog is None:  # one per agent, started once: a thread costs ms here
                self._watchdog = threading.Thread(
                    target=_watch, args=(weakref.ref(self),), name="hvload-agent-lease",
                    daemon=True,
                )  # fmt: skip
                self._watchdog.start()
        except BaseException:
            with self._lock:
                self._halt()
            raise
        return {"recv_ns": recv, "reply_ns": time.time_ns()}

    async def renew(self, lease: float) -> bool:
        """Extend the lease of the running load; False when none runs (or it expired)."""
        with self._lock:
            if self._gen is None:
                return False
            self._deadline = time.monotonic() + lease
            return True

    async def stop(self) -> dict[str, Any]:
        """Stop the load; its stats, first and last call (this clock) and any expiry."""
        recv = time.time_ns()
        with self._lock:
            out = self._halt() or self._stopped or {"stats": [], "first_ns": None,
                                                    "last_ns": None, "error": None}  # fmt: skip
            self._stopped = None
        return {**out, "expired_ns": self._expired_ns, "recv_ns": recv, "reply_ns": time.time_ns()}

    async def status(self) -> dict[str, Any]:
        """Whether load runs here now, and the process."""
        return {"running": self._gen is not None, "pid": os.getpid(),
                "expired_ns": self._expired_ns}  # fmt: skip

    # -- inside the agent ---------------------------------------------------------------

    def _halt(self) -> dict[str, Any] | None:
        """Stop the load if it runs (lock held); its report, or None when none ran."""
        gen = self._gen
        if gen is None:
            return None
        self._gen = None
        error: str | None = None
        try:
            stats = gen.stop()
        except Exception as exc:  # a worker failed: its stats are gone, the reason is not
            stats, error = gen.stats, f"{type(exc).__name__}: {exc}"
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(self)
        tsc0, ns0 = self._ref
        first = last = None
        if gen.windows and self.tsc_hz:
            # The window in which every worker was issuing calls.
            f = max(w[0] for w in gen.windows)
            lt = min(w[1] for w in gen.windows)
            first = ns0 + round((f - tsc0) * 1e9 / self.tsc_hz)
            last = ns0 + round((lt - tsc0) * 1e9 / self.tsc_hz)
        return {
            "stats": [s.to_dict() for s in stats],
            "first_ns": first,
            "last_ns": last,
            "error": error,
        }

    def _expire(self) -> None:
        """Stop the load if its lease has run out (the pool went away)."""
        with self._lock:
            if self._gen is not None and time.monotonic() > self._deadline:
                self._expired_ns = time.time_ns()
                self._stopped = self._halt()

    def __del__(self) -> None:
        # The pool released this actor (or its client went away): no load without it.
        with contextlib.suppress(Exception):
            with self._lock:
                self._halt()


def _watch(agent: weakref.ref[LoadAgent]) -> None:
    # Holds the agent weakly, so that releasing the actor still ends it (and its load).
    while True:
        time.sleep(0.05)
        a = agent()
        if a is None:
            return
        a._expire()
        del a


def _spec(cpu: int, trap: Trap, schedule: Schedule | None = None) -> WorkerSpec:
    from ..schedule import Max, WorkerSpec

    return WorkerSpec(cpu, trap, schedule or Max())


def _halt_all() -> None:
    """Stop the load of every agent of this process."""
    for agent in list(_ACTIVE):
        with contextlib.suppress(Exception), agent._lock:
            agent._halt()


# -- hvload agent -----------------------------------------------------------------------


def serve_agent(
    scheduler: str,
    *,
    name: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    cpus: Sequence[int] | None = None,
    security: Any = None,
    death_timeout: float | None = 60.0,
    report: Any = None,
) -> None:
    """Run this machine's load agent: a Dask worker with one thread and the
    ``hvload-load`` resource, connected to ``scheduler``, until it is stopped.

    It listens on ``host`` (default 127.0.0.1: only this machine can reach it; give the
    address the measuring machine reaches this one at). ``cpus`` restricts the CPUs it
    offers for load. ``death_timeout`` is how long it tries to reach the scheduler (at
    the start, or after losing it) before it ends. ``report`` (a callable) gets one line
    describing the agent once it is connected.
    """
    import socket

    check_agent_args(scheduler, death_timeout)

    import dask
    from distributed import Worker

    from ...measure.machine import platform

    if scheduler.startswith("tls://") and security is None:
        from distributed.security import Security

        # Without certificates Dask fails to start the worker with a TypeError traceback.
        if Security().get_connection_args("worker").get("ssl_context") is None:
            raise ValueError(
                f"scheduler {scheduler!r}: tls:// needs certificates in Dask's configuration "
                "(distributed.comm.tls); see the README, or use tcp://"
            )
    if cpus is not None:
        os.environ[CPUS_ENV] = ",".join(str(c) for c in cpus)
    offered = _offered_cpus()
    info = platform(probe_samples=0)
    agent_name = name or socket.gethostname()
    usable = [t.name for t in info.traps if t.supported]

    stopped_by: list[int] = []

    async def main() -> None:
        # SIGINT/SIGTERM close the worker cleanly (its scheduler is told, no traceback);
        # the signal is raised again afterwards for the caller to report.
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(sig: int) -> None:
            stopped_by.append(sig)
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            worker = Worker(
                scheduler, nthreads=1, resources={AGENT_RESOURCE: 1}, name=agent_name,
                host=host, port=port, dashboard=False, security=security,
                death_timeout=death_timeout, dashboard_address="127.0.0.1:0",
            )  # fmt: skip
            starting = asyncio.ensure_future(worker.__aenter__())
            await asyncio.wait({starting, asyncio.ensure_future(stop.wait())},
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if not starting.done():
                starting.cancel()
                with contextlib.suppress(BaseException):
                    await worker.close(reason="hvload agent stopped")
                return
            starting.result()
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(
                f"could not reach the Dask scheduler at {scheduler} within {death_timeout} s "
                f"({type(exc).__name__}: {exc})"
            ) from None
        try:
            if report is not None:
                tsc = f"{info.tsc_hz / 1e6:.3f} MHz" if info.tsc_hz else "unknown"
                report(
                    f"hvload agent {agent_name!r}: {info.cpu_vendor} {info.cpu_brand} under "
                    f"{info.hypervisor}, TSC {tsc}; load CPUs {offered}; traps {usable}; "
                    f"worker {worker.address} connected to {scheduler}"
                )
            await asyncio.wait({asyncio.ensure_future(worker.finished()),
                                asyncio.ensure_future(stop.wait())},
                               return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
        finally:
            _halt_all()
            with contextlib.suppress(BaseException):
                await worker.close(reason="hvload agent stopped")

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    # The worker's sampling profiler would take the GIL every 10 ms from the load's
    # start and stop; an agent runs no tasks worth profiling.
    try:
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            asyncio.run(main())
    finally:
        _halt_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopped_by:
        signal.raise_signal(stopped_by[0])
