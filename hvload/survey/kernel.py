"""Which surveyed hypercalls a Linux guest kernel issues on behalf of user space.

User space cannot issue a hypercall (platform-facts.md 1), but some system calls make a
Linux guest kernel issue one at ring 0: an IPI to another vCPU goes out as
HvSendSyntheticClusterIpi, a TLB shootdown as HvFlushVirtualAddressSpace/List, when CPUID
0x40000004 recommends it. ``hvload/survey/data/kernel_paths.csv`` records, per surveyed call,
whether such a path exists, which system calls drive it, under which recommendation, the
Linux source it rests on, and the KVM hypercall that plays the same role in a KVM guest.

The records are kept apart from the survey's judgments (:mod:`hvload.survey.judgments`) and
are read by no rule of :mod:`hvload.survey.rules`: Table 7.1's verdicts do not depend on them.
:func:`mark` applies the rules below to one call; ``hvload survey --framework kernel`` prints
:func:`kernel_survey`.

Rules:

1. A call with no row is not issued for user space (no known path).
2. A row marked issued must name the system calls, the action, the recommendation and its
   source (checked when the file is read); it is issued for any process (scope ``any``) or
   only for a VMM running its own guest through ``/dev/kvm`` (scope ``vmm``).
3. A row not marked issued names no system call: it is not issued for user space.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._load import HYPERCALLS, KVM_HYPERCALLS, csv_rows, get
from ._records import Hypercall
from .profiles import KERNEL, Profile

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONFIDENCE",
    "FIELDS",
    "KERNEL_PATHS",
    "NOT_ISSUED",
    "SCOPES",
    "KernelMark",
    "KernelPath",
    "kernel_survey",
    "load_paths",
    "mark",
    "to_frame",
]

#: The columns of ``kernel_paths.csv``, in order.
FIELDS = (
    "name",
    "issued",
    "scope",
    "syscalls",
    "action",
    "recommendation",
    "kvm_counterpart",
    "kvm_recommendation",
    "kvm_source",
    "confidence",
    "notes",
    "source",
)
#: How sure a row's reading of Linux's source is.
CONFIDENCE = ("high", "medium", "low")
#: Who can drive an issued call: any process, or only a VMM with Linux KVM nested on Hyper-V.
SCOPES = {
    "any": "issued",
    "vmm": "issued for a VMM's nested guest",
}
#: What a row without a known path says.
NOT_ISSUED = "not issued for user space (no known path)"
#: Fields an issued row must fill.
_REQUIRED = ("syscalls", "action", "recommendation", "source")


@dataclass(frozen=True)
class KernelPath:
    """One row of ``kernel_paths.csv``: how (or whether) user space makes the kernel issue a call.

    Attributes
    ----------
    name
        TLFS name of the call.
    issued
        Whether some user-space action makes a Linux guest kernel issue it.
    scope
        ``"any"`` or ``"vmm"`` (see :data:`SCOPES`); ``""`` when not issued.
    syscalls
        The system calls that drive it.
    action
        What user space does, in words.
    recommendation
        The CPUID recommendation or privilege under which Linux takes the path.
    kvm_counterpart
        KVM hypercall names (:data:`hvload.survey.catalog.KVM_HYPERCALLS`) in the same role.
    kvm_recommendation, kvm_source
        The KVM feature bits and the Linux source of the KVM guest's path.
    confidence
        One of :data:`CONFIDENCE`.
    notes
        Anything else: fall-backs, kernel-internal uses, what was not verified.
    source
        The Linux source the mark rests on.
    """

    name: str
    issued: bool
    scope: str
    syscalls: tuple[str, ...]
    action: str
    recommendation: str
    kvm_counterpart: tuple[str, ...]
    kvm_recommendation: str
    kvm_source: str
    confidence: str
    notes: str
    source: str


def _split(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(";") if s.strip())


def _path(row: Mapping[str, str]) -> KernelPath:
    name = row["name"]
    if row["issued"] not in ("true", "false"):
        raise ValueError(f"kernel_paths.csv {name}: issued must be 'true' or 'false'")
    issued = row["issued"] == "true"
    if row["confidence"] not in CONFIDENCE:
        raise ValueError(f"kernel_paths.csv {name}: confidence must be one of {CONFIDENCE}")
    if issued:
        missing = [f for f in _REQUIRED if not row[f].strip()]
        if missing or row["scope"] not in SCOPES:
            raise ValueError(
                f"kernel_paths.csv {name}: an issued row needs a scope in {tuple(SCOPES)} and "
                f"{', '.join(_REQUIRED)} (missing: {', '.join(missing) or 'scope'})"
            )
    elif row["scope"] or row["syscalls"]:
        raise ValueError(f"kernel_paths.csv {name}: a row not issued names no scope or syscall")
    kvm = _split(row["kvm_counterpart"])
    known = {k.name for k in KVM_HYPERCALLS}
    if unknown := [k for k in kvm if k not in known]:
        raise ValueError(f"kernel_paths.csv {name}: no KVM hypercall is called {unknown}")
    return KernelPath(
        name=get(name).name,
        issued=issued,
        scope=row["scope"],
        syscalls=_split(row["syscalls"]),
        action=row["action"],
        recommendation=row["recommendation"],
        kvm_counterpart=kvm,
        kvm_recommendation=row["kvm_recommendation"],
        kvm_source=row["kvm_source"],
        confidence=row["confidence"],
        notes=row["notes"],
        source=row["source"],
    )


def load_paths(rows: Iterable[Mapping[str, str]] | None = None) -> dict[str, KernelPath]:
    """Read ``kernel_paths.csv`` (or ``rows``, dicts with :data:`FIELDS`) by TLFS name.

    Raises
    ------
    ValueError
        If a row is malformed, names an unknown call or KVM hypercall, or a call has two rows.
    KeyError
        If a row names no surveyed call.
    """
    out: dict[str, KernelPath] = {}
    for row in csv_rows("kernel_paths.csv") if rows is None else rows:
        path = _path(row)
        if path.name in out:
            raise ValueError(f"kernel_paths.csv: two rows for {path.name}")
        out[path.name] = path
    return out


#: Every row of ``kernel_paths.csv``, by TLFS name.
KERNEL_PATHS: Mapping[str, KernelPath] = load_paths()


@dataclass(frozen=True)
class KernelMark:
    """Whether a Linux guest kernel issues one call on behalf of user space, and how."""

    call: Hypercall
    path: KernelPath
    profile: Profile = KERNEL

    @property
    def issued(self) -> bool:
        """True when some user-space action makes the kernel issue the call."""
        return self.path.issued

    @property
    def status(self) -> str:
        """``issued``, ``issued for a VMM's nested guest`` or :data:`NOT_ISSUED`."""
        return SCOPES[self.path.scope] if self.issued else NOT_ISSUED

    def to_dict(self, detail: bool = False) -> dict[str, object]:
        """JSON-ready form (``hvload survey --framework kernel --json``).

        With ``detail`` (``--explain NAME``) it adds the call's TLFS facts and the profile.
        """
        p = self.path
        out: dict[str, object] = {
            "name": self.call.name,
            "survey_name": self.call.table_name,
            "code": self.call.code,
            "framework": self.profile.name,
            "hypervisor": self.profile.hypervisor,
            "issued": self.issued,
            "status": self.status,
            "scope": p.scope or None,
            "syscalls": list(p.syscalls),
            "action": p.action,
            "recommendation": p.recommendation,
            "source": p.source,
            "confidence": p.confidence,
            "notes": p.notes,
            "kvm": {
                "counterpart": list(p.kvm_counterpart),
                "recommendation": p.kvm_recommendation,
                "source": p.kvm_source,
            },
            "framework_description": self.profile.description,
        }
        if detail:
            out["facts"] = self.call.to_dict()
            out["profile"] = self.profile.to_dict()
        return out


def mark(call: Hypercall | str | int, paths: Mapping[str, KernelPath] | None = None) -> KernelMark:
    """Mark one call by the rules in the module docstring.

    Parameters
    ----------
    call
        A record, or a name or code for :func:`hvload.survey.catalog.get`.
    paths
        The rows to use; :data:`KERNEL_PATHS` by default.
    """
    c = call if isinstance(call, Hypercall) else get(call)
    rows = KERNEL_PATHS if paths is None else paths
    path = rows.get(c.name)
    if path is None:
        path = KernelPath(
            c.name, False, "", (), "", "", (), "", "", "low", "no row in kernel_paths.csv", ""
        )
    return KernelMark(c, path)


def kernel_survey(calls: Iterable[Hypercall] | None = None) -> list[KernelMark]:
    """Mark every call (the whole catalogue by default), in catalogue order."""
    return [mark(c) for c in (HYPERCALLS if calls is None else calls)]


def to_frame(calls: Iterable[Hypercall] | None = None) -> pd.DataFrame:
    """The marks as a DataFrame indexed by TLFS name (lists joined with ``"; "``)."""
    import pandas as pd

    rows = [
        {
            "name": m.call.name,
            "code": f"0x{m.call.code:04X}",
            "status": m.status,
            "syscalls": ", ".join(m.path.syscalls),
            "recommendation": m.path.recommendation,
            "kvm_counterpart": ", ".join(m.path.kvm_counterpart),
            "confidence": m.path.confidence,
            "source": m.path.source,
        }
        for m in kernel_survey(calls)
    ]
    return pd.DataFrame(rows).set_index("name")
