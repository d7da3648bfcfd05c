"""The survey's verdicts derived from rules, against Table 7.1 as the thesis prints it.

Table 7.1 and the survey's words ship in tests/data (see ``survey_text.py``), so nothing here
needs files outside the repository.
"""

from __future__ import annotations

import dataclasses
import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from catalog_transcription import mismatches
from survey_text import load_table

import hvload.survey as survey
from hvload.cli import main
from hvload.measure.hypervisors import UserModeHypercall
from hvload.survey import (
    RING0_HYPOTHETICAL,
    THESIS,
    Profile,
    Verdict,
    catalog,
    classify,
    hvload_profile,
    judgments,
)
from hvload.survey.catalog import Hypercall, Parameter, Partition, ValueKind
from hvload.survey.judgments import Kind, Knowledge

# The rows that change when the survey is re-run for the hypothetical ring-0 framework.
RING0_CHANGES = {
    "HvFlushVirtualAddressList": ("unsuitable", "suitable"),
    "HvFlushVirtualAddressSpaceEx": ("unsuitable", "suitable"),
    "HvFlushVirtualAddressListEx": ("unsuitable", "suitable"),
    "HvSendSyntheticClusterIpiEx": ("unsuitable", "maybe"),
    "HvGetVpRegisters": ("unsuitable", "suitable"),
    "HvGetVpIndexFromApicId": ("unsuitable", "suitable"),
}

# Table 7.1 rows whose verdict for the thesis's framework changes when one judgment of the
# survey is taken away: (row, the judgment) -> the verdict without it.
JUDGMENT_DRIVEN = {
    ("HvSwitchVirtualAddressSpace", "effect = disrupts"): "suitable",
    ("HvSendSyntheticClusterIpi", "knowledge Vector = range"): "suitable",
    ("HvEnablePartitionVtl", "effect = not_understood"): "suitable",
    ("HvEnableVpVtl", "effect = not_understood"): "suitable",
    ("HvVtlCall", "effect = unknown"): "suitable",
    ("HvVtlReturn", "effect = unknown"): "suitable",
    ("HvTranslateVirtualAddress", "knowledge GvaPage = range"): "suitable",
    ("HvPostMessage", "knowledge ConnectionId = monitor"): "unsuitable",
    ("HvSignalEvent", "knowledge ConnectionId = monitor"): "unsuitable",
    ("HvStartVirtualProcessor", "effect = disrupts"): "suitable",
}

# Platform records as hvload.platform() reports them (only the fields the profile reads).
PLATFORMS = {
    "kvm-amd": {"hypervisor": "KVM", "cpu_vendor": "AuthenticAMD", "hostname": "a"},
    "kvm-intel": {"hypervisor": "KVM", "cpu_vendor": "GenuineIntel", "hostname": "b"},
    "hyperv": {"hypervisor": "Hyper-V", "cpu_vendor": "GenuineIntel", "hostname": "c"},
    "kvm+hyperv": {"hypervisor": "KVM+Hyper-V", "cpu_vendor": "AuthenticAMD", "hostname": "d"},
    "bare": {"hypervisor": "none", "cpu_vendor": "GenuineIntel", "hostname": "e"},
    "vmware": {"hypervisor": "VMware", "cpu_vendor": "GenuineIntel", "hostname": "f"},
    "arm": {"hypervisor": "unknown", "cpu_vendor": None, "hostname": "g"},
}

# Frameworks that between them reach every rule reading a TLFS fact: rep calls and variable
# headers (so the encoding rules pass), in a guest, no nested hypervisor, with and without pages.
GUEST_PAGES = dataclasses.replace(
    RING0_HYPOTHETICAL, name="probe-guest", root_partition=False, nested=False
)
GUEST_NO_PAGES = dataclasses.replace(GUEST_PAGES, name="probe-guest-no-pages", gpa_pages=False)
PROFILES_PINNED = (THESIS, RING0_HYPOTHETICAL, GUEST_PAGES, GUEST_NO_PAGES)


@pytest.fixture(scope="module")
def table() -> list[tuple[str, str]]:
    return load_table()


def test_derived_classification_matches_table_7_1(table: list[tuple[str, str]]) -> None:
    assert sorted(c.table_name for c in catalog.HYPERCALLS) == sorted(n for n, _ in table)
    for survey_name, expected in table:
        got = classify(catalog.get(survey_name), THESIS)
        assert got.verdict.value == expected, (survey_name, got.reasons)
        assert got.reasons
        # Only the encodings stop the thesis's framework from issuing a call.
        blocked = {c.rule for c in got.findings if c.executable}
        assert blocked <= {"rep", "variable_header"}
        assert got.executable == (not blocked)


def test_counts() -> None:
    verdicts = [a.verdict for a in survey.survey(THESIS)]
    assert [verdicts.count(v) for v in Verdict] == [4, 6, 16]


def _without(call: Hypercall, judgment: judgments.Judgment, profile: Profile) -> Verdict:
    rest = [j for j in judgments.for_call(call) if j is not judgment]
    return classify(call, profile, rest).verdict


def test_the_four_rows_the_issue_names_turn_on_their_quoted_judgment() -> None:
    cases = {
        "HvEnablePartitionVtl": ("an unclear concept at the point of writing", "unsuitable"),
        "HvVtlCall": ("It is unclear what the result of execution will be", "maybe"),
        "HvVtlReturn": ("The same goes as for HvVtlCall", "maybe"),
        "HvTranslateVirtualAddress": (
            "It is unknown which address the page table will be mapped",
            "maybe",
        ),
    }
    for name, (quote, verdict) in cases.items():
        call = catalog.get(name)
        (judgment,) = [j for j in judgments.for_call(call) if j.quote == quote]
        with_it = classify(call, THESIS)
        assert with_it.verdict.value == verdict
        # The deciding check cites the judgment's words and row.
        assert any(judgment.source == c.source for c in with_it.deciding)
        assert _without(call, judgment, THESIS) is Verdict.SUITABLE


def test_every_judgment_driven_row_is_known() -> None:
    got = {}
    for call in catalog.HYPERCALLS:
        for j in judgments.for_call(call):
            after = _without(call, j, THESIS)
            if after is not classify(call, THESIS).verdict:
                got[(call.name, j.summary())] = after.value
    assert got == JUDGMENT_DRIVEN


def test_remarks_are_not_read_by_the_rules() -> None:
    for profile in PROFILES_PINNED:
        for call in catalog.HYPERCALLS:
            kept = [j for j in judgments.for_call(call) if j.kind is not Kind.REMARK]
            assert classify(call, profile, kept).verdict is classify(call, profile).verdict


# --- TLFS facts: which columns the rules read, and that each of them is pinned ---------------

#: The Hypercall fields a verdict may depend on; each is in catalog_transcription.
READ_BY_RULES = {
    "name",
    "rep",
    "variable_header",
    "fast",
    "input_bytes",
    "output_bytes",
    "partition",
    "parameters",
}


def _alternatives(call: Hypercall, field: str) -> Iterator[object]:
    value = getattr(call, field)
    if isinstance(value, bool):
        yield not value
    elif isinstance(value, int):
        yield from (v for v in (0, 8, 16, 17, 4096) if v != value)
    elif isinstance(value, Partition):
        yield from (p for p in Partition if p is not value)
    elif field == "parameters":
        yield ()
        for i, p in enumerate(value):
            for kind in ValueKind:
                if kind is not p.kind:
                    yield (*value[:i], p._replace(kind=kind), *value[i + 1 :])
    else:
        # Text fields: every value another record holds, empty, and one nobody holds.
        others = {getattr(c, field) for c in catalog.HYPERCALLS}
        yield from sorted((others | {"", "HvSomethingElse"}) - {value}, key=str)


def _verdicts(call: Hypercall) -> tuple[str, ...]:
    # Each call is judged on its own, so an edit can only move its own row.
    return tuple(classify(call, p).verdict.value for p in PROFILES_PINNED)


def test_no_tlfs_fact_can_change_a_verdict_unnoticed() -> None:
    calls = list(catalog.HYPERCALLS)
    moved: set[str] = set()
    for i, call in enumerate(calls):
        base = _verdicts(call)
        for field in (f.name for f in dataclasses.fields(Hypercall)):
            for alt in _alternatives(call, field):
                edited = dataclasses.replace(call, **{field: alt})
                if _verdicts(edited) != base:
                    moved.add(field)
                    # Every edit that moves a verdict breaks the transcription test_catalog pins.
                    assert mismatches([*calls[:i], edited, *calls[i + 1 :]]), (call.name, field)
    # Only these fields move verdicts, and each of them can.
    assert moved == READ_BY_RULES


def test_transcription_covers_every_field_the_rules_read() -> None:
    call = catalog.get("HvGetVpRegisters")
    for field in READ_BY_RULES:
        alt = next(iter(_alternatives(call, field)))
        edited = dataclasses.replace(call, **{field: alt})
        others = [c for c in catalog.HYPERCALLS if c is not call]
        assert mismatches([*others, edited]), field


# --- profiles ---------------------------------------------------------------------------------


def test_hypothetical_profile_changes() -> None:
    got = {
        c.after.call.name: (c.before.verdict.value, c.after.verdict.value)
        for c in survey.changes(THESIS, RING0_HYPOTHETICAL)
    }
    assert got == RING0_CHANGES
    verdicts = [a.verdict for a in survey.survey(RING0_HYPOTHETICAL)]
    assert [verdicts.count(v) for v in Verdict] == [9, 7, 10]
    assert RING0_HYPOTHETICAL.hypothetical and not THESIS.hypothetical
    assert "HYPOTHETICAL" in RING0_HYPOTHETICAL.title
    # The same framework as the thesis's in all but the two encodings.
    same = dataclasses.replace(
        RING0_HYPOTHETICAL,
        name=THESIS.name,
        description=THESIS.description,
        rep_calls=False,
        variable_headers=False,
        hypothetical=False,
        basis=THESIS.basis,
    )
    assert same == THESIS


def test_thesis_profile_rests_on_the_surveys_statements() -> None:
    basis = dict(THESIS.basis)
    assert "rule out rep calls" in basis["rep_calls"]
    assert THESIS.may_know == {Knowledge.RANGE, Knowledge.MONITOR}
    assert "inferred" in basis["cpl"] and "inferred" in basis["gpa_pages"]
    assert THESIS.cpl == 0 and THESIS.hypervisor == "Hyper-V" and THESIS.gpa_pages


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_hvload_executes_nothing_on_any_platform(platform: str) -> None:
    profile = hvload_profile(PLATFORMS[platform])
    assert profile.cpl == 3 and not profile.gpa_pages and not profile.hypothetical
    assert profile.root_partition is False and profile.nested is False
    # hvload has no hypercall monitor: it does not inherit the thesis's.
    assert profile.may_know == {Knowledge.RANGE}
    rows = survey.survey(profile)
    assert not any(a.executable for a in rows)
    assert all(a.verdict is Verdict.UNSUITABLE for a in rows)
    privilege = next(c for c in rows[0].findings if c.rule == "privilege")
    expected = {
        "kvm-amd": "vmmcall exits to KVM, which refuses the call after the exit (RAX = -1)",
        "kvm-intel": "vmcall exits to KVM, which refuses the call after the exit (RAX = -1)",
        "hyperv": "faults before reaching Hyper-V: Hyper-V raises #UD",
        "kvm+hyperv": "faults before reaching KVM+Hyper-V: KVM injects #UD",
        "bare": "faults before reaching none: without a hypervisor vmcall/vmmcall raise #UD",
        "vmware": "what VMware does with a user-mode vmcall is not recorded",
        "arm": "what unknown does with a user-mode hypercall instruction is not recorded",
    }[platform]
    assert expected in privilege.text


def test_hvload_profile_on_this_machine() -> None:
    import hvload

    info = hvload.platform(probe_samples=0)
    profile = hvload_profile(info)
    assert profile.hypervisor == info.hypervisor
    assert info.hypervisor in profile.description
    rows = survey.survey(profile)
    assert not any(a.executable for a in rows)
    if info.hypervisor == "KVM":
        assert "refuses the call after the exit" in rows[0].reasons[1]


def test_knowledge_and_monitor_decide_for_a_kernel_framework() -> None:
    # hvload's knowledge at CPL 0 under Hyper-V: without a monitor, connection IDs are out.
    kernel = dataclasses.replace(
        hvload_profile(PLATFORMS["hyperv"]), cpl=0, gpa_pages=True, user_mode=None
    )
    post = classify(catalog.get("HvPostMessage"), kernel)
    assert post.executable and post.verdict is Verdict.UNSUITABLE
    assert any("ConnectionId" in r and "cannot obtain" in r for r in post.reasons)
    assert classify(catalog.get("HvPostMessage"), THESIS).verdict is Verdict.MAYBE
    translate = catalog.get("HvTranslateVirtualAddress")
    knows_pages = dataclasses.replace(THESIS, knows=THESIS.knows | {Knowledge.RANGE})
    assert classify(translate, knows_pages).verdict is Verdict.SUITABLE


def test_scope_is_applied_the_same_way_to_translate_and_assert() -> None:
    for name in ("HvTranslateVirtualAddress", "HvAssertVirtualInterrupt"):
        (scope,) = [j for j in judgments.for_call(name) if j.kind is Kind.SCOPE]
        assert scope.value == "root" and "root partition" in scope.quote
        assert "the same way" in scope.notes
        guest = classify(catalog.get(name), GUEST_NO_PAGES)
        assert any(c.rule == "root" and c.source == scope.source for c in guest.findings)
        thesis = classify(catalog.get(name), THESIS)
        assert all(c.passed for c in thesis.checks if c.rule == "root")


def test_each_rule_reads_its_fact() -> None:
    rep_call = catalog.get("HvGetVpRegisters")
    assert classify(rep_call).verdict is Verdict.UNSUITABLE
    assert classify(dataclasses.replace(rep_call, rep=False)).verdict is Verdict.SUITABLE
    flush = catalog.get("HvFlushVirtualAddressSpace")
    assert classify(dataclasses.replace(flush, variable_header=True)).verdict is Verdict.UNSUITABLE
    nested = dataclasses.replace(flush, partition=Partition.NESTED)
    assert classify(nested, THESIS).verdict is Verdict.SUITABLE
    no_nesting = dataclasses.replace(THESIS, nested=False)
    assert classify(nested, no_nesting).verdict is Verdict.UNSUITABLE
    needs_id = dataclasses.replace(
        catalog.get("HvExtCallQueryCapabilities"),
        parameters=(Parameter("PartitionId", ValueKind.RUNTIME, "another partition"),),
    )
    assert classify(needs_id).verdict is Verdict.UNSUITABLE
    spin = catalog.get("HvNotifyLongSpinWait")
    assert classify(spin, GUEST_NO_PAGES).executable
    assert not classify(dataclasses.replace(spin, fast=False), GUEST_NO_PAGES).executable


def test_profile_refuses_bad_privilege_level() -> None:
    with pytest.raises(ValueError, match="cpl must be 0 or 3, got 1"):
        dataclasses.replace(THESIS, cpl=1)
    with pytest.raises(ValueError, match="framework 'hyperv' is not known"):
        survey.get_profile("hyperv")


def test_survey_frame() -> None:
    df = survey.to_frame(RING0_HYPOTHETICAL)
    assert len(df) == 26
    assert df.loc["HvGetVpRegisters", "verdict"] == "suitable"
    assert df["verdict"].cat.ordered and df["hypothetical"].all()


# --- the command line -------------------------------------------------------------------------


def test_cli_json_matches_table_7_1(
    capsys: pytest.CaptureFixture[str], table: list[tuple[str, str]]
) -> None:
    assert main(["survey", "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    assert len(objects) == 26
    for obj in objects:
        assert {"name", "survey_name", "code", "rep", "variable_header", "verdict"} <= set(obj)
        assert isinstance(obj["reasons"], list) and obj["reasons"]
        assert obj["changed_from"] is None and obj["hypothetical"] is False
    assert {o["survey_name"]: o["verdict"] for o in objects} == dict(table)


def test_cli_thesis_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survey"]) == 0
    out = capsys.readouterr().out
    assert "26 calls: 4 suitable, 6 maybe, 16 unsuitable" in out
    assert "HvNotifyLongSpinWait" in out and "0x0008" in out
    assert "* " not in out and "HYPOTHETICAL" not in out


def test_cli_hypothetical_is_labelled(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survey", "--framework", "ring0-hypothetical"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HYPOTHETICAL framework (ring0-hypothetical)")
    marked = {line.split()[1] for line in out.splitlines() if line.startswith("* ")}
    assert marked == set(RING0_CHANGES)
    for name, (before, after) in RING0_CHANGES.items():
        assert f"  {name}: {before} -> {after}" in out
    counts = "26 calls: 9 suitable, 7 maybe, 10 unsuitable; 26 executable; 6 changed (*)"
    assert f"{counts} (hypothetical)" in out

    assert main(["survey", "--framework", "ring0-hypothetical", "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    assert all(
        o["hypothetical"] is True and o["framework"] == "ring0-hypothetical" for o in objects
    )
    assert all("HYPOTHETICAL" not in o["framework_description"] for o in objects)
    changed = {o["name"]: (o["changed_from"], o["verdict"]) for o in objects if o["changed_from"]}
    assert changed == RING0_CHANGES


def test_cli_hvload_lists_nothing_executable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survey", "--framework", "hvload"]) == 0
    out = capsys.readouterr().out
    assert "26 calls: 0 suitable, 0 maybe, 26 unsuitable; 0 executable" in out
    assert "Not executable on this platform, whatever the call:" in out
    assert main(["survey", "--framework", "hvload", "--json"]) == 0
    objects = json.loads(capsys.readouterr().out)
    assert len(objects) == 26
    assert not any(o["executable"] for o in objects)
    assert {o["verdict"] for o in objects} == {"unsuitable"}


def test_cli_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["survey", "--explain", "HvVtlCall"]) == 0
    out = capsys.readouterr().out
    assert "verdict for thesis: maybe" in out
    assert 'effect = unknown: "It is unclear what the result of execution will be"' in out
    decides = [line for line in out.splitlines() if line.lstrip().startswith("decides")]
    assert len(decides) == 1 and "what repeating it does is unknown" in decides[0]
    assert "TLFS HvCallVtlCall" in out

    assert main(["survey", "--explain", "0x11", "--framework", "ring0-hypothetical"]) == 0
    assert "verdict for ring0-hypothetical [HYPOTHETICAL]: maybe" in capsys.readouterr().out

    assert main(["survey", "--explain", "HvFlushVirtualAddressSpaceList", "--json"]) == 0
    obj: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert obj["name"] == "HvFlushVirtualAddressList" and obj["verdict"] == "unsuitable"
    assert obj["facts"]["parameters"][3] == {
        "name": "GvaRange",
        "kind": "value",
        "what": "a GVA page number with an additional page count in its low 12 bits",
    }
    assert [c["rule"] for c in obj["checks"] if c["outcome"] != "suitable"] == ["rep"]
    assert obj["judgments"][0]["kind"] == "remark" and obj["profile"]["name"] == "thesis"


def test_cli_explain_unknown_call_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["survey", "--explain", "HvNoSuchCall"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'HvNoSuchCall'" in err and "e.g. HvVtlCall" in err


def test_user_mode_rows_are_the_hypervisors_table() -> None:
    profile = hvload_profile(PLATFORMS["kvm-amd"])
    assert isinstance(profile.user_mode, UserModeHypercall)
    assert profile.user_mode.rax == -1 and profile.instruction == "vmmcall"
    profile = hvload_profile(PLATFORMS["hyperv"])
    assert profile.user_mode is not None and profile.user_mode.signal == signal.SIGILL
