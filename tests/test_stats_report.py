"""The text and JSON renderings of hvload.stats (the stable interface of `hvload report`)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from stats_synthetic import synthetic_campaign

from hvload.stats import VERDICTS, Analysis, analyze, to_dict, to_text


def _analysis(**kwargs: object) -> Analysis:
    frame = synthetic_campaign(3, shift=[1.0, 1.0, 1.0, 1.0, 1.03])
    return analyze(frame, **kwargs)


def test_text_has_levels_cis_tests_and_verdicts() -> None:
    result = _analysis(tsc_hz=3.0e9)
    text = to_text(result)
    assert text == str(result) == result.to_text()
    assert "Per level, cycles" in text and "Per level, ns" in text
    assert "95% CI" in text
    assert "Friedman" in text and "Page" in text
    assert "Holm-adjusted over 14 tests" in text
    assert "descriptive only" in text
    for label in ("0%", "25%", "50%", "75%", "100%"):
        assert f"\n{label} " in text
    assert "slower" in text
    assert text.endswith("\n")


def test_brief_text_for_run_summary() -> None:
    result = _analysis(tsc_hz=3.0e9)
    text = to_text(result, brief=True)
    assert text.splitlines()[1].split() == ["level", "n", "median", "p99", "p99.9"]
    assert "Per level, ns" in text
    assert "Friedman" not in text


def test_text_without_tsc_says_so() -> None:
    text = to_text(_analysis())
    assert "TSC frequency unknown" in text
    assert "Per level, ns" not in text
    assert "no TSC frequency" in text


def test_dict_is_json_and_matches_frames() -> None:
    result = _analysis(tsc_hz=3.0e9, correction="bh")
    d = to_dict(result)
    assert d == result.to_dict()
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert set(back) == {
        "design", "settings", "methods", "levels", "noise", "omnibus", "trend", "comparisons",
        "tail_comparisons", "attribution", "notes",
    }  # fmt: skip
    assert len(back["tail_comparisons"]) == 7
    assert {c["on"] for c in back["tail_comparisons"]} == {"level_p99"}
    assert [row["on"] for row in back["noise"]] == ["median", "p99"]
    assert back["settings"]["correction"] == "bh"
    assert [lv["level"] for lv in back["levels"]] == ["0%", "25%", "50%", "75%", "100%"]
    assert len(back["comparisons"]) == len(result.comparisons) == 14
    levels = pd.DataFrame(back["levels"])
    np.testing.assert_allclose(levels["median"], result.levels["median"])
    assert back["omnibus"]["median"]["test"] == "friedman"
    assert back["comparisons"][0]["verdict"] in set(VERDICTS)


def test_nan_becomes_null_in_json() -> None:
    frame = synthetic_campaign(4, n_rounds=1)
    d = to_dict(analyze(frame))
    text = json.dumps(d, allow_nan=False)
    assert '"pvalue": null' in text
    assert '"verdict": "not enough data"' in text


def test_result_objects_look_like_scipys() -> None:
    result = _analysis(tsc_hz=3.0e9)
    t = result.omnibus["median"]
    assert hasattr(t, "statistic") and hasattr(t, "pvalue")
    c = result.comparison("0%", "100%")
    ci = c.confidence_interval()
    assert ci.low <= c.effect <= ci.high
    assert c.to_dict()["verdict"] == c.verdict
    assert result.level("100%").to_dict()["level"] == "100%"
