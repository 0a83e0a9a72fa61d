"""A stream published while the participant's registration is gone (its keepalive found the
endpoint expired and a resume is under way) is remembered, not viewed, and logs no traceback:
the resume's rejoin views what the conference has by then. Seen in a real 200-participant run
on a loaded machine (`tests/test_report_real_200.py`): a starved event loop let endpoints
expire, and a published event queued before the keepalive noticed printed
`handling ConferenceStreamPublishedEvent failed` with a traceback.

That window lasts milliseconds and no test can hit it on purpose, so the participant is put
in the state the keepalive leaves it in (`endpoint_id` None, `lost` saying why) by hand;
the platform, the other participant and its published event are real."""

from __future__ import annotations

import logging

import pytest

from agent.participant import Participant
from tests.participant_support import CAM, Call, small_tracks
from tests.waiting import wait_until


async def test_a_stream_published_while_the_registration_is_gone_waits_for_the_rejoin(
    call: Call, caplog: pytest.LogCaptureFixture
) -> None:
    alice = await call.participant("agent1")
    bob = await call.participant("agent2")
    endpoint = alice.endpoint_id
    alice.endpoint_id, alice.lost = None, "resuming after keepalive: expired (as in the test)"
    try:
        with caplog.at_level(logging.INFO, logger="agent.participant.participant"):
            stream_id = (await bob.publish(CAM, small_tracks(CAM))).stream_id
            assert stream_id is not None
            await wait_until(lambda: stream_id in alice.streams, "alice heard of bob's stream")
    finally:
        alice.endpoint_id, alice.lost = endpoint, None
    assert stream_id not in alice.viewers
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not errors, [r.getMessage() for r in errors]
    assert any("published while resuming" in r.getMessage() for r in caplog.records)
    # Registered again, it views what it remembered.
    await alice.follow()
    await wait_until(lambda: viewing(alice, stream_id), "alice views bob's stream")


def viewing(participant: Participant, stream_id: str) -> bool:
    viewer = participant.viewers.get(stream_id)
    return viewer is not None and viewer.frames("video") > 0
