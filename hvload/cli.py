"""The ``hvload`` command line: one subcommand per job, each a thin call into the package."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _cmd_info(args: argparse.Namespace) -> int:
    from .machine import format_platform, platform

    info = platform(probe_samples=args.samples)
    if args.json:
        json.dump(info.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_platform(info))
    return 0


def _cmd_survey(args: argparse.Namespace) -> int:
    from .survey import PROFILES, THESIS, changes, format_table, survey

    profile = PROFILES[args.framework]
    rows = survey(profile)
    # Rows are compared against the thesis's framework, the profile Table 7.1 was made for.
    changed = {c.after.call.name: c.before for c in changes(THESIS, profile)}
    if args.json:
        objects = [a.to_dict() for a in rows]
        for obj in objects:
            before = changed.get(str(obj["name"]))
            obj["changed_from"] = before.verdict.value if before else None
        json.dump(objects, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(f"Hypercall survey for {profile.description}\n\n")
    sys.stdout.write(format_table(rows, changed))
    if changed:
        sys.stdout.write("\nChanged against the thesis's framework (Table 7.1):\n")
        for name, before in changed.items():
            after = next(a for a in rows if a.call.name == name)
            sys.stdout.write(
                f"  {name}: {before.verdict.value} -> {after.verdict.value}\n"
                f"    was: {'; '.join(before.reasons)}\n"
                f"    now: {'; '.join(after.reasons)}\n"
            )
    return 0


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="hvload",
        description="Measure hypercall and VM-exit latency from inside a virtual machine.",
    )
    parser.add_argument("--version", action="version", version=f"hvload {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="what this machine is and which traps it can issue")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--samples", type=int, default=2000, help="samples per trap in each probe burst")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "survey", help="which Hyper-V hypercalls suit repeated execution (thesis Table 7.1)"
    )
    p.add_argument(
        "--framework",
        choices=["thesis", "hvload"],
        default="thesis",
        help="whose capabilities to judge for (default: thesis); changed rows are marked",
    )
    p.add_argument("--json", action="store_true", help="a JSON array of objects on stdout")
    p.set_defaults(func=_cmd_survey)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        parser.exit(2, f"hvload {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
