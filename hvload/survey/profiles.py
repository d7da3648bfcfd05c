"""What a hypercall-issuing framework can execute and know: the profiles the survey judges for.

A :class:`Profile` says at which privilege level a framework issues hypercalls, under
which hypervisor, whether it can hand the hypervisor guest-physical input and output
pages, which encodings it can build (rep calls, variable-size headers), which parameter
values it can come by, and in which partition it runs. :mod:`hvload.survey` first asks
whether the framework can issue a call at all, then whether the call suits repeated
execution.

Four kinds of profile:

- :data:`THESIS`, the framework the survey judged for. Its encoding limits and parameter
  knowledge come from the survey's own statements (:data:`hvload.survey.judgments.FRAMEWORK`);
  privilege, hypervisor and page handling are inferred and say so.
- :func:`hvload_profile`, hvload itself on a given platform, derived from
  :func:`hvload.platform` and :mod:`hvload.measure.hypervisors`. hvload issues hypercalls from
  user mode (CPL 3): under Hyper-V that raises #UD, under plain KVM the call exits and is
  refused after the exit. It can therefore execute none of the surveyed calls anywhere,
  and the profile says why on the platform at hand.
- :data:`RING0_HYPOTHETICAL`, a framework that does not exist: the thesis's, with rep
  calls and variable headers added. It re-judges Table 7.1 for those two abilities alone
  and is labelled hypothetical wherever it is printed.
- :data:`KERNEL`, a Linux guest kernel issuing hypercalls on behalf of user space. Its rows
  are not judged by the survey's rules: :mod:`hvload.survey.kernel` marks, per call, whether
  and through which system calls the kernel issues it (``hvload survey --framework kernel``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..measure.hypervisors import UserModeHypercall, native_instruction, user_mode_hypercall
from .judgments import FRAMEWORK, Knowledge

if TYPE_CHECKING:
    from ..measure.machine import PlatformInfo

__all__ = [
    "HYPERV_INTERFACE",
    "KERNEL",
    "PROFILES",
    "PROFILE_NAMES",
    "RING0_HYPOTHETICAL",
    "THESIS",
    "Profile",
    "get_profile",
    "hvload_profile",
]

#: Hypervisors (as :func:`hvload.measure.cpu.hypervisor` names them) that implement Hyper-V's
#: hypercall interface: Hyper-V itself, and KVM once its Hyper-V emulation is active.
HYPERV_INTERFACE = frozenset({"Hyper-V", "KVM+Hyper-V"})


@dataclass(frozen=True)
class Profile:
    """What a framework can execute and know.

    Attributes
    ----------
    name
        Short name, used by ``hvload survey --framework``.
    description
        One line on the framework.
    cpl
        Privilege level it issues hypercalls from: 0 (kernel) or 3 (user mode).
    hypervisor
        The hypervisor it runs under, as :func:`hvload.measure.cpu.hypervisor` names it.
    gpa_pages
        Whether it can hand the hypervisor guest-physical input and output pages (the
        memory calling convention).
    rep_calls
        Whether it can build rep calls (rep count and start index, list elements).
    variable_headers
        Whether it can build inputs with a variable-size header.
    knows
        Parameter knowledge it has reliably.
    may_know
        Parameter knowledge it can only partly rely on: calls needing it are *maybe*.
    root_partition
        True/False if it is known to run / not to run in the root partition; None when
        that is not stated.
    nested
        True/False if it is known to run / not to run as a nested hypervisor (the only
        setting in which nested-only calls are valid); None when not stated.
    hypothetical
        True for a framework that does not exist; every output built from it says so.
    instruction
        The hypercall instruction it issues (``vmcall``/``vmmcall``), where known.
    user_mode
        What a CPL-3 hypercall does on its platform (:mod:`hvload.measure.hypervisors`); None
        when it runs at CPL 0 or the hypervisor's behaviour is not recorded.
    basis
        Where each capability comes from: ``(capability, source)`` pairs.
    """

    name: str
    description: str
    cpl: int
    hypervisor: str
    gpa_pages: bool
    rep_calls: bool
    variable_headers: bool
    knows: frozenset[Knowledge] = field(
        default_factory=lambda: frozenset({Knowledge.NONE, Knowledge.KNOWN})
    )
    may_know: frozenset[Knowledge] = field(default_factory=frozenset)
    root_partition: bool | None = None
    nested: bool | None = None
    hypothetical: bool = False
    instruction: str | None = None
    user_mode: UserModeHypercall | None = None
    basis: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.cpl not in (0, 3):
            raise ValueError(f"cpl must be 0 or 3, got {self.cpl!r}")

    @property
    def title(self) -> str:
        """``name: description``, prefixed ``HYPOTHETICAL`` for a hypothetical profile."""
        prefix = "HYPOTHETICAL " if self.hypothetical else ""
        return f"{prefix}{self.name}: {self.description}"

    def capabilities(self) -> list[tuple[str, str, str]]:
        """Each capability as ``(name, value in words, source)``, in a fixed order."""
        sources = dict(self.basis)

        def words(ks: frozenset[Knowledge]) -> str:
            return ", ".join(k.value for k in sorted(ks, key=lambda k: k.rank)) or "-"

        def tri(v: bool | None) -> str:
            return "not stated" if v is None else ("yes" if v else "no")

        values = [
            ("cpl", f"CPL {self.cpl}"),
            ("hypervisor", self.hypervisor),
            ("gpa_pages", "yes" if self.gpa_pages else "no"),
            ("rep_calls", "yes" if self.rep_calls else "no"),
            ("variable_headers", "yes" if self.variable_headers else "no"),
            ("knows", words(self.knows)),
            ("may_know", words(self.may_know)),
            ("root_partition", tri(self.root_partition)),
            ("nested", tri(self.nested)),
        ]
        return [(k, v, sources.get(k, "")) for k, v in values]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "description": self.description,
            "hypothetical": self.hypothetical,
            "cpl": self.cpl,
            "hypervisor": self.hypervisor,
            "instruction": self.instruction,
            "gpa_pages": self.gpa_pages,
            "rep_calls": self.rep_calls,
            "variable_headers": self.variable_headers,
            "knows": sorted(k.value for k in self.knows),
            "may_know": sorted(k.value for k in self.may_know),
            "root_partition": self.root_partition,
            "nested": self.nested,
            "user_mode": self.user_mode.what_is_measured if self.user_mode else None,
            "basis": dict(self.basis),
        }


def _framework(subject: str) -> list[tuple[str, str]]:
    """``(value, source)`` of the survey's statements about its framework's ``subject``."""
    return [(j.value, j.source) for j in FRAMEWORK if j.subject == subject]


def _thesis() -> Profile:
    ((rep, rep_src),) = _framework("rep_calls")
    ((vh, vh_src),) = _framework("variable_headers")
    ((_, knows_src),) = _framework("knows")
    may = _framework("may_know")
    return Profile(
        name="thesis",
        description="the thesis's hypercall testing framework (the one Table 7.1 was made for)",
        cpl=0,
        hypervisor="Hyper-V",
        gpa_pages=True,
        rep_calls=rep == "true",
        variable_headers=vh == "true",
        knows=frozenset({Knowledge.NONE, Knowledge.KNOWN}),
        may_know=frozenset(Knowledge(v) for v, _ in may),
        basis=(
            (
                "cpl",
                "inferred, not stated in the survey: the thesis issued hypercalls under "
                "Hyper-V (its Section 6.3), which accepts them only from CPL 0 (TLFS, "
                "'Legal Hypercall Environments')",
            ),
            ("hypervisor", "the survey covers the hypercalls of Hyper-V's TLFS"),
            (
                "gpa_pages",
                "inferred: the survey rates calls that need input or output pages suitable "
                "(HvFlushVirtualAddressSpace, the two extended calls)",
            ),
            ("rep_calls", rep_src),
            ("variable_headers", vh_src),
            ("knows", knows_src),
            ("may_know", "; ".join(f"{v}: {s}" for v, s in may)),
            ("root_partition", "not stated in the survey"),
            ("nested", "not stated in the survey"),
        ),
    )


#: The framework the survey judged for; with it the rules give Table 7.1 exactly.
THESIS = _thesis()

#: A framework that does not exist: the thesis's with rep calls and variable headers added,
#: everything else (privilege, pages, knowledge, partition) kept. Hypothetical.
RING0_HYPOTHETICAL = replace(
    THESIS,
    name="ring0-hypothetical",
    description=(
        "a ring-0 framework with rep and variable-header support: the thesis's framework "
        "with those two abilities added and its knowledge kept (no such framework exists; "
        "hvload issues hypercalls from CPL 3)"
    ),
    rep_calls=True,
    variable_headers=True,
    hypothetical=True,
    basis=(
        *(kv for kv in THESIS.basis if kv[0] not in ("rep_calls", "variable_headers")),
        ("rep_calls", "hypothetical: assumed"),
        ("variable_headers", "hypothetical: assumed"),
    ),
)

#: A Linux guest kernel under Hyper-V, which issues some hypercalls on behalf of user space.
#: Its rows are marks (issued or not, through which system calls), not the survey's verdicts:
#: :mod:`hvload.survey.kernel`.
KERNEL = Profile(
    name="kernel",
    description=(
        "a Linux guest kernel issuing hypercalls on behalf of user space "
        "(Hyper-V guest; the KVM hypercall in the same role named per row)"
    ),
    cpl=0,
    hypervisor="Hyper-V",
    gpa_pages=True,
    rep_calls=True,
    variable_headers=True,
    root_partition=False,
    nested=None,
    basis=(
        ("cpl", "the guest kernel issues hypercalls at ring 0 (platform-facts.md 7)"),
        ("hypervisor", "a Hyper-V guest; KVM guests are named per row (kernel_paths.csv)"),
        ("gpa_pages", "linux arch/x86/hyperv/mmu.c passes per-CPU input pages (memory convention)"),
        ("rep_calls", "linux arch/x86/hyperv/mmu.c issues HvFlushVirtualAddressList as a rep call"),
        ("variable_headers", "linux arch/x86/hyperv/hv_apic.c issues the Ex calls' VP sets"),
        ("root_partition", "a guest"),
        ("nested", "only the rows with scope vmm need Linux KVM nested on Hyper-V"),
    ),
)

#: The fixed profiles by name (hvload's own depends on the platform: :func:`hvload_profile`).
PROFILES: Mapping[str, Profile] = {p.name: p for p in (THESIS, RING0_HYPOTHETICAL, KERNEL)}
#: Every name ``hvload survey --framework`` accepts.
PROFILE_NAMES: tuple[str, ...] = ("thesis", "ring0-hypothetical", "hvload", "kernel")


def _field(info: Any, key: str) -> Any:
    return info.get(key) if isinstance(info, Mapping) else getattr(info, key, None)


def hvload_profile(info: PlatformInfo | Mapping[str, Any] | None = None) -> Profile:
    """hvload's own profile on a platform.

    Parameters
    ----------
    info
        A platform report (:func:`hvload.platform`, or the ``platform`` record stored with
        a campaign, as an object or a dict). By default this machine, with fork probes
        only (``hvload.platform(probe_samples=0)``).

    Returns
    -------
    Profile
        CPL 3 under the platform's hypervisor, issuing its CPU's hypercall instruction;
        no guest-physical pages (user mode has none to give); rep calls and variable
        headers encodable (:func:`hvload.survey.catalog.control_value`); knowledge of documented
        values and of values it can try, and no hypercall monitor; a guest, not the root
        partition, and not a nested hypervisor.
    """
    if info is None:
        from ..measure.machine import platform

        info = platform(probe_samples=0)
    hypervisor = str(_field(info, "hypervisor") or "unknown")
    vendor = str(_field(info, "cpu_vendor") or "")
    instruction = _field(info, "hypercall_instruction") or (
        native_instruction(vendor) if vendor else None
    )
    row = user_mode_hypercall(hypervisor, vendor, instruction) if instruction else None
    host = _field(info, "hostname") or "this machine"
    cpu = vendor or "an unknown CPU"
    probe = _probe_text(info, instruction)
    return Profile(
        name="hvload",
        description=(
            f"hvload on {host}: {hypervisor} on {cpu}, "
            f"{instruction or 'no hypercall instruction'} from CPL 3"
        ),
        cpl=3,
        hypervisor=hypervisor,
        gpa_pages=False,
        rep_calls=True,
        variable_headers=True,
        knows=frozenset({Knowledge.NONE, Knowledge.KNOWN}),
        may_know=frozenset({Knowledge.RANGE}),
        root_partition=False,
        nested=False,
        instruction=instruction,
        user_mode=row,
        basis=(
            ("cpl", "hvload's executor issues every trap from user mode (hvload/_asm.h)"),
            ("hypervisor", f"hvload.platform(): CPUID hypervisor leaves{probe}"),
            (
                "gpa_pages",
                "user mode holds no guest-physical addresses to put in RDX/R8 "
                "(hvload.survey.catalog.memory_call)",
            ),
            ("rep_calls", "hvload.survey.catalog.control_value encodes rep count and start index"),
            ("variable_headers", "hvload.survey.catalog.control_value encodes the header size"),
            ("knows", "documented constants and values it chooses"),
            ("may_know", "range: it can try values; it has no hypercall monitor"),
            ("root_partition", "it runs inside a guest"),
            ("nested", "it is not a hypervisor"),
        ),
    )


def _probe_text(info: Any, instruction: str | None) -> str:
    """``; fork probe of <trap>: ...`` from the platform's trap reports, or ""."""
    if not instruction:
        return ""
    for t in _field(info, "traps") or ():
        name = _field(t, "name")
        if name != f"hypercall/{instruction}":
            continue
        if _field(t, "supported"):
            rax = _field(t, "rax_values") or []
            seen = f", RAX seen: {', '.join(str(v) for v in rax)}" if rax else ""
            return f"; fork probe of {name}: the instruction returns to the caller{seen}"
        reason = str(_field(t, "reason") or "").split(". ")[0]
        return f"; fork probe of {name}: {reason}"
    return ""


def get_profile(name: str, info: PlatformInfo | Mapping[str, Any] | None = None) -> Profile:
    """The profile called ``name`` (one of :data:`PROFILE_NAMES`).

    ``"hvload"`` is derived from ``info`` (default: this machine) by :func:`hvload_profile`.

    Raises
    ------
    ValueError
        If ``name`` is not a known profile.
    """
    if name == "hvload":
        return hvload_profile(info)
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"framework {name!r} is not known; use one of {PROFILE_NAMES}") from None
