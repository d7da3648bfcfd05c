"""One CampaignSpec checks every run option: the same refusal from every entry point.

The same invalid specs go to ``hvload run``, :func:`hvload.prepare`, the remote prepare
and the Explorer; each must refuse with the same one-line message, before anything is
measured (prepare's measuring steps are replaced by failures) and without creating a file.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest

import hvload
import hvload.campaign as campaign
from hvload.campaign import CampaignSpec, SpecError
from hvload.campaign import _prepare as prepare_module
from hvload.campaign.remote import prepare as prepare_remote

# (case id, command-line arguments, the same options as Python values, the Explorer's
# controls or None where the Explorer cannot express the value: it has no such control,
# or its bounded inputs clamp it, e.g. samples >= 1)
CASES: list[tuple[str, list[str], dict[str, Any], dict[str, Any] | None]] = [
    ("samples zero", ["--samples", "0"], {"samples": 0}, None),
    ("rounds negative", ["--rounds", "-1"], {"rounds": -1}, None),
    ("warmup negative", ["--warmup", "-3"], {"warmup": -3}, None),
    ("sizes beyond memory",
     ["--levels", "0,50,100", "--rounds", "1000", "--samples", "10000000", "--warmup", "500"],
     {"fractions": (0.0, 0.5, 1.0), "rounds": 1000, "samples": 10_000_000, "warmup": 500},
     {"levels": "0,50,100", "rounds": 1000, "samples": 10_000_000}),
    ("level above 100 %", ["--levels", "0,250"], {"fractions": (0.0, 2.5)}, {"levels": "0,250"}),
    ("no level", ["--levels", ""], {"fractions": ()}, {"levels": ""}),
    ("cpu count too high", ["--cpu-levels", "0,99"], {"cpu_counts": (0, 99)}, None),
    ("probe CPU not here", ["--probe-cpu", "100000"], {"probe_cpu": 100000}, None),
    ("load CPU is the probe's", ["--probe-cpu", "0", "--load-cpus", "0"],
     {"probe_cpu": 0, "load_cpus": (0,)}, None),
    ("rate infinite", ["--probe-rate", "inf"], {"probe_rate": math.inf}, None),
    ("rate negative", ["--probe-rate", "-5"], {"probe_rate": -5.0}, None),
    ("rate too low", ["--probe-rate", "0.01"], {"probe_rate": 0.01}, None),
    ("seed negative", ["--seed", "-1"], {"seed": -1}, None),
    ("unknown probe trap", ["--probe", "rdtsc"], {"probe": "rdtsc"}, None),
    ("unknown load trap", ["--load", "vmrun"], {"load": "vmrun"}, None),
    ("unknown control", ["--controls", "rdtsc"], {"controls": ("rdtsc",)}, None),
    ("baseline not a level", ["--levels", "0,50", "--baseline", "75"],
     {"fractions": (0.0, 0.5), "baseline": "75"}, None),
]  # fmt: skip


def _never(name: str) -> Any:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{name} ran: the spec should have been refused before it")

    return fail


@pytest.fixture
def nothing_measured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every measuring step of prepare fails the test; the working folder is empty."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(prepare_module, "_prepare", _never("prepare's measuring"))
    monkeypatch.setattr(prepare_module, "_trap_for", _never("the fork probe"))
    monkeypatch.setattr(campaign, "prepare", _never("prepare"), raising=True)
    return tmp_path


def _refusal(call: Any) -> str:
    with pytest.raises(SpecError) as info:
        call()
    return _steady(str(info.value))


def _steady(message: str) -> str:
    """The message without the memory available now, which moves between two calls."""
    return re.sub(r"has [0-9.]+ [KMGTP]?i?B available", "has N available", message)


@pytest.mark.parametrize(("case", "argv", "values", "explorer"), CASES, ids=[c[0] for c in CASES])
def test_every_entry_point_refuses_the_same_way(
    case: str, argv: list[str], values: dict[str, Any], explorer: dict[str, Any] | None,
    nothing_measured: Path, cli: Any,
) -> None:  # fmt: skip
    expected = _refusal(lambda: CampaignSpec(**values))
    assert "\n" not in expected
    # hvload.prepare (the module function: the package name is patched to fail above)
    assert _refusal(lambda: prepare_module.prepare(**values)) == expected
    # hvload run
    status, _, err = cli("run", "--no-progress", "-o", "x.parquet", *argv)
    assert status == 2, err
    assert _steady(err) == f"hvload run: error: {expected}\n"
    if not {"fractions", "cpu_counts", "baseline"} & set(values):
        # The remote prepare: its levels are over machines, every other option is shared.
        remote = _refusal(lambda: prepare_remote(_Pool(), "0,1", **values))
        assert remote == expected
    if explorer is not None:
        from hvload import widgets

        e = widgets.Explorer(None, open_first=False, runs_dir=nothing_measured,
                             info=_fake_info())  # fmt: skip
        if not e.can_measure:
            pytest.skip("the Explorer offers no trap on this machine")
        target = nothing_measured / "e.parquet"
        assert _refusal(lambda: e.start(**explorer, path=target)) == expected
        e._guard(lambda: e.start(**explorer, path=target))
        assert expected.split(";")[0] in e.status.value.replace("&#x27;", "'")
    assert sorted(p.name for p in nothing_measured.iterdir()) == [], "nothing is created"


class _Pool:
    """Stands for a connected AgentPool: the spec is refused before it is used."""

    address = "tcp://127.0.0.1:1"

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the pool's {name} was used: nothing should be contacted")


REMOTE = ["--scheduler", "tcp://127.0.0.1:1", "--vm-levels", "0,1"]
# (case id, command-line arguments, the entry point's call of the same options)
REMOTE_CASES: list[tuple[str, list[str], Any]] = [
    ("lease too short", [*REMOTE, "--lease", "0.1"],
     lambda: _pool(lease=0.1)),
    ("agent timeout nan", [*REMOTE, "--agent-timeout", "nan"],
     lambda: _pool(timeout=math.nan)),
    ("vm level not a name", ["--scheduler", "tcp://127.0.0.1:1", "--vm-levels", "0,vm b"],
     lambda: prepare_remote(_Pool(), "0,vm b")),
    ("vm load not a load", [*REMOTE, "--vm-load", "lots"],
     lambda: prepare_remote(_Pool(), "0,1", vm_load="lots")),
    ("vm cpus repeated", [*REMOTE, "--vm-cpus", "1,1"],
     lambda: prepare_remote(_Pool(), "0,1", vm_cpus=[1, 1])),
]  # fmt: skip


def _pool(**options: Any) -> Any:
    from hvload.workload.remote import AgentPool

    return AgentPool("tcp://127.0.0.1:1", **options)


@pytest.mark.parametrize(("case", "argv", "call"), REMOTE_CASES, ids=[c[0] for c in REMOTE_CASES])
def test_remote_options_are_refused_alike_before_anything_is_contacted(
    case: str, argv: list[str], call: Any, nothing_measured: Path, cli: Any
) -> None:
    with pytest.raises(ValueError) as info:
        call()
    expected = str(info.value)
    status, _, err = cli("run", "--no-progress", "-o", "x.parquet", *argv)
    assert (status, err) == (2, f"hvload run: error: {expected}\n")
    assert sorted(p.name for p in nothing_measured.iterdir()) == []


def _fake_info() -> Any:
    """This machine's platform as the Explorer reads it (measured once per module)."""
    global _INFO
    if _INFO is None:
        _INFO = hvload.platform(probe_samples=200)
    return _INFO


_INFO: Any = None


def test_strings_and_values_give_one_spec() -> None:
    typed = CampaignSpec.from_strings(
        levels="0, 50, 100",
        samples=300,
        rounds=4,
        probe_rate="1000",
        controls="null",
        baseline="50",
    )
    given = CampaignSpec(fractions=(0, 0.5, 1), samples=300, rounds=4, probe_rate=1000.0,
                         controls=("null",), baseline=0.5)  # fmt: skip
    assert typed.fractions == given.fractions and typed.sizes == given.sizes
    assert typed.baseline_level == given.baseline_level == "50%"
    assert typed.to_dict()["controls"] == ("null",)


def test_a_spec_reads_only_the_machine() -> None:
    """Validation has no side effects: no file, no child process, no measurement."""
    import os

    before = set(os.listdir("."))
    spec = CampaignSpec(cpu_counts=(0, 1), probe_cpu=0)
    assert spec.n_levels == 2 and spec.level_names == ["0 CPUs", "1 CPU"]
    assert set(os.listdir(".")) == before


def test_remote_options_are_checked_with_the_spec() -> None:
    with pytest.raises(SpecError, match=r"lease=0\.1 \(--lease 0\.1\)"):
        CampaignSpec.from_strings(scheduler="tcp://127.0.0.1:1", vm_levels="0,1", lease="0.1")
    with pytest.raises(SpecError, match="needs --scheduler and --vm-levels"):
        CampaignSpec.from_strings(agent_timeout="1")
    with pytest.raises(SpecError, match="not both"):
        CampaignSpec.from_strings(scheduler="tcp://127.0.0.1:1", vm_levels="0,1", levels="0,50")
