"""A Dask cluster on this machine whose worker processes play neighbour machines, for
trying remote load out, for tests, notebook 06 and the coordination benchmark.
"""

from __future__ import annotations

from typing import Any

from ._agent import AGENT_RESOURCE


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
