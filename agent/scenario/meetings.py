"""When a viewer was in a call with a publisher's stream, and when media of it flowed.

A meeting is a stretch where a viewer was present and viewing a publisher's group while the
stream was published: the time it should have received. Where no frame (of a video stream)
or no packet (of an audio-only one, not decoded on the light path) arrived within a meeting
is time without media (a freeze that never ended, an outage of the platform),
whatever its cause; the `every_viewer_received_every_publisher` condition and the
`media_gap` metric both read it from here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agent.scenario.results import (
    RECENT_LOOK,
    ParticipantResult,
    RunResult,
    StreamDirection,
    StreamResult,
)

__all__ = [
    "MIN_OVERLAP",
    "OUTAGE",
    "Interval",
    "Meeting",
    "flowing",
    "gaps",
    "intersect",
    "meetings",
]

MIN_OVERLAP = 3.0
"""Seconds a viewer (present and viewing) and a publisher's stream (published) must meet for
the viewer to be expected to receive its media: the grace for the first frame (a view is
set up after the publish event, on a loaded machine in a second or two). Shorter meetings,
frequent under churn, are not counted."""

OUTAGE = 10.0
"""Seconds without media within a meeting (after its first `MIN_OVERLAP`) that fail the
`every_viewer_received_every_publisher` condition: a stream that stopped is not received,
however many frames came before. Shorter gaps are bounded with `media_gap`."""

Interval = tuple[float, float]


def intersect(a: list[Interval], b: list[Interval]) -> list[Interval]:
    """The parts of `a` inside `b` (both sorted, each without overlaps of its own)."""
    found: list[Interval] = []
    for a_start, a_end in a:
        for b_start, b_end in b:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if end > start:
                found.append((start, end))
    return sorted(found)


def gaps(span: Interval, covered: list[Interval]) -> list[Interval]:
    """The parts of `span` outside `covered` (sorted)."""
    found: list[Interval] = []
    at = span[0]
    for start, end in sorted(covered):
        if start > at:
            found.append((at, min(start, span[1])))
        at = max(at, end)
        if at >= span[1]:
            break
    if at < span[1]:
        found.append((at, span[1]))
    return [(start, end) for start, end in found if end > start]


def flowing(views: list[StreamResult], video: bool = True) -> list[Interval] | None:
    """When media of these views arrived: frames of a video stream, packets of an audio-only
    one. Each fps sample above 0 covers the time since the sample before it (a view that
    counted no frame has none). None when the result cannot tell: no view with frames has
    fps samples, or (audio) a view counted packets without a record of when."""
    if not video:
        return _arrived(views)
    views = [view for view in views if view.frames > 0]
    if not any(view.fps for view in views):
        return None
    covered: list[Interval] = []
    for view in views:
        before = view.started_at
        for sample in view.fps:
            start = before if before is not None and before < sample.t else sample.t - 1.0
            if sample.value > 0:
                covered.append((start, sample.t))
            before = sample.t
    return _merged(covered)


def _arrived(views: list[StreamResult]) -> list[Interval] | None:
    """When packets of these audio views arrived: the looks that counted new packets (their
    `loss` samples, one per look with packets, a share below 1 when some were received),
    each covering the time since the look before (if recent) or the second before it."""
    if any(view.packets_received > 0 and not view.loss for view in views):
        return None
    covered: list[Interval] = []
    for view in views:
        before: float | None = None
        for sample in view.loss:
            recent = before is not None and sample.t - before <= RECENT_LOOK
            start = before if before is not None and recent else sample.t - 1.0
            if sample.value < 1.0:
                covered.append((start, sample.t))
            before = sample.t
    return _merged(covered)


def _merged(covered: list[Interval]) -> list[Interval]:
    covered = sorted(covered)
    merged: list[Interval] = []
    for start, end in covered:
        if merged and merged[-1][1] >= start:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class Meeting:
    viewer: ParticipantResult
    publisher: ParticipantResult
    stream: StreamResult
    start: float
    stop: float

    def flowed(self) -> list[Interval] | None:
        """When media of the stream reached the viewer (`flowing`)."""
        return flowing(self.views, self.stream.has_video)

    @property
    def views(self) -> list[StreamResult]:
        """The viewer's views of the stream, whenever they were, under any of its ids."""
        ids = self.stream.ids
        return [
            view
            for view in self.viewer.streams
            if view.direction is StreamDirection.VIEW and view.stream_id in ids
        ]

    def describe(self) -> str:
        return f"{self.viewer.name} → {self.publisher.name} {self.stream.stream_type}"


Views = Callable[[ParticipantResult, ParticipantResult], bool]
"""Whether a viewer without a record of its viewing changes views a publisher's group."""


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
    return intersect(present, wanted)


def meetings(result: RunResult, views: Views) -> Iterator[Meeting]:
    """Every meeting of a viewer with a published stream of its conference (video, or
    audio-only), however short; under churn one pair meets many times, each meeting on its own."""
    end = result.duration
    for viewer in result.participants:
        for publisher in result.participants:
            if publisher is viewer or publisher.conference != viewer.conference:
                continue
            viewing = _viewing(viewer, publisher.group, views(viewer, publisher), end)
            for stream in publisher.streams:
                if stream.direction is not StreamDirection.PUBLISH:
                    continue
                if stream.started_at is None:
                    continue
                ended = stream.ended_at if stream.ended_at is not None else end
                for start, stop in intersect(viewing, [(stream.started_at, ended)]):
                    yield Meeting(viewer, publisher, stream, start, stop)
