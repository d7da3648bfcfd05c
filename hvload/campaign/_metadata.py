"""The metadata recorded with every campaign: :func:`metadata_for`.

What each key holds and its type are in :data:`hvload.model.metadata.REGISTRY`; the dict
is built through :class:`hvload.model.CampaignMeta`, which checks those types.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from ..measure import check, noise
from ..measure.executor import Trap
from ..measure.hypervisors import user_mode_hypercall
from ..model import FORMAT_VERSION, CampaignMeta, Design

__all__ = ["metadata_for"]


def _git_commit() -> str | None:
    # A copy of the tree without .git (e.g. on a lent test machine) can name its commit.
    if os.environ.get("HVLOAD_GIT_COMMIT"):
        return os.environ["HVLOAD_GIT_COMMIT"]
    here = Path(__file__).resolve().parent
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if out.returncode == 0:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=here, capture_output=True, text=True, timeout=5,
            ).stdout.strip()  # fmt: skip
            return out.stdout.strip() + ("-dirty" if dirty else "")
    return None


def _rax_meaning(probe: Trap, info: dict[str, Any]) -> str:
    if probe.kind == "hypercall":
        hyp = info.get("hypervisor") or "unknown"
        row = user_mode_hypercall(hyp, info.get("cpu_vendor") or "", probe.instruction)
        return (
            f"RAX after {probe.instruction} from user mode under {hyp}: "
            f"{row.what_is_measured if row else 'behaviour not in hvload.measure.hypervisors'}"
        )
    if probe.kind == "cpuid":
        return f"EAX returned by CPUID leaf {probe.leaf:#x} subleaf {probe.subleaf:#x}"
    if probe.kind == "syscall":
        return f"the value the system call returned ({probe.label}; a guest-kernel round trip)"
    return "0: the null trap issues no instruction"


def metadata_for(design: Design, tsc_hz: float, platform_info: dict[str, Any]) -> dict[str, Any]:
    """The metadata recorded with every campaign (pyperf-style keys)."""
    platform_info = {**platform_info, "system": noise.system_state()}
    return CampaignMeta(
        format="hvload-campaign",
        format_version=FORMAT_VERSION,
        campaign=uuid.uuid4().hex[:12],
        start_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        tsc_hz=tsc_hz,
        hypervisor=platform_info.get("hypervisor"),
        cpu=f"{platform_info.get('cpu_vendor')} {platform_info.get('cpu_brand')}",
        hostname=platform_info.get("hostname"),
        rax_meaning=_rax_meaning(design.probe, platform_info),
        control_rax_meaning={t.label: _rax_meaning(t, platform_info) for t in design.controls},
        measured=(
            "cycles: TSC ticks from 'lfence; rdtsc' before the probe instruction to "
            "'rdtscp; lfence' after it; response: from the intended start when paced. "
            "Controls (probe_index > 0) alternate with the main probe in sub-bursts."
        ),
        noise_columns=dict(noise.NOISE_COLUMNS),
        git_commit=_git_commit(),
        versions=platform_info.get("versions"),
        platform=platform_info,
        design=design.to_dict(),
        # Every condition that biases the measurement, as hvload check reads it now.
        hygiene=check.to_metadata(check.check(design.probe_cpu)),
    ).to_dict()
