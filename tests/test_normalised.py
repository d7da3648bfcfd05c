"""Exit cost relative to the in-block controls (issue 22, item 4), on the shipped campaigns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import hvload
from hvload.report.normalised import (
    NORMALISATIONS,
    compare_normalised,
    normalised_blocks,
    normalised_levels,
    normalised_text,
)

DATA = Path(__file__).resolve().parents[1] / "data"
AMD = DATA / "amd-epyc-2vcpu-controls.parquet"
INTEL = DATA / "intel-xeon-16vcpu-controls.parquet"
NO_CONTROLS = DATA / "amd-epyc-2vcpu-default.parquet"

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def camps() -> dict[str, hvload.Campaign]:
    return {"amd": hvload.load(AMD), "intel": hvload.load(INTEL)}


def test_block_values_are_the_block_medians_of_main_and_controls(camps: dict) -> None:
    camp = camps["intel"]
    blocks = normalised_blocks(camp)
    assert blocks.attrs["controls"] == {"null": "null", "syscall": "syscall/getppid"}
    assert len(blocks) == 6 * 60
    # One block recomputed from the samples by hand.
    s = camp.samples
    one = s[(s["round"] == 7) & (s["level_index"] == 3) & ~s["warmup"].astype(bool)]
    med = {i: float(np.median(one[one["probe_index"] == i]["cycles"])) for i in (0, 1, 2)}
    row = blocks[(blocks["round"] == 7) & (blocks["level_index"] == 3)].iloc[0]
    assert row["level"] == "4 CPUs"
    assert row["minus-null"] == med[0] - med[1]
    assert row["over-syscall"] == pytest.approx(med[0] / med[2])


def test_levels_carry_intervals_around_the_typical_block(camps: dict) -> None:
    levels = normalised_levels(camps["intel"])
    assert list(levels["level"]) == ["0 CPUs", "1 CPU", "2 CPUs", "4 CPUs", "8 CPUs", "15 CPUs"]
    for scale in NORMALISATIONS:
        assert (levels[f"{scale}_low"] <= levels[scale]).all()
        assert (levels[scale] <= levels[f"{scale}_high"]).all()
    # The null floor is about 50 cycles: exit - null is a little below the exit's own median.
    assert (levels["minus-null"] < 2_600).all() and (levels["minus-null"] > 2_300).all()
    text = normalised_text(camps["intel"])
    assert text[0].startswith("Normalised to the controls in the same blocks (null, syscall")
    assert normalised_text(hvload.load(NO_CONTROLS)) == []


@pytest.mark.parametrize("scale", sorted(NORMALISATIONS))
def test_amd_against_intel_reports_the_ratio_and_the_controls(camps: dict, scale: str) -> None:
    result = compare_normalised(camps, scale)
    assert result.reference_level == "0%" and result.other_level == "0 CPUs"
    assert result.n_reference == 40 and result.n_other == 60
    assert result.ratio_low < result.ratio < result.ratio_high
    # The ratio of the typical values lies in the interval of the shift estimate.
    assert result.ratio_low < result.other_value / result.reference_value < result.ratio_high
    control = NORMALISATIONS[scale][0]
    assert result.controls["amd"].startswith(control)
    assert f"controls used: {result.controls['amd']} in amd" in result.to_text()
    # Swapping the campaigns inverts the ratio and its interval.
    back = compare_normalised({"intel": camps["intel"], "amd": camps["amd"]}, scale)
    assert back.ratio == pytest.approx(1 / result.ratio)
    assert back.ratio_low == pytest.approx(1 / result.ratio_high)


def test_the_scales_disagree_where_clock_and_exit_path_differ(camps: dict) -> None:
    # In cycles the Intel guest's exit is cheaper, but it costs more system calls: the
    # scale chosen changes the answer, which is why the README explains both.
    assert compare_normalised(camps, "minus-null").ratio < 0.9
    assert compare_normalised(camps, "over-syscall").ratio > 1.1


def test_cli_normalised_compare(cli: Cli) -> None:
    code, out, err = cli("compare", str(AMD), str(INTEL), "--normalise", "over-syscall")
    assert code == 0, err
    assert "controls used: syscall/getppid in amd-epyc-2vcpu-controls" in out
    assert "ratio intel-xeon-16vcpu-controls / amd-epyc-2vcpu-controls: 1.1" in out
    code, out, err = cli("compare", str(AMD), str(INTEL), "--normalise", "minus-null", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["scale"] == "minus-null" and data["controls"]["amd-epyc-2vcpu-controls"] == "null"
    code, out, err = cli("compare", str(NO_CONTROLS), str(INTEL), "--normalise", "minus-null")
    assert code == 2 and out == "" and "has no null control" in err
    code, _, err = cli("compare", str(AMD), str(INTEL), "--normalise", "minus-null",
                       "--format", "csv")  # fmt: skip
    assert code == 2 and "prints text or json" in err
