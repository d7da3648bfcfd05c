"""hvload: hypercall and VM-exit latency under controlled load, from inside a VM.

Public names are loaded on first use, so ``import hvload`` stays cheap and the
analysis parts work even where the compiled executor cannot measure.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "platform": "machine",
    "PlatformInfo": "machine",
    "burst": "executor",
    "probe": "executor",
    "Burst": "executor",
    "Trap": "executor",
    "make_trap": "executor",
    "null_trap": "executor",
    "cpuid_trap": "executor",
    "hyperv_hypercall": "executor",
    "kvm_hypercall": "executor",
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
    "analyze": "stats",
    "plan": "stats",
    "check_design": "stats",
    "AnalysisConfig": "stats",
    "dataset": "datasets",
    "Dataset": "datasets",
    "compare": "comparison",
    "MissingExtraError": "errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hvload' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
