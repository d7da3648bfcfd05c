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
    p.add_argument(
        "--samples", type=int, default=2000, help="samples per trap in the probe burst (default 2000)"
    )
    p.set_defaults(func=_cmd_info)

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
