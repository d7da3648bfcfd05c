"""Load from neighbour machines: remote load agents coordinated through Dask distributed.

Each neighbour VM runs one Dask worker with one thread and the resource
``hvload-load=1`` (``hvload agent SCHEDULER``, or ``dask worker SCHEDULER --nthreads 1
--resources hvload-load=1``). The measuring VM connects an :class:`AgentPool` to the
scheduler; the pool places one :class:`LoadAgent` actor on every such worker. A level's
:class:`~hvload.schedule.WorkerSpec` with ``agent="vm-b"`` runs on that agent's
machine, on that machine's CPU, with the same schedules and compiled loops as local
workers (:class:`~hvload.loadgen.LoadGenerator`); levels may mix local and remote
workers. Per block the pool starts every agent of the level and returns once each has
issued its first call, the probe is measured here, then the pool stops them and
collects their rates, lateness and load windows.

The rules (also in the README):

* **Coverage.** Each agent reports the TSC of its workers' first and last calls, turned
  into its wall clock; the pool maps that window onto this machine's clock with an
  offset estimated from the start and stop round trips (NTP style, error at most half
  the round trip) and records, per block and agent, the fraction of the probe window
  the load covered, how long it ran before (``lead``) and after (``lag``) the probe,
  and the clock error. A block is flagged ``load_ok = False``, with the reason in
  ``load_problem``, when an agent's load did not run from before the probe's first
  sample to after its last (measured overlap below 1, or on the agent's own clock a
  first call after it reported running or a last call before it was told to stop),
  when its lease expired, when a paced remote worker achieved less than
  ``1 - rate_tolerance`` of its target rate (default 5 %), or when an agent was lost.
  Flagged blocks stay in the file; :func:`hvload.campaign.usable` leaves them out of
  the analysis with a note, and ``hvload report`` and ``hvload run`` do so.
* **Lost agents.** An agent that disconnects, dies or does not answer within
  ``timeout`` seconds stops the campaign: a block it was lost in is kept and flagged,
  every finished block is kept, and :class:`~hvload.errors.AgentLostError` (a
  ``ConnectionError``) is raised, so ``hvload run`` exits with status 1 saying where
  the blocks are.
* **No load outlives the campaign.** The pool stops every agent at the end and on any
  error or signal. Each start carries a lease (default 3 s) that the pool renews from
  a background thread while load runs; an agent whose lease is not renewed (the
  measuring process was killed, the network failed) stops its load by itself, and an
  agent also stops when its actor is released.

Security: Dask workers run whatever code a client of their scheduler sends. The pool
and ``hvload agent`` listen on 127.0.0.1 unless told otherwise; across machines use
Dask's TLS (``tls://`` addresses with certificates, see the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import signal
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import AgentLostError, MeasurementError

if TYPE_CHECKING:
    from ..campaign import Plan
    from ..campaign.runner import LoadOutcome
    from ..measure.executor import Trap
    from ..model import Design
    from .generator import LoadGenerator, WorkerStats
    from .schedule import Level, Schedule, WorkerSpec

__all__ = [
    "AGENT_RESOURCE",
    "CPUS_ENV",
    "AgentPool",
    "LoadAgent",
    "VMLevel",
    "build_levels",
    "coverage_text",
    "local_cluster",
    "parse_load",
    "parse_vm_levels",
    "prepare",
    "serve_agent",
]

#: The Dask worker resource that marks a worker as an hvload load agent.
AGENT_RESOURCE = "hvload-load"
#: Environment variable with the CPUs an agent offers for load (default: its affinity).
CPUS_ENV = "HVLOAD_AGENT_CPUS"
#: Seconds an agent keeps its load running without hearing from the pool.
DEFAULT_LEASE_S = 3.0
#: Shortfall of a paced remote worker's achieved rate below its target that flags a block.
DEFAULT_RATE_TOLERANCE = 0.05
#: Seconds to wait for an agent's answer before it counts as lost.
DEFAULT_TIMEOUT_S = 10.0
#: Seconds an agent waits for its workers' first calls before it reports a failure.
_FIRST_CALL_S = 2.0

# Agents of this process that are running load: at most one at a time, so that two
# campaigns (or a stale actor of a dead one) never load the same machine together.
_ACTIVE: weakref.WeakSet[LoadAgent] = weakref.WeakSet()
_ACTIVE_LOCK = threading.Lock()


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
        from ..measure.machine import platform

        info = platform(probe_samples=0).to_dict()
        self.platform = info
        self.tsc_hz = float(info.get("tsc_hz") or 0.0)
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
        from ..measure.executor import require

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
        from .generator import saturation_rate

        self.check([_spec(cpu, trap)])
        return saturation_rate(trap, cpu, self.tsc_hz, seconds)

    async def start(self, specs: Sequence[WorkerSpec], lease: float) -> dict[str, int]:
        """Start ``specs``; return once every worker has issued its first call."""
        from ..measure import _exec
        from .generator import LoadGenerator

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
    from .schedule import Max, WorkerSpec

    return WorkerSpec(cpu, trap, schedule or Max())


def _name_key(name: str) -> tuple[int, int, str]:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


@dataclass(frozen=True)
class _Exchange:
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


class AgentPool:
    """The load agents of a Dask cluster, as the load driver of a campaign.

    Parameters
    ----------
    scheduler
        The scheduler's address (``tcp://HOST:8786``, ``tls://HOST:8786``) or an object
        with a ``scheduler_address`` (e.g. a ``distributed.LocalCluster``).
    agents
        Names of the agents (Dask worker names) to use, in this order; default every
        worker with the ``hvload-load`` resource, sorted by name.
    lease
        Seconds an agent keeps loading without hearing from this pool.
    rate_tolerance
        Shortfall of a paced remote worker below its target rate that flags a block.
    timeout
        Seconds to wait for the scheduler and for each agent's answers.
    security
        A ``distributed.Security`` (TLS certificates); default from Dask's configuration.
    direct
        Talk to the agents' workers directly (one network hop each way) rather than
        through the scheduler.

    Use it as a context manager (or call :meth:`shutdown`); pass it as ``load=`` to
    :func:`hvload.campaign.run`, or build a plan with :func:`prepare`.
    """

    def __init__(
        self,
        scheduler: str | Any,
        *,
        agents: Sequence[str] | None = None,
        lease: float = DEFAULT_LEASE_S,
        rate_tolerance: float = DEFAULT_RATE_TOLERANCE,
        timeout: float = DEFAULT_TIMEOUT_S,
        security: Any = None,
        direct: bool = True,
    ) -> None:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - depends on the installation
            raise ModuleNotFoundError(
                "remote load needs Dask distributed: pip install 'hvload[cluster]'"
            ) from None
        for name, value, low in (("lease", lease, 0.2), ("timeout", timeout, 0.1)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= low):
                raise ValueError(
                    f"{name}={value!r} is not allowed; use a number of seconds >= {low}"
                )
        if not 0 <= rate_tolerance < 1:
            raise ValueError(f"rate_tolerance={rate_tolerance!r} must lie in [0, 1)")
        address = scheduler if isinstance(scheduler, str) else scheduler.scheduler_address
        if security is None and not isinstance(scheduler, str):
            security = getattr(scheduler, "security", None)
        self.address = str(address)
        self.lease = float(lease)
        self.rate_tolerance = float(rate_tolerance)
        self.timeout = float(timeout)
        try:
            self.client = Client(
                self.address, timeout=timeout, set_as_default=False,
                direct_to_workers=direct, security=security,
            )  # fmt: skip
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(
                f"could not reach the Dask scheduler at {self.address} within {timeout:g} s "
                f"({type(exc).__name__}: {exc})"
            ) from None
        self._closed = False
        try:
            self._connect(agents)
        except BaseException:
            self.shutdown()
            raise
        self._local: list[LoadGenerator] = []
        self._remote: list[dict[str, list[WorkerSpec]]] = []
        self._lost: dict[str, str] = {}
        self._running: set[str] = set()
        self._started: dict[str, _Exchange] = {}
        self._start_ms = 0.0
        self._beat: threading.Thread | None = None
        self._beat_stop = threading.Event()

    # -- connecting ---------------------------------------------------------------------

    def _connect(self, wanted: Sequence[str] | None) -> None:
        info = self.client.scheduler_info()
        workers = {
            str(w.get("name")): (addr, w)
            for addr, w in info.get("workers", {}).items()
            if (w.get("resources") or {}).get(AGENT_RESOURCE, 0) >= 1
        }
        if not workers:
            raise ValueError(
                f"no load agent is connected to {self.address}: start one on each neighbour "
                f"machine with `hvload agent {self.address}` (or a Dask worker with "
                f"--resources {AGENT_RESOURCE}=1)"
            )
        if wanted is None:
            names = sorted(workers, key=_name_key)
        else:
            names = [str(n) for n in wanted]
            missing = [n for n in names if n not in workers]
            if missing or len(set(names)) != len(names) or not names:
                raise ValueError(
                    f"agents {names}: {missing or 'repeated or empty'} not usable; connected "
                    f"agents: {sorted(workers, key=_name_key)}"
                )
        self.names: tuple[str, ...] = tuple(names)
        self.addresses = {n: workers[n][0] for n in names}
        futures = {
            n: self.client.submit(
                LoadAgent,
                actor=True,
                workers=[self.addresses[n]],
                allow_other_workers=False,
                resources={AGENT_RESOURCE: 1},
                pure=False,
                key=f"hvload-agent-{n}-{uuid.uuid4().hex[:8]}",
            )
            for n in names
        }
        self._futures = futures
        with self.client.as_current():
            self.actors = {n: f.result(timeout=self.timeout + 30) for n, f in futures.items()}
        hello = self._call_all({n: ("hello", ()) for n in names})
        self.info: dict[str, dict[str, Any]] = {}
        for n in names:
            got = hello[n]
            if isinstance(got, BaseException):
                raise AgentLostError(f"agent {n!r} did not answer: {_why(got)}")
            self.info[n] = dict(got)
        for n in names:
            best = min((self._ping(n) for _ in range(5)), key=lambda e: e.error)
            self.info[n]["clock_offset_ms"] = best.offset / 1e6
            self.info[n]["clock_error_ms"] = best.error / 1e6

    def _ping(self, name: str) -> _Exchange:
        c0 = time.time_ns()
        a = self.actors[name].clock().result(timeout=self.timeout)
        return _Exchange(c0, a, a, time.time_ns())

    def _call_all(
        self, calls: dict[str, tuple[str, tuple[Any, ...]]]
    ) -> dict[str, Any | BaseException]:
        """Call a method on several agents at once; each answer or the error it raised."""
        return self._settle({n: self._send(n, m, *a) for n, (m, a) in calls.items()})

    # -- what the campaign records ------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """The agents (platform, CPUs, clock offset) and the rules, for the campaign."""
        return {
            "load_agents": {
                n: {
                    "address": self.addresses[n],
                    "platform": self.info[n]["platform"],
                    "cpus": self.info[n]["cpus"],
                    "pid": self.info[n]["pid"],
                    "clock_offset_ms": self.info[n]["clock_offset_ms"],
                    "clock_error_ms": self.info[n]["clock_error_ms"],
                }
                for n in self.names
            },
            "remote_load": {
                "scheduler": self.address,
                "lease_s": self.lease,
                "rate_tolerance": self.rate_tolerance,
                "timeout_s": self.timeout,
                "rule": (
                    "a block is flagged load_ok=False (kept, left out of the analysis) when a "
                    "remote agent's load did not cover its probe window, its lease expired, a "
                    "paced remote worker fell more than rate_tolerance short of its target, or "
                    "an agent was lost; a lost agent also stops the campaign"
                ),
            },
        }

    def describe(self) -> list[str]:
        """One line per agent: where it is, its machine, TSC, CPUs and clock offset."""
        lines = []
        for n in self.names:
            p, i = self.info[n]["platform"], self.info[n]
            tsc = f"{p['tsc_hz'] / 1e6:.3f} MHz" if p.get("tsc_hz") else "unknown"
            lines.append(
                f"agent {n!r} at {self.addresses[n]}: {p.get('hostname')}, "
                f"{p.get('cpu_vendor')} {p.get('cpu_brand')} under {p.get('hypervisor')}, "
                f"TSC {tsc}; CPUs {i['cpus']}; clock offset {i['clock_offset_ms']:+.3f} ms "
                f"(+- {i['clock_error_ms']:.3f})"
            )
        return lines

    def platform(self, name: str) -> dict[str, Any]:
        """The platform report of agent ``name`` (see :func:`hvload.platform`)."""
        return self.info[name]["platform"]

    def saturation(self, name: str, trap: Trap, cpu: int, seconds: float = 0.2) -> float:
        """Calls per second one back-to-back ``trap`` worker achieves on ``cpu`` of ``name``."""
        return float(
            self.actors[name].saturation(trap, cpu, seconds).result(self.timeout + seconds)
        )

    def check(self, design: Design) -> None:
        """Refuse a design whose remote workers an agent cannot run (one-line ValueError)."""
        for lv in design.levels:
            groups = _by_agent(lv.workers)
            unknown = [a for a in groups if a not in self.actors]
            if unknown:
                raise ValueError(
                    f"level {lv.name!r} names agent(s) {unknown}, not in this pool "
                    f"({list(self.names)})"
                )
            answers = self._settle(
                {a: self._send(a, "check", specs) for a, specs in groups.items()}
            )
            for agent, answer in answers.items():
                if not isinstance(answer, BaseException):
                    continue
                if _is_lost(answer):
                    raise AgentLostError(f"agent {agent!r} did not answer: {_why(answer)}")
                raise ValueError(f"level {lv.name!r}, agent {agent!r}: {answer}")

    # -- the LoadDriver protocol (hvload.campaign) --------------------------------------

    def open(self, design: Design, tsc_hz: float) -> None:
        from .generator import LoadGenerator

        if self._closed:
            raise RuntimeError("this AgentPool has been shut down")
        self.check(design)
        self._local = [
            LoadGenerator([w for w in lv.workers if w.agent is None], tsc_hz)
            for lv in design.levels
        ]
        self._remote = [_by_agent(lv.workers) for lv in design.levels]
        self._lost = {}
        self._running = set()
        self._beat_stop.clear()
        self._beat = threading.Thread(target=self._heartbeat, name="hvload-lease", daemon=True)
        self._beat.start()

    def start(self, index: int) -> None:
        if self._lost:
            name, why = next(iter(self._lost.items()))
            raise AgentLostError(f"agent {name!r} was lost ({why}); the campaign stops")
        groups = self._remote[index]
        c0 = time.time_ns()
        futures = {n: self._send(n, "start", specs, self.lease) for n, specs in groups.items()}
        self._running |= set(groups)
        try:
            self._local[index].start()
        finally:
            answers = self._settle(futures)
        c1 = time.time_ns()
        self._start_ms = (c1 - c0) / 1e6
        failed = {n: a for n, a in answers.items() if isinstance(a, BaseException)}
        self._started = {
            n: _Exchange(c0, a["recv_ns"], a["reply_ns"], c1)
            for n, a in answers.items()
            if not isinstance(a, BaseException)
        }
        if failed:
            self._stop_quietly(index)
            name, exc = next(iter(failed.items()))
            if _is_lost(exc):
                raise AgentLostError(f"agent {name!r} was lost starting its load: {_why(exc)}")
            raise MeasurementError(f"agent {name!r} could not start its load: {_why(exc)}")

    def stop(self, index: int, window: tuple[int, int] | None) -> LoadOutcome:
        from ..campaign.runner import LoadOutcome
        from .generator import WorkerStats

        groups = self._remote[index]
        c0 = time.time_ns()
        futures = {n: self._send(n, "stop") for n in groups}
        try:
            local = list(self._local[index].stop())
        finally:
            answers = self._settle(futures)
            self._running -= set(groups)
        c1 = time.time_ns()
        stats: list[WorkerStats] = list(local)
        problems: list[str] = []
        windows: list[dict[str, Any]] = []
        lost: AgentLostError | None = None
        for name, answer in answers.items():
            if isinstance(answer, BaseException):
                why = _why(answer)
                self._lost.setdefault(name, why)
                problems.append(f"agent {name!r} lost during the block ({why})")
                lost = lost or AgentLostError(
                    f"agent {name!r} was lost during a block ({why}); that block is kept and "
                    "flagged, and the campaign stops"
                )
                windows.append({"agent": name, "problem": problems[-1]})
                continue
            self._lost.pop(name, None)
            for d in answer["stats"]:
                stats.append(WorkerStats(**{**d, "agent": name}))
            exchange = _Exchange(c0, answer["recv_ns"], answer["reply_ns"], c1)
            entry = self._window(name, answer, exchange, window)
            windows.append(entry)
            if entry.get("problem"):
                problems.append(entry["problem"])
        row = self._row(window, windows, problems, c1 - c0)
        return LoadOutcome(stats, row, lost)

    def close(self) -> None:
        self._beat_stop.set()
        if self._beat is not None:
            self._beat.join(timeout=self.timeout)
            self._beat = None
        for gen in self._local:
            with contextlib.suppress(Exception):
                gen.stop()
        if self._closed or not self._running:
            return
        # Stop whatever is still running (an exception left a block unfinished).
        self._settle({n: self._send(n, "stop") for n in self._running})
        self._running = set()

    def shutdown(self) -> None:
        """Stop any load, release the agents and close the connection to the scheduler."""
        with contextlib.suppress(Exception):
            self.close()
        if self._closed:
            return
        self._closed = True
        for f in getattr(self, "_futures", {}).values():
            with contextlib.suppress(Exception):
                f.release()
        self.actors = {}
        with contextlib.suppress(Exception):
            self.client.close(timeout=self.timeout)

    def __enter__(self) -> AgentPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"AgentPool({self.address!r}, agents={list(self.names)})"

    # -- inside the pool ----------------------------------------------------------------

    def _send(self, name: str, method: str, *args: Any) -> Any:
        """Send one call to an agent: its future, or the error that prevented sending
        (the actor proxy refuses at once once its worker is known to be lost)."""
        try:
            return getattr(self.actors[name], method)(*args)
        except Exception as exc:
            return exc

    def _settle(self, futures: dict[str, Any]) -> dict[str, Any]:
        """Wait for actor calls already sent; each answer or the error it raised."""
        if not futures:
            return {}
        timeout = self.timeout

        async def settle() -> list[Any]:
            async def one(f: Any) -> Any:
                if isinstance(f, BaseException):
                    return f
                try:
                    return await asyncio.wait_for(_awaitable(f), timeout)
                except Exception as exc:
                    return exc

            return await asyncio.gather(*(one(f) for f in futures.values()))

        try:
            answers = self.client.sync(settle)
        except Exception as exc:  # the client itself failed (closed, its loop gone)
            return dict.fromkeys(futures, exc)
        return dict(zip(futures, answers, strict=True))

    def _stop_quietly(self, index: int) -> None:
        with contextlib.suppress(Exception):
            self._local[index].stop()
        running = [n for n in self._remote[index] if n in self._running]
        self._settle({n: self._send(n, "stop") for n in running})
        self._running -= set(running)

    def _heartbeat(self) -> None:
        # Renews the running agents' leases; an agent that does not answer is lost.
        interval = max(self.lease / 6, 0.05)
        while not self._beat_stop.wait(interval):
            with contextlib.suppress(Exception):
                running = sorted(set(self._running))
                if not running:
                    continue
                answers = self._settle({n: self._send(n, "renew", self.lease) for n in running})
                for n, a in answers.items():
                    if isinstance(a, BaseException) and _is_lost(a):
                        self._lost.setdefault(n, _why(a))

    def _window(
        self, name: str, answer: dict[str, Any], stop: _Exchange, window: tuple[int, int] | None
    ) -> dict[str, Any]:
        start = self._started.get(name)
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
            problems.append(f"its lease of {self.lease:g} s expired before the stop")
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
            if target and d["achieved_rate"] < (1 - self.rate_tolerance) * target:
                problems.append(
                    f"CPU {d['cpu']} achieved {d['achieved_rate'] / target:.1%} of its target "
                    f"rate {target:,.0f}/s"
                )
        if problems:
            entry["problem"] = f"agent {name!r}: " + "; ".join(problems)
        return entry

    def _row(
        self,
        window: tuple[int, int] | None,
        windows: list[dict[str, Any]],
        problems: list[str],
        stop_ns: int,
    ) -> dict[str, Any]:
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
            "remote_start_ms": self._start_ms,
            "remote_stop_ms": stop_ns / 1e6,
            "agent_windows": windows,
        }


def _by_agent(workers: Iterable[WorkerSpec]) -> dict[str, list[WorkerSpec]]:
    """The remote workers of a level, by agent."""
    groups: dict[str, list[WorkerSpec]] = {}
    for w in workers:
        if w.agent is not None:
            groups.setdefault(w.agent, []).append(w)
    return groups


def _awaitable(f: Any) -> Any:
    async def wait() -> Any:
        return await f

    return wait()


def _is_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the agent cannot be reached (not that it refused)."""
    if isinstance(exc, (OSError, TimeoutError, asyncio.TimeoutError, asyncio.CancelledError)):
        return True
    try:
        from distributed.comm.core import CommClosedError

        if isinstance(exc, CommClosedError):
            return True
    except ImportError:  # pragma: no cover
        pass
    return isinstance(exc, RuntimeError) and "lost" in str(exc).lower()


def _why(exc: BaseException) -> str:
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return "no answer in time"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- levels that span machines ----------------------------------------------------------

#: How a machine of a level is loaded: ``("max", None)``, ``("fraction", f)`` of its
#: saturation, or ``("rate", calls_per_s)`` per worker.
LoadSpec = tuple[str, float | None]
#: The name that stands for this (the measuring) machine in a VM level.
LOCAL = "local"


@dataclass(frozen=True)
class VMLevel:
    """One level of a design over machines, before it is built into workers.

    ``count`` (the first ``count`` agents) or ``parts`` (machine name and its load, with
    None meaning the default load) is given.
    """

    text: str
    count: int | None = None
    parts: tuple[tuple[str, LoadSpec | None], ...] = ()


_LOAD_RE = re.compile(r"^(?:(max)|([0-9.eE+-]+)\s*%|([0-9.eE+-]+)\s*/\s*s)$")


def parse_load(text: str, what: str = "load") -> LoadSpec:
    """A machine's load: ``max`` (back to back), ``50%`` of its saturation, ``20000/s``."""
    m = _LOAD_RE.match(text.strip().lower())
    value = None
    if m:
        if m.group(1):
            return ("max", None)
        with contextlib.suppress(ValueError):
            value = float(m.group(2) or m.group(3))
    if m is None or value is None or not math.isfinite(value):
        raise ValueError(
            f"{what} {text!r} is not a load; write max (back to back), a percent of "
            "saturation (e.g. 50%) or a rate per worker (e.g. 20000/s)"
        )
    if m.group(2):
        if not 0 < value <= 100:
            raise ValueError(f"{what} {text!r}: a percent of saturation lies in (0, 100]")
        return ("max", None) if value == 100 else ("fraction", value / 100)
    if value <= 0:
        raise ValueError(f"{what} {text!r}: a rate must be > 0 calls/s")
    return ("rate", value)


def parse_vm_levels(text: str | Iterable[int | str]) -> tuple[VMLevel, ...]:
    """Levels over machines, from ``"0,1,2,4"`` (loaded VMs) or names.

    Each comma-separated level is a count of loaded agents (the first ones of the pool),
    or machines joined by ``+``, each optionally with ``@LOAD`` (see :func:`parse_load`);
    ``local`` is the measuring machine's own load CPUs. Examples: ``0,1,2``;
    ``0,vm-b,vm-b+vm-c``; ``0,vm-b@50%+vm-c@50%,local+vm-b``.
    """
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    out = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"VM level {item!r} is not a count or machine names")
        if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
            k = int(item)
            if k < 0:
                raise ValueError(f"VM level {item!r}: a count of loaded VMs must be >= 0")
            out.append(VMLevel(str(k), count=k))
            continue
        if not isinstance(item, str) or not item:
            raise ValueError(f"VM level {item!r} is empty; give a count or machine names")
        parts: list[tuple[str, LoadSpec | None]] = []
        for piece in item.split("+"):
            name, _, load = piece.strip().partition("@")
            name = name.strip()
            if not name or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.:-]*", name):
                raise ValueError(
                    f"VM level {item!r}: {name!r} is not a machine name (a letter, then "
                    "letters, digits or '_.:-'; 'local' for this machine; a whole number "
                    "is a count of loaded agents)"
                )
            if name in [p[0] for p in parts]:
                raise ValueError(f"VM level {item!r} names {name!r} twice")
            parts.append((name, parse_load(load, f"VM level {item!r}: load") if load else None))
        out.append(VMLevel(item, parts=tuple(parts)))
    if not out:
        raise ValueError("no VM level given; write e.g. 0,1,2 (loaded VMs)")
    return tuple(out)


def build_levels(
    pool: AgentPool,
    levels: str | Iterable[int | str],
    *,
    trap: Trap,
    load: LoadSpec | str = ("max", None),
    vm_cpus: Sequence[int] | None = None,
    local_cpus: Sequence[int] = (),
    local_saturation: float | None = None,
    tsc_hz: float | None = None,
    saturation_seconds: float = 0.2,
) -> tuple[tuple[Level, ...], dict[str, float]]:
    """Build the levels over machines; also returns each machine's measured saturation.

    Each agent's workers run on ``vm_cpus`` of its machine (default: every CPU it
    offers); ``local`` runs on ``local_cpus`` here. ``load`` is the default load of a
    loaded machine. A level's value is the number of machines it loads, so levels sort
    by it; its name is ``"k VMs"`` for a count, else the level as written.
    """
    from .schedule import Constant, Level, Max, WorkerSpec

    parsed = parse_vm_levels(levels)
    default = parse_load(load) if isinstance(load, str) else load
    saturations: dict[str, float] = {}

    def cpus_of(name: str) -> list[int]:
        if name == LOCAL:
            if not local_cpus:
                raise ValueError("a level loads 'local', but there are no local load CPUs")
            return list(local_cpus)
        offered = list(pool.info[name]["cpus"])
        if vm_cpus is None:
            return offered
        bad = [c for c in vm_cpus if c not in offered]
        if bad:
            raise ValueError(f"VM CPUs {list(vm_cpus)}: {bad} not offered by agent {name!r} "
                             f"(offers {offered})")  # fmt: skip
        return list(vm_cpus)

    def schedule_for(name: str, spec: LoadSpec, cpu: int) -> Schedule:
        kind, value = spec
        if kind == "max":
            return Max()
        if kind == "rate":
            return Constant(float(value))  # type: ignore[arg-type]
        if name not in saturations:
            if name == LOCAL:
                if local_saturation is None:
                    from .generator import saturation_rate

                    if tsc_hz is None:
                        raise ValueError("tsc_hz is needed to measure the local saturation")
                    saturations[name] = saturation_rate(trap, cpu, tsc_hz, saturation_seconds)
                else:
                    saturations[name] = local_saturation
            else:
                saturations[name] = pool.saturation(name, trap, cpu, saturation_seconds)
        return Constant(float(value) * saturations[name])  # type: ignore[operator]

    built = []
    for lv in parsed:
        if lv.count is not None:
            if lv.count > len(pool.names):
                raise ValueError(
                    f"VM level {lv.text!r} loads {lv.count} VMs, but the pool has "
                    f"{len(pool.names)} agents: {list(pool.names)}"
                )
            parts: tuple[tuple[str, LoadSpec | None], ...] = tuple(
                (n, None) for n in pool.names[: lv.count]
            )
            name = f"{lv.count} VM" + ("" if lv.count == 1 else "s")
        else:
            parts = lv.parts
            unknown = [p for p, _ in parts if p != LOCAL and p not in pool.names]
            if unknown:
                raise ValueError(
                    f"VM level {lv.text!r} names {unknown}, not agents of this pool "
                    f"({list(pool.names)}; 'local' is this machine)"
                )
            name = lv.text
        workers: list[WorkerSpec] = []
        for machine, spec in parts:
            spec = spec or default
            for cpu in cpus_of(machine):
                agent = None if machine == LOCAL else machine
                workers.append(WorkerSpec(cpu, trap, schedule_for(machine, spec, cpu), agent))
        built.append(Level(name, float(len(parts)), tuple(workers)))
    return tuple(built), saturations


def prepare(
    pool: AgentPool,
    levels: str | Iterable[int | str],
    *,
    vm_load: LoadSpec | str = "max",
    vm_cpus: Sequence[int] | None = None,
    probe: str | Trap = "auto",
    load: str | Trap | None = None,
    probe_cpu: int | None = None,
    load_cpus: Sequence[int] | None = None,
    samples: int | None = None,
    warmup: int | None = None,
    rounds: int | None = None,
    probe_rate: float | None = None,
    seed: int | None = None,
    quick: bool = False,
    baseline: str | None = None,
    controls: str | Sequence[str | Trap] | None = "auto",
    saturation_seconds: float = 0.2,
) -> Plan:
    """A campaign whose levels load neighbour machines (and optionally this one).

    Like :func:`hvload.campaign.prepare`, with the levels given by ``levels`` (see
    :func:`parse_vm_levels`) and built by :func:`build_levels`. The plan carries ``pool``
    as its load driver and records every agent's platform in its metadata.

    Examples
    --------
    >>> with AgentPool("tcp://10.0.0.1:8786") as pool:            # doctest: +SKIP
    ...     plan = prepare(pool, "0,1,2", vm_load="20000/s", vm_cpus=[1])
    ...     camp = plan.run("neighbours.parquet")
    """
    import dataclasses

    from ..campaign import metadata_for
    from ..campaign import prepare as local_prepare
    from .schedule import _distinct_names

    base = local_prepare(
        probe=probe, load=load, fractions=(0.0,), probe_cpu=probe_cpu, load_cpus=[],
        samples=samples, warmup=warmup, rounds=rounds, probe_rate=probe_rate, seed=seed,
        quick=quick, controls=controls,
    )  # fmt: skip
    d = base.design
    allowed = sorted(os.sched_getaffinity(0))
    if load_cpus is None:
        load_cpus = [c for c in allowed if c != d.probe_cpu]
    bad = [c for c in load_cpus if c not in allowed or c == d.probe_cpu]
    if bad:
        raise ValueError(f"load_cpus {list(load_cpus)}: {bad} not allowed here (probe CPU "
                         f"{d.probe_cpu}, allowed {allowed})")  # fmt: skip
    from ..measure.executor import make_trap

    load_trap = (
        d.probe if load is None else (load if not isinstance(load, str) else make_trap(load))
    )
    tsc_hz = float(base.metadata["tsc_hz"])
    levels, saturations = build_levels(
        pool, levels, trap=load_trap, load=vm_load, vm_cpus=vm_cpus,
        local_cpus=load_cpus, tsc_hz=tsc_hz, saturation_seconds=saturation_seconds,
    )  # fmt: skip
    notes = list(base.notes)
    ordered = sorted(levels, key=lambda lv: lv.value)
    if [lv.name for lv in ordered] != [lv.name for lv in levels]:
        notes.append(
            "levels sorted into order of increasing load (machines loaded): "
            f"{[lv.name for lv in levels]} -> {[lv.name for lv in ordered]}"
        )
    levels = _distinct_names(list(ordered))
    names = [lv.name for lv in levels]
    if baseline is not None and baseline not in names:
        raise ValueError(f"baseline={baseline!r} is not a level; levels: {names}")
    design = dataclasses.replace(
        d,
        levels=levels,
        baseline=baseline or names[0],
        extra={
            **d.extra,
            "load_trap": load_trap.label,
            "saturation_rate": None,
            "vm_load": list(parse_load(vm_load) if isinstance(vm_load, str) else vm_load),
            "vm_saturation": saturations,
        },
    )
    pool.check(design)
    meta = metadata_for(design, tsc_hz, base.metadata["platform"])
    pool_meta = pool.metadata()
    return dataclasses.replace(
        base, design=design, metadata={**meta, **pool_meta}, saturation=None,
        notes=tuple(notes), load=pool,
    )  # fmt: skip


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

    import dask
    from distributed import Worker

    from ..measure.machine import platform

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
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda s=sig: (stopped_by.append(s), stop.set()))
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


def local_cluster(agents: int = 2, **kwargs: Any) -> Any:
    """A Dask cluster on this machine whose worker processes play neighbour machines.

    ``agents`` worker processes, each one agent (one thread, ``hvload-load=1``), and the
    scheduler all listen on 127.0.0.1 only, without dashboards. For trying remote load
    out, for tests and for the coordination benchmark; the "neighbours" share this
    machine's CPUs with the probe, so give them other CPUs (``vm_cpus``). Use it as a
    context manager; ``kwargs`` go to ``distributed.LocalCluster``.
    """
    import logging

    from distributed import LocalCluster

    if isinstance(agents, bool) or not isinstance(agents, int) or agents < 1:
        raise ValueError(f"agents={agents!r} must be an integer >= 1")
    options: dict[str, Any] = {
        "n_workers": agents, "threads_per_worker": 1, "processes": True,
        "host": "127.0.0.1", "dashboard_address": None,
        "resources": {AGENT_RESOURCE: 1}, "silence_logs": logging.ERROR,
    }  # fmt: skip
    return LocalCluster(**{**options, **kwargs})


def _halt_all() -> None:
    """Stop the load of every agent of this process."""
    for agent in list(_ACTIVE):
        with contextlib.suppress(Exception), agent._lock:
            agent._halt()


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
