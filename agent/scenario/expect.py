"""Evaluating a scenario's `expect` section against what a run measured.

Each threshold (`join_time: {p95: "< 1s"}` is one) and each condition becomes one
`Expectation` with the measured value, so reports can say what was measured against what."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from agent.scenario.health_verdict import HealthVerdict, assess
from agent.scenario.meetings import (
    MIN_OVERLAP,
    OUTAGE,
    Interval,
    Meeting,
    gaps,
    intersect,
    meetings,
)
from agent.scenario.metrics import METRICS, SAMPLED_SPAN, Expected, Metric, MetricValue, aggregate
from agent.scenario.model import (
    ExpectSpec,
    ParticipantGroup,
    Scenario,
    Scope,
    ViewStep,
)
from agent.scenario.results import (
    ParticipantResult,
    RecordedTrackResult,
    RunResult,
    StreamResult,
)
from agent.scenario.shards import missing_shards
from agent.scenario.units import Quantity, format_quantity

__all__ = ["MIN_OVERLAP", "Evaluation", "Expectation", "evaluate", "viewed_groups"]


@dataclass(frozen=True)
class Expectation:
    """One test case: a threshold on a metric aggregate, or a condition."""

    name: str
    passed: bool
    message: str
    metric: str | None = None
    aggregate: str | None = None
    threshold: str | None = None
    measured: float | None = None
    measured_text: str | None = None
    details: list[str] = field(default_factory=list)
    covered: int | None = None
    """How many of the `population` streams the values came from (per-stream metrics)."""
    population: int | None = None
    group: list[str] | None = None
    """The scenario groups the threshold is about (its scope's); None: the whole run."""
    by_group: dict[str, float | None] = field(default_factory=dict)
    """The measured aggregate of each group's values, so a failure says whose they were."""


@dataclass(frozen=True)
class Evaluation:
    expectations: list[Expectation]
    load_generator: HealthVerdict = field(default_factory=lambda: HealthVerdict(valid=True))
    """Whether the run measured the platform; invalid when its own processes were saturated,
    whatever the expectations say."""

    @property
    def passed(self) -> bool:
        return all(expectation.passed for expectation in self.expectations)

    @property
    def failures(self) -> list[Expectation]:
        return [expectation for expectation in self.expectations if not expectation.passed]


def evaluate(scenario: Scenario, result: RunResult) -> Evaluation:
    """Every expectation of `scenario` checked against `result`: thresholds in the order
    of the metrics registry, then conditions in file order.

    A run that was interrupted or had errors of its own fails a `run_completed` case: its
    measurements are partial, and passing on partial data would hide that."""
    expect = scenario.expect or ExpectSpec()
    found = [_run_completed(result)]
    found.extend(_thresholds(expect, result, _joining(scenario)))
    found.extend(_condition(name, scenario, result) for name in expect.conditions)
    return Evaluation(found, assess(result.health))


def _run_completed(result: RunResult) -> Expectation:
    problems = [f"{error.step or 'run'}: {error.message}" for error in result.errors]
    if result.interrupted:
        problems.insert(0, "the run was interrupted before it ended")
    if problems:
        return Expectation("run_completed", False, "; ".join(problems[:3]), details=problems)
    missing = missing_shards(result.shards)  # left out by `merge --allow-partial`
    if missing:
        return Expectation(
            "run_completed",
            True,
            f"judged on {len(result.shards)} of {len(result.shards) + len(missing)} shards: "
            f"shard(s) {', '.join(missing)} missing",
        )
    return Expectation("run_completed", True, "the run ended as planned")


def _joining(scenario: Scenario) -> set[str]:
    return {group.name for group in scenario.participants if group.joins}


def _thresholds(expect: ExpectSpec, result: RunResult, joining: set[str]) -> Iterator[Expectation]:
    for metric_name, thresholds in expect.thresholds():
        metric = METRICS[metric_name]
        values = list(metric.extract(result, expect.warmup))
        scope = thresholds.scope
        people = {participant.name: participant for participant in result.participants}
        if scope is not None:
            values = [value for value in values if _in_scope(value, scope, result, people)]
        coverage = _Coverage.of(metric, values, result, scope, people, expect.warmup, joining)
        scoped = f" {scope.text()}" if scope is not None else ""
        groups = _groups_of(values, people)
        for aggregate_name, threshold in thresholds.items():
            name = f"{metric_name}{scoped} {aggregate_name} {threshold}"
            measured = aggregate(values, aggregate_name, metric.quantity)
            quantity = Quantity.COUNT if aggregate_name == "count" else metric.quantity
            case = Expectation(
                name,
                False,
                "",
                metric_name,
                aggregate_name,
                str(threshold),
                group=_scope_groups(scope),
                by_group={
                    group: aggregate(chosen, aggregate_name, metric.quantity)
                    for group, chosen in groups.items()
                },
            )
            if coverage is not None:
                case = replace(case, covered=coverage.covered, population=coverage.population)
            if measured is None:
                message = f"nothing was measured for {metric_name}; threshold {threshold}"
                yield replace(case, message=message)
                continue
            text = format_quantity(measured, quantity)
            passed = threshold.holds(measured)
            verdict = "holds" if passed else "does not hold"
            message = (
                f"measured {aggregate_name} {text} over {len(values)} value(s)"
                f"{coverage.text if coverage else ''}; threshold {threshold} {verdict}"
            )
            if not passed and len(case.by_group) > 1:
                message += " (by group: " + _per_group(case.by_group, quantity) + ")"
            details: list[str] = []
            if coverage is not None and not coverage.enough(expect.coverage):
                passed = False
                details = [f"no value from {key}" for key in coverage.missing]
                message += (
                    f"; but it covers only {coverage.covered} of {coverage.population} "
                    f"{coverage.counts} (expect.coverage {expect.coverage:.0%}): "
                    + ", ".join(details[:3])
                    + (f" and {len(details) - 3} more" if len(details) > 3 else "")
                )
            yield replace(
                case,
                passed=passed,
                message=message,
                measured=measured,
                measured_text=text,
                details=details,
            )


def _groups_of(values: list[MetricValue], people: People) -> dict[str, list[MetricValue]]:
    """`values` by the scenario group of the participant each is of, groups in run order."""
    found: dict[str, list[MetricValue]] = {p.group: [] for p in people.values()}
    for value in values:
        participant = people.get(value.participant)
        if participant is not None:
            found[participant.group].append(value)
    return {group: chosen for group, chosen in found.items() if chosen}


def _per_group(measured: dict[str, float | None], quantity: Quantity) -> str:
    return ", ".join(
        f"{group} {'-' if value is None else format_quantity(value, quantity)}"
        for group, value in measured.items()
    )


def _scope_groups(scope: Scope | None) -> list[str] | None:
    if scope is None or scope.group is None:
        return None
    return [scope.group] if isinstance(scope.group, str) else list(scope.group)


@dataclass(frozen=True)
class _Coverage:
    """Which of the streams that should have a value of a metric have one."""

    covered: int
    population: int
    missing: list[str]
    counts: str
    """What was counted: streams, or participants (joins)."""

    @classmethod
    def of(
        cls,
        metric: Metric,
        values: list[MetricValue],
        result: RunResult,
        scope: Scope | None,
        people: People,
        warmup: float,
        joining: set[str],
    ) -> _Coverage | None:
        if metric.population is None:
            return None
        expected = {
            (want.participant, want.stream)
            for want in metric.population(result, warmup)
            if (want.stream is not None or _joins(people.get(want.participant), joining))
            and (
                scope is None  # else the streams of the scope's groups, types and times
                or (
                    _stream_in_scope((want.participant, want.stream), scope, people)
                    and _in_scope_times(want, scope, result)
                )
            )
        }
        have = {(value.participant, value.stream) for value in values}
        missing = sorted(_stream_named(key, people) for key in expected - have)
        # A stream that gave values counts, expected or not (one too short to be expected).
        return cls(len(have), len(expected | have), missing, metric.counts)

    @property
    def text(self) -> str:
        return f" from {self.covered} of {self.population} {self.counts}"

    def enough(self, share: float) -> bool:
        return self.covered >= share * self.population - 1e-9


People = dict[str, ParticipantResult]


def _among(value: str | None, wanted: str | Sequence[str] | None) -> bool:
    if wanted is None:
        return True
    return value is not None and value in ([wanted] if isinstance(wanted, str) else wanted)


def _joins(participant: ParticipantResult | None, joining: set[str]) -> bool:
    return participant is not None and participant.group in joining


def _stream_in_scope(key: tuple[str, str | None], scope: Scope, people: People) -> bool:
    """Whether a stream (or, without one, a participant) is of the scope's groups and types."""
    participant = people.get(key[0])
    if participant is None or not _among(participant.group, scope.group):
        return False
    if scope.stream is None or key[1] is None:
        return scope.stream is None
    types = {s.stream_type for s in participant.streams if s.stream_id == key[1]}
    return any(_among(kind, scope.stream) for kind in types)


def _stream_named(key: tuple[str, str | None], people: People) -> str:
    """ "customer-0 stream ID (← agent-0 CAM)": whose stream, and what it is."""
    who, stream_id = key
    if stream_id is None:
        return who
    participant = people.get(who)
    streams = participant.streams if participant is not None else []
    label = next((s.label for s in streams if s.stream_id == stream_id), None)
    return f"{who} stream {stream_id}" + (f" ({label})" if label else "")


def _scope_intervals(scope: Scope, result: RunResult) -> list[Interval] | None:
    """The run's times within the scope's window and phases; None: the whole run."""
    if scope.window is None and scope.phase is None:
        return None
    found: list[Interval] = [scope.window] if scope.window is not None else [(0.0, math.inf)]
    if scope.phase is not None:
        phases = sorted((p.start, p.end) for p in result.phases if _among(p.name, scope.phase))
        found = intersect(found, phases)
    return found


def _in_scope_times(want: Expected, scope: Scope, result: RunResult) -> bool:
    """Whether a stream should have a value within the scope's times: a one-off value (its
    `start` is its `end`) when that falls in them, a sampled series when it overlaps them
    for `SAMPLED_SPAN`."""
    intervals = _scope_intervals(scope, result)
    if intervals is None:
        return True
    if want.end <= want.start:
        return any(start <= want.start <= stop for start, stop in intervals)
    overlap = intersect(intervals, [(want.start, want.end)])
    return math.fsum(stop - start for start, stop in overlap) >= SAMPLED_SPAN


def _in_scope(value: MetricValue, scope: Scope, result: RunResult, people: People) -> bool:
    """Whether `value` is of the scope's groups and stream types, and was measured within its
    phases and window."""
    if scope.window is not None and not scope.window[0] <= value.t <= scope.window[1]:
        return False
    if scope.phase is not None and not any(
        _among(phase.name, scope.phase) and phase.start <= value.t <= phase.end
        for phase in result.phases
    ):
        return False
    if scope.group is None and scope.stream is None:
        return True
    if value.stream is None:  # a participant's value (a join): its group only
        if scope.stream is not None:
            return False
        participant = people.get(value.participant)
        return participant is not None and _among(participant.group, scope.group)
    return _stream_in_scope((value.participant, value.stream), scope, people)


def _condition(name: str, scenario: Scenario, result: RunResult) -> Expectation:
    match name:
        case "every_participant_joined":
            missing = [p.name for p in result.participants if p.joined_at is None]
            if not result.participants:
                missing = ["no participant took part"]
            return _verdict(name, missing, f"{len(result.participants)} participant(s) joined")
        case "no_errors":
            errors = [
                f"{p.name}: {error.message}" for p in result.participants for error in p.errors
            ]
            errors += [
                f"{p.name}: step {step.kind} failed"
                for p in result.participants
                for step in p.steps
                if not step.ok
            ]
            joining = _joining(scenario)
            errors += [  # a result the runner did not say it of (a run before it did)
                f"{p.name}: did not join before the run ended (arrived at {p.arrived_at:.1f}s)"
                for p in result.participants
                if _joins(p, joining) and not p.presences(result.duration) and not p.errors
            ]
            return _verdict(name, errors, "no participant had an error")
        case "every_snapshot_answered":
            unanswered = [
                f"{p.name} → {request.target or '?'} at {request.t:.1f}s"
                for p in result.participants
                for request in p.snapshots
                if request.round_trip is None or not request.succeeded
            ]
            asked = sum(len(p.snapshots) for p in result.participants)
            if not asked:
                unanswered = ["no snapshot was requested"]
            return _verdict(name, unanswered, f"all {asked} snapshot request(s) answered")
        case "compositions_completed":
            compositions = [c for p in result.participants for c in p.compositions]
            unfinished = [
                f"{c.type} {c.id or '(not created)'} of {c.conversation}: {c.state}"
                for c in compositions
                if c.state not in ("COMPLETED", "DELETED", "CANCELLED")
            ]
            if not compositions:
                unfinished = ["no composition was requested"]
            return _verdict(name, unfinished, f"all {len(compositions)} composition(s) completed")
        case "composition_media_valid":
            checked = [c for p in result.participants for c in p.compositions if c.file is not None]
            problems = [f"{c.file}: {problem}" for c in checked for problem in c.problems]
            if not checked:
                problems = ["no composition was downloaded"]
            return _verdict(name, problems, f"{len(checked)} composed file(s) decode as requested")
        case "recordings_complete":
            tracks = [(p.name, t) for p in result.participants for t in p.recordings]
            problems = [
                problem
                for owner, track in tracks
                if (problem := _recorded_track_problem(owner, track)) is not None
            ]
            if not tracks:
                problems = ["nothing was recorded (no stop_recording step read a track back)"]
            return _verdict(
                name,
                problems,
                f"all {len(tracks)} recorded track(s) have a file as long as their publishing "
                f"(±{RECORDING_TOLERANCE:g} s)",
            )
        case "every_viewer_received_every_publisher":
            missing, pairs = _unreceived(scenario, result)
            if not pairs and not missing:
                missing = ["no viewer and publisher were present together"]
            return _verdict(name, missing, f"{pairs} viewer/publisher pair(s) received media")
    raise ValueError(f"unknown condition {name!r}")


RECORDING_TOLERANCE = 1.0
"""Seconds a recorded track may differ from the time its stream was published while recorded
(the first keyframe, the last packet in flight)."""


def _recorded_track_problem(owner: str, track: RecordedTrackResult) -> str | None:
    what = f"{owner}: {track.kind} of {track.user or '?'} (recorder {track.recorder})"
    if not track.size or track.recorded is None:
        return f"{what}: no file"
    if track.published is None:
        return f"{what}: no published interval reported"
    if abs(track.recorded - track.published) > RECORDING_TOLERANCE:
        return f"{what}: {track.recorded:.1f} s recorded of {track.published:.1f} s published"
    return None


def _verdict(name: str, problems: list[str], success: str) -> Expectation:
    if not problems:
        return Expectation(name, True, success)
    shown = "; ".join(problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return Expectation(name, False, f"{len(problems)} failed: {shown}{more}", details=problems)


def viewed_groups(group: ParticipantGroup, all_groups: list[str]) -> set[str]:
    """The groups a participant of `group` views at some point: its `view` and view steps.

    A later `stop_view` does not undo having been expected to receive before it."""
    targets = [group.view]
    targets += [step.of for step in group.timeline or [] if isinstance(step, ViewStep)]
    viewed: set[str] = set()
    for target in targets:
        if target == "all":
            viewed.update(all_groups)
        elif isinstance(target, list):
            viewed.update(target)
    return viewed


def _unreceived(scenario: Scenario, result: RunResult) -> tuple[list[str], int]:
    """Meetings of a viewer and a publisher's stream (`agent.scenario.meetings`; an
    audio-only one by its packets) long enough for a first frame, in which nothing was
    received or media stopped for longer than `OUTAGE`, and how many such meetings there were."""
    names = [group.name for group in scenario.participants]

    def static(viewer: ParticipantResult, publisher: ParticipantResult) -> bool:
        group = scenario.group(viewer.group)
        return group is not None and publisher.group in viewed_groups(group, names)

    missing: list[str] = []
    pairs = 0
    for meeting in meetings(result, static):
        if scenario.group(meeting.viewer.group) is None:
            continue
        if meeting.stop - meeting.start < MIN_OVERLAP:
            continue
        pairs += 1
        problem = _reception_problem(meeting, result.duration)
        if problem is not None:
            missing.append(problem)
    return missing, pairs


def _reception_problem(meeting: Meeting, end: float) -> str | None:
    """What was wrong with what `meeting`'s viewer received, said with when media flowed."""
    span = f"between {meeting.start:.1f}s and {meeting.stop:.1f}s"
    views = meeting.views
    flowed = meeting.flowed()
    if flowed is None:  # no series: frames (packets) of a view overlapping the meeting will do
        video = meeting.stream.has_video
        received = [view for view in views if (view.frames if video else view.packets_received)]
        if any(_overlaps(view, meeting, end) for view in received):
            return None
        return f"{meeting.viewer.name} did not receive {_what(meeting)} {span}"
    during = intersect(flowed, [(meeting.start, meeting.stop)])
    if not during:
        return f"{meeting.viewer.name} did not receive {_what(meeting)} {span}" + _elsewhere(flowed)
    graced = (meeting.start + MIN_OVERLAP, meeting.stop)
    worst = max(gaps(graced, during), key=lambda gap: gap[1] - gap[0], default=None)
    if worst is None or worst[1] - worst[0] <= OUTAGE:
        return None
    return (
        f"{meeting.viewer.name} received no {_what(meeting)} from {worst[0]:.1f}s to "
        f"{worst[1]:.1f}s ({worst[1] - worst[0]:.1f}s, longer than {OUTAGE:g}s) {span}; "
        f"media flowed {_spans(during)}"
    )


def _what(meeting: Meeting) -> str:
    return f"{meeting.publisher.name} {meeting.stream.stream_type}"


def _elsewhere(flowed: list[Interval]) -> str:
    if not flowed:
        return ""
    return f"; its media flowed {_spans(flowed)}"


def _spans(intervals: list[Interval]) -> str:
    shown = ", ".join(f"{start:.1f}s to {stop:.1f}s" for start, stop in intervals[:3])
    return shown + (f" (and {len(intervals) - 3} more)" if len(intervals) > 3 else "")


def _overlaps(view: StreamResult, meeting: Meeting, end: float) -> bool:
    started = view.started_at if view.started_at is not None else 0.0
    ended = view.ended_at if view.ended_at is not None else end
    return started <= meeting.stop and ended >= meeting.start
