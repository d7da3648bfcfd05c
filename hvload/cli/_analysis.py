"""Analysis on the command line: the analysis options as an AnalysisConfig, and the commands
that render analyses (``hvload report``, ``plan``, ``compare``, and the summary that ends
``hvload run``).

Report rendering moves to a report package; its calls belong here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
from typing import TYPE_CHECKING, Any

from ._values import fraction

if TYPE_CHECKING:
    from .. import stats
    from ..model import Campaign

__all__ = ["analysis_config", "cmd_compare", "cmd_plan", "cmd_report", "summary"]


_FRACTIONS = ("threshold", "alpha")
#: The most levels `hvload plan --levels` plans for: more than any campaign hvload runs
#: (101 percents, one per CPU of a large guest); its test family grows with the levels.
MAX_PLAN_LEVELS = 256


def _exclude(text: str) -> tuple[str, ...]:
    from ..stats import EXCLUDABLE

    if text.strip().lower() == "none":
        return ()
    flags = tuple(tok.strip() for tok in text.split(",") if tok.strip())
    bad = [f for f in flags if f not in EXCLUDABLE]
    if bad:
        raise ValueError(f"--exclude {text!r}: {bad} not allowed; use 'none' or {EXCLUDABLE}")
    return flags


def analysis_config(args: argparse.Namespace) -> stats.AnalysisConfig:
    """The analysis configuration the options ask for (validated before any measuring)."""
    from .. import stats

    changes: dict[str, Any] = {"exclude": _exclude(args.exclude)}
    # `hvload run --baseline` names a level to measure, not an analysis option.
    names = ("threshold", "correction", "alpha", "metric") + (
        ("baseline",) if args.command != "run" else ()
    )
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            # --threshold and --alpha are fractions: "2%" or "0.02", never a bare 2.
            changes[name] = fraction(value, f"--{name}") if name in _FRACTIONS else value
    return stats.DEFAULT.replace(**changes)


def summary(camp: Campaign, config: stats.AnalysisConfig) -> str:
    """The brief report ``hvload run`` prints after measuring (the block policy applied)."""
    from ..report import CampaignReport

    return CampaignReport.build(camp, config).to_text(brief=True)


def _format(args: argparse.Namespace) -> str:
    """The output format asked for: --json is --format json; both must agree."""
    fmt = getattr(args, "format", None)
    if args.json and fmt not in (None, "json"):
        raise ValueError(f"--json and --format {fmt} disagree; give one of them")
    return "json" if args.json else (fmt or "text")


def _check_output(args: argparse.Namespace, inputs: list[str]) -> None:
    """Refuse an output file that would overwrite a campaign (before anything is read)."""
    import os

    out = getattr(args, "output", None)
    if out is None:
        return
    if out.endswith(".parquet") or any(
        os.path.exists(p) and os.path.exists(out) and os.path.samefile(p, out) for p in inputs
    ):
        raise ValueError(f"-o {out!r} would overwrite a campaign file; give a new file name "
                         "such as report.html")  # fmt: skip
    if os.path.isdir(out):
        raise ValueError(f"-o {out!r} is a folder; give a file name such as report.html")


def _emit(args: argparse.Namespace, text: str) -> None:
    """``text`` to stdout, or to ``-o`` (written whole under a temporary name, then renamed:
    a stopped command leaves no half report)."""
    out = getattr(args, "output", None)
    if out is None:
        sys.stdout.write(text)
        return
    import os
    import tempfile

    folder = os.path.dirname(os.path.abspath(out))
    fd, tmp = tempfile.mkstemp(prefix=".hvload-report-", dir=folder)
    try:
        # mkstemp makes the file private (0600); a report is meant to be shared.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sys.stderr.write(f"report written to {out}\n")


def _band(camp: Campaign) -> list[str]:
    """The campaign's exit cost against the published costs, as lines (none if unknown)."""
    from ..survey.exit_costs import band_lines

    return band_lines(camp.metadata)


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import CampaignReport
    from ..report.formats import render_report
    from ..store import StoredCampaign

    fmt = _format(args)
    _check_output(args, [args.file])
    config = analysis_config(args)
    # Verified and analysed block by block: memory does not grow with the campaign.
    camp = StoredCampaign.verified(args.file)
    # A baseline that is no level is refused before the analysis starts (seconds on a busy
    # machine), in the analysis's own words; it checks the same again.
    levels = [lv["name"] for lv in camp.metadata["design"]["levels"]]
    if config.baseline is not None and config.baseline not in levels:
        raise ValueError(
            f"baseline={config.baseline!r} is not a level of this campaign; levels: {levels}"
        )
    # The block policy, the analysis and what was left out: as every entry point shows it.
    report = CampaignReport.build(camp, config)
    band = _band(camp) if fmt in ("text", "markdown", "html") else None
    _emit(args, render_report(report, fmt, band=band))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from ..report import plan
    from ..store import StoredCampaign

    config = analysis_config(args)
    if args.power is not None:
        config = config.replace(power=fraction(args.power, "--power"))
    effect = fraction(args.effect, "--effect")  # refused before the file is read
    # Both refused before the file is read too: the plan would otherwise search for
    # minutes (a family of 1e20 tests; a power that no number of rounds reaches).
    if args.levels is not None and not 2 <= args.levels <= MAX_PLAN_LEVELS:
        raise ValueError(
            f"--levels {args.levels} is not allowed; plan for 2 to {MAX_PLAN_LEVELS} levels"
        )
    if args.samples is not None and not (math.isfinite(args.samples) and args.samples >= 1):
        raise ValueError(f"samples_per_block={args.samples!r} must be a number >= 1")
    if 0 < effect <= config.threshold and config.power > 0.5:
        raise ValueError(
            f"--effect {100 * effect:g}% is not above the practical threshold "
            f"{100 * config.threshold:g}% (--threshold): at best half of such campaigns "
            f"estimate it beyond the threshold, so no number of rounds reaches "
            f"{100 * config.power:g}% power; plan for a larger effect or a lower threshold"
        )
    camp = StoredCampaign.verified(args.file)  # analysed block by block
    # The pilot's blocks as the block policy admits them (those `hvload report` analyses).
    result = plan(
        camp,
        effect,
        on=args.on,
        n_levels=args.levels,
        samples_per_block=args.samples,
        config=config,
    )
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.to_text())
    return 0


def _refuse_a_run(path: str) -> None:
    """A missing file with a run's ``.parts`` folder or ``.lock`` beside it is that run's.

    ``hvload.store.load`` names such a run (in progress: who writes it; cut off: how many
    blocks wait for ``hvload recover``), where the file finder of compare would only say
    that no such file exists; report and plan read through load and say so already.
    """
    from pathlib import Path

    p = Path(path)
    if p.exists() or not any(p.with_name(p.name + end).exists() for end in (".parts", ".lock")):
        return
    from ..store import load

    load(p)  # raises: the file is not there


def cmd_compare(args: argparse.Namespace) -> int:
    # Not re-exported by hvload.datasets: compare is its own public submodule.
    from ..datasets.compare import compare

    fmt = _format(args)
    _check_output(args, list(args.paths))
    if getattr(args, "normalise", None):
        return _compare_normalised(args, fmt)
    config = analysis_config(args)
    if args.probe is not None:
        config = config.replace(probe=args.probe)
    for path in args.paths:
        _refuse_a_run(path)
    import os

    # One file named once or more is one group whatever else is asked: said before the
    # file is read and verified (seconds), in the comparison's own words.
    distinct = {os.path.realpath(p) for p in args.paths}
    if len(distinct) == 1 and os.path.isfile(next(iter(distinct))):
        raise ValueError("nothing to compare: only one campaign file; compare at least two groups")
    # Every file is verified (checksums, digests) before its statistics are used unless
    # --no-verify: a damaged file ends the command in one line naming the file and block.
    result = compare(args.paths, by=args.by, reference=args.reference, unit=args.unit,
                     config=config, verify=not args.no_verify)  # fmt: skip
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        result.figure().savefig(args.figure, dpi=110)
    if fmt == "text":
        text = result.to_text()
        if args.figure:
            text += f"figure written to {args.figure}\n"
        _emit(args, text)
    else:
        from ..report.formats import render_comparison

        _emit(args, render_comparison(result, fmt))
    return 0


def _compare_normalised(args: argparse.Namespace, fmt: str) -> int:
    """``hvload compare A B --normalise SCALE``: the no-load exit cost of two campaigns
    relative to their in-block controls (hvload.report.normalised)."""
    from pathlib import Path

    from ..report.normalised import compare_normalised
    from ..store import load

    if len(args.paths) != 2 or any(Path(p).is_dir() for p in args.paths):
        raise ValueError(f"--normalise {args.normalise} compares two campaign files; got "
                         f"{len(args.paths)} path(s)")  # fmt: skip
    if fmt not in ("text", "json"):
        raise ValueError(f"--normalise {args.normalise} prints text or json; not --format {fmt}")
    camps = {Path(p).stem: load(p) for p in args.paths}
    if len(camps) != 2:
        raise ValueError("--normalise needs two different campaign files")
    result = compare_normalised(camps, args.normalise)
    _emit(args, json.dumps(result.to_dict(), indent=2) + "\n" if fmt == "json"
          else result.to_text())  # fmt: skip
    return 0
