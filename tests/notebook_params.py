"""What the notebook tests share: the notebooks, small parameters, and their injection.

Used by ``test_notebooks.py`` (nbclient, no browser) and ``test_browser.py`` (JupyterLab
in Chromium), so that both run the same small versions of the notebooks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NAMES = (
    "01_platform_and_survey", "02_load_explorer", "03_load_impact", "04_reproduce",
    "05_compare_machines", "06_neighbours",
)  # fmt: skip


def small_parameters(name: str, out: Path, data: Path | None = None) -> dict[str, Any]:
    """Parameters that keep each notebook to seconds (and any measuring to a few blocks).

    Notebook 03 always asks to measure: with measuring disabled it must fall back to
    data/. ``out`` receives what a notebook writes (04's figures, 02's campaigns).
    """
    data_dir = str(data if data is not None else ROOT / "data")
    return {
        "01_platform_and_survey": {"data_dir": data_dir, "probe_samples": 200},
        "02_load_explorer": {
            "data_dir": data_dir, "browse": "amd-epyc-2vcpu-aa-noload.parquet",
            "levels": "0, 100", "samples": 200, "rounds": 2, "run_now": True,
            "runs_dir": str(out / "runs"),
        },
        "03_load_impact": {
            "path": "amd-epyc-2vcpu-default.parquet", "data_dir": data_dir, "measure": True,
            "levels": (0.0, 1.0), "samples": 300, "rounds": 3,
        },
        "04_reproduce": {
            "data_dir": data_dir, "out_dir": str(out),
            "files": ["amd-epyc-2vcpu-aa-noload.parquet"], "show": ("ecdf",),
        },
        "05_compare_machines": {"data_dir": data_dir},
        # Two worker processes of this machine play the neighbours.
        "06_neighbours": {"vm_levels": "0,1,2", "samples": 1000, "rounds": 2},
    }[name]  # fmt: skip


def inject_parameters(nb: Any, values: dict[str, Any]) -> Any:
    """Insert a cell assigning ``values`` right after the cell tagged ``parameters``."""
    index = next(
        i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])
    )
    source = "\n".join(f"{k} = {v!r}" for k, v in values.items())
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["injected-parameters"]
    cell["id"] = "injected-parameters"
    nb.cells.insert(index + 1, cell)
    return nb


def small_copy(name: str, target: Path, values: dict[str, Any], stem: str | None = None) -> Path:
    """Write ``notebooks/<name>.ipynb`` with ``values`` injected to ``target/<stem>.ipynb``."""
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    inject_parameters(nb, values)
    path = target / f"{stem or name}.ipynb"
    nbformat.write(nb, path)
    return path
