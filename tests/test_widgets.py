"""The explorer and browser widgets, driven the way a notebook user drives them: by values.

No browser or kernel is involved: setting ``widget.value`` fires the same observers a
front end would, and ``Button.click()`` the same handlers.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("hvload.plots")

import hvload
from hvload import widgets
from hvload.errors import MeasurementError
from hvload.notebook import can_measure
from hvload.widgets import _session

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
DEFAULT = DATA / "amd-epyc-2vcpu-default.parquet"


@pytest.fixture(autouse=True)
def _headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.fixture
def no_measure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HVLOAD_NO_MEASURE", "1")


@pytest.fixture
def measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HVLOAD_NO_MEASURE", raising=False)
    if not can_measure()[0]:
        pytest.skip("this machine cannot issue any trap")


@pytest.fixture(scope="module")
def browser() -> widgets.Browser:
    return widgets.Browser(DEFAULT)


def _has_png(output: object) -> bool:
    return any("image/png" in o.get("data", {}) for o in output.outputs)  # type: ignore[attr-defined]


def test_parse_levels() -> None:
    assert widgets.parse_levels("0, 50 100") == (0.0, 0.5, 1.0)
    assert widgets.parse_levels([0, 25]) == (0.0, 0.25)
    for bad in ("", "0, x", "150", "-1"):
        with pytest.raises(ValueError, match="level"):
            widgets.parse_levels(bad)


def test_browser_threshold_slider_changes_verdicts(browser: widgets.Browser) -> None:
    browser.levels.value = tuple(browser.levels.options)
    browser.threshold.value = 1.0
    # The shipped default campaign: 75 % is 4.5 % [2.3, 6.8] slower than 0 % (Holm p = 0.034).
    assert browser.baseline_verdicts()["75%"] == "slower"
    assert "slower" in browser.table.value
    browser.threshold.value = 5.0
    assert browser.analysis is not None
    assert browser.analysis.settings["threshold"] == pytest.approx(0.05)
    # Significant, but whether it reaches 5 % the interval cannot tell.
    assert browser.baseline_verdicts()["75%"] == "inconclusive"
    browser.threshold.value = 10.0
    # The whole interval lies inside 10 %.
    assert browser.baseline_verdicts()["75%"] == "negligible"
    assert "negligible" in browser.table.value
    browser.set_threshold(0.01)
    assert browser.threshold.value == pytest.approx(1.0)
    assert browser.baseline_verdicts()["75%"] == "slower"


def test_browser_levels_choose_the_comparisons(browser: widgets.Browser) -> None:
    browser.levels.value = ("0%", "100%")
    assert set(browser.verdicts["level"]) == {"100%"}
    assert set(browser.verdicts["reference"]) == {"0%"}
    assert "100% vs 0%" in browser.table.value
    browser.set_levels(("50%",))
    assert browser.verdicts.empty
    assert "No comparisons" in browser.table.value
    browser.levels.value = ()
    assert browser.analysis is None
    assert "at least one level" in browser.table.value
    browser.levels.value = tuple(browser.levels.options)
    assert len(browser.verdicts) == 14


def test_browser_figure_dropdown_draws_each_figure(browser: widgets.Browser) -> None:
    from hvload import plots

    assert list(browser.figure.options) == list(plots.FIGURES)
    for name in plots.FIGURES:
        browser.figure.value = name
        if name == "attribution":  # this campaign has no controls: one line, no empty frame
            (out,) = browser.output.outputs
            assert "measured no control probes" in out["text"] and not _has_png(browser.output)
            continue
        assert _has_png(browser.output), name
    browser.set_figure("ecdf")
    assert browser.figure.value == "ecdf"


def test_browser_from_a_bare_file_name() -> None:
    b = widgets.Browser("amd-epyc-2vcpu-aa-noload.parquet", data_dir=DATA, threshold=0.02)
    assert b.threshold.value == pytest.approx(2.0)
    assert len(b.levels.options) == 5
    assert set(b.baseline_verdicts().values()) <= {"no evidence", "negligible"}


def test_explorer_disabled_without_measuring(no_measure: None) -> None:
    e = widgets.Explorer(DATA)
    assert not e.can_measure
    assert e.run_button.disabled
    assert "HVLOAD_NO_MEASURE" in e.reason.value
    assert "HVLOAD_NO_MEASURE" in e.run_button.tooltip
    assert e.probe.options == () and e.probe.disabled
    assert "HVLOAD_NO_MEASURE" in e.notes.value
    names = [label for label, _ in e.files.options]
    assert names == sorted(p.name for p in DATA.glob("*.parquet"))
    # It opened the first stored campaign on its own.
    assert e.campaign is not None and e.campaign.path is not None
    assert e.campaign.path.name == names[0]
    assert "<table" in e.table.value and _has_png(e.output)
    with pytest.raises(MeasurementError, match="HVLOAD_NO_MEASURE"):
        e.run()
    e.run_button.click()  # a click is refused quietly, the reason stays visible
    assert e.progress.value == 0


def test_explorer_opens_and_scans(no_measure: None, tmp_path: Path) -> None:
    e = widgets.Explorer(DATA, open_first=False)
    assert e.campaign is None
    e.files.value = str(DEFAULT)
    e.open_button.click()
    assert e.campaign is not None and e.campaign.path == DEFAULT
    assert "75% vs 0%" in e.table.value
    e.figure.value = "timeline"
    assert _has_png(e.output)
    # An empty directory leaves nothing to open; the status says so.
    assert e.scan(tmp_path) == []
    assert "0 campaign file(s)" in e.status.value
    e.open_button.click()
    assert "no campaign file chosen" in e.status.value


def test_explorer_runs_a_tiny_campaign(measuring: None, tmp_path: Path) -> None:
    e = widgets.Explorer(
        DATA, samples=200, rounds=2, levels="0, 100", open_first=False, runs_dir=tmp_path
    )
    assert e.can_measure and not e.run_button.disabled and e.stop_button.disabled
    assert e.probe.value in e.choices
    camp = e.run()
    assert camp is not None and camp.path == e.path and camp.path.parent == tmp_path
    assert e.progress.max == 4 and e.progress.value == 4
    assert "finished" in e.status.value and str(camp.path) in e.status.value
    assert set(camp.samples["level"]) == {"0%", "100%"}
    assert len(hvload.load(camp.path).blocks) == 4
    assert "100% vs 0%" in e.table.value and "Live" not in e.table.value
    assert _has_png(e.output)
    # The Run button runs with the controls' values, in the background.
    e.levels.value = "0, 50"
    e.run_button.click()
    assert e.running and e.run_button.disabled and not e.stop_button.disabled
    assert e.levels.disabled and e.rounds.disabled and e.open_button.disabled
    assert not e.figure.disabled and not e.threshold.disabled and not e.shown.disabled
    second = e.wait(120)
    assert second is not None and e.whole is second
    assert set(second.samples["level"]) == {"0%", "50%"}
    assert e.progress.value == e.progress.max == 4
    assert not e.running and not e.run_button.disabled and e.stop_button.disabled
    assert not e.levels.disabled and not e.open_button.disabled
    assert len(list(tmp_path.glob("*.parquet"))) == 2


def test_explorer_double_click_measures_one_campaign(measuring: None, tmp_path: Path) -> None:
    e = widgets.Explorer(
        DATA, samples=100, rounds=1, levels="0, 100", open_first=False, runs_dir=tmp_path
    )
    e.live.value = False  # no redraw between blocks: the view shows the end only
    e.run_button.click()
    e.run_button.click()  # the second click arrives before the first run has ended
    assert e.wait(120) is not None
    assert "Live" not in e.table.value and "100% vs 0%" in e.table.value
    files = list(tmp_path.glob("*.parquet"))
    assert len(files) == 1 and len(hvload.load(files[0]).blocks) == 2


def test_explorer_stop_keeps_the_finished_blocks(measuring: None, tmp_path: Path) -> None:
    e = widgets.Explorer(
        DATA, samples=2000, rounds=200, levels="0, 100", open_first=False, runs_dir=tmp_path
    )
    e.start()
    deadline = time.monotonic() + 60
    while e.progress.value < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert e.progress.value >= 3, "the run did not advance"
    # The live view follows the finished blocks; the view controls work meanwhile.
    assert e.whole is not None and "Live" in e.table.value
    e.figure.value = "timeline"
    assert _has_png(e.output)
    e.threshold.value = 5.0
    assert e.analysis is not None and e.analysis.settings["threshold"] == pytest.approx(0.05)
    stopped_at = time.monotonic()
    e.stop()
    camp = e.wait(30)
    assert time.monotonic() - stopped_at < 5
    assert camp is not None and camp.path is not None
    done = len(camp.blocks)
    assert 3 <= done < 400 and e.progress.value == done
    assert f"stopped</b> after {done} of 400 blocks" in e.status.value
    back = hvload.load(camp.path)
    assert len(back.blocks) == done and f"{done} of 400 blocks" in back.metadata["stopped"]
    assert "Live" not in e.table.value and not e.running and not e.run_button.disabled
    # Too few rounds is put down to the stop, not to the design (200 rounds could decide).
    assert "This design cannot" not in e.table.value
    if done < 2 * 7:
        assert "Too few rounds for a verdict</b>: the run was stopped" in e.table.value


def test_explorer_says_how_many_rounds_a_design_needs(no_measure: None) -> None:
    from hvload import stats

    e = widgets.Explorer(DATA, open_first=False)
    levels = widgets.parse_levels(e.levels.value)
    # The defaults can reach a verdict: nothing to warn about.
    assert stats.check_design(len(levels), int(e.rounds.value)).can_decide
    assert e.design_note.value == "" and e.fix_rounds.layout.display == "none"
    e.levels.value = "0, 25, 50, 75, 100"
    e.rounds.value = 4
    need = stats.check_design(5, 4).rounds_needed
    assert "No verdict possible" in e.design_note.value and f"{need} rounds" in e.design_note.value
    assert e.fix_rounds.layout.display != "none"
    e.fix_rounds.click()
    assert e.rounds.value == need and e.design_note.value == ""


def test_explorer_reports_bad_levels(measuring: None) -> None:
    e = widgets.Explorer(DATA, open_first=False)
    e.levels.value = "0, lots"
    e.run_button.click()
    # CampaignSpec refuses it: a SpecError (a ValueError) naming the option and the value.
    assert "SpecError" in e.status.value and "lots" in e.status.value
    assert "--levels" in e.status.value


class _Recorder:
    """A listener of a run that records what it is told (no widgets)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.idle = threading.Event()
        self.idle.set()

    def on_status(self, text: str) -> None:
        self.calls.append(("status", text))

    def on_progress(self, **kwargs: object) -> None:
        self.calls.append(("progress", kwargs))

    def design_notes(self) -> list[str]:
        return ["a design note"]

    def wants_live(self) -> bool:
        return False

    def view_idle(self) -> threading.Event:
        return self.idle

    def on_follow(self, session: object) -> None:
        self.calls.append(("follow", session))

    def on_campaign(self, campaign: object, **kwargs: object) -> None:
        self.calls.append(("campaign", campaign))

    def on_live_failed(self, exc: Exception) -> None:
        self.calls.append(("live failed", exc))

    def on_end(self, session: _session.Session) -> None:
        self.calls.append(("end", session.done.is_set()))


class _Lock:
    released = False

    def release(self) -> None:
        self.released = True


def test_session_stops_between_blocks_without_widgets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The background run alone: a fake plan of 3 blocks, stopped after the first."""
    design = SimpleNamespace(
        blocks=3, levels=[SimpleNamespace(name="0%"), SimpleNamespace(name="100%")],
        rounds=2, samples=10, seed=7,
    )  # fmt: skip
    kept = SimpleNamespace(blocks=[{}], path=tmp_path / "c.parquet")

    class Plan:
        notes: ClassVar[list[str]] = []
        metadata: ClassVar[dict[str, object]] = {}

        def __init__(self) -> None:
            self.design = design

        def run(self, path: Path, *, progress: Any, lock: Any, stop: threading.Event) -> Any:
            assert path == tmp_path / "c.parquet" and not stop.is_set()
            progress(SimpleNamespace())
            session.stop()
            assert not session.stop(), "asked once"
            assert stop.is_set()
            return kept

    monkeypatch.setattr("hvload.campaign.prepare", lambda **request: Plan())
    listener, lock = _Recorder(), _Lock()
    session = _session.Session({"seed": 7}, tmp_path / "c.parquet", lock, listener)
    session.start().join(30)
    assert session.wait(0) is kept and session.error is None and lock.released
    calls = listener.calls
    assert calls[0] == ("progress", {"maximum": 3})
    assert calls[1][0] == "status" and "a design note" in str(calls[1][1])
    assert calls[2] == ("follow", session)
    assert calls[3][0] == "progress" and calls[3][1]["value"] == 1  # type: ignore[index]
    assert calls[4] == ("follow", None)
    assert ("progress", {"style": "warning"}) in calls
    assert any(k == "status" and "stopped</b> after 1 of 3 blocks" in str(v) for k, v in calls)
    assert calls[-2] == ("campaign", kept) and calls[-1] == ("end", False)


def test_session_says_what_failed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def prepare(**request: object) -> None:
        raise ValueError("no such trap")

    monkeypatch.setattr("hvload.campaign.prepare", prepare)
    listener, lock = _Recorder(), _Lock()
    session = _session.Session({}, tmp_path / "c.parquet", lock, listener)
    session.start().join(30)
    with pytest.raises(ValueError, match="no such trap"):
        session.wait(0)
    status = [str(v) for k, v in listener.calls if k == "status"]
    assert "ValueError" in status[-1] and "nothing was written" in status[-1]
    assert ("progress", {"style": "danger"}) in listener.calls and lock.released
    assert listener.calls[-1] == ("end", False)
