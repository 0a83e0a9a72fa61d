"""Conference events in `conferenceVersion` order (PROTOCOL.md, "Ordering").

After joining, a participant reads the conference's `simpleView` and takes its `version`: the
version of the next event it expects. An event below that is stale (already in the view, or
seen twice) and dropped; the expected one is applied and the version advances by one; a higher
one means events were missed: it waits while the missing ones are fetched from the events
long-poll (`GET /conferences/{id}/events?v=N`), then everything is applied in order.

`ConferenceSequence` is the bookkeeping of one conference, free of I/O. `EventOrdering` routes
every event through the sequences and does the fetching.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from agent.api.models.events import ClientEvent, ConferenceEvent, Event

__all__ = [
    "ConferenceSequence",
    "EventOrdering",
    "FetchSince",
    "conference_position",
]

log = logging.getLogger(__name__)

FetchSince = Callable[[str, int], Awaitable[Sequence[Event]]]
"""`fetch_since(conference_id, version)`: the conference's events from `version` on."""


def conference_position(event: Event) -> tuple[str, int | None] | None:
    """`(conference id, conference version)` of a conference event, None for other events.

    An event of a type this code does not know (`GenericEvent`) is placed by the wire fields
    it kept: it still takes its turn, or every event after it would look like a gap."""
    if isinstance(event, ConferenceEvent):
        return event.conference_id, event.conference_version
    if isinstance(event, ClientEvent):
        return None  # a client's event is not the platform's: it takes no conference turn
    extra = event.model_extra or {}
    conference_id = extra.get("conferenceId")
    if not isinstance(conference_id, str) or not conference_id:
        return None
    version = extra.get("conferenceVersion")
    if isinstance(version, bool) or not isinstance(version, int):
        return conference_id, None
    return conference_id, version


class ConferenceSequence:
    """The next version expected from one conference, and the events that came early."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.dropped = 0
        self._early: dict[int, Event] = {}

    @property
    def waiting(self) -> bool:
        """Whether events came early, i.e. some before them are missing."""
        return bool(self._early)

    def accept(self, event: Event, version: int) -> list[Event]:
        """The events that can be applied now, in order (possibly none)."""
        if version < self.version or version in self._early:
            self.dropped += 1
            return []
        self._early[version] = event
        return self._release()

    def skip_gap(self) -> list[Event]:
        """Give up on the missing versions: continue from the earliest event that came."""
        if self._early:
            self.version = min(self._early)
        return self._release()

    def _release(self) -> list[Event]:
        ready: list[Event] = []
        while self.version in self._early:
            ready.append(self._early.pop(self.version))
            self.version += 1
        return ready


class EventOrdering:
    """Puts events of tracked conferences in version order before `emit` sees them.

    Events of conferences not tracked, and events without a version (creation events, snapshot
    events), go straight to `emit`. Between `expect` and `track` (join, then `simpleView`) a
    conference's events are held, so those the view already shows are dropped as stale.

    A gap is fetched with `fetch_since`; if it is still open after `max_attempts` fetches (the
    server lost the events), it is skipped with a warning rather than stalling the conference
    for good. Without `fetch_since`, gaps are skipped at once.
    """

    def __init__(
        self,
        emit: Callable[[Event], None],
        fetch_since: FetchSince | None = None,
        *,
        retry_delay: float = 1.0,
        max_attempts: int = 3,
    ) -> None:
        self._emit = emit
        self._fetch_since = fetch_since
        self._retry_delay = retry_delay
        self._max_attempts = max_attempts
        self._sequences: dict[str, ConferenceSequence] = {}
        self._held: dict[str, list[Event]] = {}
        self._fetchers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # also the cancelled, until they end
        self.skipped_gaps = 0

    def expect(self, conference_id: str) -> None:
        """Hold this conference's events until `track` gives the version to start from."""
        if conference_id not in self._sequences:
            self._held.setdefault(conference_id, [])

    def track(self, conference_id: str, version: int) -> None:
        """Order this conference's events from `version` (the `simpleView` version) on."""
        self._stop_fetcher(conference_id)
        sequence = ConferenceSequence(version)
        self._sequences[conference_id] = sequence
        for event in self._held.pop(conference_id, []):
            self._accept(conference_id, sequence, event)
        self._fill_if_waiting(conference_id, sequence)

    def forget(self, conference_id: str) -> None:
        """Stop ordering this conference (after leaving it)."""
        self._stop_fetcher(conference_id)
        self._sequences.pop(conference_id, None)
        self._held.pop(conference_id, None)

    def version(self, conference_id: str) -> int | None:
        """The next version expected from a tracked conference."""
        sequence = self._sequences.get(conference_id)
        return sequence.version if sequence is not None else None

    def dropped(self, conference_id: str) -> int:
        """How many stale or duplicate events of a tracked conference were dropped."""
        sequence = self._sequences.get(conference_id)
        return sequence.dropped if sequence is not None else 0

    def offer(self, event: Event) -> None:
        position = conference_position(event)
        if position is None or position[1] is None:
            self._emit(event)
            return
        conference_id = position[0]
        held = self._held.get(conference_id)
        if held is not None:
            held.append(event)
            return
        sequence = self._sequences.get(conference_id)
        if sequence is None:
            self._emit(event)
            return
        self._accept(conference_id, sequence, event)
        self._fill_if_waiting(conference_id, sequence)

    def resync(self) -> None:
        """Fetch what every tracked conference may have missed (after the channel was down:
        a missed last event leaves no later one to reveal the gap)."""
        for conference_id, sequence in self._sequences.items():
            if conference_id not in self._fetchers:
                self._start_fetcher(conference_id, sequence, catch_up=True)

    async def close(self) -> None:
        tasks = list(self._tasks)
        self._fetchers.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _accept(self, conference_id: str, sequence: ConferenceSequence, event: Event) -> None:
        position = conference_position(event)
        if position is None or position[0] != conference_id or position[1] is None:
            return
        for ready in sequence.accept(event, position[1]):
            self._emit(ready)

    def _fill_if_waiting(self, conference_id: str, sequence: ConferenceSequence) -> None:
        if sequence.waiting and conference_id not in self._fetchers:
            self._start_fetcher(conference_id, sequence, catch_up=False)

    def _start_fetcher(
        self, conference_id: str, sequence: ConferenceSequence, *, catch_up: bool
    ) -> None:
        task = asyncio.get_running_loop().create_task(
            self._fetch(conference_id, sequence, catch_up),
            name=f"conference-events-{conference_id}",
        )
        self._fetchers[conference_id] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._fetcher_done(conference_id, done))

    def _fetcher_done(self, conference_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._fetchers.get(conference_id) is task:
            del self._fetchers[conference_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("ordering conference %s failed", conference_id, exc_info=task.exception())

    def _stop_fetcher(self, conference_id: str) -> None:
        task = self._fetchers.pop(conference_id, None)
        if task is not None:
            task.cancel()

    async def _fetch(
        self, conference_id: str, sequence: ConferenceSequence, catch_up: bool
    ) -> None:
        """Fill the gaps of one conference (or, with `catch_up`, fetch once to find any)."""
        attempts = 0
        while self._sequences.get(conference_id) is sequence and (catch_up or sequence.waiting):
            if self._fetch_since is None or attempts >= self._max_attempts:
                if not sequence.waiting:
                    return
                missing = sequence.version
                ready = sequence.skip_gap()
                self.skipped_gaps += 1
                log.warning(
                    "conference %s: events from version %d on never arrived, resuming at %d",
                    conference_id,
                    missing,
                    sequence.version - len(ready),
                )
                for event in ready:
                    self._emit(event)
                attempts = 0
                continue
            if attempts:
                await asyncio.sleep(self._retry_delay)
            attempts += 1
            try:
                events = await self._fetch_since(conference_id, sequence.version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("conference %s: fetching missed events failed: %s", conference_id, exc)
                continue
            if self._sequences.get(conference_id) is not sequence:
                return
            for event in events:
                self._accept(conference_id, sequence, event)
            catch_up = False
