"""The figure of a comparison of campaigns: median and p99 per level, per group, with CIs."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from ._common import _palette, _readable_log

if TYPE_CHECKING:
    # For the annotations only: datasets sits above plots in the layers.
    from matplotlib.figure import Figure

    from ..datasets.compare import CampaignComparison

__all__ = ["compare_levels"]

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
