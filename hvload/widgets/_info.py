"""The campaign info panel: where and how the campaign shown was measured, and what to mind.

Plain HTML strings (no ipywidgets), one per section of the panel: platform, design,
noise and warnings. The warnings gather what bears on the numbers: the conditions
``hvload check`` found before measuring (the metadata's ``hygiene``), the analysis's own
notes, blocks the block policy left out, and a stop before the last block.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..model import Campaign
    from ..stats import Analysis

__all__ = ["SECTIONS", "info_sections", "warnings"]

#: The panel's sections, in order.
SECTIONS = ("platform", "design", "noise", "warnings")


def _rows(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f'<tr><th style="text-align:left; padding-right:1em; vertical-align:top">'
        f"{html.escape(k)}</th><td>{v}</td></tr>"
        for k, v in rows
    )
    return f'<table class="hvload-info-table" style="font-size:small">{cells}</table>'


def _text(value: object) -> str:
    return html.escape(str(value)) if value not in (None, "") else "-"


def platform_html(meta: dict[str, Any]) -> str:
    """CPU, hypervisor, kernel, host, TSC and when it was measured."""
    platform = meta.get("platform") or {}
    tsc = meta.get("tsc_hz")
    return _rows(
        [
            ("CPU", _text(meta.get("cpu"))),
            ("hypervisor", _text(meta.get("hypervisor"))),
            ("kernel", _text(platform.get("kernel"))),
            ("host", _text(meta.get("hostname"))),
            ("TSC", f"{float(tsc) / 1e9:.3f} GHz" if tsc else "not known: figures stay in cycles"),
            ("measured", f"{_text(meta.get('start_utc'))} to {_text(meta.get('end_utc'))}"),
            ("one sample is", _text(meta.get("measured"))),
            ("hvload commit", _text(meta.get("git_commit"))),
        ]
    )


def design_html(meta: dict[str, Any], analysis: Analysis | None) -> str:
    """Probe, controls, levels, rounds, samples, seed; baseline and settings analysed with."""
    d = meta.get("design") or {}
    levels = ", ".join(str(lv.get("name")) for lv in d.get("levels") or () if isinstance(lv, dict))
    controls = [str(c.get("label", c)) if isinstance(c, dict) else str(c)
                for c in d.get("controls") or ()]  # fmt: skip
    rows = [
        ("probe", f"<code>{_text(d.get('probe_label'))}</code> on CPU {_text(d.get('probe_cpu'))}"),
        ("controls", html.escape(", ".join(controls)) if controls else "none"),
        ("levels", _text(levels)),
        ("rounds", _text(d.get("rounds"))),
        ("samples per block", f"{_text(d.get('warmup'))} warm-up + {_text(d.get('samples'))}"),
        ("seed of the block order", _text(d.get("seed"))),
    ]
    if analysis is not None:
        st = analysis.settings
        rows.append(
            (
                "analysed with",
                html.escape(
                    f"reference {analysis.design.get('baseline')}; alpha {st.get('alpha')}; "
                    f"threshold {100 * float(st.get('threshold', math.nan)):.2f} %; correction "
                    f"{st.get('correction')}; metric {st.get('metric')}; excluded: "
                    f"{', '.join(st.get('exclude') or ()) or 'nothing'}"
                ),
            )
        )
    return _rows(rows)


def noise_html(blocks: Any, analysis: Analysis | None) -> str:
    """Block-to-block noise of the analysis, and the noise the blocks recorded."""
    rows: list[tuple[str, str]] = []
    if analysis is not None:
        for _, r in analysis.noise.iterrows():
            rows.append(
                (
                    f"block {r['on']}s",
                    html.escape(
                        f"block-to-block SD {100 * r['block_sd']:.2f} % (sampling "
                        f"{100 * r['sampling_sd']:.2f} %, between blocks "
                        f"{100 * r['between_sd']:.2f} %)"
                    ),
                )
            )
    for column, what in (
        ("steal_ms", "steal time of the probe CPU (ms per block)"),
        ("irqs", "interrupts on the probe CPU (per block)"),
        ("ctx_involuntary", "involuntary context switches (per block)"),
    ):
        if blocks is not None and column in blocks:
            values = np.asarray(blocks[column], dtype=float)
            values = values[np.isfinite(values)]
            if values.size:
                rows.append(
                    (
                        what,
                        f"median {np.median(values):,.1f}, max {values.max():,.1f} over "
                        f"{values.size} blocks",
                    )
                )
    return _rows(rows) if rows else "<p>No noise recorded.</p>"


def warnings(meta: dict[str, Any], analysis: Analysis | None) -> list[str]:
    """The warnings, as plain text lines."""
    out = [
        f"{f.get('name')}: {f.get('value')}; {f.get('effect')} (fix: {f.get('fix')})"
        for f in meta.get("hygiene") or ()
        if isinstance(f, dict) and f.get("status") == "warn"
    ]
    if meta.get("stopped"):
        out.append(f"stopped before its last block: {meta['stopped']}")
    if analysis is not None:
        out += [str(n) for n in analysis.notes]
        out += [f"left out: {n}" for n in analysis.left_out]
    return out


def info_sections(campaign: Campaign, analysis: Analysis | None) -> dict[str, str]:
    """The panel's sections as HTML, keyed by :data:`SECTIONS`."""
    meta = dict(campaign.metadata)
    items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings(meta, analysis))
    hygiene = meta.get("hygiene")
    # Not a warning, but what the list rests on: whether hvload check's findings exist.
    note = (
        "this file predates the hvload check findings (no 'hygiene' recorded)"
        if hygiene is None
        else f"hvload check looked at {len(hygiene)} conditions before measuring"
    )
    items += f'<li style="color:#555">{html.escape(note)}</li>'
    return {
        "platform": platform_html(meta),
        "design": design_html(meta, analysis),
        "noise": noise_html(getattr(campaign, "blocks", None), analysis),
        "warnings": f'<ul class="hvload-info-warnings" style="font-size:small">{items}</ul>',
    }
