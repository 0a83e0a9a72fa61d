"""Conference events in version order: stale and duplicate events dropped, gaps filled from
the long-poll (an in-memory conference log here; the end-to-end tests use the real one)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from agent.api.models.events import (
    ConferenceJoinedEvent,
    Event,
    GenericEvent,
    SnapshotRequestedEvent,
    parse_event,
)
from agent.events.ordering import ConferenceSequence, EventOrdering, conference_position


def joined(version: int | None, conference: str = "c1", **extra: Any) -> Event:
    return parse_event(
        {
            "type": "ConferenceJoinedEvent",
            "id": f"{conference}-{version}",
            "conferenceId": conference,
            "conferenceVersion": version,
            "userEndpointId": f"ep{version}",
            **extra,
        }
    )


def versions(events: Sequence[Event]) -> list[int | None]:
    return [position[1] if (position := conference_position(event)) else None for event in events]


class ConferenceLog:
    """What `GET /conferences/{id}/events?v=N` answers: the conference's events from N on."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = list(events)
        self.calls: list[tuple[str, int]] = []
        self.failures = 0

    async def fetch_since(self, conference_id: str, version: int) -> list[Event]:
        self.calls.append((conference_id, version))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("server away")
        return [
            event
            for event in self.events
            if (position := conference_position(event))
            and position[0] == conference_id
            and (position[1] or 0) >= version
        ]


class Collected:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.arrived = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self.arrived.set()

    async def until(self, count: int, within: float = 5.0) -> list[Event]:
        async with asyncio.timeout(within):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events


# ConferenceSequence: the bookkeeping alone.


def test_in_order_events_are_applied_and_the_version_advances() -> None:
    sequence = ConferenceSequence(5)
    assert versions(sequence.accept(joined(5), 5)) == [5]
    assert versions(sequence.accept(joined(6), 6)) == [6]
    assert sequence.version == 7
    assert not sequence.waiting


def test_stale_and_duplicate_events_are_dropped() -> None:
    sequence = ConferenceSequence(5)
    assert sequence.accept(joined(3), 3) == []  # already in the simpleView
    sequence.accept(joined(5), 5)
    assert sequence.accept(joined(5), 5) == []  # delivered twice
    sequence.accept(joined(8), 8)
    assert sequence.accept(joined(8), 8) == []  # early, and twice
    assert sequence.dropped == 3
    assert sequence.version == 6


def test_an_early_event_waits_for_the_missing_ones() -> None:
    sequence = ConferenceSequence(1)
    assert sequence.accept(joined(3), 3) == []
    assert sequence.waiting
    assert sequence.accept(joined(2), 2) == []
    assert versions(sequence.accept(joined(1), 1)) == [1, 2, 3]
    assert sequence.version == 4
    assert not sequence.waiting


def test_skipping_a_gap_resumes_at_the_earliest_early_event() -> None:
    sequence = ConferenceSequence(1)
    sequence.accept(joined(4), 4)
    sequence.accept(joined(5), 5)
    sequence.accept(joined(7), 7)
    assert versions(sequence.skip_gap()) == [4, 5]
    assert sequence.version == 6
    assert sequence.waiting  # 6 is missing before 7


def test_unknown_types_are_placed_by_their_wire_fields() -> None:
    unknown = parse_event(
        {"type": "ConferenceRecordingEvent", "conferenceId": "c1", "conferenceVersion": 4}
    )
    assert isinstance(unknown, GenericEvent)
    assert conference_position(unknown) == ("c1", 4)
    snapshot = parse_event({"type": "SnapshotRequestedEvent", "snapshotId": "s1"})
    assert isinstance(snapshot, SnapshotRequestedEvent)
    assert conference_position(snapshot) is None
    assert conference_position(parse_event({"type": "Whatever", "conferenceId": "c1"})) == (
        "c1",
        None,
    )


# EventOrdering: routing and fetching.


async def test_events_in_order_pass_straight_through() -> None:
    out = Collected()
    ordering = EventOrdering(out, ConferenceLog([]).fetch_since)
    ordering.track("c1", 2)
    for version in (1, 2, 3, 3, 4):
        ordering.offer(joined(version))
    assert versions(out.events) == [2, 3, 4]
    assert ordering.version("c1") == 5
    assert ordering.dropped("c1") == 2
    await ordering.close()


async def test_a_gap_is_filled_from_the_long_poll_in_order() -> None:
    log = ConferenceLog([joined(v) for v in range(1, 7)])
    out = Collected()
    ordering = EventOrdering(out, log.fetch_since)
    ordering.track("c1", 1)
    ordering.offer(joined(1))
    ordering.offer(joined(5))  # 2, 3, 4 were missed
    ordering.offer(joined(6))
    assert versions(await out.until(6)) == [1, 2, 3, 4, 5, 6]
    assert log.calls == [("c1", 2)]
    log.events.append(joined(7))
    ordering.offer(joined(7))
    ordering.offer(joined(4))  # the late original of a fetched event
    assert versions(out.events) == [1, 2, 3, 4, 5, 6, 7]
    await ordering.close()


async def test_a_failed_fetch_is_retried() -> None:
    log = ConferenceLog([joined(v) for v in range(1, 4)])
    log.failures = 1
    out = Collected()
    ordering = EventOrdering(out, log.fetch_since, retry_delay=0.01)
    ordering.track("c1", 1)
    ordering.offer(joined(3))
    assert versions(await out.until(3)) == [1, 2, 3]
    assert log.calls == [("c1", 1), ("c1", 1)]
    await ordering.close()


async def test_a_gap_the_server_cannot_fill_is_skipped_after_the_attempts() -> None:
    log = ConferenceLog([joined(1), joined(4)])  # 2 and 3 are lost for good
    out = Collected()
    ordering = EventOrdering(out, log.fetch_since, retry_delay=0.01, max_attempts=2)
    ordering.track("c1", 1)
    ordering.offer(joined(4))
    assert versions(await out.until(2)) == [1, 4]
    assert len(log.calls) == 2
    assert ordering.skipped_gaps == 1
    assert ordering.version("c1") == 5
    await ordering.close()


async def test_without_a_long_poll_a_gap_is_skipped_at_once() -> None:
    out = Collected()
    ordering = EventOrdering(out)
    ordering.track("c1", 1)
    ordering.offer(joined(3))
    assert versions(await out.until(1)) == [3]
    await ordering.close()


async def test_events_between_join_and_simpleview_are_held_then_ordered() -> None:
    out = Collected()
    ordering = EventOrdering(out, ConferenceLog([]).fetch_since)
    ordering.expect("c1")
    ordering.offer(joined(4))
    ordering.offer(joined(2))  # before the view's version: already in the view
    ordering.offer(joined(3))
    assert out.events == []
    ordering.track("c1", 3)
    assert versions(out.events) == [3, 4]
    await ordering.close()


async def test_untracked_conferences_and_unversioned_events_pass_through() -> None:
    out = Collected()
    ordering = EventOrdering(out, ConferenceLog([]).fetch_since)
    ordering.track("c1", 10)
    snapshot = parse_event({"type": "SnapshotRequestedEvent", "snapshotId": "s1"})
    creation = joined(None)
    other = joined(1, conference="c2")
    for event in (snapshot, creation, other):
        ordering.offer(event)
    assert out.events == [snapshot, creation, other]
    await ordering.close()


async def test_an_unknown_event_type_takes_its_turn() -> None:
    out = Collected()
    ordering = EventOrdering(out, ConferenceLog([]).fetch_since)
    ordering.track("c1", 1)
    unknown = parse_event(
        {"type": "ConferenceRecordingEvent", "conferenceId": "c1", "conferenceVersion": 1}
    )
    ordering.offer(joined(2))
    ordering.offer(unknown)
    assert out.events[0] is unknown
    assert versions(out.events) == [1, 2]
    await ordering.close()


async def test_resync_fetches_what_was_missed_while_away() -> None:
    # The last event (a leave, say) was missed: nothing later would reveal the gap.
    log = ConferenceLog([joined(v) for v in range(1, 4)])
    out = Collected()
    ordering = EventOrdering(out, log.fetch_since)
    ordering.track("c1", 1)
    ordering.offer(joined(1))
    ordering.offer(joined(2))
    ordering.resync()
    assert versions(await out.until(3)) == [1, 2, 3]
    assert log.calls == [("c1", 3)]
    await ordering.close()


async def test_forget_stops_ordering_and_fetching() -> None:
    started = asyncio.Event()

    async def never_answers(conference_id: str, version: int) -> list[Event]:
        started.set()
        await asyncio.Event().wait()
        return []

    out = Collected()
    ordering = EventOrdering(out, never_answers)
    ordering.track("c1", 1)
    ordering.offer(joined(3))
    await asyncio.wait_for(started.wait(), 5)
    ordering.forget("c1")
    ordering.offer(joined(4))  # no longer tracked: passes through
    assert versions(out.events) == [4]
    assert ordering.version("c1") is None
    await ordering.close()
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


@pytest.mark.parametrize("version", [0, 7])
async def test_track_again_restarts_from_the_new_view(version: int) -> None:
    out = Collected()
    ordering = EventOrdering(out, ConferenceLog([]).fetch_since)
    ordering.track("c1", 3)
    ordering.offer(joined(3))
    ordering.track("c1", version)  # left and joined again
    ordering.offer(joined(version))
    assert versions(out.events) == [3, version]
    assert isinstance(out.events[1], ConferenceJoinedEvent)
    await ordering.close()
