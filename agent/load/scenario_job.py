"""`auvious-agent run` over several processes: `--workers N`, `--shard I/N`, `--metrics-port`.

With `--workers N` this process is the coordinator: it makes sure every worker talks to the
same platform (without `--server` it starts the local platform in its own process, since an
embedded platform per worker would split the calls), starts the workers at one instant,
serves the summed live metrics, and returns the merged result, from which the CLI writes the
same reports as for a single-process run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.runtime import EVENT_LOOP_ENV, EVENT_LOOPS, loop_factory
from agent.scenario.compare import add_baseline_options, chosen_baseline

if TYPE_CHECKING:
    from agent.load.workers import LiveSink, Shard
    from agent.scenario.live import LiveSnapshot, LiveSource
    from agent.scenario.model import Scenario
    from agent.scenario.progress import Progress
    from agent.scenario.results import RunResult
    from agent.scenario.runner import RunOptions

# Everything that runs a scenario (aiortc, the platform, the worker pool) is imported where a
# run starts: `auvious-agent validate` and `schema` build this parser and must stay fast.

__all__ = [
    "ScenarioJob",
    "add_load_options",
    "add_merge_command",
    "load_options",
    "merge_reports",
    "run_spread",
]


def _shard(text: str) -> Shard:
    from agent.load.workers import ShardError, parse_shard

    try:
        return parse_shard(text)
    except ShardError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _workers(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: workers must be a whole number >= 1")
    return int(text)


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is a number from 0 to 65535")
    return int(text)


def add_load_options(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--workers",
        type=_workers,
        metavar="N",
        help="spread the conferences over N processes (default: one per core, at most one "
        "per conference; with --ray: one per conference, at most the cluster's CPUs); "
        "one report for all",
    )
    run.add_argument(
        "--shard",
        type=_shard,
        metavar="I/N",
        help="run only shard I (0-based) of N, for orchestrators that start the processes "
        "(see docs/kubernetes.md); merge the shards' report.json files afterwards",
    )
    run.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the workers as Ray actors on the cluster at ADDRESS (e.g. 10.0.0.5:6379; "
        "the `scale` extra), one actor per --workers",
    )
    run.add_argument(
        "--event-loop",
        choices=EVENT_LOOPS,
        help=f"the event loop of the participants' processes (default ${EVENT_LOOP_ENV}, else "
        "asyncio; uvloop needs `pip install uvloop`)",
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve live metrics for Prometheus at http://HOST:PORT/metrics during the run",
    )
    run.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="the address the metrics endpoint binds (default 127.0.0.1: this machine only; "
        "0.0.0.0 for Prometheus to scrape a pod)",
    )


def load_options(options: RunOptions, args: argparse.Namespace) -> RunOptions:
    """The run options with the shard and the metrics port of the command line; the event
    loop chosen becomes the process's (and its workers') `AUVIOUS_EVENT_LOOP`."""
    if getattr(args, "shard", None) is not None and (
        (getattr(args, "workers", None) or 1) > 1 or getattr(args, "ray", None)
    ):
        raise ValueError("--shard excludes --workers and --ray: a shard is one process")
    if getattr(args, "event_loop", None):
        os.environ[EVENT_LOOP_ENV] = args.event_loop
    loop_factory()  # ValueError now, not once the run started, if it cannot be had
    return replace(
        options,
        shard=getattr(args, "shard", None),
        metrics_port=getattr(args, "metrics_port", None),
        metrics_host=getattr(args, "metrics_host", "127.0.0.1"),
    )


@dataclass(frozen=True)
class ScenarioJob:
    """One worker's part of a scenario run (picklable: the scenario is parsed again there).
    `seed`: the run's, for a scenario without its own (`agent.scenario.seeding`). `text`:
    the file's content, carried along because a Ray node on another machine has no copy of
    the file (the CSV and media files it names must be at the same path there)."""

    path: Path
    options: RunOptions
    seed: int | None = None
    text: str | None = None

    def scenario(self) -> Scenario:
        from agent.scenario.loader import load_scenario, parse_scenario
        from agent.scenario.seeding import with_seed

        if self.text is None:
            scenario = load_scenario(self.path)
        else:
            scenario = parse_scenario(self.text, str(self.path), self.path.parent)
        return scenario if self.seed is None else with_seed(scenario, self.seed)

    async def __call__(self, shard: Shard, live: LiveSink) -> RunResult:
        from agent.scenario.runner import run_scenario

        scenario = self.scenario()
        options = replace(
            self.options,
            shard=shard,
            on_live=live,
            metrics_port=None,
            quiet=True,
            interactive=False,
            progress=None,
        )
        return await run_scenario(scenario, options)


async def run_spread(
    scenario: Scenario, options: RunOptions, workers: int | None, ray_address: str | None = None
) -> RunResult:
    """`run_scenario` in this process (one worker), else over `workers` processes, or over
    Ray actors on the cluster at `ray_address`; `workers` None: `agent.distributed.sizing`.

    SIGTERM (an orchestrator stopping a pod, `kill`) ends the run as Ctrl-C does: everyone
    leaves and unregisters, and the result comes back marked interrupted."""
    from agent.distributed.stopping import Stopped, StopSwitch
    from agent.scenario.runner import RunError

    try:
        spread = _spread(scenario, options, workers, ray_address)
        return await StopSwitch().run(spread, on_signal=True)
    except Stopped:
        raise RunError("stopped before the run started") from None


async def _spread(
    scenario: Scenario, options: RunOptions, workers: int | None, ray_address: str | None
) -> RunResult:
    from agent.distributed.sizing import conference_count, default_workers
    from agent.load.platform import serve_platform
    from agent.load.ray_pool import RayPool
    from agent.load.workers import WorkerPool
    from agent.scenario.live import MetricsEndpoint
    from agent.scenario.runner import RunError, run_scenario
    from agent.scenario.seeding import common_seed, with_seed

    seed = scenario.seed if scenario.seed is not None else random.SystemRandom().randrange(2**32)
    if workers is None and ray_address is None and options.shard is None:
        workers = default_workers(scenario, seed)
    if (workers or 1) <= 1 and ray_address is None:
        if options.shard is not None:  # the other shards must draw the same plan
            scenario = with_seed(scenario, common_seed(scenario))
        return await run_scenario(scenario, options)
    if scenario.path is None:
        raise RunError("a run over several workers needs the scenario's file")
    async with contextlib.AsyncExitStack() as stack:
        if options.server_url is None:
            local = await stack.enter_async_context(serve_platform())
            options = replace(
                options,
                server_url=local.base_url,
                client_id=local.client_id,
                client_secret=local.client_secret,
            )
        path = Path(scenario.path)
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        job = ScenarioJob(path, options, seed, text)
        pool: WorkerPool | RayPool = (
            WorkerPool(job, workers or 1)
            if ray_address is None
            else RayPool(
                job,
                workers or max(1, conference_count(scenario, seed)),
                ray_address,
                fit_cluster=workers is None,
                on_placed=None if options.quiet else _say_placed(scenario, options),
            )
        )
        if not options.quiet:  # say it: the report alone does not show how the run was spread
            spread = (
                f"{pool.count} worker processes"
                if ray_address is None
                else f"{'up to ' if workers is None else ''}{pool.count} Ray actors"
            )
            print(f"{scenario.name}: {spread}", file=options.progress or sys.stdout, flush=True)
        if options.metrics_port is not None:
            await stack.enter_async_context(
                MetricsEndpoint(pool.live, options.metrics_port, options.metrics_host)
            )
        shown = None
        if not options.quiet:
            shown = asyncio.create_task(_show_progress(scenario, options, pool.live))
        try:
            return await pool.run()
        except RuntimeError as error:  # RayUnavailable included
            raise RunError(str(error)) from None
        finally:
            if shown is not None:
                shown.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await shown


async def _show_progress(scenario: Scenario, options: RunOptions, live: LiveSource) -> None:
    """The progress line of a run spread over workers or Ray actors, from the sum of their
    live snapshots, as a single process shows its own."""
    from agent.scenario.plan import planned_duration
    from agent.scenario.progress import ProgressView

    view = ProgressView(options.progress or sys.stdout, options.interactive, scenario.name)
    total = planned_duration(scenario)
    try:
        while True:
            await asyncio.sleep(1.0)
            view.show(_progress(await live(), total))
    except asyncio.CancelledError:
        view.finish("every worker has ended")
        raise


def _progress(now: LiveSnapshot, total: float | None) -> Progress:
    """The line from the workers' summed snapshot, on the run's clock (theirs: they start a
    few seconds after this process)."""
    from agent.scenario.progress import Progress

    return Progress(
        elapsed=now.elapsed or 0.0,
        total=total,
        phase=now.labels.get("phase") or None,
        participants=now.participants,
        joined=now.participants,  # a snapshot counts the connected ones
        streams_published=now.streams_published,
        streams_flowing=now.streams_flowing,
        streams_viewed=now.streams_viewed,
        errors=now.errors,
    )


def _say_placed(scenario: Scenario, options: RunOptions) -> Callable[[list[str]], None]:
    def say(nodes: list[str]) -> None:
        print(
            f"{scenario.name}: {len(nodes)} Ray actors up on {len(set(nodes))} node(s)",
            file=options.progress or sys.stdout,
            flush=True,
        )

    return say


# --- merging the shards of an orchestrated run -------------------------------------------------


def merge_reports(
    paths: list[Path], scenario: Scenario, allow_partial: bool = False
) -> tuple[RunResult, list[str]]:
    """The merged result of the shards' `report.json` files (their raw `result`), and the
    shards missing from it ("1/4").

    ValueError names the file that is not a report, is of another scenario or another version
    of its file, or the shard or participant found twice. A missing shard is an error of the
    merged run (it fails), unless `allow_partial`."""
    from agent.load.workers import merge_results
    from agent.scenario.results import ErrorRecord, RunResult
    from agent.scenario.seeding import scenario_digest
    from agent.scenario.shards import missing_shards

    digest = scenario_digest(scenario)
    results = []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            result = RunResult.model_validate(data["result"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not a run report"
            raise ValueError(f"{path}: {reason}") from None
        if result.scenario != scenario.name:
            raise ValueError(
                f"{path}: a report of scenario {result.scenario!r}, not {scenario.name!r}"
            )
        if result.scenario_digest != digest:
            raise ValueError(
                f"{path}: made from another version of {scenario.path or scenario.name} "
                "(every shard and the merge must read the same file)"
            )
        results.append(result)
    merged = merge_results(results)
    missing = missing_shards(merged.shards)
    if missing and not allow_partial:
        message = (
            f"shard(s) {', '.join(missing)} missing: the merged run has "
            f"{len(merged.shards)} of {len(merged.shards) + len(missing)} shards "
            "(merge --allow-partial to judge it on those)"
        )
        merged.errors.append(ErrorRecord(t=merged.duration, step="merge", message=message))
    return merged, missing


def add_merge_command(sub: Any) -> Callable[[argparse.Namespace], int]:
    merge = sub.add_parser(
        "merge",
        help="merge the report.json files of a run's shards (--shard I/N) into one report",
        description=(
            "Merge the shards' report.json files into the run's reports, evaluating the "
            "scenario's expectations on the whole. Exit codes as for `run`."
        ),
    )
    merge.add_argument("file", type=Path, metavar="FILE", help="the scenario file")
    merge.add_argument("reports", type=Path, nargs="+", metavar="REPORT_JSON")
    merge.add_argument("--report", type=Path, required=True, metavar="DIR")
    merge.add_argument(
        "--allow-partial",
        action="store_true",
        help="judge the run on the shards given even if some are missing (default: a "
        "missing shard fails the merged run)",
    )
    add_baseline_options(merge)

    def run(args: argparse.Namespace) -> int:
        from agent.scenario.loader import ScenarioError, load_scenario
        from agent.scenario.outcome import ExitCode, conclude

        try:
            scenario = load_scenario(args.file)
        except ScenarioError as error:
            for issue in error.issues:
                print(issue, file=sys.stderr)
            return ExitCode.INVALID
        try:
            result, missing = merge_reports(args.reports, scenario, args.allow_partial)
            baseline = chosen_baseline(args, scenario.name)
        except ValueError as error:
            print(f"auvious-agent merge: {error}", file=sys.stderr)
            return ExitCode.INVALID
        if missing:
            verdict = "judged without them" if args.allow_partial else "the run fails"
            print(
                f"auvious-agent merge: shard(s) {', '.join(missing)} missing; {verdict}",
                file=sys.stderr,
            )
        return conclude(scenario, result, args.report, sys.stdout, baseline)

    return run
