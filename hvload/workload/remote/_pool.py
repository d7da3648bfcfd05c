"""The measuring side of remote load: :class:`AgentPool` connects to a Dask scheduler,
places a :class:`~._agent.LoadAgent` on every agent, checks a design against them, and
drives their load block by block as a :class:`~hvload.workload.driver.LoadDriver`
(start, lease renewal, stop, lost agents).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..._optional import require_extra
from ...errors import AgentLostError, MeasurementError
from ..driver import LoadOutcome
from ._agent import AGENT_RESOURCE, LoadAgent
from ._coverage import Exchange, agent_window, block_row
from ._levels import check_seconds

if TYPE_CHECKING:
    from ...measure.executor import Trap
    from ...model import Design
    from ..generator import LoadGenerator, WorkerStats
    from ..schedule import WorkerSpec

#: Seconds an agent keeps its load running without hearing from the pool.
DEFAULT_LEASE_S = 3.0
#: Shortfall of a paced remote worker's achieved rate below its target that flags a block.
DEFAULT_RATE_TOLERANCE = 0.05
#: Seconds to wait for an agent's answer before it counts as lost.
DEFAULT_TIMEOUT_S = 10.0


def _reach(address: str, timeout: float, security: Any) -> None:
    """Ask the scheduler at ``address`` who it is, all within ``timeout`` seconds.

    Dask's ``Client`` bounds only its connect by its timeout: where something else
    answers (a web server, a service sending bytes that read as a frame length of
    exabytes) it waits far longer, or fails with a traceback, and a failed ``Client``
    spends 20 s more closing. So a plain TCP connect and then one Dask exchange
    (handshake and the ``identity`` op) go first, each under the same hard deadline,
    on an event loop of their own.

    Raises
    ------
    ValueError
        ``tls://`` without certificates, or something that is not a Dask scheduler
        listens there (a wrong address: exit status 2 on the command line).
    ConnectionError
        Nothing accepted a connection within ``timeout`` (the network or the scheduler
        is down: exit status 1).
    """
    import socket
    from urllib.parse import urlsplit

    from distributed.comm import connect
    from distributed.security import Security

    args = (security or Security()).get_connection_args("client")
    if address.startswith("tls://") and args.get("ssl_context") is None:
        raise ValueError(
            f"scheduler {address!r}: tls:// needs certificates in Dask's configuration "
            "(distributed.comm.tls) or security=; see the README, or use tcp://"
        )
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if parts.scheme in ("tcp", "tls") and host and port:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            raise ConnectionError(
                f"could not reach the Dask scheduler at {address} within {timeout:g} s "
                f"({type(exc).__name__}: {exc})"
            ) from None

    async def identity() -> Any:
        comm = await connect(address, timeout=timeout, **args)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    async def bounded() -> Any:
        return await asyncio.wait_for(identity(), timeout)

    try:
        reply = asyncio.run(bounded())
    except TimeoutError:
        raise ValueError(
            f"{address} accepts connections but does not answer as a Dask scheduler within "
            f"{timeout:g} s; give the scheduler's address (the one `dask scheduler` prints)"
        ) from None
    except Exception as exc:  # a garbage frame: MemoryError (exabytes), a decoding error
        what = str(exc).splitlines()[0][:200] if str(exc) else "no Dask handshake"
        raise ValueError(
            f"{address} does not answer as a Dask scheduler ({type(exc).__name__}: {what}); "
            "give the scheduler's address (the one `dask scheduler` prints)"
        ) from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        kind = reply.get("type") if isinstance(reply, dict) else type(reply).__name__
        raise ValueError(
            f"{address} answers as {kind!r}, not as a Dask scheduler; give the scheduler's "
            "address (the one `dask scheduler` prints)"
        )


def _name_key(name: str) -> tuple[int, int, str]:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


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
    :func:`hvload.campaign.run`, or build a plan with
    :func:`hvload.campaign.remote.prepare`.
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
        Client = require_extra("distributed", "remote load").Client
        check_seconds("lease", lease)
        check_seconds("agent_timeout", timeout)
        if not 0 <= rate_tolerance < 1:
            raise ValueError(f"rate_tolerance={rate_tolerance!r} must lie in [0, 1)")
        address = scheduler if isinstance(scheduler, str) else scheduler.scheduler_address
        if security is None and not isinstance(scheduler, str):
            security = getattr(scheduler, "security", None)
        self.address = str(address)
        self.lease = float(lease)
        self.rate_tolerance = float(rate_tolerance)
        self.timeout = float(timeout)
        if isinstance(scheduler, str):
            _reach(self.address, timeout, security)
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
        self._started: dict[str, Exchange] = {}
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

    def _ping(self, name: str) -> Exchange:
        c0 = time.time_ns()
        a = self.actors[name].clock().result(timeout=self.timeout)
        return Exchange(c0, a, a, time.time_ns())

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

    # -- the LoadDriver protocol (hvload.workload.driver) -------------------------------

    def open(self, design: Design, tsc_hz: float) -> None:
        from ..generator import LoadGenerator

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
            n: Exchange(c0, a["recv_ns"], a["reply_ns"], c1)
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
        from ..generator import WorkerStats

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
            exchange = Exchange(c0, answer["recv_ns"], answer["reply_ns"], c1)
            entry = agent_window(
                name, answer, self._started.get(name), exchange, window,
                lease=self.lease, rate_tolerance=self.rate_tolerance,
            )  # fmt: skip
            windows.append(entry)
            if entry.get("problem"):
                problems.append(entry["problem"])
        row = block_row(window, windows, problems, c1 - c0, start_ms=self._start_ms)
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
