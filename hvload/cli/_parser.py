"""The argparse parser of ``hvload``: every subcommand, its options and option groups, and the
function that runs it (``args.func``)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from ._analysis import cmd_compare, cmd_plan, cmd_report
from ._other import cmd_agent, cmd_check, cmd_dashboard, cmd_info, cmd_recover, cmd_survey
from ._run import cmd_run

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line: what is wrong and where help is.

    argparse prints the whole usage first (6 to 13 lines); the subcommands' parsers are
    made of this class too, so every argument error of ``hvload`` reads alike.
    """

    #: The subcommands' parsers by name (on the top parser), to report extras as theirs.
    commands: dict[str, argparse.ArgumentParser]

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            # argparse blames the top parser for a subcommand's unknown option.
            where = getattr(self, "commands", {}).get(getattr(parsed, "command", None), self)
            where.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {text}; see {self.prog} --help\n")


def _path(text: str) -> str:
    # An empty path would become Path('.') (the working folder) further down.
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is empty; give a file name")
    return text


def _add_analysis(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--threshold",
        default=None,
        help="practical threshold as a fraction of the reference's statistic (default 0.01)",
    )
    p.add_argument(
        "--correction",
        default=None,
        choices=["holm", "bh", "none"],
        help="multiple-comparison correction (default holm)",
    )
    p.add_argument("--alpha", default=None, help="significance level (default 0.05)")
    _add_exclude(p)


def _add_metric(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--metric",
        default=None,
        choices=["cycles", "response"],
        help="cycles: service time (default); response: open-loop response time from "
        "each sample's intended start",
    )


#: hvload.report.formats.FORMATS, written out: importing the report package here would load
#: scipy before every command (tests/test_report_formats.py checks the two agree).
FORMATS = ("text", "json", "html", "markdown", "csv")


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format", default=None, choices=FORMATS,
        help="text (default), json, html (one self-contained file), markdown (pipe tables "
        "for an issue comment) or csv (the tables, one file with a 'table' column)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON object on stdout "
                   "(the same as --format json)")  # fmt: skip
    p.add_argument(
        "-o", "--output", default=None, type=_path, metavar="OUT",
        help="write the report to this file instead of stdout (never a .parquet file)",
    )  # fmt: skip


def _add_exclude(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--exclude",
        default="warmup",
        help="flagged samples to leave out of the statistics: a comma list of warmup, "
        "migrated, outlier, or 'none' (default: warmup, the samples the design declared "
        "warm-up)",
    )


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="hvload",
        description="Measure hypercall and VM-exit latency from inside a virtual machine.",
    )
    parser.add_argument("--version", action="version", version=f"hvload {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="what this machine is and which traps it can issue")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--samples", type=int, default=2000, help="samples per trap in each probe burst")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "check",
        help="the conditions here that bias a measurement (isolation, governor, turbo, SMT, "
        "clocksource, TSC, steal, IRQs, mitigations, nesting, busy CPUs), each with its fix",
    )
    p.add_argument("--json", action="store_true", help="a JSON array of findings on stdout")
    p.add_argument("--probe-cpu", type=int, default=0, help="the CPU to check for (default 0)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "survey", help="which Hyper-V hypercalls suit repeated execution (thesis Table 7.1)"
    )
    p.add_argument(
        "--framework",
        choices=["thesis", "ring0-hypothetical", "hvload", "kernel"],
        default="thesis",
        help="whose capabilities to judge for (default: thesis, i.e. Table 7.1): hvload is "
        "hvload itself on this machine; ring0-hypothetical is a framework that does not exist "
        "(the thesis's plus rep calls and variable headers); changed rows are marked; kernel "
        "marks which calls a Linux guest kernel issues on behalf of user space (system calls, "
        "CPUID recommendation, Linux source), apart from the thesis's verdicts",
    )
    p.add_argument(
        "--explain",
        metavar="NAME",
        default=None,
        help="for one call (name or code): each TLFS fact and survey judgment, and which "
        "decided its verdict, with sources",
    )
    p.add_argument("--json", action="store_true", help="JSON on stdout (an array of objects)")
    p.set_defaults(func=cmd_survey)

    p = sub.add_parser("run", help="measure a probe trap under load levels (a campaign)")
    p.add_argument(
        "--probe",
        default="auto",
        help="trap to measure: auto, hypercall, cpuid, syscall or null (auto: hypercall "
        "where it works here, else cpuid)",
    )
    p.add_argument(
        "--load",
        default=None,
        help="trap the load workers issue: hypercall, cpuid, syscall or null (default: the "
        "probe's kind)",
    )
    p.add_argument(
        "--levels", default=None, help="load levels in percent of saturation, e.g. 0,25,50,75,100"
    )
    p.add_argument(
        "--cpu-levels",
        default=None,
        help="load levels as numbers of loaded CPUs, e.g. 0,1,2,4,8,15",
    )
    p.add_argument("--probe-cpu", type=int, default=None, help="CPU of the probe")
    p.add_argument("--load-cpus", default=None, help="CPUs for load, e.g. 1,2,3")
    p.add_argument("--samples", type=int, default=None, help="measured samples per block")
    p.add_argument("--warmup", type=int, default=None, help="warm-up samples per block")
    p.add_argument("--rounds", type=int, default=None, help="rounds (each runs every level)")
    p.add_argument("--probe-rate", default=None, help="probe samples per second (0: back to back)")
    p.add_argument("--seed", type=int, default=None, help="seed of the block order")
    p.add_argument(
        "--output",
        "-o",
        default=None,
        help="campaign file (default data/runs/<UTC time>-<host>.parquet)",
    )
    p.add_argument(
        "--baseline",
        default=None,
        help="reference level, written like the levels (a percent, or a CPU count); "
        "default: the lowest load",
    )
    p.add_argument(
        "--controls",
        default=None,
        help="control probes measured beside the probe in every block, e.g. null,syscall; "
        "'none' for the probe alone (default auto: null and syscall where they work)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds: 3 levels, 2 rounds (a smoke test: too small for any verdict)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    g = p.add_argument_group("sequential campaigns (rounds until every comparison is decided)")
    g.add_argument(
        "--until", default=None, metavar="decided",
        help="add rounds until every comparison is slower, faster or negligible, looking "
        "at planned rounds with alpha split over the looks (Bonferroni); instead of --rounds "
        "(decided-median: until every comparison of block medians is; decided-all: also "
        "every level-p99 comparison)",
    )  # fmt: skip
    g.add_argument(
        "--max-rounds", type=int, default=None, metavar="N",
        help="with --until: the most rounds (default 40); the last look is here",
    )  # fmt: skip
    g.add_argument(
        "--max-time", default=None, metavar="SECONDS",
        help="with --until: end at the first round's end after this long (that round is "
        "the last look)",
    )  # fmt: skip
    g.add_argument(
        "--looks", type=int, default=None, metavar="K",
        help="with --until: planned looks (default 4), each at alpha/K, the first where a "
        "verdict becomes reachable, the last at --max-rounds",
    )  # fmt: skip
    g = p.add_argument_group(
        "load from neighbour machines (hvload agent on each; needs 'hvload[cluster]')"
    )
    g.add_argument(
        "--scheduler", default=None, metavar="ADDRESS",
        help="the Dask scheduler the load agents are connected to, e.g. tcp://10.0.0.1:8786",
    )  # fmt: skip
    g.add_argument(
        "--vm-levels", default=None, metavar="LEVELS",
        help="levels over machines: counts of loaded agents (0,1,2,4), or agent names joined "
        "by + with an optional @load each (0,vm-b,vm-b+vm-c@50%%); 'local' is this machine",
    )  # fmt: skip
    g.add_argument(
        "--agents", default=None, metavar="NAMES",
        help="which agents, in this order (default: every connected agent, by name)",
    )  # fmt: skip
    g.add_argument(
        "--vm-load", default=None, metavar="LOAD",
        help="each loaded machine's load per CPU: max (back to back, the default), a percent "
        "of its saturation (50%%) or a rate (20000/s)",
    )  # fmt: skip
    g.add_argument(
        "--vm-cpus", default=None, metavar="CPUS",
        help="CPUs of each agent's machine to load, e.g. 1 (default: all it offers)",
    )  # fmt: skip
    g.add_argument(
        "--lease", default=None, metavar="SECONDS",
        help="agents stop their load by themselves after this long without word from this "
        "run (default 3)",
    )  # fmt: skip
    g.add_argument(
        "--agent-timeout", default=None, metavar="SECONDS",
        help="an agent that does not answer within this long is lost: the campaign stops, "
        "keeping its blocks (default 10)",
    )  # fmt: skip
    _add_analysis(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "agent",
        help="run this machine's load agent for campaigns measured on another machine "
        "(a Dask worker; needs 'hvload[cluster]')",
    )
    p.add_argument("scheduler", help="the Dask scheduler's address, e.g. tcp://10.0.0.1:8786")
    p.add_argument("--name", default=None, help="the agent's name (default: the host name)")
    p.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; give the address "
        "the measuring machine reaches this one at)",
    )  # fmt: skip
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free)")
    p.add_argument("--cpus", default=None, help="CPUs offered for load (default: all allowed)")
    p.add_argument(
        "--timeout", type=float, default=60.0,
        help="seconds to keep trying to reach the scheduler before giving up (default 60)",
    )  # fmt: skip
    p.set_defaults(func=cmd_agent)

    p = sub.add_parser("report", help="summaries, tests and verdicts for a campaign file")
    p.add_argument("file", type=_path, help="campaign file (.parquet) written by hvload run")
    _add_metric(p)
    p.add_argument(
        "--baseline", default=None, help="reference level by name (default: the recorded one)"
    )
    _add_format(p)
    _add_analysis(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "plan", help="rounds (and samples per block) a campaign needs to find a given change"
    )
    p.add_argument(
        "file", type=_path, help="a stored or pilot campaign (.parquet) from this machine"
    )
    p.add_argument(
        "--effect", default="2%", help="change to detect, e.g. 2%% or 0.02 (default 2%%)"
    )
    p.add_argument(
        "--on", default="median", choices=["median", "p99"], help="block statistic (median)"
    )
    p.add_argument("--power", default=None, help="wanted power, e.g. 80%% (default 80%%)")
    p.add_argument(
        "--levels", type=int, default=None, help="levels of the planned design (the pilot's)"
    )
    p.add_argument(
        "--samples", type=float, default=None, help="samples per block planned (the pilot's)"
    )
    _add_metric(p)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    _add_analysis(p)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser(
        "compare",
        help="campaigns (or groups of them) against each other, level by level",
        description="Compare campaign files, or every campaign in folders, level by level: "
        "typical block median and p99 side by side, Mann-Whitney tests treating campaigns "
        "as independent, verdicts with the practical threshold, and what cannot be "
        "compared (different level sets, probes, clocks). Needs pip install 'hvload[dataset]'.",
    )
    p.add_argument(
        "paths", nargs="+", type=_path, help="campaign files (.parquet) or folders of them"
    )
    p.add_argument(
        "--by",
        default=None,
        help="group campaigns by this metadata column (cpu_brand, host, kernel, hypervisor, "
        "probe, date, ...); default: every file is its own group",
    )
    p.add_argument("--reference", default=None, help="the group compared against (the first)")
    p.add_argument(
        "--unit",
        default="auto",
        choices=["auto", "block", "campaign"],
        help="unit of replication of the tests (auto: campaigns where every group has "
        "enough of them, else blocks)",
    )
    p.add_argument(
        "--probe",
        default=None,
        help="compare this probe of every campaign, by label (a control such as null or "
        "syscall/getppid); default: each campaign's main probe",
    )
    _add_metric(p)
    p.add_argument(
        "--normalise", default=None, choices=["minus-null", "over-syscall"],
        help="compare two campaigns' no-load exit cost relative to the controls measured in "
        "the same blocks: minus-null (exit minus the null control's timing floor, cycles) or "
        "over-syscall (exit over the syscall control: a scale free of the CPU clock)",
    )  # fmt: skip
    p.add_argument("--figure", default=None, help="also draw the figure to this file (.png)")
    p.add_argument(
        "--no-verify", action="store_true",
        help="skip verifying the files' page checksums and block digests (faster; the notes "
        "say the numbers are unverified)",
    )  # fmt: skip
    _add_format(p)
    _add_analysis(p)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser(
        "recover", help="write a campaign file from the finished blocks of a cut-off run"
    )
    p.add_argument(
        "path", type=_path, help="the campaign file the run was writing (its .parts folder exists)"
    )
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser(
        "dashboard",
        help="serve the explorer and browser as a web app (needs: pip install 'hvload[dashboard]')",
    )
    p.add_argument("--port", type=int, default=8866, help="port to listen on (default 8866)")
    p.add_argument(
        "--ip", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only)",
    )  # fmt: skip
    p.add_argument(
        "--token", default=None,
        help="the token the page asks for (default: $HVLOAD_DASHBOARD_TOKEN, else a new random "
        "one, printed with the URL); visible in ps: prefer --token-file",
    )  # fmt: skip
    p.add_argument(
        "--token-file", default=None, metavar="PATH",
        help="read the token from the first line of this file (chmod 600)",
    )  # fmt: skip
    p.add_argument("--data", default=None, help="directory of stored campaigns (default data/)")
    p.add_argument("--open", action="store_true", help="open the page in a web browser")
    p.set_defaults(func=cmd_dashboard)

    parser.commands = dict(sub.choices)
    return parser
