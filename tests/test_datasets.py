"""hvload.dataset: campaign files as one DuckDB dataset, and the same aggregation on Dask.

The dataset mixes SYNTHETIC format-3 files (``dataset_synthetic.py``) with a real
format-2 campaign from data/, so both stored layouts are read.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from byteflip import chunk_ranges
from dataset_synthetic import synthetic_file

import hvload
from hvload import store
from hvload.datasets import BLOCK_COLUMNS, CAMPAIGN_COLUMNS, campaign_files, probe_blocks
from hvload.datasets.dataset import NOT_VERIFIED
from hvload.errors import CampaignFileError, CorruptCampaignError, MissingExtraError
from hvload.model import absolute_start
from hvload.stats import AnalysisConfig, analyze
from hvload.stats.analysis import block_table

duckdb = pytest.importorskip("duckdb")
DATA = Path(__file__).resolve().parents[1] / "data"
REAL = DATA / "intel-xeon-16vcpu-cpu-levels.parquet"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dataset")
    # Every stored layout: format 4 (with a control probe, and without), 3 (the measured
    # columns, with a control) and 2 (a real campaign).
    synthetic_file(root / "a" / "amd-1.parquet", 11, machine="amd", controls=("null",))
    synthetic_file(root / "a" / "amd-2.parquet", 12, machine="amd", n_rounds=6)
    synthetic_file(root / "b" / "intel-1.parquet", 13, machine="intel", base=0.5,
                   controls=("null",), format_version=3)  # fmt: skip
    shutil.copy(REAL, root / "b" / REAL.name)
    # Neither a run's unfinished parts nor hidden files belong to a dataset.
    (root / "b" / "x.parquet.parts").mkdir()
    shutil.copy(REAL, root / "b" / "x.parquet.parts" / "block-00000.parquet")
    shutil.copy(REAL, root / "b" / ".hidden.parquet")
    return root


@pytest.fixture(scope="module")
def ds(folder: Path) -> hvload.Dataset:
    return hvload.dataset(folder)


def test_files_are_found_below_folders(folder: Path, ds: hvload.Dataset) -> None:
    names = [p.name for p in ds.files]
    assert names == ["amd-1.parquet", "amd-2.parquet", "intel-1.parquet", REAL.name]
    assert campaign_files([folder / "a", folder / "a" / "amd-1.parquet"]) == list(ds.files[:2])
    with pytest.raises(CampaignFileError, match="no such file or folder"):
        hvload.dataset(folder / "nope")


def test_one_row_per_campaign_with_flattened_metadata(ds: hvload.Dataset) -> None:
    camps = ds.campaigns
    assert list(camps.columns) == list(CAMPAIGN_COLUMNS) and len(camps) == 4
    real = camps[camps["file"].str.endswith(REAL.name)].iloc[0]
    assert real["cpu_vendor"] == "GenuineIntel" and real["probe"] == "hypercall/vmcall"
    assert (real["rounds"], real["samples"], real["warmup"], real["n_levels"]) == (
        10,
        20_000,
        500,
        6,
    )
    assert real["n_samples"] == 10 * 6 * 20_500 and real["complete"]
    assert real["format_version"] == 2 and real["synthetic"] == ""
    assert real["kernel"].startswith("Linux") and real["date"] == "2026-11-26"
    synth = camps[camps["synthetic"] != ""]
    assert len(synth) == 3 and set(synth["format_version"]) == {3, 4}
    assert set(synth["cpu_brand"]) == {"SYNTHETIC AMD EPYC", "SYNTHETIC Intel Xeon"}


def _expected_blocks(camp: hvload.Campaign, config: AnalysisConfig) -> pd.DataFrame:
    """Block statistics of one probe from hvload.stats on the campaign read whole."""
    bt = block_table(camp, config)
    levels = bt.tidy.levels
    rows = []
    for r in camp.blocks.itertuples(index=False):
        ri = int(np.searchsorted(bt.tidy.rounds, r.round))
        li = levels.index(r.level)
        rows.append((int(r.block), bt.stats["median"][ri, li], bt.stats["p99"][ri, li],
                     int(bt.sizes[ri, li])))  # fmt: skip
    return pd.DataFrame(rows, columns=["block", "median", "p99", "n"]).sort_values("block")


@pytest.mark.parametrize(
    "options",
    [{}, {"metric": "response", "exclude": ("warmup", "migrated")}, {"exclude": ()}],
    ids=["default", "response-no-migrated", "everything"],
)
def test_block_statistics_equal_hvload_stats_to_the_last_bit(
    ds: hvload.Dataset, options: dict
) -> None:
    config = AnalysisConfig(**options)
    got = ds.block_table(config)
    assert list(got.columns) == list(BLOCK_COLUMNS)
    checked = 0
    for path in ds.files:
        camp = hvload.load(path)
        labels = camp.metadata["design"].get("probes") or [camp.metadata["design"]["probe_label"]]
        for index, label in enumerate(labels):
            mine = got[(got["file"] == str(path)) & (got["probe_index"] == index)]
            mine = mine.sort_values("block")
            assert set(mine["probe"]) == {label}
            want = _expected_blocks(camp, config.replace(probe=label))
            assert np.array_equal(mine["block"], want["block"])
            assert np.array_equal(mine["n"], want["n"])
            for name in ("median", "p99"):  # exact, not approximately
                assert np.array_equal(mine[name].to_numpy(), want[name].to_numpy()), (path, name)
            rows = camp.samples[camp.samples["probe_index"] == index]
            per_block = rows.groupby("block", observed=True)
            assert np.array_equal(mine["n_total"], per_block.size().to_numpy())
            assert np.array_equal(mine["n_warmup"], per_block["warmup"].sum().to_numpy())
            checked += 1
    assert checked == 6, "two campaigns with a control: six probes in all"


def test_levels_equal_the_analysis(ds: hvload.Dataset) -> None:
    every = ds.block_table()
    for probe in (None, "null"):
        only = ds.block_table(probe=probe, probe_only=True)
        meta = {c: f.metadata for c, f in ds.footers.items()}
        expected, _ = probe_blocks(every, meta, probe)
        pd.testing.assert_frame_equal(only, expected.reset_index(drop=True), check_exact=True)
    assert ds.block_table(probe="nope", probe_only=True).empty
    levels = ds.levels()
    assert set(levels["probe"]) == {"hypercall/vmmcall", "hypercall/vmcall"}
    null = ds.levels(probe="null")
    assert set(null["probe"]) == {"null"} and null["file"].nunique() == 2
    assert (null["median"] < 60).all(), "the control's own blocks, not the probe's"
    for path in ds.files:
        ours = levels[levels["file"] == str(path)].sort_values("load_order")
        theirs = analyze(hvload.load(path), n_sim=0, n_permutations=99).levels
        assert list(ours["level"]) == list(theirs["level"])
        for name in ("median", "p99"):
            for suffix in ("", "_ci_low", "_ci_high"):
                assert np.array_equal(
                    ours[f"{name}{suffix}"].to_numpy(),
                    theirs[f"block_{name}{suffix}"].to_numpy(),
                    equal_nan=True,
                ), (path.name, name, suffix)
        assert np.allclose(ours["median_ns"], theirs["block_median_ns"], rtol=1e-12)


def test_a_control_probe_is_compared_across_campaigns(ds: hvload.Dataset) -> None:
    result = ds.compare(probe="null")
    assert list(result.groups["group"]) == ["amd-1", "intel-1"], "the two with a null control"
    assert any("left out, without a probe 'null'" in n for n in result.notes)
    assert any("compared probe: 'null'" in n for n in result.notes)
    assert not any("the probes differ" in n for n in result.notes)
    assert (result.levels["median"] < 60 * 1e9 / 2.1e9 + 1).all(), "the control's ns"


def test_samples_only_when_asked(ds: hvload.Dataset) -> None:
    cid = ds.campaigns.loc[ds.campaigns["file"].str.endswith(REAL.name), "campaign"].iloc[0]
    got = ds.samples(("campaign", "level", "block", "cycles", "start"), campaigns=[cid],
                     levels=["0 CPUs"])  # fmt: skip
    assert len(got) == 10 * 20_000, "warm-up left out by default"
    assert isinstance(got["level"].dtype, pd.CategoricalDtype)
    camp = hvload.load(REAL)
    keep = (camp.samples["level"] == "0 CPUs") & ~camp.samples["warmup"]
    start = absolute_start(camp.samples, camp.blocks)[keep.to_numpy()]
    assert np.array_equal(np.sort(got["start"].to_numpy()), np.sort(start))
    total = ds.sql("SELECT count(*) FROM samples").fetchone()[0]
    assert total == ds.campaigns["n_samples"].sum()
    per = ds.sql("SELECT campaign, max(response - cycles) AS late FROM samples GROUP BY 1").df()
    assert len(per) == 4 and (per["late"] >= 0).all()


def test_outliers_cannot_be_left_out_in_the_engine(ds: hvload.Dataset) -> None:
    with pytest.raises(ValueError, match=r"\['outlier'\] cannot be left out"):
        ds.block_table(exclude=("warmup", "outlier"))
    with pytest.raises(ValueError, match="engine='spark' is not allowed"):
        ds.block_table(engine="spark")


def test_a_campaign_in_two_files_is_refused(tmp_path: Path) -> None:
    a = synthetic_file(tmp_path / "a.parquet", 5)
    shutil.copy(a, tmp_path / "copy.parquet")
    with pytest.raises(CampaignFileError, match="is in two files"):
        hvload.dataset(tmp_path)


def test_a_damaged_file_is_named(tmp_path: Path) -> None:
    path = synthetic_file(tmp_path / "a.parquet", 6)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the samples: the footer still reads
    path.write_bytes(bytes(data))
    ds = hvload.dataset(tmp_path)
    with pytest.raises(CorruptCampaignError, match=str(path)):
        ds.verify()
    (tmp_path / "b.parquet").write_bytes(b"not parquet")
    with pytest.raises(CampaignFileError, match=r"b\.parquet: not a readable Parquet file"):
        hvload.dataset(tmp_path)


def test_a_missing_engine_is_named_in_one_line(
    ds: hvload.Dataset, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    fresh = hvload.dataset(ds.files[:2])
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if it were not installed
    with pytest.raises(MissingExtraError, match=r"pip install 'hvload\[dataset\]'"):
        fresh.block_table()
    status, _, err = cli("compare", *map(str, ds.files[:2]))
    assert status == 2 and len(err.splitlines()) == 1 and "hvload[dataset]" in err
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'hvload\[cluster\]'"):
        fresh.block_table(engine="dask")


def test_dask_on_a_local_cluster_agrees_to_the_last_digit(
    ds: hvload.Dataset, damaged: tuple[Path, Path, int]
) -> None:
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.dataframe")
    expected = ds.block_table()
    response = AnalysisConfig(metric="response", exclude=("warmup", "migrated"))
    expected_response = ds.block_table(response)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 host="127.0.0.1", dashboard_address="127.0.0.1:0") as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        got = ds.block_table(engine="dask", client=client)
        got_response = ds.block_table(response, engine="dask", client=client)
        workers = len(client.scheduler_info()["workers"])
        # The workers verify the files (the samples stay on the cluster), and say where.
        a, b, block = damaged
        with pytest.raises(CorruptCampaignError, match=f"{b}: block {block}:"):
            hvload.dataset([a, b]).block_table(engine="dask", client=client)
    assert workers == 2
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    pd.testing.assert_frame_equal(got_response, expected_response, check_exact=True)


def test_the_store_reads_footers_alone(ds: hvload.Dataset) -> None:
    meta, rows, n = store.read_footer(ds.files[0])
    assert meta["campaign"] == ds.campaigns["campaign"].iloc[0]
    assert len(rows) == ds.campaigns["n_blocks"].iloc[0] and n == ds.campaigns["n_samples"].iloc[0]


def _flip_cycles(path: Path, group: int, *, decodes: bool = True) -> int:
    """Invert 8 bytes of the ``cycles`` chunk of one row group (one block) so that the
    file still decodes: DuckDB reads other numbers where :func:`hvload.load` fails the page
    checksum (or, ``decodes=False``, so that DuckDB cannot read it). Returns the block's
    number.

    A flip inside zstd's coded sequences fails to decompress at all, so the last bytes
    of the chunk are tried first, moving back until DuckDB reads a different sum.
    """
    md = pq.ParquetFile(path).metadata
    column = [md.schema.column(i).name for i in range(md.num_columns)].index("cycles")
    lo, hi = chunk_ranges(path)[group * md.num_columns + column]
    original = path.read_bytes()
    query = f"SELECT sum(cycles) FROM read_parquet('{path}')"
    want = duckdb.connect().execute(query).fetchone()
    for offset in range(hi - 8, lo, -1):
        data = bytearray(original)
        data[offset : offset + 8] = bytes(b ^ 0xFF for b in data[offset : offset + 8])
        path.write_bytes(bytes(data))
        try:
            if duckdb.connect().execute(query).fetchone() != want and decodes:
                return int(store.read_footer(path)[1][group]["block"])
        except duckdb.Error:
            if not decodes:
                return int(store.read_footer(path)[1][group]["block"])
    raise AssertionError(f"no flip in {path}'s cycles {'decodes' if decodes else 'fails'}")


@pytest.fixture
def damaged(tmp_path: Path) -> tuple[Path, Path, int]:
    """Two small campaigns, the second with 8 bytes of block 1's cycles inverted."""
    a = synthetic_file(tmp_path / "a.parquet", 21, n_rounds=3, n_samples=100, warmup=5)
    b = synthetic_file(tmp_path / "b.parquet", 22, n_rounds=3, n_samples=100, warmup=5)
    return a, b, _flip_cycles(b, 1)


def test_compare_refuses_a_damaged_file_naming_it_and_the_block(
    damaged: tuple[Path, Path, int], cli
) -> None:
    a, b, block = damaged
    status, out, err = cli("compare", str(a), str(b))
    assert status == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert str(b) in err and f"block {block}:" in err and "cycles" in err
    with pytest.raises(CorruptCampaignError, match=f"block {block}:") as caught:
        hvload.compare([a, b])
    assert caught.value.block == block and str(caught.value.path) == str(b)
    with pytest.raises(CorruptCampaignError):
        hvload.dataset([a, b]).levels()


def test_verify_false_runs_and_says_it_did_not_verify(damaged: tuple[Path, Path, int], cli) -> None:
    a, b, _ = damaged
    result = hvload.compare([a, b], verify=False)
    assert NOT_VERIFIED in result.notes and NOT_VERIFIED in result.to_dict()["notes"]
    assert NOT_VERIFIED in result.to_text()
    ds = hvload.dataset([a, b], verify=False)
    assert ds.notes == (NOT_VERIFIED,) and ds.levels().attrs["notes"] == [NOT_VERIFIED]
    status, out, _ = cli("compare", "--no-verify", str(a), str(b))
    assert status == 0 and "NOT VERIFIED" in out
    # A sound dataset says nothing of it, and verifies each file once.
    sound = hvload.dataset(a)
    assert sound.notes == () and sound.levels().attrs["notes"] == []
    assert sound._verified == {a.resolve()}


def test_a_path_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "x.parquet"
    os.mkfifo(fifo)
    with pytest.raises(CampaignFileError, match=r"x\.parquet: is a FIFO, not a campaign file"):
        hvload.dataset(fifo)
    with pytest.raises(CampaignFileError, match="is a FIFO"):
        hvload.dataset(tmp_path)  # found below a folder: refused as well
    with pytest.raises(CampaignFileError, match="is a FIFO"):
        store.load(fifo)
    with pytest.raises(CampaignFileError, match="is a FIFO"):
        store.read_footer(fifo)
    with pytest.raises(CampaignFileError, match="is a character device"):
        store.load(os.devnull)


def test_an_unverified_file_duckdb_cannot_read_is_named_in_one_line(tmp_path: Path, cli) -> None:
    a = synthetic_file(tmp_path / "a.parquet", 23, n_rounds=3, n_samples=100, warmup=5)
    b = synthetic_file(tmp_path / "b.parquet", 24, n_rounds=3, n_samples=100, warmup=5)
    block = _flip_cycles(b, 2, decodes=False)
    status, out, err = cli("compare", "--no-verify", str(a), str(b))
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert f"{b}: DuckDB cannot read its samples" in err
    status, _, err = cli("compare", str(a), str(b))
    assert status == 2 and f"{b}: block {block}:" in err and len(err.splitlines()) == 1
