"""Evaluating a scenario's `expect` section against what a run measured.

Each threshold (`join_time: {p95: "< 1s"}` is one) and each condition becomes one
`Expectation` with the measured value, so reports can say what was measured against what."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from agent.scenario.health_verdict import HealthVerdict, assess
from agent.scenario.metrics import METRICS, aggregate
from agent.scenario.model import ExpectSpec, ParticipantGroup, Scenario, ViewStep
from agent.scenario.results import (
    ParticipantResult,
    RecordedTrackResult,
    RunResult,
    StreamDirection,
)
from agent.scenario.units import Quantity, format_quantity

__all__ = ["MIN_OVERLAP", "Evaluation", "Expectation", "evaluate", "viewed_groups"]

MIN_OVERLAP = 3.0
"""Seconds a viewer (present and viewing) and a publisher's stream (published) must meet for
the viewer to be expected to receive its video: the grace for the first frame (a view is
set up after the publish event, on a loaded machine in a second or two). Shorter meetings,
frequent under churn, are not counted."""


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
    found.extend(_thresholds(expect, result))
    found.extend(_condition(name, scenario, result) for name in expect.conditions)
    return Evaluation(found, assess(result.health))


def _run_completed(result: RunResult) -> Expectation:
    problems = [f"{error.step or 'run'}: {error.message}" for error in result.errors]
    if result.interrupted:
        problems.insert(0, "the run was interrupted before it ended")
    if problems:
        return Expectation("run_completed", False, "; ".join(problems[:3]), details=problems)
    return Expectation("run_completed", True, "the run ended as planned")


def _thresholds(expect: ExpectSpec, result: RunResult) -> Iterator[Expectation]:
    for metric_name, thresholds in expect.thresholds():
        metric = METRICS[metric_name]
        values = list(metric.extract(result, expect.warmup))
        for aggregate_name, threshold in thresholds.items():
            name = f"{metric_name} {aggregate_name} {threshold}"
            measured = aggregate(values, aggregate_name, metric.quantity)
            quantity = Quantity.COUNT if aggregate_name == "count" else metric.quantity
            if measured is None:
                yield Expectation(
                    name,
                    False,
                    f"nothing was measured for {metric_name}; threshold {threshold}",
                    metric_name,
                    aggregate_name,
                    str(threshold),
                )
                continue
            text = format_quantity(measured, quantity)
            passed = threshold.holds(measured)
            verdict = "holds" if passed else "does not hold"
            yield Expectation(
                name,
                passed,
                f"measured {aggregate_name} {text} over {len(values)} value(s); "
                f"threshold {threshold} {verdict}",
                metric_name,
                aggregate_name,
                str(threshold),
                measured,
                text,
            )


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
            return _verdict(name, missing, f"{pairs} viewer/publisher pair(s) received video")
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


Interval = tuple[float, float]


def _intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """The parts of `a` inside `b` (both sorted, each without overlaps of its own)."""
    found: list[Interval] = []
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if end > start:
                found.append((start, end))
    return sorted(found)


def _viewing(viewer: ParticipantResult, group: str, static: bool, end: float) -> list[Interval]:
    """When `viewer` was in the conference and viewing `group`'s streams.

    From its record of viewing changes; a result without one (a load crowd) views what its
    group's `view` and view steps say (`static`) all the time it is present."""
    present = [(joined, left) for joined, left, _ in viewer.presences(end)]
    if not viewer.viewing:
        return present if static else []
    wanted: list[Interval] = []
    changes = sorted(viewer.viewing, key=lambda change: change.t)
    for change, following in zip(changes, [*changes[1:], None], strict=True):
        until = following.t if following is not None else end
        if group in change.groups and until > change.t:
            if wanted and wanted[-1][1] >= change.t:  # a view step of a group viewed already
                wanted[-1] = (wanted[-1][0], until)
            else:
                wanted.append((change.t, until))
    return _intersect(present, wanted)


def _unreceived(scenario: Scenario, result: RunResult) -> tuple[list[str], int]:
    """Meetings of a viewer and a publisher's video with no frame received, and how many
    meetings there were.

    A meeting is a stretch where the viewer was present and viewing the publisher's group
    while the stream was published, long enough (`MIN_OVERLAP`) for a first frame; under
    churn one pair meets many times, each meeting counts on its own."""
    names = [group.name for group in scenario.participants]
    end = result.duration
    missing: list[str] = []
    pairs = 0
    for viewer in result.participants:
        group = scenario.group(viewer.group)
        if group is None:
            continue
        static = viewed_groups(group, names)
        for publisher in result.participants:
            if publisher is viewer or publisher.conference != viewer.conference:
                continue
            viewing = _viewing(viewer, publisher.group, publisher.group in static, end)
            for stream in publisher.streams:
                if stream.direction is not StreamDirection.PUBLISH or not stream.has_video:
                    continue
                if stream.started_at is None:
                    continue
                ended = stream.ended_at if stream.ended_at is not None else end
                published = (stream.started_at, ended)
                for start, stop in _intersect(viewing, [published]):
                    if stop - start < MIN_OVERLAP:
                        continue
                    pairs += 1
                    if not _received(viewer, stream.stream_id, (start, stop), end):
                        missing.append(
                            f"{viewer.name} did not receive {publisher.name} "
                            f"{stream.stream_type} between {start:.1f}s and {stop:.1f}s"
                        )
    return missing, pairs


def _received(viewer: ParticipantResult, stream_id: str, meeting: Interval, end: float) -> bool:
    """Whether a view of `stream_id` with frames overlapped `meeting`."""
    for view in viewer.streams:
        if view.direction is not StreamDirection.VIEW or view.stream_id != stream_id:
            continue
        started = view.started_at if view.started_at is not None else 0.0
        ended = view.ended_at if view.ended_at is not None else end
        if view.frames > 0 and started <= meeting[1] and ended >= meeting[0]:
            return True
    return False
