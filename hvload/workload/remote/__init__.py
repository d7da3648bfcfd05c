"""Load from neighbour machines: remote load agents coordinated through Dask distributed.

Each neighbour VM runs one Dask worker with one thread and the resource
``hvload-load=1`` (``hvload agent SCHEDULER``, or ``dask worker SCHEDULER --nthreads 1
--resources hvload-load=1``). The measuring VM connects an :class:`AgentPool` to the
scheduler; the pool places one :class:`LoadAgent` actor on every such worker. A level's
:class:`~hvload.workload.schedule.WorkerSpec` with ``agent="vm-b"`` runs on that agent's
machine, on that machine's CPU, with the same schedules and compiled loops as local
workers (:class:`~hvload.workload.generator.LoadGenerator`); levels may mix local and remote
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

The package: :mod:`._levels` (levels over machines), :mod:`._agent` (the actor and
``hvload agent``), :mod:`._pool` (the measuring side), :mod:`._coverage` (the probe
window's coverage) and :mod:`._devcluster` (a cluster on this machine). Building a
campaign plan over machines is :func:`hvload.campaign.remote.prepare`.
"""

from ._agent import AGENT_RESOURCE, CPUS_ENV, LoadAgent, serve_agent
from ._coverage import coverage_text
from ._devcluster import local_cluster
from ._levels import (
    LOCAL,
    MIN_SECONDS,
    LoadSpec,
    VMLevel,
    build_levels,
    check_seconds,
    parse_load,
    parse_vm_levels,
)
from ._pool import DEFAULT_LEASE_S, DEFAULT_RATE_TOLERANCE, DEFAULT_TIMEOUT_S, AgentPool

__all__ = [
    "AGENT_RESOURCE",
    "CPUS_ENV",
    "DEFAULT_LEASE_S",
    "DEFAULT_RATE_TOLERANCE",
    "DEFAULT_TIMEOUT_S",
    "LOCAL",
    "MIN_SECONDS",
    "AgentPool",
    "LoadAgent",
    "LoadSpec",
    "VMLevel",
    "build_levels",
    "check_seconds",
    "coverage_text",
    "local_cluster",
    "parse_load",
    "parse_vm_levels",
    "serve_agent",
]
