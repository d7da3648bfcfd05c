"""Faults injected at exact moments: signals, full disks, concurrent runs, hostile files.

Each test reproduces an item of issue 10 and asserts what a user is promised: no
traceback, the conventional exit status, one line on stderr, and every finished block
either in a readable campaign file or recoverable with the command the message names.
Signals and disk errors are injected at named phases through ``HVLOAD_TEST_FAULT``
(:mod:`hvload._faultinject`); runs are tiny (2 levels x 2 rounds x 205 samples of the
null trap) because what is tested is the bookkeeping, not the measurement.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from byteflip import chunk_ranges, flipped_bytes
from markers import needs_two, needs_x86, timing

import hvload.campaign as campaign
from hvload import _faultinject, store
from hvload.cli import main
from hvload.errors import CampaignBusyError, CampaignFileError, CorruptCampaignError
from hvload.model import Campaign
from hvload.store import _format, _merge, _verify, _writer

DATA = Path(__file__).resolve().parents[1] / "data"
SHIPPED = DATA / "intel-xeon-16vcpu-cpu-levels.parquet"

#: 2 levels x 2 rounds = 4 blocks of 5 + 200 null-trap samples, no load.
TINY = ["--probe", "null", "--levels", "0,0", "--rounds", "2", "--samples", "200",
        "--warmup", "5", "--probe-rate", "0", "--no-progress", "--seed", "1"]  # fmt: skip
#: The same with a loaded level, so that load workers run when the fault arrives.
LOADED = [*TINY[:2], "--levels", "0,100", *TINY[4:]]
BLOCKS = 4


@pytest.fixture(autouse=True)
def _fresh_faults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HVLOAD_TEST_FAULT", raising=False)
    _faultinject.reset()


@pytest.fixture
def finished(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the blocks whose part reached the disk, independently of any message."""
    count = [0]
    real = _writer._write_atomic

    def counting(path: Path, *args: object, **kwargs: object) -> None:
        real(path, *args, **kwargs)  # type: ignore[arg-type]
        if path.name.startswith("block-") and path.is_file():
            count[0] += 1

    monkeypatch.setattr(_writer, "_write_atomic", counting)
    return count


#: Lines hvload run writes before it measures: what it runs, and notes on the design.
_INFO = ("hvload run: probe ", "hvload run: note: ", "hvload run: warning: ")


def _one_line(err: str) -> str:
    """The error message: exactly one line besides the run's informational lines."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln and not ln.startswith(_INFO)]
    assert len(lines) == 1, err
    return lines[0]


def _readable_after(path: Path, err: str, cli: Callable[..., tuple[int, str, str]]) -> int:
    """Blocks readable after the fault: in the file, or after the recover command named."""
    if path.exists():
        return len(store.load(path).blocks)
    named = re.search(r"`hvload recover (.+?)`", err)
    if named is None:
        return 0
    code, _, rerr = cli("recover", *shlex.split(named.group(1)))
    assert code == 0, rerr
    return len(store.load(path).blocks)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- item 1 and 8: a signal at every phase -------------------------------------------------


@needs_x86
@needs_two
@pytest.mark.parametrize(
    ("phase", "kept"),
    [
        ("setup", 0),  # timing the platform
        ("saturation", 0),  # measuring the load trap's saturation
        ("measure", 0),  # the first block, load running
        ("block@2", 2),  # between blocks
        ("write@3", 2),  # while the second block's part is written: it is kept
        ("merge", BLOCKS),  # the final write (item 1)
        ("merged", BLOCKS),  # file in place, parts not yet removed
        ("summary", BLOCKS),  # the statistics after the file is written
    ],
)
@pytest.mark.parametrize(("sig", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_at_any_phase_keeps_every_finished_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, finished: list[int],
    phase: str, kept: int, sig: str, code: int,
) -> None:  # fmt: skip
    monkeypatch.setenv("HVLOAD_TEST_FAULT", f"{phase}={sig}")
    out = tmp_path / "c.parquet"
    status, _, err = cli("run", *LOADED, "-o", str(out))
    line = _one_line(err)
    assert status == code and f"stopped by {sig}" in line
    assert finished[0] == kept
    assert _readable_after(out, err, cli) == kept
    if kept:
        assert str(out) in line
        assert _leftovers(tmp_path) == ["c.parquet"], "no parts, lock or temporary left"
    else:
        assert "nothing was" in line
        assert _leftovers(tmp_path) == [], "nothing on disk: -o can be used again"


# -- item 3: full disks and other OSErrors -------------------------------------------------


@needs_x86
@pytest.mark.parametrize(
    ("fault", "kept", "parts"),
    [
        ("write@1=ENOSPC", 0, False),  # full at the start: the first metadata write fails
        ("write@3=ENOSPC", 1, True),  # full after one block: the merge fails too
        ("final=ENOSPC", BLOCKS, True),  # full during the final write only
        ("write@3=EIO", 1, True),
    ],
)
def test_a_full_disk_loses_no_finished_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, finished: list[int],
    fault: str, kept: int, parts: bool,
) -> None:  # fmt: skip
    monkeypatch.setenv("HVLOAD_TEST_FAULT", fault)
    out = tmp_path / "c.parquet"
    status, _, err = cli("run", *TINY, "-o", str(out))
    line = _one_line(err)
    assert status == 1 and "error:" in line
    assert finished[0] == kept
    assert (tmp_path / "c.parquet.parts").exists() == parts
    if parts:
        expected = f"{kept} finished block{'s are' if kept != 1 else ' is'} in {out}.parts"
        assert expected in line and f"`hvload recover {out}`" in line
    else:
        assert _leftovers(tmp_path) == [], "no empty metadata.json or folder is left"
    monkeypatch.delenv("HVLOAD_TEST_FAULT")  # space was freed
    assert _readable_after(out, err, cli) == kept
    assert _leftovers(tmp_path) == (["c.parquet"] if kept else [])


def test_output_path_errors_are_one_line_and_create_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.setattr(campaign, "prepare", _never("prepare"))
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = {
        str(afile / "c.parquet"): "Not a directory",  # a parent is a file
        str(tmp_path / ("x" * 252 + ".parquet")): "File name too long",
        str(tmp_path / "sub" / ("y" * 300)): "File name too long",
    }
    for path, needle in cases.items():
        status, _, err = cli("run", *TINY, "-o", path)
        assert status == 1 and needle in _one_line(err), err
    assert _leftovers(tmp_path) == ["afile"]


def test_unwritable_and_unreadable_places_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.setattr(campaign, "prepare", _never("prepare"))
    locked = tmp_path / "ro"
    locked.mkdir()
    if os.geteuid() != 0:  # root ignores modes: the same errors are injected below
        locked.chmod(0o500)
        status, _, err = cli("run", *TINY, "-o", str(locked / "c.parquet"))
        assert status == 1 and "Permission denied" in _one_line(err)
        locked.chmod(0o700)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(locked / "x"))

    with monkeypatch.context() as m:
        m.setattr(store.OutputLock, "_open", refuse)
        status, _, err = cli("run", *TINY, "-o", str(locked / "c.parquet"))
        assert status == 1 and "Permission denied" in _one_line(err)
    with monkeypatch.context() as m:
        m.setattr(pq, "ParquetFile", refuse)  # a file inside an unreadable folder
        status, _, err = cli("report", str(SHIPPED))
        assert status == 1 and "Permission denied" in err and len(err.splitlines()) == 1
    assert _leftovers(locked) == []


def test_report_into_a_closed_pipe_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``hvload report FILE | head``: the reader has gone before the report is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    closed = open(write_end, "w")  # closed after main() has pointed it at /dev/null
    monkeypatch.setattr(sys, "stdout", closed)
    with pytest.raises(SystemExit) as info:
        main(["report", str(_save(tmp_path / "c.parquet"))])
    monkeypatch.undo()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "broken pipe" in err and "Traceback" not in err and len(err.splitlines()) == 1
    closed.close()  # stdout was pointed at /dev/null: the final flush cannot fail


# -- item 2: two runs, recover and report on one live campaign -------------------------------


@timing
@needs_x86
def test_a_second_run_recover_and_report_refuse_a_live_campaign(tmp_path: Path, cli) -> None:
    out = tmp_path / "live.parquet"
    # About 0.1 s per block, 200 blocks: alive for as long as this test needs it.
    cmd = [sys.executable, "-m", "hvload", "run", "--probe", "null", "--levels", "0,0",
           "--rounds", "100", "--samples", "2000", "--warmup", "0", "--probe-rate", "20000",
           "--no-progress", "--seed", "2", "-o", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parts = tmp_path / "live.parquet.parts"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(parts.glob("block-*.parquet")):
            time.sleep(0.05)
        for args in (("run", *TINY, "-o", str(out)), ("recover", str(out)), ("report", str(out))):
            status, _, err = cli(*args)
            line = _one_line(err)
            assert status == 1 and f"PID {proc.pid} on host" in line, err
            assert "since 20" in line
        assert parts.is_dir() and len(list(parts.glob("block-*.parquet"))) >= 1
        with pytest.raises(CampaignBusyError):
            store.recover(out)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    n = int(re.search(r"(\d+) of 200 blocks kept", err).group(1))
    assert n >= 1 and len(store.load(out).blocks) == n
    assert _leftovers(tmp_path) == ["live.parquet"]


def test_the_lock_is_taken_before_anything_is_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    out = tmp_path / "c.parquet"
    monkeypatch.setattr(campaign, "prepare", _never("prepare"))
    with store.claim(out, "hvload run"):
        status, _, err = cli("run", *TINY, "-o", str(out))
    assert status == 1 and f"PID {os.getpid()}" in _one_line(err)
    assert _leftovers(tmp_path) == [], "the lock file goes with its holder"


def test_a_dead_owner_does_not_block(tmp_path: Path) -> None:
    out = tmp_path / "c.parquet"
    code = f"from hvload import store; store.claim({str(out)!r}); import os; os._exit(9)"
    subprocess.run([sys.executable, "-c", code], check=False, timeout=60)
    assert (tmp_path / "c.parquet.lock").exists(), "a killed owner leaves its lock file"
    assert store.live_holder(out) is None
    store.claim(out).release()


# -- item 4: arguments checked before anything is measured or created ------------------------


@timing
@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--quick", "--rounds", "1000000000"], "rounds=1000000000"),
        (["--samples", "1000000000000"], "needs about"),
        (["--exclude", "bogus"], "bogus"),
        (["--probe-rate", "0.01"], "--probe-rate 0.01"),
        (["--probe-rate", "inf"], "--probe-rate inf"),
        (["--probe-rate", "nan"], "--probe-rate nan"),
        (["--probe-rate", "-5"], "--probe-rate -5"),
        (["--levels", ""], "(--levels '') is empty"),
        (["--cpu-levels", ""], "(--cpu-levels '') is empty"),
        (["--load-cpus", ""], "(--load-cpus '') is empty"),
        (["--load-cpus", "100000"], "100000"),
        (["--probe-cpu", "100000"], "--probe-cpu 100000"),
        (["--levels", "0,250"], "(--levels 0,250) is not allowed"),
        (["--samples", "0"], "--samples 0"),
        (["--rounds", "-1"], "--rounds -1"),
        (["--seed", "-1"], "--seed -1"),
        (["-o", ""], "--output '' is empty"),
        (["-o", "  "], "--output '' is empty"),
    ],
)
def test_bad_arguments_fail_before_anything_is_measured_or_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli, args: list[str], needle: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(campaign, "prepare", _never("prepare"))
    t0 = time.monotonic()
    status, _, err = cli("run", "--no-progress", *args)
    assert status == 2 and needle in _one_line(err), err
    assert time.monotonic() - t0 < 5
    assert _leftovers(tmp_path) == [], "nothing is created before the arguments pass"


def test_sizes_that_cannot_fit_are_refused_by_the_api_too(monkeypatch) -> None:
    with pytest.raises(ValueError, match=r"needs about .* of memory"):
        campaign.prepare(quick=True, rounds=10**9)
    monkeypatch.setattr(_verify, "available_memory", lambda: 10_000)
    with pytest.raises(CampaignFileError, match="claims 1,230,000 samples"):
        store.load(SHIPPED)


def _never(name: str) -> Callable[..., None]:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{name} was called: something was measured")

    return fail


# -- item 5: no fixed temporary name; planted links are never followed ----------------------


@needs_x86
def test_planted_links_are_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "c.parquet"
    # The old fixed name, and the first names mkstemp will try (as if guessed).
    (tmp_path / "c.parquet.tmp").symlink_to(victim)
    (tmp_path / ".c.parquet.guessed.tmp").symlink_to(victim)
    real = tempfile._get_candidate_names  # type: ignore[attr-defined]
    # Every mkstemp call tries the planted name first, as if an attacker had guessed it.
    monkeypatch.setattr(
        tempfile, "_get_candidate_names", lambda: itertools.chain(["guessed"], real())
    )
    status, _, err = cli("run", *TINY, "-o", str(out))
    assert status == 0, err
    assert victim.read_text() == "precious" and len(store.load(out).blocks) == BLOCKS
    # A link planted at the lock file stops the run before anything is measured.
    other = tmp_path / "d.parquet"
    (tmp_path / "d.parquet.lock").symlink_to(victim)
    monkeypatch.setattr(campaign, "prepare", _never("prepare"))
    status, _, err = cli("run", *TINY, "-o", str(other))
    assert status == 1 and "symbolic link" in _one_line(err)
    assert victim.read_text() == "precious"


def test_recover_without_parts_is_one_line(tmp_path: Path, cli) -> None:
    status, _, err = cli("recover", str(tmp_path / "none.parquet"))
    assert status == 2 and "no unfinished campaign there" in _one_line(err)
    assert _leftovers(tmp_path) == []


# -- item 6: corruption is detected ---------------------------------------------------------


@pytest.mark.parametrize("path", sorted(DATA.glob("*.parquet")), ids=lambda p: p.stem)
def test_shipped_campaigns_carry_checksums_and_digests(path: Path) -> None:
    camp = store.load(path)  # verifies page checksums, digests and values
    version = camp.metadata["format_version"]
    # The older files were rewritten in format 2; later ones are written with checksums.
    assert version >= 3 or (version == 2 and "rewritten" in camp.metadata)
    assert camp.blocks["sha256"].str.fullmatch("[0-9a-f]{64}").all()
    assert pq.ParquetFile(path).metadata.num_row_groups == len(camp.blocks)


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shipped") / SHIPPED.name
    shutil.copyfile(SHIPPED, path)
    return path


def test_byte_flips_in_data_pages_of_a_shipped_campaign_are_detected(shipped_copy: Path) -> None:
    """Flip one byte at 24 offsets spread over all 780 column chunks of a shipped file."""
    reference = store.load(shipped_copy).samples
    detected, harmless = [], 0
    for offset in flipped_bytes(shipped_copy, 24, seed=10):
        try:
            camp = store.load(shipped_copy)
        except CorruptCampaignError as exc:
            assert str(shipped_copy) in str(exc)
            detected.append(exc)
        else:
            # A header field the reader ignores: the digests prove the values intact.
            assert camp.samples.equals(reference), offset
            harmless += 1
    assert len(detected) + harmless == 24 and len(detected) >= 22
    assert all(exc.block is not None for exc in detected), "each names its block"
    store.load(shipped_copy)  # restored


def test_eight_flipped_bytes_fail_report_naming_the_block(shipped_copy: Path, cli) -> None:
    """The issue's case: 8 bytes inside a 'cycles' data page; report used to exit 0."""
    start, end = chunk_ranges(shipped_copy)[7 + 13 * 17]  # row group 17, column cycles
    middle = (start + end) // 2
    data = bytearray(shipped_copy.read_bytes())
    data[middle : middle + 8] = bytes(b ^ 0x5A for b in data[middle : middle + 8])
    bad = shipped_copy.with_name("flipped.parquet")
    bad.write_bytes(bytes(data))
    status, out, err = cli("report", str(bad))
    assert status == 2 and out == ""
    assert f"{bad}: block 17: column 'cycles' fails its page checksum" in err
    assert "Traceback" not in err
    camp = store.load(bad, verify=False)  # forensics: the damaged file can still be read
    assert len(camp.blocks) == 60


def _synthetic(rounds: int = 2, levels: int = 2, samples: int = 40, warmup: int = 4) -> Campaign:
    """A small synthetic campaign (labelled: made here, not measured)."""
    n = warmup + samples
    rng = np.random.default_rng(5)
    names = [f"{100 * i // max(levels - 1, 1)}%" for i in range(levels)]
    rows, frames, block = [], [], 0
    for rnd in range(rounds):
        for li in rng.permutation(levels):
            rows.append(
                {"campaign": "synthetic01", "round": rnd, "level": names[li],
                 "level_index": int(li), "block": block, "target_rate": None,
                 "achieved_rate": 0.0, "achieved_load": 0.0, "lateness_p99": 0.0}
            )  # fmt: skip
            frames.append(pd.DataFrame({
                "campaign": "synthetic01", "round": np.full(n, rnd, np.int32),
                "level": names[li], "level_index": np.full(n, li, np.int32),
                "block": np.full(n, block, np.int32), "sample": np.arange(n, dtype=np.int64),
                "start": np.arange(n, dtype=np.int64) * 1000,
                "cycles": rng.integers(2000, 3000, n), "response": rng.integers(3000, 4000, n),
                "rax": np.full(n, -1, np.int64), "cpu": np.zeros(n, np.int16),
                "migrated": np.zeros(n, bool), "warmup": np.arange(n) < warmup,
            }))  # fmt: skip
            block += 1
    levels = [{"name": name, "value": i} for i, name in enumerate(names)]
    meta = {"format": "hvload-campaign", "format_version": 2, "campaign": "synthetic01",
            "tsc_hz": 2.0e9, "synthetic": "made by tests/test_faults.py",
            "design": {"rounds": rounds, "samples": samples, "warmup": warmup,
                       "levels": levels}}  # fmt: skip
    return Campaign(pd.concat(frames, ignore_index=True), pd.DataFrame(rows), meta)


def _negative(c: Campaign) -> None:
    c.samples.loc[c.samples["block"] == 2, "cycles"] = -5


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (_negative, "block 2: negative cycles"),
        (lambda c: c.metadata["design"].update(rounds=1), "round 1, but the design has 1"),
        (lambda c: c.metadata["design"].update(samples=41), "44 samples, the design says 45"),
        (lambda c: c.blocks.__setitem__("level", "0%"), "level '0%' (index 1) is not"),
        (lambda c: c.blocks.__setitem__("round", 0), "block 2: round 0 level '100%' repeats"),
    ],
)
def test_value_checks_name_the_file_block_and_problem(
    tmp_path: Path, cli, change: Callable[[Campaign], None], needle: str
) -> None:
    camp = _synthetic()
    change(camp)
    path = tmp_path / "bad.parquet"
    _write_unchecked(camp, path)
    with pytest.raises(CorruptCampaignError) as info:
        store.load(path)
    assert str(path) in str(info.value) and needle in str(info.value)
    status, _, err = cli("report", str(path))
    assert status == 2 and needle in err and len(err.splitlines()) == 1
    assert len(store.load(path, verify=False).blocks) == 4, "forensics: read it anyway"


def _write_unchecked(camp: Campaign, path: Path) -> None:
    """Write ``camp`` with valid checksums and digests, whatever its values."""
    tables, rows = [], []
    for block in camp.blocks.to_dict("records"):
        table, row = _format._block_table(camp.samples[camp.samples["block"] == block["block"]],
                                        block)  # fmt: skip
        tables.append(table)
        rows.append(row)
    _format._write_campaign(path, tables, rows, camp.metadata)


def test_a_changed_value_with_valid_checksums_fails_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    store.save(_synthetic(), path)
    table = pq.read_table(path)
    cycles = table.column("cycles").to_numpy().copy()
    cycles[100] += 1  # a plausible value, as a buggy tool or a bit flip in memory would leave
    changed = table.set_column(table.schema.get_field_index("cycles"), "cycles", pa.array(cycles))
    pq.write_table(changed, path, write_page_checksum=True)
    with pytest.raises(CorruptCampaignError, match="block 2: the samples do not match"):
        store.load(path)


# -- item 7: hostile metadata and sizes ----------------------------------------------------


def _with_footer(src: Path, dst: Path, **replace: bytes) -> Path:
    table = pq.read_table(src)
    meta = dict(table.schema.metadata)
    meta.update({f"hvload.{k}".encode(): v for k, v in replace.items()})
    pq.write_table(table.replace_schema_metadata(meta), dst)
    return dst


@pytest.mark.parametrize(
    ("replace", "needle"),
    [
        ({"metadata": b"[1, 2]"}, "metadata is list, not a JSON object"),
        ({"metadata": b'"text"'}, "metadata is str"),
        ({"metadata": b"{not json"}, "not valid JSON"),
        ({"metadata": b"[" * 100_000 + b"]" * 100_000}, "not valid JSON"),
        ({"blocks": b'{"a": 1}'}, "block table is dict"),
        ({"blocks": b"[1]"}, "a block row is int"),
        ({"blocks": b'[{"campaign": "x"}]'}, "lacks 'round'"),
        ({"blocks": b'[{"campaign": "x", "round": "a", "level": "0%", "level_index": 0, '
                    b'"block": 0}]'}, "round='a'"),
    ],
)  # fmt: skip
def test_hostile_metadata_is_refused_in_one_line(
    tmp_path: Path, cli, replace: dict[str, bytes], needle: str
) -> None:
    src = tmp_path / "good.parquet"
    store.save(_synthetic(), src)
    bad = _with_footer(src, tmp_path / "bad.parquet", **replace)
    with pytest.raises(CampaignFileError, match=re.escape(needle)):
        store.load(bad)
    status, _, err = cli("report", str(bad))
    assert status == 2 and str(bad) in err and len(err.splitlines()) == 1


def test_mistyped_and_missing_columns_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "good.parquet"
    store.save(_synthetic(), src)
    table = pq.read_table(src)
    i = table.schema.get_field_index("cycles")
    as_text = table.set_column(i, "cycles", table.column("cycles").cast(pa.string()))
    pq.write_table(as_text, tmp_path / "text.parquet")
    with pytest.raises(CampaignFileError, match="column 'cycles' is string, not int64"):
        store.load(tmp_path / "text.parquet")
    pq.write_table(table.drop_columns(["rax"]), tmp_path / "norax.parquet")
    with pytest.raises(CampaignFileError, match="lack the column 'rax'"):
        store.load(tmp_path / "norax.parquet")


def test_a_crafted_file_cannot_make_load_allocate(tmp_path: Path) -> None:
    """200k rows sharing one 750 kB text value would be 149 GiB once expanded."""
    n = 200_000
    good = pq.read_table(_save(tmp_path / "good.parquet"))
    big = pa.DictionaryArray.from_arrays(
        np.zeros(n, np.int32), pa.array(["x" * 750_000], pa.large_string())
    )
    # The columns of the file as stored (format 3: ``due`` and ``late`` for start, response).
    columns = {f.name: pa.array(np.zeros(n, dtype=f.type.to_pandas_dtype()))
               for f in store.STORED_SCHEMA if not pa.types.is_large_string(f.type)}  # fmt: skip
    columns["campaign"] = big
    columns["level"] = pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array(["0%"]))
    columns = {c: columns[c] for c in store.STORED_COLUMNS}
    table = pa.table(columns)
    path = tmp_path / "bomb.parquet"
    # Without the Arrow schema the text reads back plain (expanded), as a crafted file would.
    with pq.ParquetWriter(path, table.schema, store_schema=False) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata(good.schema.metadata)
    assert path.stat().st_size < 5_000_000
    with pytest.raises(CampaignFileError, match="750,000 bytes"):
        store.load(path, verify=False)


def _save(path: Path) -> Path:
    store.save(_synthetic(), path)
    return path


# -- recover never deletes what it did not merge --------------------------------------------


@needs_x86
def test_recover_keeps_parts_that_fail_their_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    monkeypatch.setenv("HVLOAD_TEST_FAULT", "final=ENOSPC")
    out = tmp_path / "c.parquet"
    status, _, err = cli("run", *TINY, "-o", str(out))
    assert status == 1 and "4 finished blocks are in" in err
    monkeypatch.delenv("HVLOAD_TEST_FAULT")
    part = tmp_path / "c.parquet.parts" / "block-00001.parquet"
    start, end = chunk_ranges(part)[7]
    data = bytearray(part.read_bytes())
    data[(start + end) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    # A read-back that fails its checks leaves every part, and no unverified file.
    with monkeypatch.context() as m:
        m.setattr(_merge, "load", _corrupt)
        with pytest.raises(CorruptCampaignError):
            store.recover(out)
    assert len(list((tmp_path / "c.parquet.parts").glob("block-*.parquet"))) == BLOCKS
    assert not out.exists()
    status, text, err = cli("recover", str(out))
    assert status == 0 and "recovered 3 of 4 blocks" in text
    assert "block-00001.parquet" in err and "checksum" in err
    assert _leftovers(tmp_path / "c.parquet.parts") == ["block-00001.parquet", "metadata.json"]


def _corrupt(path: object, **kwargs: object) -> Campaign:
    raise CorruptCampaignError(path, None, "injected by the test")


@timing
@needs_x86
def test_a_hard_kill_leaves_parts_that_recover_rebuilds(tmp_path: Path, cli) -> None:
    out = tmp_path / "k.parquet"
    cmd = [sys.executable, "-m", "hvload", "run", *TINY[:4], "--rounds", "100",
           "--samples", "2000", "--warmup", "0", "--probe-rate", "20000", "--no-progress",
           "-o", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = tmp_path / "k.parquet.parts"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(parts.glob("block-*.parquet"))) < 2:
        time.sleep(0.05)
    proc.kill()
    proc.communicate(timeout=60)
    on_disk = len(list(parts.glob("block-*.parquet")))  # each part is whole or absent
    status, _, err = cli("report", str(out))
    assert status == 2 and f"`hvload recover {out}`" in err
    status, text, _ = cli("recover", str(out))
    assert status == 0 and f"recovered {on_disk} of 200 blocks" in text
    assert _leftovers(tmp_path) == ["k.parquet"]
    assert json.loads(json.dumps(store.load(out).metadata))["design"]["rounds"] == 100
