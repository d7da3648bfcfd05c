"""Kernel-mediated traps in a campaign: the helper thread, what the kernel delivered per
block, and the flag when the delivered rate falls short of the level's target.

The ``ipi`` and ``tlb-flush`` traps (:mod:`hvload.measure.kernel`) make the guest kernel
send IPIs, each a hypercall where the hypervisor offers PV IPIs (``KVM_HC_SEND_IPI`` on
this project's KVM guests). A call reaches only CPUs that run a thread of this process
at that moment, so the calls made are not the hypercalls issued: every block of a
campaign that uses these kinds records the ``/proc/interrupts`` deltas of every CPU
(CAL, TLB, RES) over its probe window beside the calls made, and a level of such load is
defined on the delivered rate measured at saturation. A block whose delivered rate falls
below :data:`DELIVERED_TOLERANCE` of its target is flagged ``load_ok = False`` with the
reason, like remote load that fell short, and the block policy leaves it out.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..measure import kernel
from ..measure.executor import Trap

if TYPE_CHECKING:
    from ..model import Design
    from ..workload.generator import WorkerStats

__all__ = [
    "DELIVERED_TOLERANCE",
    "KERNEL_KINDS",
    "KernelBlocks",
    "delivered_saturation",
    "kernel_extra",
    "uses_kernel",
]

KERNEL_KINDS = kernel.KERNEL_KINDS

#: A block's delivered rate may fall this far below its target before the block is
#: flagged. Wider than a local worker's rate check: the kernel skips a target vCPU that
#: the host has descheduled, so delivery varies with the host more than calls do.
DELIVERED_TOLERANCE = 0.9


def uses_kernel(traps: Sequence[Trap]) -> list[str]:
    """The kernel-mediated kinds among ``traps``, in order, without repeats."""
    return list(dict.fromkeys(t.kind for t in traps if t.kind in kernel.KERNEL_KINDS))


def delivered_saturation(
    load: Trap, load_cpu: int, probe_cpu: int, tsc_hz: float, seconds: float
) -> tuple[float, float]:
    """Calls/s of one back-to-back ``load`` worker on ``load_cpu``, and interrupts/s the
    kernel delivered meanwhile (on the kind's ``/proc/interrupts`` line, all CPUs).

    A helper thread spins on the probe CPU, where the probe thread will run during the
    campaign: without a thread of this process there, nothing would be delivered.
    """
    from ..workload.generator import saturation_rate

    counter = kernel.COUNTER[load.kind]
    with kernel.Helper(probe_cpu):
        before, t0 = kernel.ipi_counts(), time.monotonic()
        calls = saturation_rate(load, load_cpu, tsc_hz, seconds)
        after, t1 = kernel.ipi_counts(), time.monotonic()
    got = kernel.delivered(before, after, (after.get(counter) or {}).keys()).get(counter)
    return calls, (float(got) / (t1 - t0) if got is not None else float("nan"))


def kernel_extra(
    probes: Sequence[Trap], load: Trap | None, target_cpu: int | None,
    delivered: float | None,
) -> dict[str, Any]:  # fmt: skip
    """What a design records about its kernel-mediated kinds (in ``design.extra``)."""
    kinds = uses_kernel([*probes, *([load] if load is not None else [])])
    if not kinds:
        return {}
    return {
        "kernel": {
            "kinds": kinds,
            "probe_kinds": uses_kernel(probes),
            "load_kind": load.kind if load is not None and load.kind in kinds else None,
            "counter": {k: kernel.COUNTER[k] for k in kinds},
            "target_cpu": target_cpu,
            "delivered_saturation": delivered,
            # Which hypercall the kernel issues for each kind here, from the CPUID leaves.
            "hypercalls": kernel.kernel_hypercalls(),
        }
    }


class KernelBlocks:
    """Per campaign: the helper on the target CPU, and each block's delivered counts."""

    def __init__(self, design: Design, n_samples: int) -> None:
        info = design.extra.get("kernel") or {}
        self.probe_kinds: list[str] = uses_kernel(design.probes)
        self.load_kind: str | None = info.get("load_kind")
        self.active = bool(self.probe_kinds or self.load_kind)
        self.target_cpu: int | None = info.get("target_cpu")
        self.saturation: float | None = info.get("delivered_saturation")
        self.n_samples = n_samples

    @contextlib.contextmanager
    def running(self) -> Iterator[KernelBlocks]:
        """The helper thread (for kernel-mediated probes) for the whole campaign."""
        with contextlib.ExitStack() as stack:
            for kind in [*self.probe_kinds, *([self.load_kind] if self.load_kind else [])]:
                kernel.prepare(kind)
            if self.probe_kinds and self.target_cpu is not None:
                stack.enter_context(kernel.Helper(self.target_cpu))
            yield self

    def snapshot(self) -> dict[str, dict[int, int]] | None:
        return kernel.ipi_counts() if self.active else None

    def row(
        self,
        before: dict[str, dict[int, int]] | None,
        after: dict[str, dict[int, int]] | None,
        window: tuple[int, int],
        level_value: float,
        stats: Sequence[WorkerStats],
    ) -> dict[str, Any]:
        """The block's delivered counts, the calls made, and the flag when short."""
        if not self.active or before is None or after is None:
            return {}
        cpus = sorted(set().union(*(after.get(c, {}).keys() for c in kernel.COUNTERS)))
        totals = kernel.delivered(before, after, cpus)
        per_cpu = {
            c: {str(cpu): after[c][cpu] - before.get(c, {}).get(cpu, after[c][cpu])
                for cpu in after.get(c, {})}
            for c in kernel.COUNTERS if c in after
        }  # fmt: skip
        seconds = max((window[1] - window[0]) / 1e9, 1e-9)
        # The load's calls per second (its workers run a little longer than the probe
        # window, so a rate, not a count); the probe's interrupting calls in the window.
        load_rate = sum(s.achieved_rate for s in stats if s.trap.split("/")[0] == self.load_kind)
        probe_calls = self.n_samples * sum(kernel.IPIS_PER_SAMPLE[k] for k in self.probe_kinds)
        row: dict[str, Any] = {
            "ipi_cal": totals.get("CAL"),
            "ipi_tlb": totals.get("TLB"),
            "ipi_res": totals.get("RES"),
            "ipi_per_cpu": json.dumps(per_cpu, sort_keys=True),
            "kernel_load_rate": load_rate,
            "kernel_probe_calls": probe_calls,
        }
        if self.load_kind is None:
            return row
        counter = kernel.COUNTER[self.load_kind]
        got = totals.get(counter)
        rate = got / seconds if got is not None else float("nan")
        # Each load worker's calls reach the probe CPU at least (other load CPUs too, on
        # larger machines): the level's fraction of the delivered saturation, per worker.
        workers = sum(1 for s in stats if s.trap.split("/")[0] == self.load_kind)
        target = (
            level_value * self.saturation * max(workers, 1) if self.saturation else float("nan")
        )
        row.update(delivered_rate=rate, delivered_target=target, load_ok=True)
        if level_value > 0 and target == target and not rate >= DELIVERED_TOLERANCE * target:
            row["load_ok"] = False
            row["load_problem"] = (
                f"the kernel delivered {rate:,.0f} {counter} interrupts/s, "
                f"{rate / target:.0%} of the level's target {target:,.0f}/s"
                if rate == rate
                else f"no {counter} count in /proc/interrupts: delivery unknown"
            )
        return row
