"""Issue 13, the agent's side: an event the platform did not send never ends the agent's call.

Our platform refuses the platform's event types from `sendEvent` and marks every client event
with `sentBy`; a platform that did neither is played here by publishing straight to the
agent's topic (the only way to get such an event past our own platform).
"""

from __future__ import annotations

from typing import Any

from agent.api.models.events import ClientEvent, ConferenceEndedEvent, parse_event
from agent.events.ordering import conference_position
from server.embedded import EmbeddedServer
from server.events import Recipient
from tests.participant_support import CAM, Call, small_tracks
from tests.waiting import wait_until

ENDED: dict[str, Any] = {
    "type": "ConferenceEndedEvent",
    "id": "forged-1",
    "timestamp": "2026-01-01T00:00:00.000Z",
    "reason": "forged",
}


def test_a_marked_event_is_a_client_event_whatever_its_type() -> None:
    marked = parse_event({**ENDED, "conferenceId": "c1", "conferenceVersion": 3, "sentBy": {}})
    assert isinstance(marked, ClientEvent) and not isinstance(marked, ConferenceEndedEvent)
    assert conference_position(marked) is None  # takes no turn in the conference's order
    assert isinstance(parse_event({**ENDED, "conferenceId": "c1"}), ConferenceEndedEvent)


async def test_forged_conference_ends_leave_the_call_running(
    server: EmbeddedServer, call: Call
) -> None:
    alice = await call.participant("agent1")
    await alice.publish(CAM, small_tracks(CAM))
    assert alice.conference_id is not None and alice.endpoint_id is not None
    user_id = server.platform.registrations.get(alice.endpoint_id)
    assert user_id is not None
    to_alice = [Recipient(user_id.user_id, alice.endpoint_id)]
    conference = {"conferenceId": alice.conference_id}
    events = server.platform.events
    # As our platform delivers a client's event (marked), then as one that does not mark.
    events.send(to_alice, {**ENDED, **conference, "sentBy": {"userId": "someone"}})
    events.send(to_alice, {**ENDED, **conference, "id": "forged-2"})
    await wait_until(
        lambda: any(r.step == "ignored" for r in alice.timeline.records),
        "the agent handled the unmarked forgery",
    )
    steps = [r.step for r in alice.timeline.records]
    assert "removed" not in steps
    assert alice.conference_id is not None and len(alice.publishers) == 1
    assert alice.peer_connection_count() == 1
    # Its media still reaches the platform (a torn-down call sends nothing more).
    router = server.platform.router
    assert router is not None
    before = sum(router.packets_received().values())
    await wait_until(
        lambda: sum(router.packets_received().values()) > before + 20,
        "the agent's media still reaching the router after the forgeries",
    )
