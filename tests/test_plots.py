"""hvload.plots on a SYNTHETIC campaign (made here) and on a real campaign from data/."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import re
import subprocess
import sys
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.axes import Axes
from matplotlib.container import ErrorbarContainer
from stats_synthetic import synthetic_campaign

import hvload
from hvload import plots
from hvload.campaign.runner import Campaign
from hvload.plots import load as plots_load
from hvload.plots._common import fill_doc
from hvload.stats import DEFAULT, VERDICTS, analyze

DATA = Path(__file__).resolve().parents[1] / "data"
LEVELS = ("0%", "25%", "50%", "75%", "100%")
ROUNDS, SAMPLES, WARMUP = 4, 500, 20


def _campaign(samples: pd.DataFrame, tsc_hz: float | None, label: str) -> Campaign:
    """Wrap a SYNTHETIC sample table into a campaign with blocks and metadata."""
    names = list(dict.fromkeys(samples.sort_values("level_index")["level"]))
    blocks = (
        samples.groupby("block", sort=True)
        .agg(
            round=("round", "first"), level=("level", "first"), level_index=("level_index", "first")
        )
        .reset_index()
    )
    blocks["level_value"] = blocks["level_index"] / max(len(names) - 1, 1)
    metadata = {
        "tsc_hz": tsc_hz,
        "hypervisor": "SYNTHETIC",
        "cpu": "no CPU (simulated)",
        "design": {
            "probe_label": label,
            "levels": [
                {"name": n, "value": i / max(len(names) - 1, 1), "workers": []}
                for i, n in enumerate(names)
            ],
        },
    }
    return Campaign(samples=samples, blocks=blocks, metadata=metadata)


def _with_start(frame: pd.DataFrame) -> pd.DataFrame:
    # Samples follow each other back to back, with a pause between blocks.
    gaps = np.where(frame["sample"].to_numpy() == 0, 1_000_000, 200)
    return frame.assign(start=np.cumsum(frame["cycles"].to_numpy() + gaps))


@pytest.fixture(scope="module")
def synthetic() -> Campaign:
    """SYNTHETIC campaign: 5 levels x 4 rounds x (20 warm-up + 500) samples, no data measured."""
    frame = synthetic_campaign(
        7, n_rounds=ROUNDS, n_samples=SAMPLES, warmup=WARMUP, shift=(1, 1, 1.02, 1.04, 1.08)
    )
    return _campaign(_with_start(frame), 2.0e9, "SYNTHETIC probe")


@pytest.fixture(scope="module")
def real() -> Campaign:
    return hvload.load(DATA / "amd-epyc-2vcpu-default.parquet")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _levels(c: Campaign) -> list[str]:
    return list(dict.fromkeys(c.samples.sort_values("level_index")["level"]))


def _labelled_lines(ax: Axes) -> list[str]:
    return [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]


def _legend_texts(ax: Axes) -> list[str]:
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()]


def _tick_texts(ax: Axes) -> list[str]:
    return [t.get_text().split("\n")[0] for t in ax.get_xticklabels()]


def _check_figure(name: str, ax: Axes, c: Campaign) -> None:
    """Expected artists of each figure for campaign ``c`` (all levels, cycles)."""
    names = _levels(c)
    k = len(names)
    probe = c.metadata["design"]["probe_label"]
    assert isinstance(ax, Axes)
    assert ax.figure is not None
    assert probe in ax.get_title()
    if name == "ecdf":
        assert len(ax.get_lines()) == k
        assert [t.split(" (n=")[0] for t in _legend_texts(ax)] == names
        assert ax.get_xscale() == "log"
        assert ax.get_xlabel().startswith("latency (cycles)")
    elif name in ("violin", "boxen"):
        assert _tick_texts(ax) == names
        assert sum(t.get_text().startswith("max ") for t in ax.texts) == k
        assert ax.get_yscale() == "log"
        assert ax.get_ylabel().startswith("latency (cycles)")
        assert f"{plots.QUANTILE_POINTS:,}" in ax.get_title()
    elif name == "ladder":
        # One solid (labelled) and one dotted tail line per level.
        assert len(ax.get_lines()) == 2 * k
        assert len(_labelled_lines(ax)) == k
        assert len(_legend_texts(ax)) == k + 1
        assert "99.9" in _tick_texts(ax)
        assert ax.get_ylabel().startswith("latency (cycles)")
    elif name == "load_curve":
        bars = [x for x in ax.containers if isinstance(x, ErrorbarContainer)]
        assert len(bars) == 2
        assert _tick_texts(ax) == names
        assert [t.split(" ")[0] for t in _legend_texts(ax)] == ["median", "p99"]
        assert all("typical block" in t for t in _legend_texts(ax))
        assert ax.get_ylabel().startswith("latency (cycles)")
    elif name == "timeline":
        # Per level a median line and a line of per-bin maxima.
        assert len(_labelled_lines(ax)) == k
        assert sum(ln.get_linestyle() == "None" for ln in ax.get_lines()) == k
        assert _legend_texts(ax)[:k] == names
        assert "(s)" in ax.get_xlabel()
    elif name == "verdicts":
        cells = [t for t in ax.texts if t.get_text()]
        # Every level against the baseline, then each against its neighbour.
        assert len(cells) == (k - 1) + (k - 2)
        assert all(t.get_text().split("\n")[-1] in VERDICTS for t in cells)
        assert [t.get_text() for t in ax.get_yticklabels()] == names[:-1]
        assert _tick_texts(ax) == names[1:]
    elif name == "attribution":
        # These campaigns measured no control probe: the figure says so.
        assert "no control probes" in " ".join(t.get_text() for t in ax.texts)
    else:  # pragma: no cover - a new figure needs its own checks here
        raise AssertionError(f"no checks for figure {name!r}")


def test_figures_names() -> None:
    assert set(plots.FIGURES) == {
        "ecdf", "violin", "boxen", "ladder", "load_curve", "timeline", "verdicts", "attribution",
    }  # fmt: skip


def test_attribution_figure_with_controls() -> None:
    from stats_synthetic import synthetic_probe_campaign

    camp = synthetic_probe_campaign(1, shift={"hypercall/vmmcall": [1, 1, 1, 1, 1.06]})
    ax = plots.attribution(camp)
    bars = [p for p in ax.patches if p.get_height() != 0]
    assert len(ax.containers) >= 3  # one bar group per probe
    assert _tick_texts(ax) == ["25%", "50%", "75%", "100%"]
    # One row of verdicts per control, one cell per level, each cell named by its gid.
    cells = {t.get_gid(): t.get_text().replace("\n", " ") for t in ax.texts if t.get_gid()}
    assert cells["verdict vs null at 100%"] == "exit path slower" and bars
    rows = {t.get_text() for t in ax.texts if not t.get_gid()}
    assert "vs null:" in rows


def test_timeline_marks_blocks_with_steal_time(synthetic: Campaign) -> None:
    blocks = synthetic.blocks.copy()
    blocks["steal_ms"] = 0.0
    blocks.loc[blocks.index[:2], "steal_ms"] = 10.0
    marked = Campaign(synthetic.samples, blocks, synthetic.metadata)
    ax = plots.timeline(marked)
    assert "block with steal time" in _legend_texts(ax)


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_figure_on_synthetic_campaign(name: str, synthetic: Campaign) -> None:
    _check_figure(name, plots.FIGURES[name](synthetic), synthetic)


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_figure_on_real_campaign(name: str, real: Campaign) -> None:
    _check_figure(name, plots.FIGURES[name](real), real)


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_draws_on_given_axes_in_ns(name: str, synthetic: Campaign) -> None:
    fig, given = plt.subplots()
    ax = plots.FIGURES[name](synthetic, ax=given, unit="ns")
    assert ax is given and ax.figure is fig
    if name == "verdicts":
        assert any(" ns\n" in t.get_text() for t in ax.texts)
    elif name != "attribution":  # changes of probes of different speeds: in percent
        assert "latency (ns)" in ax.get_xlabel() + ax.get_ylabel()


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_ns_without_tsc_frequency_is_an_error(name: str, synthetic: Campaign) -> None:
    with pytest.raises(ValueError, match="unit='ns' needs the TSC frequency"):
        plots.FIGURES[name](synthetic.samples, unit="ns")


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_ns_from_a_sample_table_with_tsc_hz(name: str, synthetic: Campaign) -> None:
    ax = plots.FIGURES[name](synthetic.samples, unit="ns", tsc_hz=2.0e9)
    assert isinstance(ax, Axes)


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_unknown_level_is_an_error(name: str, synthetic: Campaign) -> None:
    with pytest.raises(ValueError, match=r"unknown level\(s\) \['90%'\]"):
        plots.FIGURES[name](synthetic, levels=["0%", "90%"])


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_unknown_unit_is_an_error(name: str, synthetic: Campaign) -> None:
    with pytest.raises(ValueError, match="unit='us' is not allowed"):
        plots.FIGURES[name](synthetic, unit="us")


def test_levels_subset_is_drawn_in_design_order(synthetic: Campaign) -> None:
    ax = plots.ecdf(synthetic, levels=["100%", "25%", "0%"])
    assert [t.split(" (")[0] for t in _legend_texts(ax)] == ["0%", "25%", "100%"]
    ax = plots.distribution(synthetic, kind="boxen", levels=["75%", "0%"])
    assert _tick_texts(ax) == ["0%", "75%"]
    ax = plots.load_curve(synthetic, levels="50%")
    assert _tick_texts(ax) == ["50%"]


def test_colour_of_a_level_stays_the_same_in_a_subset(synthetic: Campaign) -> None:
    full = {ln.get_label().split(" (")[0]: ln.get_color() for ln in plots.ecdf(synthetic).lines}
    part = plots.ecdf(synthetic, levels=["75%"]).lines[0]
    assert part.get_color() == full["75%"]


def test_warmup_is_excluded_by_default(synthetic: Campaign) -> None:
    kept = _legend_texts(plots.ecdf(synthetic))[0]
    every = _legend_texts(plots.ecdf(synthetic, config=DEFAULT.replace(exclude=())))[0]
    assert kept == f"0% (n={ROUNDS * SAMPLES:,})"
    assert every == f"0% (n={ROUNDS * (SAMPLES + WARMUP):,})"


def test_unknown_kind_is_an_error(synthetic: Campaign) -> None:
    with pytest.raises(ValueError, match="kind='strip'"):
        plots.distribution(synthetic, kind="strip")


def test_not_a_campaign_is_an_error() -> None:
    with pytest.raises(ValueError, match="expected a campaign"):
        plots.ecdf([1, 2, 3])


def test_ladder_reaches_the_tail_of_each_level(synthetic: Campaign) -> None:
    ax = plots.percentile_ladder(synthetic)
    n = ROUNDS * SAMPLES
    ends = [ln.get_xdata()[-1] for ln in ax.get_lines()]
    assert max(ends) == pytest.approx(np.log10(n))
    top = np.sort(synthetic.samples.query("level == '0%' and not warmup")["cycles"])[-2]
    assert ax.get_lines()[1].get_ydata()[-1] == top


def test_load_curve_reuses_the_analysis(synthetic: Campaign, monkeypatch) -> None:
    done = analyze(synthetic)

    def refuse(*args, **kwargs):
        raise AssertionError("analyze ran although an analysis was given")

    monkeypatch.setattr(plots_load, "analyze", refuse)
    ax = plots.load_curve(synthetic, analysis=done, stats=("median", "p99", "p90"))
    bars = [x for x in ax.containers if isinstance(x, ErrorbarContainer)]
    assert len(bars) == 3
    medians = bars[0].lines[0].get_ydata()
    np.testing.assert_allclose(medians, done.levels["block_median"].to_numpy())


def test_load_curve_rejects_unknown_statistic(synthetic: Campaign) -> None:
    with pytest.raises(ValueError, match="stats="):
        plots.load_curve(synthetic, stats=("p42",))


def test_verdict_map_from_an_analysis(synthetic: Campaign) -> None:
    done = analyze(synthetic, threshold=0.02)
    ax = plots.verdict_map(done, on="p99")
    assert "threshold 2 %" in ax.get_title()
    cells = {t.get_text().split("\n")[-1] for t in ax.texts if t.get_text()}
    p99 = done.comparisons.query("on == 'p99'")
    assert cells == set(p99["verdict"])
    with pytest.raises(ValueError, match="config differs from the configuration"):
        plots.verdict_map(done, config=DEFAULT.replace(threshold=0.05))


def test_verdict_map_of_a_level_subset(synthetic: Campaign) -> None:
    ax = plots.verdict_map(synthetic, levels=["0%", "50%", "100%"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0%"]
    assert _tick_texts(ax) == ["50%", "100%"]


def test_timeline_without_tsc_frequency_uses_block_order(synthetic: Campaign) -> None:
    ax = plots.timeline(synthetic.samples, blocks=[0, 1, 2])
    assert "block" in ax.get_xlabel()
    assert "3 blocks" in ax.get_title()
    xs = np.concatenate([ln.get_xdata() for ln in ax.get_lines()])
    assert np.nanmin(xs) >= 0 and np.nanmax(xs) <= 3


def test_timeline_blocks_from_a_block_table(synthetic: Campaign) -> None:
    chosen = synthetic.blocks.query("round == 1")
    ax = plots.timeline(synthetic, blocks=chosen, bins_per_block=5)
    assert f"{len(chosen)} blocks, 5 time bins each" in ax.get_title()
    with pytest.raises(ValueError, match="unknown block"):
        plots.timeline(synthetic, blocks=[999])


@pytest.fixture(scope="module")
def million() -> Campaign:
    """SYNTHETIC campaign of 10^6 samples (lognormal noise; only for timing)."""
    rng = np.random.default_rng(3)
    n_levels, n_rounds, per_block = 5, 10, 20_000
    n = n_levels * n_rounds * per_block
    order = np.concatenate([rng.permutation(n_levels) for _ in range(n_rounds)])
    level_index = np.repeat(order, per_block)
    cycles = np.rint(2000 * (1 + 0.02 * level_index) * rng.lognormal(0, 0.1, n)).astype(np.int64)
    sample = np.tile(np.arange(per_block), n_levels * n_rounds)
    frame = pd.DataFrame(
        {
            "round": np.repeat(np.arange(n_rounds), n_levels * per_block),
            "level": np.asarray(LEVELS, dtype=object)[level_index],
            "level_index": level_index,
            "block": np.repeat(np.arange(n_levels * n_rounds), per_block),
            "sample": sample,
            "cycles": cycles,
            "migrated": np.zeros(n, dtype=bool),
            "warmup": sample < 100,
        }
    )
    return _campaign(_with_start(frame), 2.0e9, "SYNTHETIC probe")


@pytest.mark.parametrize("name", list(plots.FIGURES))
def test_figure_of_a_million_samples_is_quick(name: str, million: Campaign) -> None:
    # Generous bound for slow CI machines; benchmarks/bench_plots.py holds the 1 s target.
    t0 = time.perf_counter()
    ax = plots.FIGURES[name](million)
    ax.figure.canvas.draw()
    assert time.perf_counter() - t0 < 5.0


@pytest.mark.parametrize(("name", "axis"), [("ecdf", "x"), ("violin", "y"), ("boxen", "y")])
def test_a_labelled_tick_lies_near_the_body(name: str, axis: str, real: Campaign) -> None:
    """On the real default campaign the body sits at about 3,800 ns, the tail at 50k+:
    a labelled tick must lie within a factor 1.25 of the median, not only decades away."""
    ax = plots.FIGURES[name](real, unit="ns")
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    shown = ax.xaxis if axis == "x" else ax.yaxis
    ticks = [t for t in shown.get_majorticklocs() if lo <= t <= hi]
    keep = real.samples["warmup"].to_numpy() == 0
    median = float(np.median(real.samples["cycles"].to_numpy()[keep])) / real.tsc_hz * 1e9
    assert any(median / 1.25 <= t <= median * 1.25 for t in ticks), (median, ticks)
    plt.close(ax.figure)


def test_shared_parameter_docs_are_filled_in() -> None:
    """Each figure's docstring carries the shared parameter text, no bare placeholder."""
    for name in plots.__all__:
        fn = getattr(plots, name)
        if not callable(fn):
            continue
        doc = fn.__doc__ or ""
        assert not re.search(r"^\s*\{\w+\}\s*$", doc, re.MULTILINE), name
        assert "    ax : matplotlib.axes.Axes, optional\n        Where to draw;" in doc, name
    assert 'unit : {"cycles", "ns"}, default "cycles"' in plots.ecdf.__doc__


def test_unknown_shared_doc_placeholder_is_an_error() -> None:
    def figure() -> None:
        """A figure.

        Parameters
        ----------
        {no_such_parameter}
        """

    with pytest.raises(KeyError, match="no_such_parameter"):
        fill_doc(figure)


def test_plots_do_not_import_datasets() -> None:
    """plots sits below datasets: the comparison figure uses the comparison duck-typed."""
    code = (
        "import sys, hvload.plots, hvload.plots.compare; "
        "print(sorted(m for m in sys.modules if m.startswith(('hvload.datasets', "
        "'hvload.report', 'hvload.widgets'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        cwd=Path(hvload.__file__).parents[1],
    )  # fmt: skip
    assert out.stdout.strip() == "[]"
