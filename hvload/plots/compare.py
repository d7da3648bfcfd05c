"""The figures of a comparison of campaigns: median and p99 per level, per group, with CIs
(:func:`compare_levels`), and the ECDFs of the compared levels overlaid
(:func:`compare_ecdf`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from ._common import _number, _palette, _prepare, _readable_log, _set_title

if TYPE_CHECKING:
    # For the annotations only: datasets sits above plots in the layers.
    from matplotlib.figure import Figure

    from ..datasets.compare import CampaignComparison

__all__ = ["compare_ecdf", "compare_levels"]

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def compare_levels(
    result: CampaignComparison,
    *,
    stats: tuple[str, ...] = ("median", "p99"),
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Typical block median and p99 of every level, one series per group, with intervals.

    Parameters
    ----------
    result : hvload.datasets.compare.CampaignComparison
        What :func:`hvload.datasets.compare.compare` returned. Read duck-typed (its
        ``levels``, ``groups``, ``comparisons``, ``unit``, ``reference`` and
        ``config.ci_label``): plots sits below datasets and does not import it.
    stats : tuple of str, default ("median", "p99")
        One panel per statistic.
    figsize : tuple of float, optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    How to read it: x holds the levels (matched across groups; ``no load`` is every
    level without load workers), each group a marker series offset a little sideways.
    A point is the group's typical block statistic (the median over its blocks, or over
    its campaigns' typical values when campaigns are the unit), the bar its
    order-statistic interval. The verdict of each group against the reference is written
    above its point where a test was made (levels one group lacks have none). The
    title names the probes when they differ: then the points are different operations.
    """
    levels = result.levels
    keys = list(dict.fromkeys(levels["level"]))
    groups = list(result.groups["group"])
    n = len(stats)
    width_in = min(12.0, max(5.5, 0.9 * len(keys) + 3.0))
    fig, axes = plt.subplots(n, 1, figsize=figsize or (width_in, 3.3 * n), squeeze=False)
    width = 0.6
    offsets = (np.arange(len(groups)) - (len(groups) - 1) / 2) * (width / max(len(groups), 1))
    verdicts = {
        (r.level, r.group, r.on): r.verdict for r in result.comparisons.itertuples(index=False)
    }
    colours = _palette(len(groups))
    for ax, on in zip(axes[:, 0], stats, strict=True):
        seen: list[float] = []
        for gi, g in enumerate(groups):
            rows = levels[levels["group"] == g]
            xs, ys, lo, hi = [], [], [], []
            for r in rows.itertuples(index=False):
                est = getattr(r, on)
                if not math.isfinite(est):
                    continue
                x = keys.index(r.level) + offsets[gi]
                low, high = getattr(r, f"{on}_ci_low"), getattr(r, f"{on}_ci_high")
                xs.append(x)
                ys.append(est)
                seen += [v for v in (est, low, high) if math.isfinite(v) and v > 0]
                lo.append(est - low if math.isfinite(low) else 0.0)
                hi.append(high - est if math.isfinite(high) else 0.0)
                v = verdicts.get((r.level, g, on))
                if v is not None:
                    ax.annotate(v, (x, high if math.isfinite(high) else est), fontsize="small",
                                ha="center", va="bottom", xytext=(0, 3),
                                textcoords="offset points")  # fmt: skip
            ax.errorbar(xs, ys, yerr=[lo, hi], fmt=_MARKERS[gi % len(_MARKERS)], capsize=3,
                        label=g, lw=1.2, ms=5, color=colours[gi])  # fmt: skip
        ax.set_xticks(range(len(keys)), keys, rotation=30 if len(keys) > 6 else 0)
        ax.set_xlim(-0.6, len(keys) - 0.4)
        ax.set_yscale("log")
        if seen:
            # Labelled ticks where the points are (the same rule as the other figures):
            # decade ticks alone can leave 1,100-1,200 ns points between 1,000 and 2,000.
            ax.autoscale_view()
            _readable_log(ax.yaxis, min(seen), max(seen), body=float(np.median(seen)))
        ax.set_ylabel(f"typical block {on} ({result.unit})")
        ax.grid(True, which="both", axis="y", alpha=0.3)
    axes[-1][0].set_xlabel("load level")
    axes[0][0].legend(fontsize="small", loc="best")
    probes = list(dict.fromkeys(result.groups["probe"]))
    title = f"{', '.join(groups[1:])} vs {result.reference} ({result.config.ci_label})"
    if len(probes) > 1:
        title += f"\nCAVEAT: different probes ({' / '.join(probes)})"
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    return fig


#: Line style of each group in :func:`compare_ecdf` (the reference solid).
_STYLES = ("-", "--", ":", "-.")
_STYLE_NAMES = ("solid", "dashed", "dotted", "dash-dot")


def compare_ecdf(
    result: CampaignComparison,
    campaigns: Mapping[str, Any],
    *,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """ECDF of every compared level of every group, overlaid on one log latency axis.

    Parameters
    ----------
    result : hvload.datasets.compare.CampaignComparison
        A comparison of one campaign per group (read duck-typed, as :func:`compare_levels`
        reads it): its ``levels`` say which levels were compared and which of each
        campaign's levels stand behind them (``level_names``: the no-load levels of an
        A/A campaign are pooled), its ``unit`` and ``config`` the unit and the samples
        left out.
    campaigns : mapping of str to campaign
        Group name -> the campaign (as :func:`hvload.load` returns it; the block policy
        applied by the caller, as :func:`hvload.report.admitted` applies it).
    figsize : tuple of float, optional
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    How to read it: one colour per compared level, one line style per group (the
    reference solid). At latency ``x`` a curve gives the fraction of that group's
    samples at that level that took at most ``x``; a curve further right is slower.
    The comparison's tests are on block statistics, not on these pooled samples: the
    curves show where the distributions differ (body or tail), the table says whether
    the difference is beyond the blocks' noise.
    """
    levels = result.levels[result.levels["compared"].astype(bool)]
    keys = list(dict.fromkeys(levels["level"]))
    groups = [g for g in result.groups["group"] if g in campaigns]
    fig, ax = plt.subplots(figsize=figsize or (8.0, 5.0), layout="constrained")
    colours = _palette(len(keys))
    low, high, cut = math.inf, 0.0, 0.0
    medians = []
    for gi, group in enumerate(groups):
        prep = _prepare(campaigns[group], tsc_hz=None, unit=result.unit, levels=None,
                        config=result.config)  # fmt: skip
        for ki, key in enumerate(keys):
            row = levels[(levels["level"] == key) & (levels["group"] == group)]
            if row.empty:
                continue
            behind = set(str(row["level_names"].iloc[0]).split(", "))
            parts = [prep.values(i) for i, name in enumerate(prep.names) if name in behind]
            values = np.sort(np.concatenate(parts)) if parts else np.zeros(0)
            n = values.size
            if n == 0:
                continue
            medians.append(values[(n - 1) // 2])
            idx = np.unique(np.rint(np.linspace(0, n - 1, min(n, 2000))).astype(np.intp))
            ax.plot(values[idx], (idx + 1) / n, drawstyle="steps-post", color=colours[ki],
                    ls=_STYLES[gi % len(_STYLES)], lw=1.6,
                    label=f"{key} · {group} (n={n:,})")  # fmt: skip
            low, high = min(low, values[0]), max(high, values[-1])
            cut = max(cut, values[min(n - 1, math.ceil(0.999 * n) - 1)])
    if not medians:
        ax.text(0.5, 0.5, "no level in common: nothing to overlay", ha="center",
                va="center", transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        return fig
    ax.set_xscale("log")
    # As the one-campaign ECDF: above p99.9 every curve lies flat against 1.
    right = min(high, cut * 1.15) if cut > 0 else high
    ax.set_xlim(low / 1.03, right)
    _readable_log(ax.xaxis, low, right, body=float(np.median(medians)))
    ax.set_ylim(0, 1.005)
    what = "response time" if result.config.metric == "response" else "latency"
    clipped = f"; axis ends near the largest p99.9, max {_number(high)}" if right < high else ""
    ax.set_xlabel(f"{what} ({result.unit}), log scale{clipped}")
    ax.set_ylabel("fraction of samples ≤ latency")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(title="level · group", loc="lower right", fontsize="small")
    lines = [f"{g} ({_STYLE_NAMES[i % len(_STYLES)]})" for i, g in enumerate(groups)]
    left = "warm-up excluded" if "warmup" in result.config.exclude else "all samples"
    _set_title(ax, f"ECDF of the compared levels · {' vs '.join(lines)} · {left}")
    return fig
