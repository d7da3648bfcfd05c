"""The notebooks run headless, small, with measuring and with measuring disabled.

Each notebook's first code cell is tagged ``parameters`` (papermill style); a test injects
a cell right after it that overrides those values, then runs the notebook in a fresh
``python3`` kernel of this interpreter with nbclient. With ``HVLOAD_NO_MEASURE=1`` every
notebook must fall back to the campaigns in ``data/``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from notebook_params import NAMES, NOTEBOOKS, inject_parameters, small_parameters

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("hvload.plots")

#: All the notebooks in one mode must finish within this many seconds together.
BUDGET_S = 300.0


def _measuring_works() -> bool:
    from hvload.notebook import can_measure

    try:
        return can_measure()[0]
    except Exception:  # an unreadable platform is a platform that cannot measure
        return False


def run_notebook(name: str, values: dict[str, Any], timeout: int = 240) -> Any:
    """Execute ``notebooks/<name>.ipynb`` with ``values`` injected; return the executed copy."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    inject_parameters(nb, values)
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=timeout,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )  # fmt: skip
    client.execute()
    return nb


def _text(nb: Any) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(str(out.get("data", {}).get("text/plain", "")))
            parts.append(str(out.get("data", {}).get("text/markdown", "")))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def timings() -> Iterator[dict[tuple[str, str], float]]:
    """Seconds per (mode, notebook); checks each mode's total against the budget at the end."""
    seen: dict[tuple[str, str], float] = {}
    yield seen
    for mode in ("measure", "no-measure"):
        total = sum(t for (m, _), t in seen.items() if m == mode)
        if total:
            sys.stderr.write(f"\nnotebooks, {mode}: {total:.1f} s in all\n")
            assert total < BUDGET_S, f"{mode}: {total:.0f} s for the notebooks, over {BUDGET_S}"


@pytest.fixture(params=["measure", "no-measure"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment the kernel starts with: measuring on (where possible) or off."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    if request.param == "measure":
        monkeypatch.delenv("HVLOAD_NO_MEASURE", raising=False)
        if not _measuring_works():
            pytest.skip("this machine cannot issue any trap")
    else:
        monkeypatch.setenv("HVLOAD_NO_MEASURE", "1")
    return request.param


@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs(
    name: str, mode: str, tmp_path: Path, timings: dict[tuple[str, str], float]
) -> None:
    start = time.perf_counter()
    nb = run_notebook(name, small_parameters(name, tmp_path / "out"))
    timings[(mode, name)] = time.perf_counter() - start
    text = _text(nb)
    if name == "01_platform_and_survey":
        cell = next(c for c in nb.cells if "table_7_1 = survey_table" in c.source)
        counts = cell.outputs[-1]["data"]["text/plain"]
        for verdict, n in (("suitable", 4), ("maybe", 6), ("unsuitable", 16)):
            assert any(line.split() == [verdict, str(n)] for line in counts.splitlines()), counts
        if mode == "no-measure":
            assert "recorded in amd-epyc-2vcpu" in text
        else:
            assert "measured now" in text
    elif name == "02_load_explorer":
        assert f"can measure here: {mode == 'measure'}" in text
        if mode == "measure":
            assert "blocks done: 4 of 4" in text
            assert len(list((tmp_path / "out" / "runs").glob("*.parquet"))) == 1
    elif name == "03_load_impact":
        pngs = [
            o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})
        ]
        assert len(pngs) >= 7, "every figure of the analysis is shown as a PNG"
        if mode == "measure":
            assert "measured now" in text
        else:
            assert "read from amd-epyc-2vcpu-default.parquet" in text
            assert "HVLOAD_NO_MEASURE" in text
    elif name == "06_neighbours":
        if mode == "measure":
            assert "complete: True; 6 blocks" in text
            assert "Load agents (2):" in text and "Remote load per level" in text
            outs = [o for c in nb.cells for o in c.get("outputs", [])]
            assert any("image/png" in o.get("data", {}) for o in outs)
        else:
            assert "Nothing is measured here" in text and "Load agents" not in text
    elif name == "04_reproduce":
        out = tmp_path / "out"
        assert (out / "table_7_1.csv").is_file()
        assert len(list((out / "amd-epyc-2vcpu-aa-noload").glob("*.png"))) >= 7
    else:
        assert "CAVEAT, the probes differ" in text and "vmmcall" in text
        assert "not compared (different level sets)" in text
        assert text.count("block medians identical: True") == 2
        assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell has outputs"
            assert cell.execution_count is None, f"{name}: a code cell has an execution count"
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", []), f"{name}: no parameters cell first"


def test_notebook_set_is_complete() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == sorted(NAMES)


@pytest.mark.parametrize("name", ["02_load_explorer", "03_load_impact"])
def test_notebook_defaults_can_reach_a_verdict(name: str) -> None:
    """The designs a notebook offers to measure can produce slower/faster at all."""
    from hvload import stats
    from hvload.widgets import parse_levels

    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    params: dict[str, Any] = {}
    exec(first.source, {}, params)
    levels = params["levels"]  # percents as text (02) or fractions (03)
    n_levels = len(parse_levels(levels) if isinstance(levels, str) else levels)
    check = stats.check_design(n_levels, params["rounds"])
    assert check.can_decide, check.message


def _defaults(name: str) -> dict[str, Any]:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    params: dict[str, Any] = {}
    exec(first.source, {}, params)
    return params


def test_neighbours_defaults_leave_rounds_to_spare() -> None:
    """06's design reaches a verdict even when a few rounds each lose a block."""
    from hvload import stats

    params = _defaults("06_neighbours")
    n_levels = len(params["vm_levels"].split(","))
    check = stats.check_design(n_levels, params["rounds"] - 3)
    assert check.can_decide, check.message


def test_neighbours_defaults_reach_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    """06 as a new user runs it (defaults, neighbours on this machine): a verdict word.

    On a machine too busy for the agents' load to cover the probe, blocks are left out
    and each costs its round; the notebook must then say why there is no verdict.
    """
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("HVLOAD_NO_MEASURE", raising=False)
    if not _measuring_works():
        pytest.skip("this machine cannot issue any trap")
    start = time.perf_counter()
    text = _text(run_notebook("06_neighbours", {}))
    elapsed = time.perf_counter() - start
    assert "can reach a verdict: 8 complete rounds are needed" in text
    line = next(x for x in text.splitlines() if x.startswith("verdicts: "))
    words = {part.rsplit(": ", 1)[1] for part in line[len("verdicts: ") :].split("; ")}
    if words <= {"not enough data"}:
        assert "No verdict:" in text and "rounds" in text, line
    else:
        assert words & {"slower", "faster", "negligible", "inconclusive", "no evidence"}
    assert elapsed < 120, f"06 with its defaults took {elapsed:.0f} s"
