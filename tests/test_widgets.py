"""The explorer and browser widgets, driven the way a notebook user drives them: by values.

No browser or kernel is involved: setting ``widget.value`` fires the same observers a
front end would, and ``Button.click()`` the same handlers.
"""

from __future__ import annotations

import re
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


# -- the view explains itself and follows its controls (issue 23) ---------------------------


def test_comparison_table_explains_headers_verdicts_and_adjustment() -> None:
    """Every header and verdict word has its explanation on hover, and where a row's
    unadjusted interval excludes 0 beside an adjusted p that does not reach alpha, a
    dagger and a sentence say which is which (the Intel controls campaign has such rows:
    2 CPUs vs 0 CPUs on the median, interval +0.15 .. +2.0 %, Holm p 0.09)."""
    import re

    from hvload.stats import DEFAULT as CONFIG
    from hvload.stats import analyze
    from hvload.widgets._html import HEADER_HELP, VERDICT_HELP

    campaign = hvload.load(DATA / "intel-xeon-16vcpu-controls.parquet")
    shown = widgets.comparisons_html(analyze(campaign, CONFIG.replace(n_sim=0)), unit="ns")
    found = re.findall(r'<th><abbr title="([^"]+)">([^<]+)</abbr></th>', shown)
    titles = {text: title for title, text in found}
    for name in ("CLES", "p (adj.)", "change (%)", "95% CI (%)", "on", "verdict"):
        assert titles.get(name), f"no tooltip on {name}: {sorted(titles)}"
    assert "probability" in titles["CLES"] and "Holm" in titles["p (adj.)"]
    assert "NOT adjusted" in titles["95% CI (%)"]
    assert 'title="Hodges-Lehmann estimate' in shown
    assert "not the level p99" in titles["on"]
    assert re.search(r'<abbr title="[^"]*not the level p99[^"]*">typical-block p99</abbr>', shown)
    verdicts = re.findall(r'class="hvload-verdict"[^>]*title="([^"]+)"><b>([^<]+)', shown)
    for title, verdict in verdicts:
        assert title.startswith(VERDICT_HELP[verdict][:30]), (verdict, title)
    rows = re.findall(r"<tr>(.*?)</tr>", shown)
    dagger = [r for r in rows if "&dagger;" in r]
    assert any("2 CPUs vs 0 CPUs" in r and ">median<" in r for r in dagger)
    assert all("no evidence" in r for r in dagger)
    sentence = re.search(r'<p class="hvload-adjusted"[^>]*>(.*?)</p>', shown)
    assert sentence and "<b>not adjusted</b>" in sentence.group(1)
    assert "adjusted over all 18 comparisons (Holm)" in sentence.group(1)
    assert f"{len(dagger)} rows marked &dagger;" in sentence.group(1)
    assert set(HEADER_HELP) >= {"CLES", "p (adj.)", "change", "ci", "on", "verdict"}


def test_browser_reference_unit_metric_and_rows_follow_their_controls(
    browser: widgets.Browser,
) -> None:
    browser.levels.value = tuple(browser.levels.options)
    browser.threshold.value = 1.0
    # An explicit reference, the campaign's lowest load by default.
    assert browser.reference.description == "reference level"
    assert browser.reference.value == "0%" and browser.reference.options == browser.levels.options
    browser.reference.value = "50%"
    assert browser.analysis is not None and browser.analysis.design["baseline"] == "50%"
    assert set(browser.baseline_verdicts()) == {"0%", "25%", "75%", "100%"}
    assert "100% vs 50%" in browser.table.value and "reference 50%" in browser.caption.value
    # Choosing levels without the reference moves it to a level that is shown, visibly.
    browser.levels.value = ("75%", "100%")
    assert browser.reference.options == ("75%", "100%") and browser.reference.value == "75%"
    assert "100% vs 75%" in browser.table.value
    browser.levels.value = tuple(browser.levels.options)
    browser.reference.value = "0%"
    # One unit in table and figure, switched by one control; the analysis is reused.
    assert browser.unit.value == "ns" and "change (ns)" in browser.table.value
    before = browser.analysis
    browser.unit.value = "cycles"
    assert browser.analysis is before
    assert "change (cycles)" in browser.table.value and "change (ns)" not in browser.table.value
    assert "cycles · threshold 1.00" in browser.caption.value
    browser.unit.value = "ns"
    assert "ns · threshold 1.00" in browser.caption.value
    # The table's rows: one block statistic or both.
    browser.statistic.value = "median"
    assert "typical-block p99</abbr></td>" not in browser.table.value
    browser.statistic.value = "both"
    assert "typical-block p99</abbr></td>" in browser.table.value
    # The level p99's comparisons: their own rows, family and wording, the JSON's verdicts.
    browser.statistic.value = "level_p99"
    assert browser.analysis is before
    table = browser.table.value
    assert "typical-block p99</abbr></td>" not in table and "level p99</abbr></td>" in table
    tails = browser.analysis.tail_comparisons
    assert table.count("level p99</abbr></td>") == len(tails) > 0
    assert f"adjusted over all {len(tails)} level-p99 comparisons, their own family" in table
    assert "ratio of the level p99s" in table and "Hodges-Lehmann" not in table
    assert "signed-rank" not in table and "bootstrap over rounds" in table
    cells = re.findall(r'class="hvload-verdict"[^>]*><b>([^<]*)</b>', table)
    assert cells == [c.verdict.value for c in tails]
    browser.statistic.value = "both"
    # The campaign has open-loop response times: the metric switch is offered.
    assert browser.metric.layout.display is None
    browser.metric.value = "response"
    assert browser.analysis is not None and browser.analysis.settings["metric"] == "response"
    assert "response time" in browser.caption.value
    browser.metric.value = "cycles"
    assert browser.pending.value == "", "no 'updating' left once table and figure follow"
    # The info panel: platform, design, noise, warnings.
    titles = browser.info.titles
    assert titles[:3] == ("platform", "design", "noise") and titles[3].startswith("warnings")
    platform, design, noise, _ = (c.value for c in browser.info.children)
    assert "AMD" in platform and "GHz" in platform and "hypercall/vmmcall" in design
    assert "reference 0%" in design and "block-to-block SD" in noise


def test_a_control_changed_while_another_thread_fits_the_controls_is_answered(
    browser: widgets.Browser,
) -> None:
    """A run's live update fits the reference control with the observers silenced: a
    threshold the user sets meanwhile (on the kernel's thread) is still answered."""
    browser.levels.value = tuple(browser.levels.options)
    browser.threshold.value = 1.0
    browser._quiet = True  # this thread (the "live update") is fitting the controls
    try:
        user = threading.Thread(target=lambda: setattr(browser.threshold, "value", 10.0))
        user.start()
        user.join(120)
    finally:
        browser._quiet = False
    assert browser.analysis is not None
    assert browser.analysis.settings["threshold"] == pytest.approx(0.10)
    assert "10.00&nbsp;%</span>" in browser.table.value
    browser.threshold.value = 1.0


def test_info_panel_lists_the_hygiene_warnings() -> None:
    from hvload.campaign import Campaign
    from hvload.widgets._info import info_sections

    campaign = hvload.load(DEFAULT)
    finding = {"name": "governor", "status": "warn", "value": "powersave",
               "effect": "clock changes move latencies", "fix": "set performance",
               "source": "/sys"}  # fmt: skip
    fine = {**finding, "name": "smt", "status": "ok", "value": "off"}
    meta = {**campaign.metadata, "hygiene": [finding, fine], "stopped": "Stop pressed"}
    shown = info_sections(Campaign(campaign.samples, campaign.blocks, meta), None)["warnings"]
    assert "governor: powersave; clock changes move latencies (fix: set performance)" in shown
    assert "smt" not in shown and "stopped before its last block: Stop pressed" in shown
    assert "looked at 2 conditions" in shown
    assert "predates" in info_sections(campaign, None)["warnings"]


def test_time_left_follows_the_latest_block_times() -> None:
    """Block times measured by the Explorer here (2000 samples, 2 levels, live view): the
    first round is quick (its live view has nothing to compare), the rest take ~3 s. The
    mean over the blocks so far (what elapsed / done said) starts some 3x low; the median
    of the latest blocks is within 35 % of the truth from the 8th block on."""
    import itertools

    times = [0.44, 0.27, 1.91, 1.74, 3.04, 2.91, 2.51, 2.62, 3.54, 4.4, 1.22, 3.79, 3.15,
             3.59, 3.92, 3.44, 3.31, 4.12, 5.71, 3.52, 3.46, 3.15, 4.35, 3.37, 2.6, 2.72,
             3.07, 3.32, 3.08, 2.3]  # fmt: skip
    ends = list(itertools.accumulate(times))
    total = len(ends)
    for done in range(8, total):
        true = ends[-1] - ends[done - 1]
        left = _session.time_left(ends[:done], total)
        assert abs(left - true) <= 0.35 * true, (done, left, true)
        naive = ends[done - 1] / done * (total - done)
        assert abs(left - true) < abs(naive - true) or done > 15, (done, left, naive, true)
    assert ends[2] / 3 * (total - 3) < (ends[-1] - ends[2]) / 3  # the old estimate: 3x low
    # One slow block does not move it; an empty or finished run has nothing left.
    assert _session.time_left([1.0, 2.0, 3.0, 10.0, 11.0], 7) == pytest.approx(2.0)
    assert _session.time_left([], 3) == 0.0 and _session.time_left([1.0, 2.0], 2) == 0.0


def test_load_curve_names_an_interval_only_where_bars_are_drawn() -> None:
    from matplotlib.figure import Figure

    from hvload import plots
    from hvload.campaign import Campaign

    campaign = hvload.load(DEFAULT)
    s, b = campaign.samples, campaign.blocks
    first = int(s["round"].min()) + 2  # two rounds: too few for an interval
    one = Campaign(s[s["round"] < first], b[b["round"] < first], campaign.metadata)
    for data, with_ci in ((one, False), (campaign, True)):
        ax = Figure().subplots()
        plots.load_curve(data, ax=ax)
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert all(("95% CI" in x) == with_ci for x in labels), labels


def test_explorer_live_view_follows_its_controls_and_a_new_run_says_what_it_keeps(
    measuring: None, tmp_path: Path
) -> None:
    """During a run: a threshold, unit or reference change shows in the table when the
    control returns, not at the next block; the time left is an estimate from measured
    blocks; no "stopping" is left after Stop; a new run says which settings it keeps."""
    import re

    e = widgets.Explorer(
        DATA, samples=2000, rounds=200, levels="0, 100", open_first=False, runs_dir=tmp_path
    )
    e.start()
    deadline = time.monotonic() + 60
    # A round's two blocks shown (the view follows the bar, a moment later).
    while "100% vs 0%" not in e.table.value and time.monotonic() < deadline:
        time.sleep(0.02)
    assert e.whole is not None and "Live" in e.table.value
    assert re.search(r"about .+ left \(estimate\)", e.progress_text.value)
    assert e.unit.value == "ns" and "change (ns)" in e.table.value  # from the first block
    e.threshold.value = 3.0
    assert "3.00&nbsp;%</span>" in e.table.value and "threshold 3.00" in e.caption.value
    e.unit.value = "cycles"
    assert "change (cycles)" in e.table.value and "cycles · threshold" in e.caption.value
    assert e.reference.options == ("0%", "100%") and e.reference.value == "0%"
    e.reference.value = "100%"
    assert "0% vs 100%" in e.table.value and "reference 100%" in e.caption.value
    # The next blocks keep the controls' choices (one unit throughout).
    seen = e.progress.value
    while e.progress.value < seen + 2 and time.monotonic() < deadline + 60:
        time.sleep(0.02)
    assert "change (cycles)" in e.table.value and "0% vs 100%" in e.table.value
    e.stop_button.click()
    assert "stopping after this block" in e.progress_text.value
    camp = e.wait(30)
    assert camp is not None and "stopping" not in e.progress_text.value
    assert "change (cycles)" in e.table.value and "3.00&nbsp;%</span>" in e.table.value
    # A second run: its own levels and reference; what the view keeps is said.
    e.levels.value = "0, 50"
    e.start(samples=200, rounds=2)
    assert "the view keeps threshold 3.00 %, unit cycles" in e.status.value
    second = e.wait(120)
    assert second is not None and e.reference.value == "0%"
    # (Its 50 % blocks may be left out on a busy machine: then there is nothing to compare.)
    assert e.reference.options == ("0%", "50%")
    assert "100% vs" not in e.table.value and "vs 100%" not in e.table.value  # no old level
    assert any("the view keeps threshold 3.00 %" in n for n in e.design_notes())
