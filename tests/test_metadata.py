"""The campaign metadata registry, its typed view, and designs rebuilt from files (no measuring)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

import hvload
import hvload.campaign as campaign
from hvload.model import FORMAT_VERSION, FORMAT_VERSIONS, REGISTRY, CampaignMeta, Design
from hvload.model.metadata import WRITTEN, check_value
from hvload.workload import schedule

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = sorted(DATA.glob("*.parquet"))


@pytest.fixture(scope="module", params=FILES, ids=[p.stem for p in FILES])
def shipped(request: pytest.FixtureRequest) -> hvload.Campaign:
    return hvload.load(request.param)


# -- the registry ------------------------------------------------------------------------


def test_registry_and_fields_are_one_list() -> None:
    names = [f.name for f in dataclasses.fields(CampaignMeta)]
    assert names == [*REGISTRY, "extra", "order"]
    assert set(WRITTEN) <= set(REGISTRY)
    assert FORMAT_VERSION == max(FORMAT_VERSIONS) and sorted(FORMAT_VERSIONS) == [1, 2, 3, 4]
    for key, entry in REGISTRY.items():
        assert entry.types and all(isinstance(t, type) for t in entry.types), key
        assert entry.what and entry.since in FORMAT_VERSIONS, key


def test_every_key_of_every_shipped_file_is_registered_with_its_type(
    shipped: hvload.Campaign,
) -> None:
    meta = shipped.metadata
    assert set(meta) <= set(REGISTRY), set(meta) - set(REGISTRY)
    for key, value in meta.items():
        assert isinstance(value, REGISTRY[key].types), key
        # A file of version v holds no key the registry says came later.
        assert REGISTRY[key].since <= meta["format_version"], key


def test_metadata_for_writes_the_registered_keys_in_order() -> None:
    levels = schedule.fraction_levels([0, 1.0], [1], hvload.null_trap(), 1e6)
    d = Design(probe=hvload.null_trap(), levels=levels, probe_cpu=0, samples=10, rounds=1,
               controls=(hvload.make_trap("cpuid"),))  # fmt: skip
    meta = campaign.metadata_for(d, 2.5e9, {"hypervisor": "test", "cpu_vendor": "v"})
    assert tuple(meta) == WRITTEN
    assert meta["format_version"] == FORMAT_VERSION and meta["design"] == d.to_dict()
    assert CampaignMeta.from_dict(meta).to_dict() == meta
    assert meta["hostname"] is None and meta["versions"] is None, "unknown stays None"


# -- the typed view ----------------------------------------------------------------------


def test_every_shipped_file_round_trips_exactly(shipped: hvload.Campaign) -> None:
    meta = CampaignMeta.from_dict(shipped.metadata)
    assert meta.to_dict() == shipped.metadata
    assert list(meta.to_dict()) == list(shipped.metadata), "key order too"
    assert meta.extra == {}
    assert meta.tsc_hz == shipped.tsc_hz and meta.design == shipped.metadata["design"]


def test_unknown_keys_are_kept_in_extra_in_their_place() -> None:
    d = {"format": "hvload-campaign", "from_the_future": [1, 2], "format_version": 9}
    meta = CampaignMeta.from_dict(d)
    assert meta.extra == {"from_the_future": [1, 2]} and meta.format_version == 9
    assert meta.to_dict() == d and list(meta.to_dict()) == list(d)


def test_absent_and_none_are_told_apart() -> None:
    assert CampaignMeta.from_dict({"end_utc": None}).to_dict() == {"end_utc": None}
    assert CampaignMeta.from_dict({}).to_dict() == {}


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("tsc_hz", "2.4 GHz", "allowed: float or int"),
        ("format_version", True, "allowed: int"),
        ("design", [1], "allowed: dict"),
        ("end_utc", 5, "allowed: str or None"),
        ("left_out", "block 3", "allowed: list"),
    ],
)
def test_a_wrong_type_is_one_line_naming_the_key(key: str, value: object, allowed: str) -> None:
    with pytest.raises(ValueError) as info:
        CampaignMeta.from_dict({"format": "hvload-campaign", key: value})
    text = str(info.value)
    assert "\n" not in text and f"metadata key {key!r}" in text and allowed in text, text
    with pytest.raises(ValueError, match=f"metadata key {key!r}"):
        check_value(key, value)


def test_fields_and_extra_cannot_overlap() -> None:
    with pytest.raises(ValueError, match="'tsc_hz' is known"):
        CampaignMeta(extra={"tsc_hz": 1.0}, order=())


# -- designs rebuilt from files ----------------------------------------------------------


def test_every_shipped_design_rebuilds_on_this_machine(shipped: hvload.Campaign) -> None:
    recorded = shipped.metadata["design"]
    design = Design.from_dict(recorded)
    again = design.to_dict()
    # Older files lack the keys added since (controls, baseline, ...): those take defaults.
    assert {k: again[k] for k in recorded} == recorded
    assert Design.from_dict(again) == design
    assert design.blocks == len(shipped.blocks)
    assert [lv.name for lv in design.levels] == [lv["name"] for lv in recorded["levels"]]


def test_a_design_whose_cpus_are_not_here_builds() -> None:
    here = os.sched_getaffinity(0)
    far = max(here) + 1000
    levels = schedule.fraction_levels([0, 0.5], [far + 1, far + 2], hvload.null_trap(), 1e6)
    d = Design(probe=hvload.null_trap(), levels=levels, probe_cpu=far, samples=10, rounds=2,
               controls=(hvload.make_trap("syscall"),), extra={"probe_rate": 0.0})  # fmt: skip
    assert d.probe_cpu not in here
    rebuilt = Design.from_dict(d.to_dict())
    assert rebuilt == d and rebuilt.to_dict() == d.to_dict()
    assert rebuilt.levels[1].workers[0].schedule == d.levels[1].workers[0].schedule


def test_every_schedule_and_remote_worker_rebuilds() -> None:
    trap = hvload.make_trap("cpuid", leaf=4, subleaf=1)
    scheds = [schedule.Max(), schedule.Constant(100.0), schedule.Poisson(50.0, seed=3),
              schedule.OnOff(rate=1000.0, period=0.1, duty=0.5),
              schedule.Ramp(start=10.0, end=20.0, duration=1.0)]  # fmt: skip
    workers = tuple(
        schedule.WorkerSpec(cpu=i + 1, trap=trap, schedule=s, agent="vm2" if i % 2 else None)
        for i, s in enumerate(scheds)
    )
    d = Design(probe=hvload.null_trap(), levels=(schedule.Level("all", 1.0, workers),),
               probe_cpu=0, samples=10, rounds=1)  # fmt: skip
    assert Design.from_dict(d.to_dict()) == d


def test_an_unknown_schedule_is_named() -> None:
    d = Design(probe=hvload.null_trap(), levels=(schedule.Level("none", 0.0),), probe_cpu=0,
               samples=10, rounds=1).to_dict()  # fmt: skip
    d["levels"] = [{"name": "x", "value": 0.0,
                    "workers": [{"cpu": 1, "trap": d["probe"], "schedule": "zigzag"}]}]  # fmt: skip
    with pytest.raises(ValueError, match="schedule 'zigzag' is not known"):
        Design.from_dict(d)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda m: m["design"].__setitem__("controls", 5), "design's traps or levels"),
        (lambda m: m["design"]["levels"][0].__setitem__("value", "lots"), "design's traps"),
        (lambda m: m.__setitem__("hypervisor", 12), "hypervisor"),
    ],
    ids=["controls not a list", "level value not a number", "key of the wrong type"],
)
def test_a_crafted_metadata_is_refused_in_one_line_when_loaded(
    tmp_path: Path, change: Any, needle: str, cli: Any
) -> None:
    """SYNTHETIC: a file written with its metadata altered (digests recomputed, as a
    crafted file would have them) is refused on load, not met later as a TypeError."""
    from dataset_synthetic import synthetic_file

    from hvload import store
    from hvload.errors import CampaignFileError

    good = synthetic_file(tmp_path / "good.parquet", 1, n_rounds=3, n_samples=50)
    camp = store.load(good)
    change(camp.metadata)
    bad = tmp_path / "bad.parquet"
    with pytest.raises(CampaignFileError, match=needle):
        store.save(camp, bad)  # written, then refused when read back
    with pytest.raises(CampaignFileError, match=needle):
        store.load(bad)
    status, out, err = cli("report", str(bad))
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1 and needle in err
