"""Lean samples in memory and campaign format 4 on disk (issue 14, item 1).

The default campaign here is MEASURED samples of data/amd-epyc-2vcpu-default.parquet cut
into today's default design (``dataset_synthetic.default_from_measured``): compression
depends on real values, and these are real.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dataset_synthetic import default_from_measured, default_with_controls, synthetic_file

import hvload
import hvload.campaign as campaign
from hvload import store
from hvload.errors import CorruptCampaignError
from hvload.model import (
    SAMPLE_COLUMNS,
    absolute_start,
    lean_samples,
    wide_samples,
)

DATA = Path(__file__).resolve().parents[1] / "data"


#: The shipped files written before the lean layout (format 4 files are checked on load).
OLD_FILES = [
    p for p in sorted(DATA.glob("*.parquet")) if store.read_footer(p)[0]["format_version"] < 4
]


def assert_same_samples(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Same columns, dtypes and values (categoricals by codes and categories: fast)."""
    assert list(a.columns) == list(b.columns)
    assert a.dtypes.astype(str).to_dict() == b.dtypes.astype(str).to_dict()
    for col in a.columns:
        x, y = a[col], b[col]
        if isinstance(x.dtype, pd.CategoricalDtype):
            assert list(x.cat.categories) == list(y.cat.categories), col
            x, y = x.cat.codes, y.cat.codes
        assert np.array_equal(x.to_numpy(), y.to_numpy()), col


@pytest.fixture(scope="module", params=["controls", "main-probe"])
def default_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default-sized campaign of measured samples: with the default controls (Intel),
    and the main probe alone (AMD, whose samples compress least)."""
    path = tmp_path_factory.mktemp("lean") / "default.parquet"
    camp = default_with_controls() if request.param == "controls" else default_from_measured()
    design = camp.metadata["design"]
    assert len(design["levels"]) == len(campaign.DEFAULT_FRACTIONS)
    for key in ("rounds", "samples", "warmup"):
        assert design[key] == campaign.DEFAULT_SIZES[key], key
    saved = store.save(camp, path)  # read back and verified
    if request.param == "controls":  # format 3 to 4: the same values, so the same digests
        assert list(saved.blocks["sha256"]) == list(camp.blocks["sha256"])
    return path


def test_default_campaign_is_lean_in_memory_and_on_disk(default_file: Path) -> None:
    camp = hvload.load(default_file)
    n = len(camp.samples)
    probes = len(camp.metadata["design"].get("probes") or [1])
    assert n == 40 * 5 * 5200 * probes
    in_memory = camp.samples.memory_usage(deep=True).sum() / n
    on_disk = os.path.getsize(default_file) / n
    print(f"default campaign, {probes} probe(s): {in_memory:.2f} bytes/sample in memory, "
          f"{on_disk:.2f} on disk")  # fmt: skip
    assert in_memory <= 24
    assert on_disk <= 4
    assert camp.metadata["format_version"] == 4


@pytest.mark.parametrize("path", OLD_FILES, ids=lambda p: p.name)
def test_old_files_load_with_every_value_unchanged(path: Path, tmp_path: Path) -> None:
    camp = hvload.load(path)
    per_sample = camp.samples.memory_usage(deep=True).sum() / len(camp.samples)
    # 60 rounds x 6 levels need a 2-byte block number, the controls' RAX 2 bytes.
    assert per_sample <= (24.5 if "controls" in path.name else 24), per_sample
    raw = pq.read_table(path).to_pandas()  # plain pyarrow: the values as stored
    wide = wide_samples(camp.samples, camp.blocks)
    for col in raw.columns:
        assert col in SAMPLE_COLUMNS
        if col in ("campaign", "level"):  # few distinct values: compare as codes
            codes, labels = pd.factorize(raw[col])
            assert np.array_equal(np.asarray(labels, dtype=object)[codes], wide[col]), col
        else:
            assert np.array_equal(raw[col].to_numpy(), wide[col].to_numpy()), col
    if "probe_index" not in raw.columns:  # formats 1 and 2: the main probe alone
        assert not wide["probe_index"].any()
    if path.name == "amd-epyc-2vcpu-default.parquet":  # written again in format 4
        again = store.save(camp, tmp_path / "v4.parquet")
        assert_same_samples(again.samples, camp.samples)
        assert os.path.getsize(tmp_path / "v4.parquet") < 0.6 * os.path.getsize(path)


@pytest.mark.parametrize(
    "path", [p for p in sorted(DATA.glob("*.parquet")) if p not in OLD_FILES], ids=lambda p: p.name
)
def test_shipped_format_4_files_are_lean(path: Path) -> None:
    camp = hvload.load(path)  # digests and values verified
    per_sample = camp.samples.memory_usage(deep=True).sum() / len(camp.samples)
    assert per_sample <= 24, per_sample
    assert os.path.getsize(path) / len(camp.samples) <= 4


def test_lean_types_widen_where_values_need_it() -> None:
    n = 6
    cols = {
        "campaign": ["c"] * n, "round": np.zeros(n), "level": ["a"] * n,
        "level_index": np.zeros(n, int), "block": np.array([0, 0, 0, 1, 1, 300]),
        "sample": np.arange(n), "start": np.array([0, 5, 2**33, 7, 8, 9]) + 10**12,
        "cycles": np.array([1, 2, 3, 2**31, 5, 6]), "response": np.arange(n),
        "rax": np.array([-1, 0, 2**40, 0, 0, 0]), "cpu": np.array([0, 1, 2, 3, 4, 4095]),
        "migrated": np.zeros(n, bool), "warmup": np.zeros(n, bool),
    }  # fmt: skip
    lean, origins = lean_samples(cols, levels=["a"])
    dtypes = lean.dtypes.astype(str).to_dict()
    assert dtypes["cycles"] == "int64" and dtypes["response"] == "int32"
    assert dtypes["start"] == "int64", "a block spanning 2**33 ticks"
    assert dtypes["rax"] == "int64" and dtypes["cpu"] == "uint16" and dtypes["block"] == "uint16"
    assert origins == {0: 10**12, 1: 10**12 + 7, 300: 10**12 + 9}
    blocks = pd.DataFrame({"block": [0, 1, 300], "start_tsc": list(origins.values())})
    assert np.array_equal(absolute_start(lean, blocks), cols["start"])
    cols["level_index"] = np.array([0, 0, 0, 0, 0, -1])  # only a damaged file holds this
    assert str(lean_samples(cols, levels=["a"])[0]["level_index"].dtype) == "int8"


def test_loaded_levels_are_categories_in_load_order() -> None:
    camp = hvload.load(DATA / "intel-xeon-16vcpu-cpu-levels.parquet")
    assert list(camp.samples["level"].cat.categories) == [
        lv["name"] for lv in camp.metadata["design"]["levels"]
    ]
    assert camp.samples["campaign"].cat.categories.tolist() == [camp.metadata["campaign"]]
    # The start of each block is its own origin; blocks carry it.
    first = camp.samples.groupby("block", observed=True)["start"].min()
    assert (first == 0).all()
    assert camp.blocks["start_tsc"].is_monotonic_increasing


@pytest.mark.parametrize("column", ["due", "late", "cycles"])
def test_a_changed_stored_value_fails_the_block_digest(tmp_path: Path, column: str) -> None:
    path = synthetic_file(tmp_path / "c.parquet", 3)  # blocks of 520 samples
    table = pq.read_table(path)
    values = table.column(column).to_numpy().copy()
    values[520 * 3 + 7] += 1  # block 3 of the file, a plausible value
    i = table.schema.get_field_index(column)
    pq.write_table(table.set_column(i, column, pa.array(values)), path, write_page_checksum=True)
    with pytest.raises(CorruptCampaignError, match="the samples do not match"):
        hvload.load(path)
    assert len(hvload.load(path, verify=False).samples) == len(table)


def test_format_4_stores_due_and_late(default_file: Path) -> None:
    pf = pq.ParquetFile(default_file)
    assert pf.schema_arrow.names == list(store.STORED_COLUMNS)
    assert b"ARROW:schema" not in pf.metadata.metadata
    group = pf.metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings
                 for i in range(group.num_columns)}  # fmt: skip
    assert "DELTA_BINARY_PACKED" in encodings["due"]
    assert "BYTE_STREAM_SPLIT" in encodings["late"]
    assert any("DICTIONARY" in e for e in encodings["cycles"])


@pytest.mark.hardware
def test_a_campaign_kept_in_memory_is_lean_too() -> None:
    plan = campaign.prepare(probe="null", fractions=[0.0], samples=300, warmup=10, rounds=2,
                            seed=1)  # fmt: skip
    camp = plan.run()
    assert isinstance(camp.samples["level"].dtype, pd.CategoricalDtype)
    assert camp.samples["cycles"].dtype == np.int32
    assert "start_tsc" in camp.blocks
    assert camp.samples.memory_usage(deep=True).sum() / len(camp.samples) <= 24
