"""Analysis on the command line: the analysis options as an AnalysisConfig, and the commands
that render analyses (``hvload report``, ``plan``, ``compare``, and the summary that ends
``hvload run``).

Report rendering moves to a report package; its calls belong here.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from ._values import fraction

if TYPE_CHECKING:
    from .. import stats
    from ..model import Campaign

__all__ = ["analysis_config", "cmd_compare", "cmd_plan", "cmd_report", "summary"]


_FRACTIONS = ("threshold", "alpha")


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


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import CampaignReport
    from ..store import StoredCampaign

    # The block policy, the analysis and what was left out: as every entry point shows it.
    # Verified and analysed block by block: memory does not grow with the campaign.
    report = CampaignReport.build(StoredCampaign.verified(args.file), analysis_config(args))
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report.to_text())
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from ..report import plan
    from ..store import StoredCampaign

    config = analysis_config(args)
    if args.power is not None:
        config = config.replace(power=fraction(args.power, "--power"))
    effect = fraction(args.effect, "--effect")  # refused before the file is read
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


def cmd_compare(args: argparse.Namespace) -> int:
    # Not re-exported by hvload.datasets: compare is its own public submodule.
    from ..datasets.compare import compare

    config = analysis_config(args)
    if args.probe is not None:
        config = config.replace(probe=args.probe)
    # Every file is verified (checksums, digests) before its statistics are used unless
    # --no-verify: a damaged file ends the command in one line naming the file and block.
    result = compare(args.paths, by=args.by, reference=args.reference, unit=args.unit,
                     config=config, verify=not args.no_verify)  # fmt: skip
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        result.figure().savefig(args.figure, dpi=110)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.to_text())
        if args.figure:
            sys.stdout.write(f"figure written to {args.figure}\n")
    return 0
