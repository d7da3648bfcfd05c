"""The Compare widget and the run list, driven by values as a notebook user drives them.

The Compare widget must show `hvload compare`'s own numbers (the same comparisons and
verdicts as its JSON for the same pair of shipped campaigns), keep its table in step
with its threshold box, say a file it cannot compare in one line and stay usable; its
figures must be legible at the size the dashboard shows them (the checks of
test_figure_layout.py). The run list describes every campaign file from its footer and
keeps the names given to campaigns beside them, never in them.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

pytest.importorskip("ipywidgets")

from byteflip import flipped_bytes
from test_figure_layout import MIN_TEXT_PX, _render, _shown_tick_labels, _texts

from hvload import widgets
from hvload.plots.compare import compare_ecdf
from hvload.widgets import _runs
from hvload.widgets._hover import MAX_POINTS, _number, hover_points

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
AMD = "amd-epyc-2vcpu-default.parquet"
INTEL = "intel-xeon-16vcpu-cpu-levels.parquet"
VERDICTS = {"slower", "faster", "negligible", "inconclusive", "no evidence", "not enough data"}
CLI = Callable[..., tuple[int, str, str]]


@pytest.fixture(autouse=True)
def _headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.fixture(scope="module")
def pair() -> widgets.Compare:
    """The shipped AMD default campaign (baseline) against the Intel CPU-levels one."""
    return widgets.Compare(DATA, baseline=AMD, candidate=INTEL)


def test_compare_shows_hvload_compares_own_result(pair: widgets.Compare, cli: CLI) -> None:
    status, out, err = cli("compare", str(DATA / AMD), str(DATA / INTEL), "--json")
    assert status == 0, err
    doc = json.loads(out)
    assert pair.error == "" and pair.result is not None
    assert pair.result.reference == doc["reference"] == "amd-epyc-2vcpu-default"
    mine = pair.changes
    theirs = doc["comparisons"]
    assert len(mine) == len(theirs) == 2  # 'no load' (0 % / 0 CPUs), median and p99
    for row, want in zip(mine.to_dict("records"), theirs, strict=True):
        assert (row["level"], row["on"], row["verdict"]) == (
            want["level"], want["on"], want["verdict"],
        )  # fmt: skip
        for key in ("relative_change", "relative_change_low", "relative_change_high",
                    "pvalue_adjusted"):  # fmt: skip
            assert row[key] == pytest.approx(want[key], rel=1e-12), key
    # The page shows the same: both roles named, every verdict word, each change in %,
    # and the caveat that the probes differ (vmmcall against vmcall).
    table = pair.table.value
    assert "(candidate)" in table and "(baseline)" in table
    for want in theirs:
        assert f"<b>{want['verdict']}</b>" in table
        assert f"{100 * want['relative_change']:+.2f}" in table
    assert "CAVEAT, the probes differ" in table
    assert any("image/png" in o.get("data", {}) for o in pair.output.outputs)


def test_threshold_box_and_table_agree(pair: widgets.Compare) -> None:
    pair.threshold.value = 5.0
    try:
        assert pair.result is not None and pair.result.config.threshold == pytest.approx(0.05)
        assert "Practical threshold 5.00&nbsp;%" in pair.table.value
    finally:
        pair.threshold.value = 1.0
    assert "Practical threshold 1.00&nbsp;%" in pair.table.value


def _legible(fig: object, what: str) -> None:
    """test_figure_layout's checks: every label inside the figure, none under 9 px, and
    two labelled ticks on every log axis."""
    renderer = _render(fig)  # type: ignore[arg-type]
    page = fig.bbox.padded(1.0)  # type: ignore[attr-defined]
    for text in _texts(fig):  # type: ignore[arg-type]
        box = text.get_window_extent(renderer)
        assert page.containsx(box.x0) and page.containsx(box.x1), (what, text.get_text())
        assert page.containsy(box.y0) and page.containsy(box.y1), (what, text.get_text())
        assert text.get_fontsize() * 90 / 72 >= MIN_TEXT_PX, (what, text.get_text())
    for ax in fig.axes:  # type: ignore[attr-defined]
        for which in ("x", "y"):
            if (ax.get_xscale() if which == "x" else ax.get_yscale()) == "log":
                assert len(_shown_tick_labels(ax, which, renderer)) >= 2, (what, which)


def test_both_figures_drawn_and_legible(pair: widgets.Compare) -> None:
    assert pair.result is not None and pair._pair is not None
    _legible(pair.result.figure(figsize=(8.0, 6.2)), "levels")
    pair.figure.value = "ecdf"
    try:
        outputs = pair.output.outputs
        assert any("image/png" in o.get("data", {}) for o in outputs), outputs
        groups = list(pair.result.groups["group"])
        campaigns = {g: pair._loaded(p) for g, p in zip(groups, pair._pair, strict=True)}
        fig = compare_ecdf(pair.result, campaigns, figsize=(8.0, 5.0))
        labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert labels == [f"no load · {g} (n=" + labels[i].split("(n=")[1]
                          for i, g in enumerate(groups)]  # fmt: skip
        _legible(fig, "ecdf")
    finally:
        pair.figure.value = "levels"


def test_figures_show_their_values_on_hover(pair: widgets.Compare) -> None:
    """The levels figure's hover points say the comparison's own numbers: each group's
    typical block median and p99 per level with its interval, named by level although
    the groups' points sit beside the level's tick; the ECDF overlay's lines get points."""
    assert pair.result is not None
    result = pair.result
    fig = result.figure(figsize=(8.0, 6.2))
    fig.set_dpi(90)
    texts = [t for _, _, t in hover_points(fig)]
    rows = [r for r in result.levels.itertuples(index=False) if math.isfinite(r.median)]
    assert len(texts) == 2 * len(rows) > 0
    for r in rows:
        for on in ("median", "p99"):
            low, high = getattr(r, f"{on}_ci_low"), getattr(r, f"{on}_ci_high")
            wanted = (
                f"{r.group}\nload level: {r.level}\ntypical block {on} ({result.unit}): "
                f"{_number(getattr(r, on))} [{_number(low)}, {_number(high)}]"
            )
            assert texts.count(wanted) == 1, (wanted, texts)
    # What the widget sends: the PNG with those points over it.
    html_out = [o["data"]["text/html"] for o in pair.output.outputs if "data" in o]
    assert html_out and html_out[0].count("<circle ") == len(texts)
    pair.figure.value = "ecdf"
    try:
        page = next(o["data"]["text/html"] for o in pair.output.outputs if "data" in o)
        titles = re.findall(r"<title>([^<]*)</title>", page)
        lines = {t.split("\n")[0] for t in titles}
        assert len(lines) == 2 and all(t.startswith("no load · ") for t in lines)
        assert all(sum(t.startswith(line + "\n") for t in titles) <= MAX_POINTS for line in lines)
        assert all("\nlatency (ns): " in t for t in titles), titles[:2]
    finally:
        pair.figure.value = "levels"


def _one_line(c: widgets.Compare, *words: str) -> None:
    assert c.result is None and c.table.value == ""
    assert "\n" not in c.error and all(w in c.error for w in words), c.error
    assert c.error.split(":")[0] in c.status.value
    assert not c.button.disabled


def test_files_that_cannot_be_compared_are_one_line(tmp_path: Path) -> None:
    shutil.copy(DATA / AMD, tmp_path / "amd.parquet")
    (tmp_path / "notes.parquet").write_text("not a campaign\n")
    c = widgets.Compare(tmp_path, root=tmp_path)
    assert [label for label, _ in c.baseline.options] == ["amd.parquet", "notes.parquet"]
    c.compare("amd.parquet", "notes.parquet")
    _one_line(c, "CampaignFileError", "notes.parquet")
    c.compare("amd.parquet", "amd.parquet")
    _one_line(c, "same file")
    c.compare("amd.parquet", "../outside.parquet")
    _one_line(c, "OutsideError", "'..' is not allowed")
    shutil.copy(DATA / AMD, tmp_path / "copy.parquet")
    c.compare("amd.parquet", "copy.parquet")  # one campaign in two files
    _one_line(c, "CampaignFileError", "in two files")
    damaged = tmp_path / "damaged.parquet"
    shutil.copy(DATA / INTEL, damaged)
    for _ in flipped_bytes(damaged, 1, seed=3):  # one byte of a data page inverted
        c.compare("amd.parquet", "damaged.parquet")
        _one_line(c, "CorruptCampaignError", "damaged.parquet")


def test_run_list_describes_each_file_and_keeps_names_beside_them(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    shutil.copy(DATA / AMD, tmp_path / AMD)
    shutil.copy(DATA / INTEL, runs / INTEL)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    digest = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.rglob("*.parquet")
    }
    r = widgets.RunList(tmp_path, root=tmp_path)
    table = r.table.set_index("file")
    assert list(table.index) == [AMD, "broken.parquet", f"runs/{INTEL}"]
    amd, intel = table.loc[AMD], table.loc[f"runs/{INTEL}"]
    assert (amd["probe"], amd["levels"], amd["rounds"], amd["blocks"], amd["status"]) == (
        "hypercall/vmmcall", "0%, 25%, 50%, 75%, 100%", "12 / 12", "60 / 60", "complete",
    )  # fmt: skip
    assert amd["date"] == "2026-11-26 04:18 UTC" and amd["name"] == "amd-epyc-2vcpu-default"
    assert (intel["probe"], intel["rounds"], intel["status"]) == (
        "hypercall/vmcall", "10 / 10", "complete",
    )  # fmt: skip
    broken = table.loc["broken.parquet"]
    assert broken["status"] == "unreadable" and "\n" not in broken["error"]
    assert "broken.parquet" in broken["error"]
    for text in ("amd-epyc-2vcpu-default", f"runs/{INTEL}", "complete", "unreadable"):
        assert text in r.html.value

    # A name of one's own: kept in the sidecar by campaign id, shown in bold.
    r.chooser.value = amd["campaign"]
    r.name.value = "AMD <baseline> & co"
    r.save.click()
    assert "AMD &lt;baseline&gt; &amp; co" in r.html.value
    assert "<b>AMD &lt;baseline&gt; &amp; co</b>" in r.html.value
    sidecar = json.loads((tmp_path / _runs.NAMES_FILE).read_text())
    assert sidecar == {"names": {amd["campaign"]: "AMD <baseline> & co"}}
    again = widgets.RunList(tmp_path, root=tmp_path)
    assert again.table.set_index("file").loc[AMD, "name"] == "AMD <baseline> & co"
    # Refused names are one line and change nothing.
    for bad, word in (("x" * (_runs.MAX_NAME + 1), "at most"), ("a\x07b", "control")):
        r.rename(amd["campaign"], bad)
        assert word in r.status.value and "ValueError" in r.status.value
    assert json.loads((tmp_path / _runs.NAMES_FILE).read_text()) == sidecar
    r.rename(amd["campaign"], "")
    assert r.table.set_index("file").loc[AMD, "name"] == "amd-epyc-2vcpu-default"
    # The campaign files themselves were never written.
    after = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.rglob("*.parquet")
    }
    assert after == digest


def test_names_file_that_leads_out_is_refused(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    shutil.copy(DATA / AMD, data / AMD)
    (data / _runs.NAMES_FILE).symlink_to(outside / "names.json")
    r = widgets.RunList(data, root=data)
    r.rename(r.chooser.value, "mine")
    assert "OutsideError" in r.status.value
    assert not (outside / "names.json").exists()


def test_status_says_stopped_and_incomplete() -> None:
    assert _runs._status({}, 60, 60) == "complete"
    assert _runs._status({"stopped": "stop requested: 7 of 60 blocks measured"}, 7, 60) == (
        "stopped (stop requested: 7 of 60 blocks measured)"
    )
    assert _runs._status({}, 7, 60) == "incomplete (7 of 60 blocks)"


def test_confined_to_the_data_folder(tmp_path: Path) -> None:
    """Confined to a folder (the dashboard's ``--data``), the run list and the comparison
    offer only files inside it: a link leading out is neither listed nor compared."""
    data, outside = tmp_path / "data", tmp_path / "outside"
    data.mkdir()
    outside.mkdir()
    shutil.copy(DATA / AMD, data / "inside.parquet")
    shutil.copy(DATA / INTEL, outside / "secret.parquet")
    (data / "link.parquet").symlink_to(outside / "secret.parquet")
    runs = widgets.RunList(data, root=data)
    assert list(runs.table["file"]) == ["inside.parquet"]
    assert "secret" not in runs.html.value
    c = widgets.Compare(data, root=data)
    assert [name for name, _ in c.baseline.options] == ["inside.parquet"]
    c.compare("inside.parquet", "link.parquet")
    _one_line(c, "OutsideError", "outside the data folder")
    c.compare("inside.parquet", str(outside / "secret.parquet"))
    _one_line(c, "OutsideError", "outside the data folder")


def test_a_folder_grouped_by_a_column(tmp_path: Path, cli: CLI) -> None:
    """`compare` set to a column: every campaign of the folder, grouped as
    `hvload compare FOLDER --by COLUMN` groups them, the baseline's group the reference."""
    for name in (AMD, "amd-epyc-2vcpu-aa-noload.parquet", INTEL):
        shutil.copy(DATA / name, tmp_path / name)
    status, out, err = cli("compare", str(tmp_path), "--by", "cpu_brand", "--json")
    assert status == 0, err
    doc = json.loads(out)
    c = widgets.Compare(tmp_path, root=tmp_path)
    c.by.value = "cpu_brand"
    assert c.candidate.disabled
    c.baseline.value = str(tmp_path / AMD)
    result = c.compare()
    assert result is not None, c.error
    assert result.reference == doc["reference"] == "AMD EPYC"
    groups = result.groups.set_index("group")["n_campaigns"].to_dict()
    assert groups == {"AMD EPYC": 2, "Intel(R) Xeon(R) Processor": 1}
    mine = c.changes.to_dict("records")
    assert len(mine) == len(doc["comparisons"]) > 0
    for row, want in zip(mine, doc["comparisons"], strict=True):
        assert (row["level"], row["on"], row["verdict"]) == (
            want["level"], want["on"], want["verdict"],
        )  # fmt: skip
        assert row["pvalue_adjusted"] == pytest.approx(want["pvalue_adjusted"], rel=1e-12)
    assert "grouped by <b>cpu_brand</b>" in c.status.value
    assert "against the baseline's group <b>AMD EPYC</b>" in c.status.value
    c.figure.value = "ecdf"  # drawn for two files only: said in one line
    assert "drawn for two files" in c.output.outputs[0]["text"]
