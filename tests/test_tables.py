"""Tables for people: the notebooks' number tables and the widgets' comparison table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hvload
from hvload import notebook
from hvload.notebook import format_number, number_table
from hvload.stats import DEFAULT, analyze
from hvload.widgets import comparisons_html

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (3655.441, "3,655"),
        (9063109.464, "9,063,109"),
        (2.596131e09, "2,596,131,000"),
        (12.0, "12"),
        (np.int64(300000), "300,000"),
        (36.54, "36.5"),
        (3.6612, "3.66"),
        (0.03661, "0.0366"),
        (float("nan"), ""),
        (None, ""),
        ("nonstop_tsc", "nonstop_tsc"),
    ],
)
def test_format_number(value: object, shown: str) -> None:
    assert format_number(value) == shown


def test_number_table_units_separators_and_scroll_box() -> None:
    frame = pd.DataFrame(
        {"median_ns": [3655.441, 1200.5], "n": [300000, 2], "tsc_hz": [2.596131e9, 3.0e9]},
        index=pd.Index(["0 CPUs", "1 CPU"], name="level"),
    )
    table = number_table(frame, units={"tsc_hz": "Hz"})
    shown = table._repr_html_()
    assert "median (ns)" in shown and "tsc_hz (Hz)" in shown
    assert "3,655" in shown and "2,596,131,000" in shown and "300,000" in shown
    assert not re.search(r"\d\.\d{3}\b|e\+0\d", shown)
    assert shown.startswith('<div style="overflow-x:auto')
    text = repr(table)
    assert "median (ns)" in text and "3,655" in text and "2,596,131,000" in text


def test_text_table_never_breaks_a_word_and_scrolls() -> None:
    frame = pd.DataFrame({"name": ["HvCallFlushVirtualAddressSpaceEx"], "flag": ["nonstop_tsc"]})
    shown = notebook.text_table(frame, max_width="6em")._repr_html_()
    assert "word-break:keep-all" in shown and "overflow-x:auto" in shown
    # Each column is at least as wide as its longest word.
    assert "min-width:32ch" in shown and "min-width:11ch" in shown


def test_comparison_table_has_units_and_scrolls() -> None:
    campaign = hvload.load(DATA / "amd-epyc-2vcpu-default.parquet")
    shown = comparisons_html(analyze(campaign, DEFAULT.replace(n_sim=0)), unit="ns")
    assert "change (%)" in shown and "change (ns)" in shown and "95% CI (ns)" in shown
    assert 'style="overflow-x:auto' in shown
    cells = [x for c in re.findall(r"<td[^>]*>([^<]*)</td>", shown) for x in c.split(" .. ")]
    numbers = [c for c in cells if re.fullmatch(r"[-+]?[0-9][0-9,]*(\.[0-9]+)?", c)]
    big = [c for c in numbers if abs(float(c.replace(",", ""))) >= 1000]
    assert big and all("," in c for c in big), big


def test_comparison_table_keeps_ns_while_no_change_is_estimated_yet() -> None:
    """Early in a live run every change is missing: the unit must not fall back to cycles
    (and switch to ns a few blocks later)."""
    campaign = hvload.load(DATA / "amd-epyc-2vcpu-default.parquet")
    analysis = analyze(campaign, DEFAULT.replace(n_sim=0))
    columns = ["change_ns", "change_ns_low", "change_ns_high"]
    analysis.comparisons.loc[:, columns] = np.nan
    shown = comparisons_html(analysis, unit="ns")
    assert "change (ns)" in shown and "change (cycles)" not in shown
