"""Every subcommand's options given values that are invalid for them (negative, zero, NaN,
infinite, huge, empty, unicode, a wrong unit): each ends in exit 2 and exactly one line on
stderr, creates nothing in the working folder and is refused within a second (issue 21,
item 5).

Most cases run in this process through the ``cli`` fixture (fast); a few run ``python -m
hvload`` to check what a refused ``hvload run`` imports and how long a cold start takes.
A value that is valid for an option is left out, with a comment saying why.
"""

from __future__ import annotations

import functools
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import hvload.campaign
import hvload.store
import hvload.workload.remote
from hvload import cli as cli_package

ROOT = Path(__file__).resolve().parents[1]
#: The smallest shipped campaign: report and plan need a real file to get to their options.
FILE = str(ROOT / "data" / "intel-xeon-16vcpu-cpu-levels.parquet")

NEG, ZERO, NAN, INF, HUGE, EMPTY, UNI, UNIT = (
    "-1", "0", "nan", "inf", "1e400", "", "ü", "5ms",
)  # fmt: skip
BIG_INT = "99999999999999999999"
ALL = (NEG, ZERO, NAN, INF, HUGE, BIG_INT, EMPTY, UNI, UNIT, "50%")


def _without(*valid: str) -> tuple[str, ...]:
    return tuple(v for v in ALL if v not in valid)


# Per subcommand: option -> the values that are invalid for it. Values left out are valid:
# a comment says why. (Python's int() also takes unicode digits such as "５", so those are
# valid wherever an integer is; "ü" is the unicode case.)
RUN: dict[str, tuple[str, ...]] = {
    "--probe": ALL,
    "--load": ALL,
    # 0 and 50% are load levels; the fractions are percents of saturation.
    "--levels": _without(ZERO, "50%"),
    # 0 loaded CPUs is a level.
    "--cpu-levels": _without(ZERO),
    # CPU 0 is a CPU.
    "--probe-cpu": _without(ZERO),
    "--load-cpus": ALL,
    "--samples": ALL,
    # No warm-up is allowed.
    "--warmup": _without(ZERO),
    "--rounds": ALL,
    # 0 is back to back.
    "--probe-rate": _without(ZERO),
    # Any seed from 0 up, however large.
    "--seed": _without(ZERO, BIG_INT),
    # Any non-empty text names a campaign file.
    "--output": (EMPTY,),
    # 0 and 50% name levels of the default design.
    "--baseline": _without(ZERO, "50%"),
    "--controls": ALL,
    # No practical threshold is allowed; 50% is a threshold written as a percent.
    "--threshold": _without(ZERO, "50%"),
    "--alpha": ALL,
    "--correction": ALL,
    # An empty list excludes nothing.
    "--exclude": _without(EMPTY),
    "--scheduler": ALL,
}
#: Options that need --scheduler; values that could be agent names or counts are only
#: known to be wrong once the agents answer, so they are left out.
REMOTE: dict[str, tuple[str, ...]] = {
    "--vm-levels": (NEG, EMPTY, UNIT, "50%"),
    "--vm-load": _without("50%"),  # a percent of saturation
    "--vm-cpus": (NEG, NAN, INF, HUGE, EMPTY, UNI, UNIT, "50%"),
    "--lease": ALL,
    "--agent-timeout": ALL,
    # Agent names are free text; only the empty list is wrong before connecting.
    "--agents": (EMPTY,),
}
OTHERS: dict[str, dict[str, tuple[str, ...]]] = {
    "info": {"--samples": ALL},
    # --explain takes any text; "0" and the other numbers are not call codes.
    "survey": {"--framework": ALL, "--explain": _without()},
    # The port 0 is any free port; CPU 0 is a CPU; a timeout of 1e20 s is finite.
    "agent": {
        "--port": _without(ZERO),
        "--timeout": _without(BIG_INT),
        "--cpus": _without(ZERO),
    },
    # --ip and --token are free text (a host name, a secret): only empty is wrong.
    "dashboard": {"--port": ALL, "--ip": (EMPTY,), "--token": (EMPTY,), "--data": (EMPTY,)},
    # 0 and 50% (and the threshold 0) are valid; report's --baseline names a recorded level.
    "report": {
        "--metric": ALL,
        "--baseline": _without("50%"),
        "--threshold": _without(ZERO, "50%"),
        "--correction": ALL,
        "--alpha": ALL,
        "--exclude": _without(EMPTY),
    },
    # Plan's effect and power are fractions or percents; its sample counts may be huge,
    # its levels 2 to 256 (more searched for minutes). A threshold of 50% is not below
    # the default effect (2%): no number of rounds would find it, so it is refused too.
    "plan": {
        "--effect": _without("50%"),
        "--on": ALL,
        "--power": _without("50%"),
        "--levels": ALL,
        "--threshold": _without(ZERO),
        "--samples": _without(BIG_INT),
        "--metric": ALL,
        "--alpha": ALL,
        "--exclude": _without(EMPTY),
    },
    # compare's --by, --reference and --probe are checked against the loaded campaigns.
    "compare": {
        "--unit": ALL,
        "--metric": ALL,
        "--threshold": _without(ZERO),
        "--alpha": ALL,
        "--exclude": _without(EMPTY),
    },
}
#: What each subcommand needs before its options.
FIRST = {
    "agent": ["tcp://127.0.0.1:1"],
    "report": [FILE],
    "plan": [FILE],
    "compare": [FILE, FILE],
}


def _argv(option: str, value: str) -> list[str]:
    # "--opt=-1": a value that starts with "-" would otherwise read as an option.
    return [f"{option}={value}"] if value.startswith("-") else [option, value]


def _cases() -> Iterator[object]:
    for option, values in RUN.items():
        for value in values:
            yield pytest.param(["run", *_argv(option, value)], id=f"run {option} {value!r}")
    for option, values in REMOTE.items():
        for value in values:
            argv = ["run", "--scheduler", "tcp://127.0.0.1:1", *_argv(option, value)]
            yield pytest.param(argv, id=f"run {option} {value!r}")
    for command, options in OTHERS.items():
        for option, values in options.items():
            for value in values:
                argv = [command, *FIRST.get(command, []), *_argv(option, value)]
                yield pytest.param(argv, id=f"{command} {option} {value!r}")
    # The positional arguments.
    for command in ("report", "plan", "compare", "recover"):
        yield pytest.param([command, ""], id=f"{command} ''")
    for address in ("", "garbage", "tls://", "tcp://:8786", "tcp://host", "tcp://h:99999",
                    "http://h:1", "tcp://h:-1", "tcp://ü:x"):  # fmt: skip
        yield pytest.param(["agent", address], id=f"agent {address!r}")
    for value in (NEG, ZERO, NAN, INF, EMPTY, UNI):
        yield pytest.param(["agent", "tcp://h:1", *_argv("--timeout", value)],
                           id=f"agent --timeout {value!r} (again)")  # fmt: skip
    # A bare 5 is 500 % (refused as a fraction); 3% is above the default effect (2%).
    for value in ("5", "3%", "2%"):
        yield pytest.param(["plan", FILE, "--threshold", value], id=f"plan --threshold {value!r}")
    yield pytest.param(["plan", FILE, "--levels", "257"], id="plan --levels 257")
    # An unknown option or subcommand, and none at all.
    yield pytest.param(["run", "--bogus"], id="run --bogus")
    yield pytest.param(["bogus"], id="bogus")
    yield pytest.param([], id="nothing")


def _never(what: str) -> Callable[..., None]:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{what} was called: an invalid value was accepted")

    return fail


@pytest.fixture(scope="module")
def _warm() -> None:
    # The first call imports the analysis (seconds); the limit is for refusing a value.
    import hvload.datasets.compare
    import hvload.report  # noqa: F401


@pytest.fixture
def guarded(_warm: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """In an empty working folder, with everything that would measure, connect, serve or
    load more than once replaced."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(hvload.campaign, "prepare", _never("prepare"))
    monkeypatch.setattr(hvload.workload.remote, "AgentPool", _never("AgentPool"))
    monkeypatch.setattr(os, "execve", _never("execve (the dashboard)"))
    # The file is read once: the limit below is for refusing the option, not for parquet.
    monkeypatch.setattr(hvload.store, "load", functools.lru_cache(maxsize=2)(hvload.store.load))
    yield tmp_path


@pytest.mark.parametrize("argv", list(_cases()))
def test_an_invalid_value_is_one_line_and_exit_2(guarded: Path, cli, argv: list[str]) -> None:
    # CPU time, all threads: the work of refusing, the same on a quiet or a busy machine
    # (wall time on a busy one also counts the time others had the CPU).
    t0 = time.process_time()
    status, _, err = cli(*argv)
    elapsed = time.process_time() - t0
    lines = err.splitlines()
    assert status == 2, (status, err)
    assert len(lines) == 1, err
    prefix = "hvload" if not argv or argv[0] == "bogus" else f"hvload {argv[0]}"
    assert lines[0].startswith(f"{prefix}: error: "), err
    assert sorted(p.name for p in guarded.iterdir()) == [], "nothing is created"
    assert elapsed < 1.0, f"refused after {elapsed:.2f} s"


def test_argparse_errors_point_at_help(cli) -> None:
    status, _, err = cli("run", "--samples", "x")
    assert status == 2
    assert err == (
        "hvload run: error: argument --samples: invalid int value: 'x'; see hvload run --help\n"
    )
    status, _, err = cli("run", "--samples", "5", "extra")
    assert err.startswith("hvload run: error: unrecognized arguments: extra;")


def test_an_empty_recover_path_names_the_argument(guarded: Path, cli) -> None:
    status, _, err = cli("recover", "")
    assert status == 2 and "argument path: '' is empty" in err and "PosixPath" not in err


def test_a_percent_level_is_accepted(guarded: Path, cli) -> None:
    # --levels 50% reaches prepare (replaced here), as --vm-load 50% and plan --effect 2% do.
    with pytest.raises(AssertionError, match="prepare was called"):
        cli("run", "--levels", "0,50%,100%", "--no-progress")


def test_ctrl_c_while_the_parser_is_built_is_one_line(monkeypatch: pytest.MonkeyPatch, cli) -> None:
    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_package, "build_parser", interrupted)
    assert cli("run") == (130, "", "hvload: stopped by SIGINT\n")


# -- in a fresh interpreter: what a refused run imports, and how fast ------------------------

_PROBE = """
import sys
from hvload.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("scipy", "seaborn", "matplotlib", "tqdm", "hvload.stats", "hvload.store")
print(",".join(m for m in heavy if m in sys.modules))
sys.exit(code)
"""


def _run_fresh(tmp_path: Path, *argv: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """The child's result and its CPU time (user and system, all threads): the work of a
    cold start and refusal, the same on a quiet or a busy machine."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = _children_cpu()
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return proc, _children_cpu() - t0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--samples", "0"],
        ["run", "--levels", "0,250"],
        ["run", "--probe-rate", "5ms"],
        ["run", "--scheduler", "garbage"],
    ],
    ids=" ".join,
)
def test_a_refused_run_does_not_import_the_analysis(tmp_path: Path, argv: list[str]) -> None:
    proc, elapsed = _run_fresh(tmp_path, *argv)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stdout.strip() == "", f"imported before the refusal: {proc.stdout}"
    assert list(tmp_path.iterdir()) == []
    # The campaign package still brings pandas (hvload.model): about 0.6 s of a cold start.
    assert elapsed < 3.0, f"{elapsed:.2f} s"


@pytest.mark.parametrize(
    "argv",
    [["run", "--samples", "x"], ["report"], ["agent", "tcp://h:1", "--timeout", "x"]],
    ids=" ".join,
)
def test_an_argparse_error_is_refused_at_once(tmp_path: Path, argv: list[str]) -> None:
    proc, elapsed = _run_fresh(tmp_path, *argv)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert elapsed < 1.0, f"{elapsed:.2f} s"
