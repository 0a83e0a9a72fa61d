"""The entry point that runs a scenario; the CLI and tests call only `run_scenario`.

A run: open the platform (embedded unless a URL is given), bring the arrivals of the plan
as the phases say (skipping those beyond `max_concurrent`), let each participant live its
timeline while every stream is sampled once a second, and end at the planned duration, or
when every timeline is done. Whatever ends it (the clock, Ctrl-C, a failure), every
participant then leaves and unregisters, and no peer connection is left open."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from pydantic import SecretStr

from agent.browser.page_cpu import pages_cpu
from agent.participant.sources import MediaSources
from agent.redact import redact
from agent.scenario.health import HealthSampler
from agent.scenario.live import LiveSnapshot, MetricsEndpoint, snapshot_of_results
from agent.scenario.media_flow import no_media_flowed
from agent.scenario.model import Scenario
from agent.scenario.plan import Arrival, Planner, arrivals, planned_duration
from agent.scenario.progress import Progress, ProgressView
from agent.scenario.results import ErrorRecord, PhaseRecord, RunResult
from agent.scenario.run_actor import Actor
from agent.scenario.run_browser import new_actor
from agent.scenario.run_clock import RunClock
from agent.scenario.run_context import RunContext
from agent.scenario.run_platform import Login, RunPlatform, open_platform
from agent.scenario.run_steps import live
from agent.scenario.seeding import scenario_digest
from agent.scenario.shards import ConferenceDealer, Shard
from agent.scenario.surface import StepSurface
from agent.scenario.templating import TemplateError
from agent.webrtc.host_addresses import chosen_host_addresses

NETWORK_INDICATOR_INTERVAL = 2.0
"""Seconds between the embedded platform's network grades in a run with `network:` groups."""

__all__ = ["RunError", "RunOptions", "ScenarioRun", "run_scenario"]

log = logging.getLogger(__name__)

SAMPLE_EVERY = 1.0
"""Seconds between two samples of every stream (and redraws of the progress view)."""
CLOSE_ALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class RunOptions:
    """How to run, from the command line; they win over the scenario's `server`.

    `server_url` None with no `server` in the scenario means the embedded local platform.
    The secret is a `SecretStr` so no repr, log line or traceback shows it."""

    server_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    organization_id: str | None = None
    verify_tls: bool = True
    report_dir: Path | None = None
    interactive: bool = False
    """A terminal is attached: show the live progress view instead of log lines."""
    time_scale: float = 1.0
    """Multiplies every time of the scenario (durations, phases, `at`, sleeps): 0.2 plays a
    60 s scenario in 12 s. Timeouts and the expectations' warm-up are not scaled."""
    progress: TextIO | None = None
    """Where the progress goes (default stdout); None with `quiet`."""
    quiet: bool = False
    shard: Shard | None = None
    """Run only this shard's conferences (`--shard I/N`, or one worker of `--workers N`)."""
    metrics_port: int | None = None
    """Serve live metrics for Prometheus on this port while the run goes on (0: any)."""
    metrics_host: str = "127.0.0.1"
    """The address the metrics endpoint binds: this machine only unless told otherwise."""
    on_live: Callable[[LiveSnapshot], None] | None = None
    """Called with the live snapshot at every sample (a worker reports to its pool)."""


class RunError(RuntimeError):
    """The run could not go on (server unreachable, login refused); CLI exit code 3."""


async def run_scenario(scenario: Scenario, options: RunOptions) -> RunResult:
    """Run `scenario` to its end and return what was measured.

    The contract the runner keeps: on cancellation (Ctrl-C) or failure every participant
    leaves its conference, unpublishes, stops viewing and unregisters, and no peer
    connection is left open; failures of single steps are recorded in the result
    (`ParticipantResult.errors`, `StepRecord.ok`), not raised; only a failure of the run
    as a whole raises `RunError`. A cancelled run returns its partial result marked
    `interrupted`. Expectations are not evaluated here (`expect.evaluate`)."""
    return await ScenarioRun(scenario, options).execute()


class ScenarioRun:
    """One run; `actors` stays readable afterwards (tests check nothing is left open)."""

    def __init__(self, scenario: Scenario, options: RunOptions) -> None:
        self.scenario = scenario
        self.options = options
        self.clock = RunClock(options.time_scale)
        self.base = Path(scenario.path).parent if scenario.path else Path.cwd()
        self.started_at = datetime.now(UTC)
        self.actors: list[StepSurface] = []
        self.media = MediaSources()
        """What the participants publish from: the streams of one profile share an encoder."""
        self.leftover_peer_connections: int | None = None
        """Peer connections the platform still had after everyone closed (embedded only)."""
        self._errors: list[ErrorRecord] = []
        self._phases: list[PhaseRecord] = []
        self._skipped = 0
        self._interrupted = False
        self._lives: list[asyncio.Task[None]] = []
        self._dealer = ConferenceDealer(options.shard or Shard())
        warmup = scenario.expect.warmup if scenario.expect else 0.0
        self.health = HealthSampler(
            str(options.shard or Shard()),
            self.clock.now,
            warmup,
            page_cpu=pages_cpu,
            peer_connections=lambda: sum(a.peer_connection_count() for a in self.actors),
        )
        """This process's own health over the run: was the load generator the bottleneck?"""
        out = options.progress or sys.stdout
        self._view = (
            None if options.quiet else ProgressView(out, options.interactive, scenario.name)
        )

    @property
    def agents(self) -> list[Actor]:
        """The agent participants (a browser group's are Chromium pages)."""
        return [actor for actor in self.actors if isinstance(actor, Actor)]

    async def execute(self) -> RunResult:
        try:
            async with (
                self.health,
                open_platform(
                    self.options.server_url,
                    self._login(),
                    self.options.organization_id,
                    # Impaired links: the embedded platform says how it sees them.
                    network_indicator_interval=NETWORK_INDICATOR_INTERVAL
                    if any(group.network for group in self.scenario.participants)
                    else None,
                ) as platform,
            ):
                await self._with_platform(platform)
        except RunError:
            raise
        except asyncio.CancelledError:
            self._interrupted = True
            _uncancel()
        except Exception as error:
            if not self.actors:  # nothing ran: the platform or the login is the problem
                raise RunError(f"cannot run {self.scenario.name}: {_one_line(error)}") from None
            self._errors.append(ErrorRecord(t=self.clock.now(), message=_one_line(error)))
        await self.health.stop()
        results = [actor.result for actor in self.actors]
        no_media_flowed(self.scenario, results, self.clock.now(), chosen_host_addresses())
        result = self._result()
        if self._view is not None:
            self._view.finish(self._summary(result))
        return result

    def _login(self) -> Login | None:
        options = self.options
        if options.client_id is None or options.client_secret is None:
            return None
        return Login(options.client_id, options.client_secret)

    async def _with_platform(self, platform: RunPlatform) -> None:
        run = RunContext(
            scenario=self.scenario,
            base=self.base,
            platform=platform,
            clock=self.clock,
            rng=random.Random(self.scenario.seed),
            report_dir=self.options.report_dir,
            media=self.media,
        )
        sampler = asyncio.get_running_loop().create_task(self._sample(run), name="sampler")
        port = self.options.metrics_port
        endpoint = (
            MetricsEndpoint(self.live, port, self.options.metrics_host)
            if port is not None
            else None
        )
        try:
            async with endpoint or contextlib.nullcontext():
                await self._drive(run)
        except asyncio.CancelledError:
            self._interrupted = True
            _uncancel()
        finally:
            self.health.measured_until()
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            await self._close_all()
            self.media.close()
            self._check_left_open(platform)

    # --- arrivals and the end -------------------------------------------------------------

    async def _drive(self, run: RunContext) -> None:
        scale = self.clock.scale
        planner = Planner(self.scenario, self.base, rng=run.rng)
        self._plan_phases(scale)
        for arrival in arrivals(self.scenario):
            at = arrival.t * scale
            await self.clock.sleep_until(at)
            try:
                plans = planner.participants(arrival)
            except TemplateError as error:
                self._errors.append(ErrorRecord(t=at, step="arrival", message=str(error)))
                continue
            if self._over_limit(arrival, len(plans)):
                self._skipped += 1
                continue
            for plan in plans:
                if not self._dealer.ours(plan.conference):
                    continue  # another shard's call
                actor = new_actor(run, plan, at + plan.start * scale)
                run.roster.add(actor)
                self.actors.append(actor)
                task = asyncio.get_running_loop().create_task(live(actor), name=plan.name)
                task.add_done_callback(_gone_when_done(actor))
                self._lives.append(task)
        await self._until_end()

    def _plan_phases(self, scale: float) -> None:
        start = 0.0
        for number, phase in enumerate(self.scenario.phases):
            end = start + phase.duration * scale
            name = phase.name or f"phase {number + 1}"
            self._phases.append(PhaseRecord(name=name, start=start, end=end))
            start = end

    def _over_limit(self, arrival: Arrival, size: int) -> bool:
        limit = arrival.max_concurrent
        present = sum(1 for actor in self.actors if actor.present)
        return limit is not None and present + size > limit

    @property
    def planned(self) -> float | None:
        total = planned_duration(self.scenario)
        return None if total is None else total * self.clock.scale

    async def _until_end(self) -> None:
        """Until the planned end; sooner when every timeline is done (none stays). Without
        a planned end, the scenario's `timeout` bounds the run: past it, the run fails."""
        lives = asyncio.gather(*self._lives, return_exceptions=True)
        try:
            planned = self.planned
            end = self.scenario.timeout if planned is None else planned
            try:
                await asyncio.wait_for(asyncio.shield(lives), max(0.0, end - self.clock.now()))
            except TimeoutError:
                if planned is None:
                    self._timed_out()
        finally:
            for task in self._lives:
                task.cancel()
            if self._lives:
                await asyncio.wait(self._lives)
            for task in self._lives:
                error = None if task.cancelled() else task.exception()
                if error is not None:  # a defect of the runner: the report shows it
                    message = _one_line(error)
                    self._errors.append(
                        ErrorRecord(t=self.clock.now(), step=task.get_name(), message=message)
                    )

    def _timed_out(self) -> None:
        going = [task.get_name() for task in self._lives if not task.done()]
        shown = ", ".join(going[:5]) + (f" and {len(going) - 5} more" if len(going) > 5 else "")
        self._errors.append(
            ErrorRecord(
                t=self.clock.now(),
                step="timeout",
                message=f"the run did not end within its timeout of {self.scenario.timeout:g} s "
                f"(no `duration`; still going: {shown}); set `timeout` or `duration`",
            )
        )

    # --- sampling and progress ------------------------------------------------------------

    async def _sample(self, run: RunContext) -> None:
        while True:
            await asyncio.sleep(SAMPLE_EVERY)
            actors = [actor for actor in self.actors if actor.present]
            await asyncio.gather(*(actor.sample() for actor in actors), return_exceptions=True)
            if self.options.on_live is not None:
                self.options.on_live(await self.live())
            if self._view is not None:
                self._view.show(self._progress(actors))

    async def live(self) -> LiveSnapshot:
        """The run now, for the live metrics endpoint and a worker's pool."""
        present = Counter({group.name: 0 for group in self.scenario.participants})
        present.update(actor.result.group for actor in self.actors if actor.present)
        return snapshot_of_results(
            [actor.result for actor in self.actors],
            present=present.total(),
            present_by_group=dict(present),
            run_errors=len(self._errors),
            health={self.health.process: self.health.now()},
            labels={
                "run": self.started_at.strftime("%Y%m%d-%H%M%S"),
                "scenario": self.scenario.name,
                "phase": self._phase_now() or "",
            },
            end=self.clock.now(),
        )

    def _phase_now(self) -> str | None:
        now = self.clock.now()
        return next((p.name for p in self._phases if p.start <= now < p.end), None)

    def _progress(self, present: list[StepSurface]) -> Progress:
        now = self.clock.now()
        phase = self._phase_now()
        viewed = [stream for actor in present for stream in actor.viewed_streams()]
        flowing = sum(1 for stream in viewed if stream.delivering(now))
        return Progress(
            elapsed=now,
            total=self.planned,
            phase=phase,
            participants=len(present),
            joined=sum(1 for actor in present if actor.joined),
            streams_published=sum(len(actor.publishing()) for actor in present),
            streams_flowing=flowing,
            streams_viewed=len(viewed),
            errors=sum(len(actor.result.errors) for actor in self.actors) + len(self._errors),
            skipped=self._skipped,
        )

    # --- the end --------------------------------------------------------------------------

    async def _close_all(self) -> None:
        """Everyone leaves and unregisters at once; a second Ctrl-C does not stop this."""
        closing = asyncio.gather(*(actor.close() for actor in self.actors), return_exceptions=True)
        try:
            await asyncio.wait_for(asyncio.shield(closing), CLOSE_ALL_TIMEOUT)
        except TimeoutError:
            self._errors.append(
                ErrorRecord(
                    t=self.clock.now(),
                    step="close",
                    message=f"participants did not leave within {CLOSE_ALL_TIMEOUT:g} s",
                )
            )
        except asyncio.CancelledError:
            self._interrupted = True
            _uncancel()
            await closing

    def _check_left_open(self, platform: RunPlatform) -> None:
        """A peer connection left open is a defect of the run, and the report says so."""
        ours = sum(actor.peer_connection_count() for actor in self.actors)
        if ours:
            self._errors.append(
                ErrorRecord(
                    t=self.clock.now(),
                    step="close",
                    message=f"{ours} peer connection(s) still open after everyone left",
                )
            )
        if platform.peer_connection_count is not None:
            self.leftover_peer_connections = platform.peer_connection_count()

    def _not_joined(self) -> None:
        """A participant that should have joined and never did (a register slow under load,
        the run ended first) had no error of its own: it gets one naming the cause."""
        for actor in self.actors:
            group = self.scenario.group(actor.result.group)
            if group is None or not group.joins or actor.result.errors:
                continue
            arrived = actor.result.arrived_at
            if not actor.result.presences(self.clock.now()):
                actor.record.error(
                    "join", f"did not join before the run ended (arrived at {arrived:.1f}s)"
                )

    def _result(self) -> RunResult:
        self._not_joined()
        return RunResult(
            scenario=self.scenario.name,
            started_at=self.started_at,
            duration=self.clock.now(),
            participants=[actor.result for actor in self.actors],
            phases=self._phases,
            skipped_arrivals=self._skipped,
            interrupted=self._interrupted,
            errors=self._errors,
            health=[self.health.summary()],
            scenario_digest=scenario_digest(self.scenario),
            shards=[str(self.options.shard or Shard())],
        )

    def _summary(self, result: RunResult) -> str:
        joined = sum(1 for p in result.participants if p.joined_at is not None)
        errors = sum(len(p.errors) for p in result.participants) + len(result.errors)
        state = "interrupted" if result.interrupted else "done"
        return (
            f"{state} after {result.duration:.1f}s: {joined}/{len(result.participants)} "
            f"joined, {errors} error(s)"
        )


def _gone_when_done(actor: StepSurface) -> Callable[[asyncio.Task[None]], None]:
    """A participant whose timeline ended unregistered is no longer present (one that
    ended still registered is, until the run closes it)."""

    def done(_: asyncio.Task[None]) -> None:
        if not actor.registered:
            actor.present = False

    return done


def _uncancel() -> None:
    """Take back a cancellation (Ctrl-C) so cleanup can await; the result says interrupted."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return redact(f"{type(error).__name__}: {text}" if text else type(error).__name__)
