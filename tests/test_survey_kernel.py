"""The kernel profile: which surveyed calls a Linux guest kernel issues on behalf of user space.

It is kept apart from the thesis's judgments; the thesis's output must not move.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from importlib import resources
from typing import Any

import pytest

from hvload.cli import main
from hvload.survey import KERNEL, catalog, get_profile, kernel, survey
from hvload.survey.kernel import FIELDS, KERNEL_PATHS, NOT_ISSUED, load_paths

# sha256 of `hvload survey` and `hvload survey --json` (framework thesis) as main printed them
# before the kernel profile was added: the profile must leave them byte-identical. A deliberate
# change to the thesis's output updates these two values.
THESIS_TEXT_SHA256 = "c148c98898bd009d387fe44ab9d51be6da62d25aafb899a75993cd27cbf5d326"
THESIS_JSON_SHA256 = "75a8a4af8ed430e25b0d9e155e2c0cfe0174a1221bad1abb351cacaf97b99992"


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["survey", *args]) == 0
    return capsys.readouterr().out


def _kernel_json(capsys: pytest.CaptureFixture[str]) -> dict[str, dict[str, Any]]:
    objects = json.loads(_cli(capsys, "--framework", "kernel", "--json"))
    assert len(objects) == 26
    return {str(o["name"]): o for o in objects}


def test_csv_has_its_fields_and_one_row_per_call() -> None:
    text = (resources.files("hvload.survey") / "data" / "kernel_paths.csv").read_text("utf-8")
    body = "".join(line for line in io.StringIO(text) if not line.startswith("#"))
    reader = csv.DictReader(io.StringIO(body))
    assert tuple(reader.fieldnames or ()) == FIELDS
    rows = list(reader)
    assert sorted(r["name"] for r in rows) == sorted(c.name for c in catalog.HYPERCALLS)
    for r in rows:
        assert r["issued"] in ("true", "false"), r["name"]
        assert r["confidence"] in kernel.CONFIDENCE, r["name"]
        assert None not in r.values() and None not in r, r["name"]  # no short or long rows


def test_flush_and_ipi_are_issued_through_named_system_calls(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = _kernel_json(capsys)
    flush, ipi = rows["HvFlushVirtualAddressSpace"], rows["HvSendSyntheticClusterIpi"]
    for row in (flush, ipi):
        assert row["issued"] is True and row["status"] == "issued" and row["scope"] == "any"
        assert row["framework"] == "kernel" and row["hypervisor"] == "Hyper-V"
        assert "0x40000004" in str(row["recommendation"])
        assert "linux arch/x86/hyperv/" in str(row["source"])
    assert {"mprotect", "munmap"} <= set(flush["syscalls"])
    assert "membarrier" in ipi["syscalls"]
    assert "bit 2 (HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED)" in str(flush["recommendation"])
    assert "bit 10 (HV_X64_CLUSTER_IPI_RECOMMENDED)" in str(ipi["recommendation"])
    assert "mmu.c" in str(flush["source"]) and "hv_apic.c" in str(ipi["source"])
    # The KVM guest's counterpart is KVM's own IPI hypercall, named in KVM's table.
    for row in (flush, ipi):
        kvm = row["kvm"]
        assert isinstance(kvm, dict) and "KVM_HC_SEND_IPI" in kvm["counterpart"]
        assert "arch/x86/kernel/kvm.c" in kvm["source"]


def test_every_row_has_a_source_or_is_not_issued(capsys: pytest.CaptureFixture[str]) -> None:
    for name, row in _kernel_json(capsys).items():
        if row["issued"]:
            assert row["source"] and row["syscalls"] and row["recommendation"], name
            assert row["status"] in kernel.SCOPES.values(), name
        else:
            assert row["status"] == NOT_ISSUED and not row["syscalls"], name


def test_long_spin_wait_is_not_issued_by_linux() -> None:
    m = kernel.mark("HvNotifyLongSpinWait")
    assert not m.issued and "hv_spinlock.c" in m.path.source


def test_kvm_counterparts_are_kvm_hypercalls() -> None:
    known = {k.name for k in catalog.KVM_HYPERCALLS}
    for path in KERNEL_PATHS.values():
        assert set(path.kvm_counterpart) <= known, path.name


def test_malformed_rows_are_refused() -> None:
    good = {f: "" for f in FIELDS} | {"name": "HvVtlCall", "issued": "false", "confidence": "low"}
    assert load_paths([good])["HvVtlCall"].issued is False
    issued_without_source = good | {"issued": "true", "scope": "any", "syscalls": "ioctl",
                                    "action": "x", "recommendation": "y"}  # fmt: skip
    with pytest.raises(ValueError, match="source"):
        load_paths([issued_without_source])
    with pytest.raises(ValueError, match="names no scope or syscall"):
        load_paths([good | {"syscalls": "ioctl"}])
    with pytest.raises(ValueError, match="KVM hypercall"):
        load_paths([good | {"kvm_counterpart": "KVM_HC_NOPE"}])
    with pytest.raises(ValueError, match="two rows"):
        load_paths([good, good])
    with pytest.raises(KeyError):
        load_paths([good | {"name": "HvNoSuchCall"}])


def test_thesis_output_is_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    text, js = _cli(capsys), _cli(capsys, "--json")
    assert _cli(capsys, "--framework", "thesis") == text
    assert hashlib.sha256(text.encode()).hexdigest() == THESIS_TEXT_SHA256
    assert hashlib.sha256(js.encode()).hexdigest() == THESIS_JSON_SHA256


def test_thesis_verdicts_do_not_read_the_kernel_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    before = [a.to_dict() for a in survey()]
    flipped = {n: p.__class__(**{**vars(p), "issued": not p.issued}) for n, p in
               KERNEL_PATHS.items()}  # fmt: skip
    monkeypatch.setattr(kernel, "KERNEL_PATHS", flipped)
    assert kernel.mark("HvVtlCall").issued  # the patch took effect ...
    assert [a.to_dict() for a in survey()] == before  # ... and no verdict moved


def test_cli_kernel_table_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert get_profile("kernel") is KERNEL
    out = _cli(capsys, "--framework", "kernel")
    assert "HvSendSyntheticClusterIpi" in out and "issued via membarrier" in out
    assert NOT_ISSUED in out
    assert "26 calls: 10 issued on behalf of user space (8 for any process, 2 only" in out
    assert "suitable" not in out  # marks, not verdicts
    out = _cli(capsys, "--framework", "kernel", "--explain", "0x0002")
    assert out.startswith("HvFlushVirtualAddressSpace (Table 7.1 row")
    for text in ("mprotect", "HV_X64_REMOTE_TLB_FLUSH_RECOMMENDED", "arch/x86/hyperv/mmu.c",
                 "KVM_HC_SEND_IPI"):  # fmt: skip
        assert text in out
    obj = json.loads(_cli(capsys, "--framework", "kernel", "--explain", "HvVtlCall", "--json"))
    assert obj["issued"] is False and obj["facts"]["code"] == 0x11
    assert obj["profile"]["name"] == "kernel"


def test_kernel_frame() -> None:
    df = kernel.to_frame()
    assert len(df) == 26
    assert df.loc["HvSendSyntheticClusterIpi", "status"] == "issued"
    assert "KVM_HC_SEND_IPI" in str(df.loc["HvSendSyntheticClusterIpi", "kvm_counterpart"])
