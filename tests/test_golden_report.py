"""``hvload report --json`` of every MEASURED campaign in ``data/`` stays byte for byte.

``tests/data/golden_report/*.json`` are the reports as hvload printed them before the
package restructuring. None of these files has a block flagged ``load_ok = False``, so
the block policy leaves nothing out and the output must not change at all; the report
every other entry point shows (:class:`hvload.report.CampaignReport`) must be the same
JSON. Each file also still loads with :func:`hvload.store.load`, and the old module paths
of :data:`hvload._compat.MOVED` still import, with a DeprecationWarning naming the new
one.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import hvload
from hvload import store
from hvload._compat import MOVED
from hvload.report import CampaignReport

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
GOLDEN = ROOT / "tests" / "data" / "golden_report"
FILES = sorted(DATA.glob("*.parquet"))

Cli = Callable[..., tuple[int, str, str]]


def test_every_data_file_has_its_golden_report() -> None:
    assert FILES, "no campaign files in data/"
    assert [f.stem for f in FILES] == sorted(g.stem for g in GOLDEN.glob("*.json"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_report_json_is_byte_identical(cli: Cli, path: Path) -> None:
    golden = (GOLDEN / f"{path.stem}.json").read_text()
    code, out, err = cli("report", str(path), "--json")
    assert code == 0, err
    assert out == golden
    camp = store.load(path)
    report = CampaignReport.build(camp)
    flagged = int(camp.blocks["load_ok"].eq(False).sum()) if "load_ok" in camp.blocks else 0
    # The files measured before the block policy have no flagged block; a campaign of
    # kernel-mediated load may (its golden copy was taken with the policy in force).
    assert len(report.left_out) == flagged
    assert (report.used is camp) == (flagged == 0)
    assert json.dumps(report.to_dict(), indent=2) + "\n" == golden


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_module_path_is_the_new_module_with_a_warning(
    old: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = importlib.import_module(f"hvload.{MOVED[old]}")
    # As on a first import: the alias is executed again, and warns again.
    monkeypatch.delitem(sys.modules, f"hvload.{old}", raising=False)
    monkeypatch.delattr(hvload, old, raising=False)
    with pytest.warns(DeprecationWarning, match=f"hvload.{MOVED[old]}"):
        module = importlib.import_module(f"hvload.{old}")
    assert module is new


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_each_file_loads_under_the_new_paths_and_an_old_path_warns() -> None:
    files = [str(f) for f in FILES]
    new = _python(
        "import hvload.store, hvload.datasets.compare, hvload.measure.machine\n"
        f"for f in {files!r}:\n"
        "    assert len(hvload.store.load(f).blocks) > 0, f\n"
    )
    assert new.returncode == 0, new.stderr
    old = _python(
        f"import hvload.machine, hvload.store\nfor f in {files!r}:\n    hvload.store.load(f)\n"
    )
    assert old.returncode != 0
    assert "DeprecationWarning: hvload.machine moved to hvload.measure.machine" in old.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_file_loads_under_an_old_import_path(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("duckdb")
    monkeypatch.delitem(sys.modules, "hvload.comparison", raising=False)
    monkeypatch.delattr(hvload, "comparison", raising=False)
    with pytest.warns(DeprecationWarning, match="hvload.datasets.compare"):
        import hvload.comparison as comparison
    ds = comparison.dataset(path)
    camp = store.load(path)
    assert ds.campaigns["n_blocks"].tolist() == [len(camp.blocks)]
    assert ds.campaigns["campaign"].tolist() == [camp.metadata["campaign"]]
