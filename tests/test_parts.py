"""Nothing lost, nothing outside the run's folder (issue 21, item 1).

A run records every block it wrote and merges exactly those, from the ``.parts`` folder
it made (opened once, never through a link): a part deleted mid-run, or the folder
swapped for a link to another folder, ends the run with one line naming the block and
where the others are, and nothing outside the run's own folder is written or removed.
``hvload recover`` refuses a planted link and changes nothing. The runs are tiny
(2 levels x 2 rounds x 205 samples of the null trap): what is tested is the bookkeeping.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hvload.campaign.runner as runner
from hvload import _faultinject, store
from hvload.store import _merge, _owned

TINY = ["--probe", "null", "--levels", "0,0", "--rounds", "2", "--samples", "200",
        "--warmup", "5", "--probe-rate", "0", "--no-progress", "--seed", "1"]  # fmt: skip
BLOCKS = 4
_INFO = ("hvload run: probe ", "hvload run: note: ", "hvload run: warning: ")


@pytest.fixture(autouse=True)
def _fresh_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HVLOAD_TEST_FAULT", raising=False)
    _faultinject.reset()


def _after_block(monkeypatch: pytest.MonkeyPatch, n: int, act: Callable[[], object]) -> None:
    """Call ``act`` once the ``n``-th block's part is on disk (the ``block`` checkpoint)."""
    passed = [0]
    real = runner.checkpoint

    def hook(phase: str, filename: object = None) -> None:
        real(phase, filename)
        if phase == "block":
            passed[0] += 1
            if passed[0] == n:
                act()

    monkeypatch.setattr(runner, "checkpoint", hook)


def _one_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln and not ln.startswith(_INFO)]
    assert len(lines) == 1, err
    return lines[0]


def _hashes(folder: Path) -> dict[str, str]:
    """Every entry under ``folder`` (links as their target), with its content's digest."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = os.fspath(p.relative_to(folder))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "folder"
    return out


def _decoy(folder: Path) -> Path:
    """A folder of someone else's files that look like a campaign's parts."""
    folder.mkdir()
    (folder / "block-00005.parquet").write_bytes(b"PAR1 not ours PAR1")
    (folder / "metadata.json").write_text('{"campaign": "someone else"}')
    (folder / ".block-00001.parquet.abcdefgh.tmp").write_bytes(b"PAR1")
    (folder / "notes.txt").write_text("keep me")
    return folder


def test_a_part_deleted_mid_run_is_named_and_the_others_are_kept(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "c.parquet"
    parts = tmp_path / "c.parquet.parts"
    _after_block(monkeypatch, 2, lambda: (parts / "block-00001.parquet").unlink())
    code, _, err = cli("run", *TINY, "-o", str(out))
    line = _one_line(err)
    assert code == 1, err
    assert "block 1 (block-00001.parquet" in line, line
    assert f"the other {BLOCKS - 1} finished blocks are kept in {parts}" in line, line
    assert not out.exists()  # no file silently lacking a block
    kept = sorted(p.name for p in parts.glob("block-*.parquet"))
    assert kept == ["block-00000.parquet", "block-00002.parquet", "block-00003.parquet"]
    # The kept blocks are whole: recover writes a file of exactly them.
    code, _, err = cli("recover", str(out))
    assert code == 0, err
    assert len(store.load(out).blocks) == BLOCKS - 1
    assert not parts.exists()


def test_a_parts_folder_swapped_for_a_link_gets_nothing_and_loses_nothing(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "c.parquet"
    parts = tmp_path / "c.parquet.parts"
    target = _decoy(tmp_path / "victim")
    before = _hashes(target)
    moved = tmp_path / "moved"

    def swap() -> None:
        parts.rename(moved)
        parts.symlink_to(target)

    _after_block(monkeypatch, 2, swap)
    code, _, err = cli("run", *TINY, "-o", str(out))
    line = _one_line(err)
    assert code == 1, err
    assert f"{parts}: it is a symbolic link now" in line, line
    assert f"are in {moved}" in line, line
    assert _hashes(target) == before  # nothing written into, or removed from, the target
    assert not out.exists()
    # Every block measured before and after the swap is in the folder the run made.
    names = sorted(p.name for p in moved.glob("block-*.parquet"))
    assert len(names) >= 2, names
    assert names == [f"block-{i:05d}.parquet" for i in range(len(names))]
    # Back in place, the folder recovers to a file of all those blocks.
    parts.unlink()
    moved.rename(parts)
    code, _, err = cli("recover", str(out))
    assert code == 0, err
    assert len(store.load(out).blocks) == len(names)


def test_a_part_deleted_and_the_folder_swapped_names_the_missing_block(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Swapped after the last block: the merge finds the link, names where the blocks
    # are; with the folder back but a part gone, it names that block.
    out = tmp_path / "c.parquet"
    parts = tmp_path / "c.parquet.parts"
    target = _decoy(tmp_path / "victim")
    before = _hashes(target)

    def swap() -> None:
        (parts / "block-00002.parquet").unlink()
        parts.rename(tmp_path / "moved")
        parts.symlink_to(target)

    _after_block(monkeypatch, BLOCKS, swap)
    code, _, err = cli("run", *TINY, "-o", str(out))
    line = _one_line(err)
    assert code == 1, err
    assert "symbolic link" in line, line
    assert f"3 finished blocks are in {tmp_path / 'moved'}" in line, line
    assert "(block 2 (block-00002.parquet) missing)" in line, line
    assert _hashes(target) == before
    assert not out.exists()


def test_a_swap_inside_the_merge_is_caught_before_anything_is_written(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The name is swapped after the writer's own check, as the merge starts reading.
    out = tmp_path / "c.parquet"
    parts = tmp_path / "c.parquet.parts"
    target = _decoy(tmp_path / "victim")
    before = _hashes(target)
    real = _merge._merge_at

    def swap_then_merge(*args: Any, **kwargs: Any) -> Any:
        parts.rename(tmp_path / "moved")
        parts.symlink_to(target)
        return real(*args, **kwargs)

    monkeypatch.setattr(_merge, "_merge_at", swap_then_merge)
    code, _, err = cli("run", *TINY, "-o", str(out))
    line = _one_line(err)
    assert code == 1, err
    assert f"this run's {BLOCKS} finished blocks are in {tmp_path / 'moved'}" in line, line
    assert _hashes(target) == before
    assert len(list((tmp_path / "moved").glob("block-*.parquet"))) == BLOCKS


def test_recover_refuses_a_planted_link_and_changes_nothing(tmp_path: Path, cli) -> None:
    target = _decoy(tmp_path / "victim")
    (tmp_path / "c.parquet.parts").symlink_to(target)
    before, around = _hashes(target), sorted(os.listdir(tmp_path))
    code, _, err = cli("recover", str(tmp_path / "c.parquet"))
    line = _one_line(err)
    assert code == 1, err
    assert re.search(r"c\.parquet\.parts is a symbolic link; .*nothing was read", line), line
    assert _hashes(target) == before
    assert sorted(os.listdir(tmp_path)) == around  # not even a lock file is left


def test_recover_removes_only_what_it_can_prove_it_wrote(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A run killed before its merge: recover merges its parts and removes those, its
    # metadata and its own torn write, and keeps a look-alike temporary and a stranger.
    out = tmp_path / "c.parquet"
    parts = tmp_path / "c.parquet.parts"
    monkeypatch.setenv("HVLOAD_TEST_FAULT", "merge=EIO")
    code, _, err = cli("run", *TINY, "-o", str(out))
    assert code == 1, err
    monkeypatch.delenv("HVLOAD_TEST_FAULT")
    _faultinject.reset()
    (parts / ".block-00004.parquet.a1b2c3d4.tmp").write_bytes(b"PAR1\x00torn")
    (parts / ".block-00005.parquet.a1b2c3d4.tmp").write_bytes(b"not hvload's")
    (parts / "notes.txt").write_text("keep me")
    code, _, err = cli("recover", str(out))
    assert code == 0, err
    assert len(store.load(out).blocks) == BLOCKS
    assert sorted(os.listdir(parts)) == [".block-00005.parquet.a1b2c3d4.tmp", "notes.txt"]


def test_recover_refuses_a_folder_of_another_user(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = _decoy(tmp_path / "c.parquet.parts")
    before = _hashes(parts)
    other = os.getuid() + 1
    monkeypatch.setattr(_owned.os, "getuid", lambda: other)
    code, _, err = cli("recover", str(tmp_path / "c.parquet"))
    line = _one_line(err)
    assert code == 1, err
    assert "not to this user" in line, line
    assert _hashes(parts) == before


def test_a_part_replaced_by_another_block_is_named(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A valid part of the same campaign under another block's name is not what was written.
    out = tmp_path / "c.parquet"
    parts = tmp_path / "c.parquet.parts"
    _after_block(
        monkeypatch,
        2,
        lambda: shutil.copyfile(parts / "block-00000.parquet", parts / "block-00001.parquet"),
    )
    code, _, err = cli("run", *TINY, "-o", str(out))
    line = _one_line(err)
    assert code == 1, err
    assert "block 1 (block-00001.parquet: not the part this run wrote" in line, line
    assert not out.exists()
    assert len(list(parts.glob("block-*.parquet"))) == BLOCKS  # every part is kept


def test_files_planted_in_the_run_s_folder_are_left_alone(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run merges exactly the blocks it wrote and removes only those and its metadata.
    out = tmp_path / "c.parquet"
    parts = tmp_path / "c.parquet.parts"
    planted = {"block-00005.parquet": b"PAR1 not ours PAR1", "notes.txt": b"keep me"}

    def plant() -> None:
        for name, data in planted.items():
            (parts / name).write_bytes(data)

    _after_block(monkeypatch, 2, plant)
    code, _, err = cli("run", *TINY, "-o", str(out))
    assert code == 0, err
    assert len(store.load(out).blocks) == BLOCKS
    assert {p.name: p.read_bytes() for p in parts.iterdir()} == planted
