"""Lean samples and the out-of-core dataset, measured (issue 14).

1. Storage: bytes per sample of two default-sized campaigns (40 rounds x 5 levels x
   5,200 samples per probe) of MEASURED samples (tests/dataset_synthetic.py): the default
   with its two controls, cut from data/intel-xeon-16vcpu-controls.parquet, and the main
   probe alone, rearranged from data/amd-epyc-2vcpu-default.parquet (whose samples
   compress least); in memory as hvload.load returns them and on disk as hvload writes
   them (format 4), against the layout before (format 3: the measured columns, read with
   plain pyarrow as hvload.load did) measured in the same run; then the candidate
   encodings and zstd levels, per column, that chose what the store writes.
2. Dataset: a SYNTHETIC dataset of at least 100 million samples (``--files`` campaign
   files of the default design, the probe and two controls, written to a temporary
   folder and removed afterwards, every file labelled synthetic) summarised per campaign
   and level (typical block median and p99 of the main probe) by
   ``hvload.dataset(folder).levels()`` in a child process, whose time and peak RSS are
   printed against the reference: the same summary from loading each file with
   ``hvload.load`` and aggregating in pandas, in another child process, in the same run.
   Both results are compared.

Run::

    .venv/bin/python benchmarks/bench_dataset.py [--files 33] [--only storage|dataset]
        [--keep DIR]   # reuse or keep the generated dataset there

Goals (issue 14): at most 24 bytes per sample in memory and 4 on disk for the default
campaign; the dataset's summary with a peak RSS under 2 GB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from dataset_synthetic import (  # noqa: E402
    default_from_measured,
    default_with_controls,
    synthetic_file,
)

import hvload  # noqa: E402
from hvload import store  # noqa: E402
from hvload.model import SAMPLE_COLUMNS, wide_samples  # noqa: E402
from hvload.store import _format  # noqa: E402

CONTROLS = ("null", "syscall/getppid")
DEFAULT = {"n_rounds": 40, "n_samples": 5_000, "warmup": 200, "controls": CONTROLS}
PER_FILE = 40 * 5 * 5_200 * (1 + len(CONTROLS))


def _mb(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


# -- 1. storage ---------------------------------------------------------------------------------


def _format3_bytes(camp: hvload.Campaign) -> tuple[bytes, int]:
    """The campaign in the layout before (format 3), in memory: the file and its rows."""
    wide = wide_samples(camp.samples, camp.blocks)
    schema = store.SAMPLE_SCHEMA
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, schema, **_format._parquet_options()) as writer:
        design = camp.metadata["design"]
        per = (design["samples"] + design["warmup"]) * (1 + len(design.get("controls") or []))
        table = pa.Table.from_pandas(wide[list(SAMPLE_COLUMNS)], schema=schema,
                                     preserve_index=False)  # fmt: skip
        for start in range(0, len(wide), per):
            writer.write_table(table.slice(start, per), row_group_size=per)
    return buf.getvalue(), len(wide)


def storage(tmp: Path) -> None:
    print("1. Storage of default-sized campaigns of measured samples (see module notes)")
    for name, make in (("with controls (Intel)", default_with_controls),
                       ("main probe alone (AMD)", default_from_measured)):  # fmt: skip
        path = _storage_one(name, make(), tmp)
    _encodings(path)


def _storage_one(name: str, camp: hvload.Campaign, tmp: Path) -> Path:
    print(f"   default campaign, {name}:")
    path = tmp / f"default-{len(list(tmp.glob('default-*')))}.parquet"
    t0 = time.perf_counter()
    store.save(camp, path)
    t_save = time.perf_counter() - t0
    t0 = time.perf_counter()
    lean = hvload.load(path)
    t_load = time.perf_counter() - t0
    n = len(lean.samples)
    old_bytes, _ = _format3_bytes(lean)
    old = pq.read_table(io.BytesIO(old_bytes)).to_pandas()  # what hvload.load returned
    mem_new = lean.samples.memory_usage(deep=True).sum() / n
    mem_old = old.memory_usage(deep=True).sum() / n
    disk_new = path.stat().st_size / n
    disk_old = len(old_bytes) / n
    print(f"     {n:,} samples; hvload.save {t_save:.1f} s, hvload.load {t_load:.2f} s")
    print(f"     in memory: {mem_new:5.2f} bytes/sample (format 3 as loaded before: "
          f"{mem_old:5.2f}; ratio {mem_new / mem_old:.2f}; goal <= 24)")  # fmt: skip
    print(f"     on disk:   {disk_new:5.2f} bytes/sample (format 3: {disk_old:5.2f}; ratio "
          f"{disk_new / disk_old:.2f}; goal <= 4)")  # fmt: skip
    per_col = lean.samples.memory_usage(deep=True, index=False) / n
    print("     in memory per column: " + ", ".join(
        f"{c} {lean.samples[c].dtype} {per_col[c]:.2f}" for c in lean.samples.columns))  # fmt: skip
    return path


def _column_bytes(table: pa.Table, per: int, **options: object) -> float:
    buf = io.BytesIO()
    with pq.ParquetWriter(buf, table.schema, write_statistics=False, store_schema=False,
                          **options) as writer:  # fmt: skip
        for start in range(0, table.num_rows, per):
            writer.write_table(table.slice(start, per), row_group_size=per)
    return buf.tell() / table.num_rows


def _encodings(path: Path) -> None:
    """Format 4's per-column candidates, measured: what the store's choices rest on."""
    pf = pq.ParquetFile(path)
    table = pf.read()
    per = pf.metadata.row_group(0).num_rows
    start = table.column("due").to_numpy() + table.column("late").to_numpy()
    extra = {"start (as measured)": pa.array(start),
             "response (as measured)": pa.array(table.column("cycles").to_numpy()
                                                + table.column("late").to_numpy())}  # fmt: skip
    level = _format.ZSTD_LEVEL
    print(f"   bytes/sample per column and encoding (zstd level {level}, the store's):")
    columns = {name: table.column(name) for name in ("due", "late", "cycles", "sample")}
    columns.update(extra)
    for name, col in columns.items():
        t = pa.table({"x": col})
        row = {
            "plain": _column_bytes(t, per, compression="zstd", compression_level=level,
                                   use_dictionary=False),
            "dictionary": _column_bytes(t, per, compression="zstd", compression_level=level,
                                        use_dictionary=True),
            "delta": _column_bytes(t, per, compression="zstd", compression_level=level,
                                   use_dictionary=False,
                                   column_encoding={"x": "DELTA_BINARY_PACKED"}),
            "byte_stream_split": _column_bytes(t, per, compression="zstd", compression_level=level,
                                               use_dictionary=False,
                                               column_encoding={"x": "BYTE_STREAM_SPLIT"}),
        }  # fmt: skip
        best = min(row, key=row.get)
        print(f"     {name:<24}" + "  ".join(f"{k} {v:6.3f}" for k, v in row.items())
              + f"   best: {best}")  # fmt: skip
    sizes = {}
    for level in (1, 3, 6, 9):
        saved = _format.ZSTD_LEVEL
        _format.ZSTD_LEVEL = level
        try:
            camp = hvload.load(path)
            out = path.with_name(f"zstd{level}.parquet")
            t0 = time.perf_counter()
            store.save(camp, out)
            sizes[level] = (out.stat().st_size / len(camp.samples), time.perf_counter() - t0)
        finally:
            _format.ZSTD_LEVEL = saved
    print("   whole file by zstd level: " + ", ".join(
        f"{k}: {v[0]:.3f} bytes/sample ({v[1]:.1f} s to save)" for k, v in sizes.items())
        + f"; the store writes level {_format.ZSTD_LEVEL}")  # fmt: skip


# -- 2. dataset ---------------------------------------------------------------------------------


def _child(kind: str, folder: str) -> None:
    """Run one summary in this (child) process; print JSON with its time and peak RSS."""
    t0 = time.perf_counter()
    if kind == "duckdb":
        ds = hvload.dataset(folder, verify=False)  # the engine alone; verifying is a load
        levels = ds.levels()
        out = levels[["campaign", "level", "median", "p99"]]
    else:
        from hvload.datasets import campaign_files

        parts = []
        for path in campaign_files(folder):
            camp = hvload.load(path)
            s = camp.samples
            kept = s[~s["warmup"] & (s["probe_index"] == 0)]  # the main probe
            per_block = kept.groupby(["level", "block"], observed=True)["cycles"]
            stats = per_block.quantile(0.5).to_frame("median")
            stats["p99"] = per_block.quantile(0.99)
            typical = stats.groupby(level="level", observed=True).median().reset_index()
            typical.insert(0, "campaign", camp.metadata["campaign"])
            parts.append(typical)
            del camp, s, kept
        import pandas as pd

        out = pd.concat(parts, ignore_index=True)
    elapsed = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = out.astype({"level": str})
    print(json.dumps({"seconds": elapsed, "peak_rss": rss, "rows": out.to_dict("records")}))


def _run_child(kind: str, folder: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(folder)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"the {kind} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def dataset_bench(folder: Path, n_files: int) -> None:
    print(f"2. Dataset: {n_files} SYNTHETIC default campaigns (probe + 2 controls) in {folder}")
    have = sorted(folder.glob("synthetic-*.parquet"))
    if len(have) < n_files:
        t0 = time.perf_counter()
        machines = ("amd", "intel")
        for i in range(len(have), n_files):
            synthetic_file(folder / f"synthetic-{i:04d}.parquet", 500_000 + i,
                           machine=machines[i % 2], base=1.0 if i % 2 == 0 else 0.6,
                           verify=False, **DEFAULT)  # fmt: skip
        print(f"   written in {time.perf_counter() - t0:.0f} s")
    files = sorted(folder.glob("synthetic-*.parquet"))[:n_files]
    if len(files) < len(list(folder.glob("*.parquet"))):
        raise SystemExit(f"{folder} holds other files; give an empty --keep folder")
    n = len(files) * PER_FILE
    disk = sum(f.stat().st_size for f in files)
    print(f"   {n:,} samples, {_mb(disk)} on disk ({disk / n:.2f} bytes/sample)")
    duck = _run_child("duckdb", folder)
    pandas_ref = _run_child("pandas", folder)
    print(f"   hvload.dataset(...).levels() [DuckDB]: {duck['seconds']:.1f} s, peak RSS "
          f"{_mb(duck['peak_rss'])} (goal < 2 GB)")  # fmt: skip
    print(f"   reference, hvload.load + pandas per file: {pandas_ref['seconds']:.1f} s, peak RSS "
          f"{_mb(pandas_ref['peak_rss'])}")  # fmt: skip
    print(f"   time ratio DuckDB / reference: {duck['seconds'] / pandas_ref['seconds']:.2f}; "
          f"throughput {n / duck['seconds'] / 1e6:.1f} M samples/s")  # fmt: skip
    a = {(r["campaign"], r["level"]): (r["median"], r["p99"]) for r in duck["rows"]}
    b = {(r["campaign"], r["level"]): (r["median"], r["p99"]) for r in pandas_ref["rows"]}
    assert a.keys() == b.keys(), "both summaries cover the same campaigns and levels"
    diff = max(abs(x - y) / y for k in a for x, y in zip(a[k], b[k], strict=True))
    print(f"   {len(a)} (campaign, level) summaries; largest relative difference between "
          f"the two: {diff:.1e}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--files", type=int, default=33, help="campaign files (3.12 M samples each)"
    )
    parser.add_argument("--only", choices=["storage", "dataset"], default=None)
    parser.add_argument("--keep", default=None, help="folder for the generated dataset (kept)")
    parser.add_argument("--child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    print(f"hvload {hvload.__version__}, numpy {np.__version__}, pyarrow {pa.__version__}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="hvload-bench-") as tmp:
        if args.only in (None, "storage"):
            storage(Path(tmp))
        if args.only in (None, "dataset"):
            folder = Path(args.keep) if args.keep else Path(tmp) / "dataset"
            folder.mkdir(parents=True, exist_ok=True)
            dataset_bench(folder, args.files)


if __name__ == "__main__":
    main()
