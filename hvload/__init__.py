"""hvload: hypercall and VM-exit latency under controlled load, from inside a VM.

Public names are loaded on first use, so ``import hvload`` stays cheap and the
analysis parts work even where the compiled executor cannot measure.
"""

from __future__ import annotations

# Nothing is imported here, not even typing, so that the `hvload` command reaches its
# Ctrl-C handler (hvload.cli.main) at once; type checkers read the name as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "platform": "measure.machine",
    "PlatformInfo": "measure.machine",
    "burst": "measure.executor",
    "probe": "measure.executor",
    "Burst": "measure.executor",
    "Trap": "measure.executor",
    "make_trap": "measure.executor",
    "null_trap": "measure.executor",
    "cpuid_trap": "measure.executor",
    "hyperv_hypercall": "measure.executor",
    "kvm_hypercall": "measure.executor",
    "HvloadError": "errors",
    "MeasurementError": "errors",
    "TrapFaultError": "errors",
    "UnsupportedPlatformError": "errors",
    "BurstInterrupted": "errors",
    "CampaignFileError": "errors",
    "CorruptCampaignError": "errors",
    "CampaignBusyError": "errors",
    "AgentLostError": "errors",
    "load": "store",
    "Campaign": "model",
    "Design": "model",
    "prepare": "campaign",
    "CampaignSpec": "campaign",
    "analyze": "report",
    "plan": "report",
    "check_design": "stats",
    "CampaignReport": "report",
    "AnalysisConfig": "stats",
    "dataset": "datasets",
    "Dataset": "datasets",
    "compare": "datasets.compare",
    "MissingExtraError": "errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hvload' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
