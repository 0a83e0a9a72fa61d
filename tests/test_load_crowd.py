"""A crowd of agent participants against the embedded platform: real REST, MQTT, aiortc peer
connections through the platform's router; one encode of each kind serves every publisher;
the live metrics endpoint reports what the crowd does."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import aiohttp

from agent.api.auth import ClientCredentials
from agent.api.models import ConferenceStreamType
from agent.load import Crowd, MetricsEndpoint, NaiveMedia, SharedMedia, judge, kind_windows
from agent.participant import Reception
from server.embedded import EmbeddedServer
from server.media.router import Router
from tests.platform_support import CLIENTS
from tests.waiting import wait_until as _wait_until

LIVENESS = 30.0  # seconds: generous, the machine is shared


async def wait_until(condition: Callable[[], bool], what: str, within: float = LIVENESS) -> None:
    await _wait_until(condition, what, within)


def login() -> ClientCredentials:
    return ClientCredentials("agent1", CLIENTS["agent1"][1])


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in:\n{text}"
    return float(match.group(1))


async def test_a_crowd_in_pairs_shares_its_encoders_and_reports_live(
    server: EmbeddedServer,
) -> None:
    plan = SharedMedia(width=320, height=180, fps=15, video_bitrate=300_000)
    crowd = Crowd(server.base_url, login, plan)
    try:
        for pair in range(2):
            conference = await crowd.create_conference()
            for side in range(2):
                member = await crowd.arrive(conference, f"p{pair}-{side}")
                assert member.error is None, member.error
        await wait_until(lambda: crowd.viewing() == 4, "every member sees the other's video")

        # Encode once: one VP8 encoder and one Opus encoder fed all four publishers.
        assert plan.video is not None and plan.audio is not None
        assert plan.video.encoder_constructions == 1 and plan.video.subscribers == 4
        assert plan.audio.subscribers == 4
        for member in crowd.members:
            assert len(member.participant.viewers) == 1  # its partner's stream only
            viewer = next(iter(member.participant.viewers.values()))
            assert viewer.sinks["video"].reception is Reception.LIGHT
            first = member.seconds_to_first_frame()
            assert first is not None and 0 < first < LIVENESS

        before = await crowd.measurements()
        await wait_until(
            lambda: all(
                v.frames("audio") > 0 for m in crowd.members for v in m.participant.viewers.values()
            ),
            "audio arrives too",
        )
        await asyncio.sleep(2.0)
        after = await crowd.measurements()
        report = judge(kind_windows(before, after, 2.0, 15.0))
        assert report.streams == 8  # 4 viewed streams x audio and video
        assert report.frame_ratio["video"] > 0.3 and report.frame_ratio["audio"] > 0.3

        async with (
            MetricsEndpoint(crowd.live, port=0) as endpoint,
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{endpoint.port}/metrics") as response,
        ):
            assert response.status == 200
            text = await response.text()
        assert metric(text, "auvious_agent_participants") == 4
        assert metric(text, 'auvious_agent_streams{direction="publish"}') == 4
        assert metric(text, 'auvious_agent_streams{direction="view"}') == 4
        assert metric(text, 'auvious_agent_received_fps{kind="video"}') > 0
        assert metric(text, 'auvious_agent_frames_received_total{kind="video"}') > 0
        assert metric(text, "auvious_agent_packets_received_total") > 0
        assert metric(text, "auvious_agent_errors_total") == 0
    finally:
        await crowd.close()
    router = server.platform.router
    assert isinstance(router, Router)
    await wait_until(lambda: router.peer_connection_count() == 0, "every pc closed")
    assert plan.video.subscribers == 0 and plan.audio.subscribers == 0


async def test_a_failed_arrival_is_kept_on_the_member_and_counted(
    server: EmbeddedServer,
) -> None:
    crowd = Crowd(server.base_url, login, NaiveMedia(ConferenceStreamType.MIC))
    try:
        member = await crowd.arrive("no-such-conference", "lost")
        assert (member.error is not None and "join" in member.error.lower()) or member.error
        assert member.joined_at is None
        snapshot = await crowd.live()
        assert snapshot.errors >= 1 and snapshot.streams_viewed == 0
    finally:
        await crowd.close()
