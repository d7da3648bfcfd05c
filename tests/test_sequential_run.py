"""One real sequential campaign: ``hvload run --quick --until decided`` on this machine.

Short (a few dozen blocks of 500 samples, no controls): it checks the pieces fit, not
the statistics (``test_sequential_validation.py``): the file's metadata lists the looks
taken, the file holds exactly the rounds up to the last look, and ``hvload report``
(text and JSON) states the looks and gives the last look's verdicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from markers import needs_two, needs_x86

import hvload


@needs_x86
@needs_two
def test_hvload_run_until_decided_records_and_reports_its_looks(tmp_path: Path, cli: Any) -> None:
    out = tmp_path / "seq.parquet"
    code, stdout, err = cli(
        "run", "--quick", "--until", "decided", "--max-rounds", "10", "--looks", "2",
        "--samples", "500", "--controls", "none", "--seed", "7", "--no-progress",
        "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "up to 10 rounds (sequential: looks at rounds 9, 10, each at alpha 0.025)" in err
    assert "the verdicts are sequential" in stdout
    camp = hvload.load(out)
    record = camp.metadata["sequential"]
    assert record["until"] == "decided" and record["planned"] == [9, 10]
    assert record["alpha_per_look"] == 0.025
    taken = record["looks"]
    assert 1 <= len(taken) <= 2
    assert [t["rounds"] for t in taken] == [9, 10][: len(taken)]
    assert [t["alpha_spent"] for t in taken] == [0.025, 0.05][: len(taken)]
    # The run stopped at the end of its last look's round: nothing measured after it.
    assert int(camp.blocks["round"].max()) + 1 == taken[-1]["rounds"]
    assert len(camp.blocks) == 3 * taken[-1]["rounds"]
    assert "stopped" not in camp.metadata
    assert record["stopped_by"].startswith(
        "every comparison decided" if taken[-1]["decided"] else "max_rounds reached"
    )

    code, text, err = cli("report", str(out))
    assert code == 0, err
    assert "the verdicts are sequential, each look analysed at alpha 0.05/2 = 0.025" in text
    for t in taken:
        assert f"look {t['look']}: {t['rounds']} rounds, alpha spent {t['alpha_spent']:.4g}" in text
    code, js, err = cli("report", "--json", str(out))
    assert code == 0, err
    report = json.loads(js)
    assert report["sequential"]["looks"] == taken
    assert report["sequential"]["verdicts_are_sequential"] is True
    assert report["settings"]["alpha"] == 0.025
    # The report's verdicts are the last look's: one analysis, with the same block policy.
    final = {f"{c['reference']} vs {c['level']} {c['on']}": c["verdict"]
             for c in report["comparisons"]}  # fmt: skip
    assert final == taken[-1]["verdicts"]
