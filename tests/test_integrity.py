"""The values behind every ns figure: covered by the footer digest, and refused when absurd.

The footer digest is unkeyed SHA-256: an edit of ``tsc_hz`` fails verification unless the
digest is recomputed, and a forger can recompute it. So the tests here forge files the way
such a forger would (digest recomputed) and check that the plausibility checks refuse
them in one line, on every path that reads a file: ``load``, ``read_footer``, ``report``,
``plan`` and ``compare``, with and without verification.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hvload import store
from hvload.errors import CampaignFileError, CorruptCampaignError
from hvload.model import Campaign
from hvload.store import _format, _verify


def _synthetic(rounds: int = 6, samples: int = 40, warmup: int = 4) -> Campaign:
    """A small synthetic campaign (labelled: made here, not measured)."""
    n = warmup + samples
    rng = np.random.default_rng(21)
    names = ["0%", "100%"]
    rows, frames, block = [], [], 0
    for rnd in range(rounds):
        for li in rng.permutation(2):
            rows.append({"campaign": "integrity01", "round": rnd, "level": names[li],
                         "level_index": int(li), "block": block})  # fmt: skip
            base = 2000 + 500 * li
            frames.append(pd.DataFrame({
                "campaign": "integrity01", "round": np.full(n, rnd, np.int32),
                "level": names[li], "level_index": np.full(n, li, np.int32),
                "block": np.full(n, block, np.int32), "sample": np.arange(n, dtype=np.int64),
                "start": np.arange(n, dtype=np.int64) * 10_000,
                "cycles": rng.integers(base, base + 100, n),
                "response": rng.integers(base + 100, base + 200, n),
                "rax": np.full(n, -1, np.int64), "cpu": np.zeros(n, np.int16),
                "migrated": np.zeros(n, bool), "warmup": np.arange(n) < warmup,
            }))  # fmt: skip
            block += 1
    meta = {
        "format": "hvload-campaign", "campaign": "integrity01", "tsc_hz": 2.0e9,
        "synthetic": "made by tests/test_integrity.py",
        "platform": {"tsc_hz": 2.0e9, "tsc_methods": {"synthetic": 2.0e9}},
        "design": {"rounds": rounds, "samples": samples, "warmup": warmup,
                   "levels": [{"name": "0%", "value": 0.0}, {"name": "100%", "value": 1.0}]},
    }  # fmt: skip
    return Campaign(pd.concat(frames, ignore_index=True), pd.DataFrame(rows), meta)


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.parquet"
    store.save(_synthetic(), path)
    return path


def _footer(path: Path) -> dict[bytes, bytes]:
    return dict(pq.ParquetFile(path).metadata.metadata)


def _rewrite(src: Path, dst: Path, footer: dict[bytes, bytes]) -> Path:
    """``src``'s stored samples under ``footer``, written as hvload writes a campaign file."""
    table = pq.read_table(src, schema=_format.STORED_SCHEMA)
    with pq.ParquetWriter(dst, _format.STORED_SCHEMA, **_format._campaign_options()) as writer:
        writer.write_table(
            table, row_group_size=len(table) // len(json.loads(footer[b"hvload.blocks"]))
        )
        writer.add_key_value_metadata(footer)
    return dst


def _edited(src: Path, dst: Path, change: Any, *, redigest: bool) -> Path:
    """``src`` with its metadata changed; the digest recomputed as a forger would, or kept."""
    footer = _footer(src)
    meta = json.loads(footer[_format._META_KEY])
    change(meta)
    # allow_nan: a forger writes whatever JSON Python reads, NaN and Infinity included.
    footer[_format._META_KEY] = json.dumps(meta, allow_nan=True).encode()
    if redigest:
        footer[_format._DIGEST_KEY] = _format._footer_digest(
            footer[_format._META_KEY], footer[_format._BLOCKS_KEY]
        ).encode()
    return _rewrite(src, dst, footer)


def _set_tsc(value: float) -> Any:
    def change(meta: dict[str, Any]) -> None:
        meta["tsc_hz"] = value
        meta["platform"]["tsc_hz"] = value  # both, so only the bounds can tell

    return change


def test_the_rewrite_helper_keeps_a_file_valid(good: Path, tmp_path: Path) -> None:
    same = _edited(good, tmp_path / "same.parquet", lambda m: None, redigest=True)
    assert store.load(same).metadata == store.load(good).metadata


@pytest.mark.parametrize("value", [2.5e9 * 1.0001, 3.0e9])
def test_an_edited_tsc_hz_fails_the_digest(good: Path, tmp_path: Path, value: float) -> None:
    """Any edit of the value behind the ns figures, even a plausible one, fails verification."""
    bad = _edited(good, tmp_path / "bad.parquet", _set_tsc(value), redigest=False)
    for read in (store.load, store.read_footer):
        with pytest.raises(CorruptCampaignError, match="fails its digest"):
            read(bad)
    # Unverified (forensics) the plausible value reads; the digest is what caught it.
    assert store.load(bad, verify=False).metadata["tsc_hz"] == value


def test_an_edited_tsc_method_fails_the_digest(good: Path, tmp_path: Path) -> None:
    def change(meta: dict[str, Any]) -> None:
        meta["platform"]["tsc_methods"]["synthetic"] = 1.0e9

    bad = _edited(good, tmp_path / "bad.parquet", change, redigest=False)
    with pytest.raises(CorruptCampaignError, match="fails its digest"):
        store.load(bad)


ABSURD = [1e308, 0.0, float("nan"), -1.0, float("inf"), 5e7, 3e10]


@pytest.mark.parametrize("value", ABSURD, ids=str)
@pytest.mark.parametrize("verify", [True, False])
def test_an_absurd_tsc_hz_with_a_recomputed_digest_is_refused(
    good: Path, tmp_path: Path, value: float, verify: bool
) -> None:
    bad = _edited(good, tmp_path / "bad.parquet", _set_tsc(value), redigest=True)
    with pytest.raises(CampaignFileError, match=r"tsc_hz=.*allowed: 1e8 to 2e10 Hz") as info:
        store.load(bad, verify=verify)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(CampaignFileError, match="tsc_hz="):
        store.read_footer(bad, verify=verify)


def test_a_tsc_hz_that_disagrees_with_the_platform_report_is_refused(
    good: Path, tmp_path: Path
) -> None:
    def change(meta: dict[str, Any]) -> None:
        meta["tsc_hz"] = 2.1e9  # plausible alone, but not what the platform report measured

    bad = _edited(good, tmp_path / "bad.parquet", change, redigest=True)
    with pytest.raises(CampaignFileError, match=r"disagrees with the platform report's"):
        store.load(bad)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1.0])
def test_a_level_value_that_is_not_finite_is_refused(
    good: Path, tmp_path: Path, value: float
) -> None:
    def change(meta: dict[str, Any]) -> None:
        meta["design"]["levels"][1]["value"] = value

    bad = _edited(good, tmp_path / "bad.parquet", change, redigest=True)
    with pytest.raises(CampaignFileError, match=r"level '100%' has value=.*finite number >= 0"):
        store.load(bad, verify=False)


def test_the_bounds_hold_every_shipped_campaign() -> None:
    lo, hi = _verify.TSC_HZ_RANGE
    for path in sorted(Path(__file__).parent.parent.glob("data/*.parquet")):
        meta, _, _ = store.read_footer(path)
        assert lo < meta["tsc_hz"] < hi
        assert meta["tsc_hz"] == meta["platform"]["tsc_hz"]


@pytest.mark.parametrize("value", [1e308, 0.0, float("nan"), -1.0], ids=str)
@pytest.mark.parametrize(
    "command", [["report"], ["report", "--json"], ["plan"], ["compare"], ["compare", "--no-verify"]]
)
def test_every_command_refuses_an_absurd_tsc_hz_in_one_line(
    good: Path, tmp_path: Path, cli, value: float, command: list[str]
) -> None:
    bad = _edited(good, tmp_path / "bad.parquet", _set_tsc(value), redigest=True)
    files = [str(bad)] if command[0] != "compare" else [str(good), str(bad)]
    if command[0] == "compare":
        pytest.importorskip("duckdb")
    status, out, err = cli(command[0], *files, *command[1:])
    assert status == 2, (status, err)
    assert out == "" and len(err.splitlines()) == 1, err
    assert "tsc_hz=" in err and "1e8 to 2e10 Hz" in err and "Traceback" not in err


def test_a_plausible_file_still_reports_ns(good: Path, cli) -> None:
    status, out, err = cli("report", str(good), "--json")
    assert status == 0, err
    assert json.loads(out)["design"]["tsc_hz"] == 2.0e9


# -- a file still being written, or cut off, is named as the run it is -----------------------


def _unfinished(tmp_path: Path) -> tuple[Path, store.CampaignWriter]:
    """A run with two finished blocks in its ``.parts`` folder, its writer still open."""
    from hvload.model import BlockResult

    camp = _synthetic()
    path = tmp_path / "live.parquet"
    writer = store.CampaignWriter(path, {**camp.metadata, "format_version": 4})
    for row in camp.blocks.to_dict("records")[:2]:
        writer.write_block(BlockResult(camp.samples[camp.samples["block"] == row["block"]], row))
    return path, writer


@pytest.mark.parametrize("command", ["report", "plan", "compare"])
def test_a_run_in_progress_is_named_not_missing(tmp_path: Path, cli, command: str) -> None:
    path, writer = _unfinished(tmp_path)
    try:
        files = [str(path)] if command != "compare" else [str(path), str(path)]
        status, out, err = cli(command, *files)
    finally:
        writer.release()
    assert status == 1 and out == "" and len(err.splitlines()) == 1, err
    assert f"{path} is being written by" in err and "wait for it" in err, err
    assert "no such file" not in err


@pytest.mark.parametrize("command", ["report", "plan", "compare"])
def test_a_cut_off_run_is_named_with_recover(tmp_path: Path, cli, command: str) -> None:
    path, writer = _unfinished(tmp_path)
    writer.release()  # as when the run was killed: the lock is gone, the parts stay
    status, out, err = cli(command, str(path))
    assert status == 2 and out == "" and len(err.splitlines()) == 1, err
    assert "cut off before its file was written; 2 finished blocks" in err, err
    assert f"`hvload recover {path}`" in err and "no such file" not in err


def test_compare_still_says_no_such_file_for_a_plain_missing_one(tmp_path: Path, cli) -> None:
    status, _, err = cli("compare", str(tmp_path / "none.parquet"))
    assert status == 2 and "no such file or folder" in err and len(err.splitlines()) == 1
