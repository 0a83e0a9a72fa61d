"""The `validate`, `schema` and `run` subcommands of `auvious-agent`.

Exit codes: 0 all expectations hold (or the file is valid), 1 an expectation failed, 2 the
file or the command line is invalid, 3 a runtime error, 4 the run is invalid: the load generator
itself was saturated (`agent.scenario.health_verdict`)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from agent.ice_addresses import add_ice_host_address_option
from agent.load.scenario_job import add_load_options, load_options
from agent.redact import redact
from agent.runtime import run_on_chosen_loop
from agent.scenario.compare import add_baseline_options, chosen_baseline
from agent.scenario.loader import ScenarioError, load_scenario
from agent.scenario.model import Scenario, check_base_url, dump_json_schema
from agent.scenario.outcome import ExitCode, conclude
from agent.scenario.plan import arrivals, planned_duration
from agent.scenario.progress import console_logging
from agent.scenario.report import point_latest, timestamped, write_error_report

if TYPE_CHECKING:
    from agent.scenario.runner import RunOptions

# What runs a scenario (aiortc, the platform) is imported by `run` only: `validate` and
# `schema` stay fast.

__all__ = ["OptionsError", "add_scenario_commands", "print_issues", "run_options"]

Command = Callable[[argparse.Namespace], int]
DEFAULT_CLIENT_ID_ENV = "AUVIOUS_CLIENT_ID"
DEFAULT_CLIENT_SECRET_ENV = "AUVIOUS_CLIENT_SECRET"


class OptionsError(ValueError):
    """The command line and the scenario together do not say how to log in."""


def add_scenario_commands(sub: Any) -> dict[str, Command]:
    validate = sub.add_parser(
        "validate",
        help="check scenario files; print every problem with file, line and column",
        description="Check scenario files. Exit 0 when all are valid, 2 otherwise.",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE")

    sub.add_parser(
        "schema",
        help="print the JSON Schema of scenario files (for editor completion)",
        description="Print the JSON Schema of scenario files on stdout.",
    )

    run = sub.add_parser(
        "run",
        help="run a scenario and report pass or fail",
        description=(
            "Run a scenario file. Exit 0 when every expectation holds, 1 when one fails, "
            "2 when the file or command line is invalid, 3 on a runtime error, 4 when the run "
            "is invalid because the load generator was saturated. Without "
            "--server (and no `server` in the file) it runs against the embedded platform."
        ),
    )
    run.add_argument("file", type=Path, metavar="FILE")
    run.add_argument(
        "--server", type=_base_url, metavar="URL", help="base URL of an Auvious platform"
    )
    run.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="directory for report.json, junit.xml, report.html and samples.csv (default "
        "reports/NAME/TIMESTAMP, with reports/NAME/latest pointing at the newest run)",
    )
    run.add_argument("--client-id", metavar="ID", help="OAuth client id for --server")
    run.add_argument(
        "--client-secret-env",
        metavar="VAR",
        help=f"environment variable holding the client secret (default {DEFAULT_CLIENT_SECRET_ENV}"
        "); the secret itself is never taken on the command line, where `ps` would show it",
    )
    run.add_argument(
        "--time-scale",
        type=_positive,
        default=1.0,
        metavar="FACTOR",
        help="multiply every time of the scenario (0.2 plays 60 s in 12 s; timeouts unscaled)",
    )
    add_ice_host_address_option(run)
    add_load_options(run)
    add_baseline_options(run)
    return {"validate": _validate, "schema": _schema, "run": _run}


def _base_url(text: str) -> str:
    try:
        return check_base_url(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def _load(path: Path) -> Scenario | ExitCode:
    """The scenario, or the exit code after printing why there is none."""
    try:
        return load_scenario(path)
    except ScenarioError as error:
        return print_issues(path, error)
    except Exception as error:  # a defect of ours: say so, without a traceback
        print(
            f"{path}: internal error while checking: {type(error).__name__}: {error}",
            file=sys.stderr,
        )
        return ExitCode.RUNTIME_ERROR


def print_issues(path: Path, error: ScenarioError) -> ExitCode:
    """Every problem of an invalid file on stderr, one a line (file:line:column: field:)."""
    for issue in error.issues:
        print(issue, file=sys.stderr)
    count = len(error.issues)
    print(f"{path}: invalid ({count} problem{'s' if count != 1 else ''})", file=sys.stderr)
    return ExitCode.INVALID


def _validate(args: argparse.Namespace) -> int:
    code = ExitCode.PASSED
    for path in args.files:
        scenario = _load(path)
        if isinstance(scenario, ExitCode):
            code = max(code, scenario)
            continue
        groups = scenario.participants
        people = sum(group.count for group in groups)
        planned = arrivals(scenario)
        duration = planned_duration(scenario)
        length = "until every timeline ends" if duration is None else f"{duration:g}s"
        print(
            f"{path}: valid: {scenario.name!r}, {len(groups)} participant group(s), "
            f"{len(planned)} arrival(s) of {people} participant(s), {length}"
        )
    return code


def _schema(args: argparse.Namespace) -> int:
    try:
        print(dump_json_schema(), flush=True)
    except BrokenPipeError:  # `schema | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return ExitCode.PASSED


def run_options(scenario: Scenario, args: argparse.Namespace, env: Mapping[str, str]) -> RunOptions:
    """Where to run and how to log in: the command line over the file over defaults."""
    from agent.scenario.runner import RunOptions

    report = args.report or timestamped(
        Path("reports") / scenario.name.replace("/", "_"), datetime.now(UTC)
    )
    interactive = sys.stdout.isatty()
    scale = getattr(args, "time_scale", 1.0)
    spec = scenario.server
    url = args.server or (spec.url if spec else None)
    if url is None:
        return RunOptions(report_dir=report, interactive=interactive, time_scale=scale)
    client_id = args.client_id or (spec.client_id if spec else None)
    if client_id is None:
        id_env = (spec.client_id_env if spec else None) or DEFAULT_CLIENT_ID_ENV
        client_id = env.get(id_env)
        if not client_id:
            raise OptionsError(
                f"no client id for {url}: give --client-id or set the environment variable {id_env}"
            )
    secret_env = (
        args.client_secret_env
        or (spec.client_secret_env if spec else None)
        or DEFAULT_CLIENT_SECRET_ENV
    )
    secret = env.get(secret_env)
    if not secret:
        raise OptionsError(f"no client secret for {url}: set the environment variable {secret_env}")
    return RunOptions(
        server_url=url,
        client_id=client_id,
        client_secret=SecretStr(secret),
        organization_id=spec.organization_id if spec else None,
        verify_tls=spec.verify_tls if spec else True,
        report_dir=report,
        interactive=interactive,
        time_scale=scale,
    )


def _run(args: argparse.Namespace) -> int:
    scenario = _load(args.file)
    if isinstance(scenario, ExitCode):
        return scenario
    try:
        options = load_options(run_options(scenario, args, os.environ), args)
        baseline = chosen_baseline(args, scenario.name)
    except (OptionsError, ValueError) as error:
        print(f"auvious-agent run: {error}", file=sys.stderr)
        return ExitCode.INVALID
    from agent.load.scenario_job import run_spread
    from agent.scenario.runner import RunError
    from agent.webrtc import seams
    from agent.webrtc.host_addresses import apply_ice_host_address_option

    console_logging()
    if not seams.install_for_command("auvious-agent run"):
        return ExitCode.RUNTIME_ERROR
    apply_ice_host_address_option(
        args,
        local=options.server_url is None,
        platform_host=urlsplit(options.server_url).hostname if options.server_url else None,
    )
    started_at = datetime.now(UTC)
    try:
        result = run_on_chosen_loop(run_spread(scenario, options, args.workers, args.ray))
    except Exception as error:  # a runtime error must not end in a traceback
        if isinstance(error, RunError):  # the login refused, the platform unreachable
            message = redact(str(error))
        else:
            message = redact(f"runtime error: {type(error).__name__}: {error}")
        print(f"auvious-agent run: {message}", file=sys.stderr)
        assert options.report_dir is not None
        # CI still finds junit.xml, with the cause.
        junit = write_error_report(scenario, message, started_at, options.report_dir)
        _latest(args, options.report_dir)
        print(f"reports: {junit}")
        return ExitCode.RUNTIME_ERROR
    assert options.report_dir is not None
    code = conclude(scenario, result, options.report_dir, sys.stdout, baseline)
    _latest(args, options.report_dir)
    return code


def _latest(args: argparse.Namespace, folder: Path) -> None:
    """A run in its default, timestamped folder becomes the scenario's `latest`."""
    if args.report is None:
        point_latest(folder)
