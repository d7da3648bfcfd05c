"""The subcommands that are one call each into the package: ``hvload info``, ``survey``,
``recover``, ``agent`` and ``dashboard``."""

from __future__ import annotations

import argparse
import json
import math
import sys

from ._values import int_list

__all__ = ["cmd_agent", "cmd_check", "cmd_dashboard", "cmd_info", "cmd_recover", "cmd_survey"]


def cmd_info(args: argparse.Namespace) -> int:
    from ..measure.machine import format_platform, platform

    if not 1 <= args.samples <= 10_000_000:
        raise ValueError(f"--samples {args.samples} is not allowed; use 1 to 10,000,000")
    info = platform(probe_samples=args.samples, kernel_samples=args.samples)
    band = _band(info.to_dict())
    if args.json:
        json.dump({**info.to_dict(), "exit_cost_band": band}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_platform(info))
        if band:
            sys.stdout.write("against published exit costs\n"
                             + "".join(f"  {line}\n" for line in band))  # fmt: skip
    return 0


def _band(info: dict[str, object]) -> list[str]:
    """This machine's exit cost against the published ones, with what hvload check reads."""
    from ..measure.check import check, to_metadata
    from ..survey.exit_costs import band_lines

    affinity = info.get("cpu_affinity")
    cpu = min(affinity) if isinstance(affinity, list) and affinity else 0
    findings = to_metadata(check(cpu, interval=0.1))
    return band_lines({"platform": info, "hygiene": findings})


def cmd_check(args: argparse.Namespace) -> int:
    import os

    from ..measure.check import check, format_findings

    allowed = sorted(os.sched_getaffinity(0))
    if args.probe_cpu not in allowed:
        raise ValueError(f"--probe-cpu {args.probe_cpu} is not allowed; allowed: {allowed}")
    findings = check(args.probe_cpu)
    if args.json:
        json.dump([f.to_dict() for f in findings], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_findings(findings))
    return 0


def cmd_survey(args: argparse.Namespace) -> int:
    from ..survey import (
        KERNEL,
        THESIS,
        catalog,
        changes,
        classify,
        explain,
        format_report,
        get_profile,
        kernel,
        survey,
    )

    profile = get_profile(args.framework)
    if args.explain is not None:
        key = args.explain.strip()
        try:
            call = catalog.get(int(key, 0) if key[:1].isdigit() else key)
        except (KeyError, ValueError):
            raise ValueError(
                f"--explain {args.explain!r}: no surveyed hypercall has that name or code; give "
                "a TLFS or Table 7.1 name (e.g. HvVtlCall) or a call code (e.g. 0x0011); "
                "`hvload survey` lists all 26"
            ) from None
        if args.json and profile.name == KERNEL.name:
            json.dump(kernel.mark(call).to_dict(detail=True), sys.stdout, indent=2)
            sys.stdout.write("\n")
        elif args.json:
            json.dump(classify(call, profile).to_dict(detail=True), sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            sys.stdout.write(explain(call, profile))
        return 0
    if args.json and profile.name == KERNEL.name:
        # The kernel profile's rows are marks (issued or not), not verdicts: nothing to compare.
        json.dump([m.to_dict() for m in kernel.kernel_survey()], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if args.json:
        # Rows are compared against the thesis's framework, the profile Table 7.1 was made for.
        changed = {c.after.call.name: c.before for c in changes(THESIS, profile)}
        objects = [a.to_dict() for a in survey(profile)]
        for obj in objects:
            before = changed.get(str(obj["name"]))
            obj["changed_from"] = before.verdict.value if before else None
            obj["framework_description"] = profile.description
        json.dump(objects, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    sys.stdout.write(format_report(profile, THESIS))
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from ..store import recover

    camp = recover(args.path)
    design = camp.metadata.get("design") or {}
    total = int(design.get("rounds", 0)) * len(design.get("levels") or ())
    sys.stdout.write(f"recovered {len(camp.blocks)} of {total} blocks into {camp.path}\n")
    for line in camp.metadata.get("recover_skipped") or ():
        sys.stderr.write(f"hvload recover: left out (kept in {args.path}.parts): {line}\n")
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from ..workload.remote import serve_agent

    address = args.scheduler.strip()
    if not address or any(c.isspace() for c in address):
        raise ValueError(f"scheduler {args.scheduler!r} is not an address; write e.g. "
                         "tcp://10.0.0.1:8786")  # fmt: skip
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port {args.port} is not allowed; use 0 (any free port) to 65535")
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ValueError(f"--timeout {args.timeout} is not allowed; give a number of seconds > 0")
    cpus = int_list(args.cpus, "--cpus") if args.cpus is not None else None
    if cpus is not None:
        import os

        allowed = sorted(os.sched_getaffinity(0))
        bad = [c for c in cpus if c not in allowed]
        if bad:
            raise ValueError(
                f"--cpus {args.cpus!r}: CPU(s) {bad} not allowed here; allowed: {allowed}"
            )
    from .._optional import check_extra

    check_extra("distributed", "hvload agent")
    serve_agent(
        address, name=args.name, host=args.host, port=args.port, cpus=cpus,
        death_timeout=args.timeout,
        report=lambda line: (sys.stderr.write(line + "\n"), sys.stderr.flush()),
    )  # fmt: skip
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from ..widgets.dashboard import serve, token_from

    token, notes = token_from(args.token, args.token_file)
    serve(
        port=args.port, ip=args.ip, token=token, data_dir=args.data, open_browser=args.open,
        notes=notes,
    )  # fmt: skip
    return 0  # not reached: the server replaces this process
