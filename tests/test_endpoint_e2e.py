"""`auvious-agent endpoint` end to end (issue 16): a real `serve` process and a real endpoint
process. Another participant invites the endpoint through the platform (sendEvent), it joins,
answers a snapshot and a camera switch, comes back after the platform is killed and restarted
on the same port and data directory, `/readyz` follows its state, and SIGTERM makes it leave
and unregister. Nothing is mocked."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agent.api.auth import ClientCredentials
from agent.api.errors import ApiError
from agent.api.models import CreateConferenceWebCommand, KeepUserEndpointAliveWebCommand
from agent.api.models.snapshots import CameraRequestType
from agent.endpoint.invitation import invite_command
from agent.participant import Participant, Reception, ViewPolicy
from agent.snapshot import CameraWatcher, SnapshotRequester
from agent.snapshot.requester import Endpoint as Target
from media.camera import CameraState
from server.config import DEV_SECRET_FILE
from tests.endpoint_support import endpoint_process
from tests.participant_support import CAM, FAST_RETRY, small_tracks
from tests.resume_support import FAST_RESUME, media_flowing
from tests.serve_support import serve_process

BOUND = 45.0
"""Seconds for anything to happen here (the machine is shared)."""

KIOSK = """\
name: lobby-kiosk
server:
  url: {url}
  client_id: dev
  client_secret_env: KIOSK_SECRET
display_name: Lobby kiosk
keep_alive: 2s
publish:
  type: CAM
  camera: synthetic
  second_camera: synthetic
  resolution: 320x180
  fps: 15
"""


@pytest.mark.slow
async def test_an_invited_endpoint_answers_survives_a_restart_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    async with serve_process("--data-dir", str(data)) as (url, _, platform):
        secret = (data / DEV_SECRET_FILE).read_text().strip()
        file = tmp_path / "kiosk.yaml"
        file.write_text(KIOSK.format(url=url))
        env = {**os.environ, "KIOSK_SECRET": secret}
        async with endpoint_process(file, env, "--log-format", "json") as kiosk:
            idle = await kiosk.ready(BOUND, conference_id=None)  # waiting for an invitation
            status, alive = await kiosk.get("/healthz")
            assert status == 200 and alive == {"alive": True}

            watcher = CameraWatcher()
            agent = Participant(
                url,
                ClientCredentials("dev", secret),
                name="agent",
                keep_alive_seconds=2,
                retry=FAST_RETRY,
                resume=FAST_RESUME,
                view_policy=ViewPolicy(video=Reception.DECODE, on_video_frame=watcher),
            )
            async with agent:
                summary = await agent.api.conferences.create(CreateConferenceWebCommand())
                assert summary.id
                await agent.join(summary.id)
                await agent.publish(CAM, small_tracks(CAM))
                sent = await agent.api.registrations.send_event(
                    invite_command(
                        idle["user_id"],
                        idle["organization_id"],
                        summary.id,
                        user_endpoint_id=idle["endpoint_id"],
                        reason="visitor at the desk",
                    )
                )
                assert sent == 1
                joined = await kiosk.ready(BOUND, conference_id=summary.id)
                await media_flowing(agent, BOUND)
                shown = await _shown_name(agent, summary.id, joined["endpoint_id"])
                assert shown == {"name": "Lobby kiosk"}

                requester = SnapshotRequester(agent)
                target = Target(joined["user_id"], joined["endpoint_id"])
                snapshot = await requester.request(target, within=BOUND)
                assert snapshot.verified, snapshot.problem  # the frame it was sending
                switched = await requester.camera_request(
                    target, CameraRequestType.CAMERA_SWITCH, within=BOUND, watcher=watcher
                )
                assert switched.succeeded is True, switched.additional_information
                assert switched.seen_state == CameraState(1, False)

                platform.kill()  # no goodbye: every registration and call dies with it
                await platform.wait()
                down = await kiosk.not_ready(BOUND)
                assert down["channel_connected"] is False
                port = str(urlsplit(url).port)
                async with serve_process("--data-dir", str(data), "--port", port):
                    back = await kiosk.ready(BOUND, conference_id=summary.id)
                    assert back["endpoint_id"] != joined["endpoint_id"], "registered anew"
                    await media_flowing(agent, BOUND)
                    assert watcher.state == CameraState(1, False), "still the second camera"
                    assert await _shown_name(agent, summary.id, back["endpoint_id"]) == {
                        "name": "Lobby kiosk"
                    }, "rejoined with its display name"
                    target = Target(back["user_id"], back["endpoint_id"])
                    again = await requester.request(target, within=BOUND)
                    assert again.verified, f"answers on its new event channel: {again.problem}"
                    status, metrics = await kiosk.get("/metrics")
                    assert "auvious_agent_endpoint_resumes_total 1.0" in metrics
                    assert "auvious_agent_endpoint_snapshots_answered_total 2.0" in metrics
                    assert "auvious_agent_endpoint_ready 1.0" in metrics

                    kiosk.process.send_signal(signal.SIGTERM)
                    assert await kiosk.process.wait() == 0
                    view = await agent.api.conferences.simple_view(summary.id)
                    endpoints = {e.id for p in view.participants or [] for e in p.endpoints or []}
                    assert endpoints == {agent.endpoint_id}, "the kiosk left"
                    with pytest.raises(ApiError) as gone:  # same user: its endpoint is ours to ask
                        await agent.api.registrations.keepalive(
                            KeepUserEndpointAliveWebCommand(user_endpoint_id=back["endpoint_id"])
                        )
                    assert gone.value.status == 404, "the kiosk unregistered"
                    await agent.close()
    records = [json.loads(line) for line in kiosk.lines if line.startswith("{")]
    assert records and len(records) == len(kiosk.lines), kiosk.lines[:5]
    messages = " ".join(r["message"] for r in records)
    assert "invited to" in messages and "left and unregistered" in messages
    assert secret not in " ".join(kiosk.lines)


async def _shown_name(agent: Participant, conference_id: str, endpoint_id: str) -> object:
    """The participant metadata the endpoint joined with, as the others read it."""
    view = await agent.api.conferences.simple_view(conference_id)
    (shown,) = [
        e.metadata
        for p in view.participants or []
        for e in p.endpoints or []
        if e.id == endpoint_id
    ]
    return shown
