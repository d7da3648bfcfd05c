"""The thesis's hypercall survey (Table 7.1) as rules over TLFS facts and the survey's judgments.

:func:`classify` judges one :class:`~hvload.survey.catalog.Hypercall` for a framework described by a
:class:`~hvload.survey.profiles.Profile`. No verdict is stored anywhere. Each follows from three
inputs, kept apart so that a reader can tell them apart:

- the call's TLFS facts (:mod:`hvload.survey.catalog`): class, variable header, fast convention,
  sizes, which partition it addresses, what kind of value each parameter takes;
- the survey's judgments about it (:mod:`hvload.survey.judgments`), each with the survey's words;
- the framework's profile: privilege level, hypervisor, page handling, encodings,
  knowledge, partition.

The rules, checked in this order and all collected. First, can the framework issue the call
so that the hypervisor runs it (the call is *executable*)?

1. The hypervisor must implement Hyper-V's hypercall interface (plain KVM does not: it reads
   a KVM call number from RAX).
2. The call must come from CPL 0: Hyper-V raises #UD for a hypercall from CPL 3, and plain
   KVM refuses one after the exit (RAX = -1) without running it.
3. A rep call needs a framework that can issue rep calls; 4. a call with a variable-size
   header one that can build it.
5. A call that takes guest-physical input or output pages needs a framework that can supply
   them.

A call that fails any of these is unsuitable. Then, does it suit repeated execution?

6. A call whose purpose the survey did not understand is unsuitable.
7. A call the survey expects to disrupt the partition when repeated is unsuitable.
8. A nested-only call (TLFS) is unsuitable for a framework known not to run as a nested
   hypervisor; a call the survey describes as the root partition's likewise for one known
   to run in a guest.
9. Each parameter needs some knowledge (:class:`~hvload.survey.judgments.Knowledge`): the survey's
   judgment where it made one, else what the TLFS kind of the value gives (a constant or a
   value the caller chooses: known; an object created at run time: not obtainable).
   Knowledge the framework has is fine; knowledge it can only partly rely on (trying values,
   an unreliable hypercall monitor) makes the call *maybe*; knowledge it lacks makes it
   unsuitable.
10. A call whose effect when repeated the survey calls unknown is *maybe*.
11. Anything else is suitable.

The verdict is the worst outcome; the reasons reported are those that reached it, the milder
findings are kept as notes. :func:`hvload.survey.explain` shows every check for one call
with its source. The result types are in :mod:`hvload.survey._assessment`, the printed table
and ``--explain`` in :mod:`hvload.survey._text`.

With :data:`~hvload.survey.profiles.THESIS` these rules give Table 7.1 of the survey exactly
(4 suitable, 6 maybe, 16 unsuitable). Ten of its rows reach their verdict only through a
judgment of the survey (``tests/test_survey.py`` removes each judgment in turn); among them
HvEnablePartitionVtl (purpose not understood), HvVtlCall and HvVtlReturn (result unclear) and
HvTranslateVirtualAddress (which addresses are mapped is unknown). Where the survey's text is
ambiguous, the judgment's ``notes`` say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from . import judgments as _judgments
from ._assessment import Assessment, Change, Check, Verdict
from .catalog import HYPERCALLS, Hypercall, Partition, ValueKind
from .judgments import Effect, Judgment, Kind, Knowledge
from .profiles import HYPERV_INTERFACE, RING0_HYPOTHETICAL, THESIS, Profile

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["changes", "classify", "parameter_knowledge", "survey", "to_frame"]

#: Where the calling-convention facts come from.
_CONVENTIONS = (
    "platform-facts.md 4 (TLFS): memory convention RDX/R8 = input/output GPA; fast "
    "convention RDX/R8 = up to 16 input bytes"
)
_PAGES_NOT_NEEDED = {
    "none": "no input and no output: needs no guest-physical pages",
    "fast": "fast call, input fits RDX/R8, no output: needs no guest-physical pages",
}


_NO_HYPERV = {
    "KVM": (
        "KVM without its Hyper-V emulation does not implement Hyper-V's hypercalls: it reads "
        "a KVM call number from RAX and answers unknown numbers with -KVM_ENOSYS",
        "platform-facts.md 1 and 5 (linux arch/x86/kvm/x86.c)",
    ),
    "none": (
        "no hypervisor: vmcall and vmmcall raise #UD",
        "Intel SDM / AMD APM, VMCALL and VMMCALL",
    ),
}


def _hypervisor_check(profile: Profile) -> Check:
    hyp = profile.hypervisor
    if hyp in HYPERV_INTERFACE:
        return Check(
            "hypervisor",
            Verdict.SUITABLE,
            f"{hyp} implements Hyper-V's hypercall interface",
            f"profile {profile.name}: hypervisor",
            True,
        )
    not_hyperv = f"{hyp} does not implement Hyper-V's hypercall interface"
    text, source = _NO_HYPERV.get(hyp, (not_hyperv, "hvload.measure.hypervisors"))
    return Check("hypervisor", Verdict.UNSUITABLE, f"not executable: {text}", source, True)


def _privilege_check(profile: Profile) -> Check:
    if profile.cpl == 0:
        return Check(
            "privilege",
            Verdict.SUITABLE,
            "issued from CPL 0, where hypercalls are legal",
            "TLFS, 'Legal Hypercall Environments'",
            True,
        )
    row, hyp = profile.user_mode, profile.hypervisor
    instr = profile.instruction or "hypercall instruction"
    if row is None:
        text = (
            f"not executable: issued from CPL 3; what {hyp} does with a user-mode {instr} is "
            "not recorded, and every hypervisor hvload knows refuses one"
        )
        source = "hvload.measure.hypervisors"
    elif row.outcome == "exit":
        text = (
            f"not executable: issued from CPL 3, the {instr} exits to {hyp}, which refuses the "
            f"call after the exit (RAX = {row.rax}) without running it"
        )
        source = row.source
    else:
        text = (
            f"not executable: issued from CPL 3, the {instr} faults before reaching {hyp}: "
            f"{row.what_is_measured.removeprefix('nothing: ')}"
        )
        source = row.source
    return Check("privilege", Verdict.UNSUITABLE, text, source, True)


def _encoding_checks(call: Hypercall, profile: Profile) -> list[Check]:
    out = []
    src = f"TLFS class {call.call_class} ({call.source})"
    if not call.rep:
        out.append(Check("rep", Verdict.SUITABLE, "simple call", src, True))
    elif profile.rep_calls:
        out.append(Check("rep", Verdict.SUITABLE, "rep call; the framework builds them", src, True))
    else:
        out.append(
            Check(
                "rep",
                Verdict.UNSUITABLE,
                "rep call; the framework cannot issue rep calls",
                f"{src}; profile {profile.name}: {dict(profile.basis).get('rep_calls', '')}",
                True,
            )
        )
    vh_src = f"TLFS variable header: {'yes' if call.variable_header else 'no'} ({call.source})"
    if not call.variable_header:
        out.append(Check("variable_header", Verdict.SUITABLE, "fixed-size header", vh_src, True))
    elif profile.variable_headers:
        out.append(
            Check(
                "variable_header",
                Verdict.SUITABLE,
                "variable-size input header; the framework builds one",
                vh_src,
                True,
            )
        )
    else:
        vh_basis = dict(profile.basis).get("variable_headers", "")
        out.append(
            Check(
                "variable_header",
                Verdict.UNSUITABLE,
                "variable-size input header; the framework cannot build one",
                f"{vh_src}; profile {profile.name}: {vh_basis}",
                True,
            )
        )
    return out


def _pages_check(call: Hypercall, profile: Profile) -> Check:
    sizes = (
        f"input {call.input_bytes} B, output {call.output_bytes} B, "
        f"fast {'yes' if call.fast else 'no'}, {call.call_class}; {_CONVENTIONS}"
    )
    if not call.needs_pages:
        key = "none" if call.input_bytes == call.output_bytes == 0 else "fast"
        return Check("pages", Verdict.SUITABLE, _PAGES_NOT_NEEDED[key], sizes, True)
    if profile.gpa_pages:
        return Check(
            "pages",
            Verdict.SUITABLE,
            "takes guest-physical input/output pages; the framework supplies them",
            sizes,
            True,
        )
    basis = dict(profile.basis).get("gpa_pages", "")
    return Check(
        "pages",
        Verdict.UNSUITABLE,
        "not executable: takes guest-physical input/output pages, which the framework "
        "cannot supply",
        f"{sizes}; profile {profile.name}: {basis}",
        True,
    )


def _scope_checks(call: Hypercall, profile: Profile, judged: Sequence[Judgment]) -> list[Check]:
    out = []
    fact = f"TLFS partition: {call.partition.value} ({call.source})"
    if call.partition is Partition.NESTED:
        if profile.nested is False:
            out.append(
                Check(
                    "nested",
                    Verdict.UNSUITABLE,
                    "only valid under nested virtualisation; the framework is no nested hypervisor",
                    fact,
                )
            )
        else:
            out.append(
                Check(
                    "nested",
                    Verdict.SUITABLE,
                    "only valid under nested virtualisation; the framework's setting is "
                    + ("nested" if profile.nested else "not stated"),
                    fact,
                )
            )
    for j in judged:
        if j.kind is not Kind.SCOPE:
            continue
        if profile.root_partition is False:
            out.append(
                Check(
                    "root",
                    Verdict.UNSUITABLE,
                    "the survey describes it as the root partition's; the framework runs in a "
                    "guest",
                    j.source,
                )
            )
        else:
            where = "the root" if profile.root_partition else "a partition the survey leaves open"
            out.append(
                Check(
                    "root",
                    Verdict.SUITABLE,
                    f"the survey describes it as the root partition's; the framework runs in "
                    f"{where}",
                    j.source,
                )
            )
    return out


_KNOWLEDGE_WORDS = {
    Knowledge.RANGE: "only known to lie in a documented range",
    Knowledge.MONITOR: "only known at run time (a hypercall monitor could observe it)",
    Knowledge.RUNTIME: "only known at run time, and nothing available reveals it",
    Knowledge.KNOWN: "known in advance",
    Knowledge.NONE: "not needed",
}
_DEFAULT_KNOWLEDGE = {
    ValueKind.CONSTANT: Knowledge.KNOWN,
    ValueKind.VALUE: Knowledge.KNOWN,
    ValueKind.RUNTIME: Knowledge.RUNTIME,
}


def parameter_knowledge(
    call: Hypercall, name: str, judged: Sequence[Judgment]
) -> tuple[Knowledge, str]:
    """The knowledge parameter ``name`` of ``call`` needs, and where that comes from.

    The survey's ``knowledge`` judgment about the parameter where there is one; otherwise
    what the TLFS kind of its value gives: a documented constant or a value the caller
    chooses is known in advance, an object created at run time by someone else is not.
    """
    for j in judged:
        if j.kind is Kind.KNOWLEDGE and j.subject == name:
            return Knowledge(j.value), j.source
    p = call.parameter(name)
    return _DEFAULT_KNOWLEDGE[p.kind], f"TLFS: {p.kind.value}, {p.what} ({call.source})"


def _knowledge_checks(call: Hypercall, profile: Profile, judged: Sequence[Judgment]) -> list[Check]:
    out = []
    for p in call.parameters:
        knowledge, source = parameter_knowledge(call, p.name, judged)
        what = f"{p.name} is {_KNOWLEDGE_WORDS[knowledge]}"
        if knowledge in profile.knows:
            out.append(Check("knowledge", Verdict.SUITABLE, what, source))
        elif knowledge in profile.may_know:
            out.append(
                Check(
                    "knowledge",
                    Verdict.MAYBE,
                    f"{what}: the framework can only try values",
                    source,
                )
            )
        else:
            out.append(
                Check(
                    "knowledge",
                    Verdict.UNSUITABLE,
                    f"{what}: the framework cannot obtain it",
                    source,
                )
            )
    return out


_EFFECT_RULES = {
    Effect.NOT_UNDERSTOOD: (
        "purpose",
        Verdict.UNSUITABLE,
        "what the call is for is not understood",
    ),
    Effect.DISRUPTS: ("disrupts", Verdict.UNSUITABLE, "repeating it disrupts the partition"),
    Effect.UNKNOWN: ("effect", Verdict.MAYBE, "what repeating it does is unknown"),
}


def _effect_checks(judged: Sequence[Judgment], which: Iterable[Effect]) -> list[Check]:
    wanted = set(which)
    out = []
    for j in judged:
        effect = j.effect
        if effect is not None and effect in wanted:
            rule, verdict, text = _EFFECT_RULES[effect]
            out.append(Check(rule, verdict, text, j.source))
    return out


def classify(
    call: Hypercall,
    profile: Profile = THESIS,
    judgments: Iterable[Judgment] | None = None,
) -> Assessment:
    """Judge one call for one framework profile by the rules in the module docstring.

    Parameters
    ----------
    call
        A catalogue record (any :class:`~hvload.survey.catalog.Hypercall`, also an edited copy).
    profile
        The framework's capabilities and knowledge.
    judgments
        The survey's judgments about the call; by default those recorded for it
        (:func:`hvload.survey.judgments.for_call`). Pass a subset to see what a verdict rests on.

    Returns
    -------
    Assessment
        Verdict and every check made.
    """
    if judgments is None:
        judged: tuple[Judgment, ...] = tuple(j for j in _judgments.JUDGMENTS if j.name == call.name)
    else:
        judged = tuple(judgments)
    checks = [
        _hypervisor_check(profile),
        _privilege_check(profile),
        *_encoding_checks(call, profile),
        _pages_check(call, profile),
        *_effect_checks(judged, (Effect.NOT_UNDERSTOOD, Effect.DISRUPTS)),
        *_scope_checks(call, profile, judged),
        *_knowledge_checks(call, profile, judged),
        *_effect_checks(judged, (Effect.UNKNOWN,)),
    ]
    worst = max((c.outcome for c in checks), key=lambda v: v.rank)
    return Assessment(call, profile, worst, tuple(checks), judged)


def survey(profile: Profile = THESIS, calls: Iterable[Hypercall] | None = None) -> list[Assessment]:
    """Judge every call (the whole catalogue by default) for ``profile``, in catalogue order."""
    return [classify(c, profile) for c in (HYPERCALLS if calls is None else calls)]


def changes(
    base: Profile = THESIS,
    other: Profile = RING0_HYPOTHETICAL,
    calls: Iterable[Hypercall] | None = None,
) -> list[Change]:
    """The calls whose verdict for ``other`` differs from the one for ``base``."""
    # Materialised once: an iterator passed in would otherwise be used up by the first survey.
    rows = tuple(HYPERCALLS if calls is None else calls)
    pairs = zip(survey(base, rows), survey(other, rows), strict=True)
    return [Change(a, b) for a, b in pairs if a.verdict is not b.verdict]


def to_frame(profile: Profile = THESIS, calls: Iterable[Hypercall] | None = None) -> pd.DataFrame:
    """The survey as a DataFrame indexed by TLFS name, with verdict, reasons and notes."""
    import pandas as pd

    rows = [a.to_dict() for a in survey(profile, calls)]
    df = pd.DataFrame(rows).drop(columns=["findings"]).set_index("name")
    df["verdict"] = pd.Categorical(
        df["verdict"], categories=[v.value for v in Verdict], ordered=True
    )
    df["reasons"] = df["reasons"].map("; ".join)
    df["notes"] = df["notes"].map("; ".join)
    return df
