"""RTP's cheaper way through aiortc (`agent.webrtc.seams.packet_path`), over real peer connections
on loopback: the clock reads what aiortc's did, a light receiver's packets skip aiortc's receive
queue and task and still get counted, NACKed and repaired, and every other receiver keeps aiortc's
path."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import av
import pytest
from aiortc import clock
from aiortc.rtp import RtpPacket

from agent.webrtc.seams import packet_path
from media.loopback import loopback, wait_until
from media.rtp_seams import count_frames_from_rtp
from media.sinks import FrameCounter
from media.stats import StatsSampler
from media.video import SyntheticVideoTrack
from tests.rtp_support import DropOnce, lose_on_send


def test_the_clock_reads_what_aiortcs_datetime_clock_reads() -> None:
    assert packet_path.clock_installed()
    for _ in range(100):
        ours = packet_path.current_ntp_time()
        theirs = clock.datetime_to_ntp(clock.current_datetime())
        assert abs(theirs - ours) / 2**32 < 0.01
    assert abs(packet_path.current_ms() - int(theirs / 2**32 * 1000)) < 10
    assert clock.current_ntp_time is packet_path.current_ntp_time


def test_the_fraction_never_carries_into_the_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A time a hair before a whole second: the fraction stays below one second, as
    aiortc's (datetime's microseconds) does, and the seconds are NTP's."""
    monkeypatch.setattr(time, "time", lambda: 1_700_000_000.9999996)
    ntp = packet_path.current_ntp_time()
    assert ntp >> 32 == 1_700_000_000 + 2_208_988_800
    assert (ntp & 0xFFFFFFFF) / 2**32 > 0.999


class Counted:
    """A light receiver received directly, and which way each packet reached it."""

    def __init__(self, receiver: Any, counter: FrameCounter) -> None:
        self.direct = 0
        self.queued = 0
        self.nacked: list[int] = []
        count_frames_from_rtp(receiver, counter.count)
        packet_path.receive_directly(receiver)
        queued_handler = receiver._handle_rtp_packet
        handler = getattr(receiver, packet_path.SYNC_HANDLER)

        def direct(packet: RtpPacket, arrival_time_ms: int) -> None:
            self.direct += 1
            handler(packet, arrival_time_ms)

        async def queued(packet: RtpPacket, arrival_time_ms: int) -> None:
            self.queued += 1
            await queued_handler(packet, arrival_time_ms)

        send_nack = receiver._send_rtcp_nack

        async def nack(ssrc: int, lost: list[int]) -> None:
            self.nacked.extend(lost)
            await send_nack(ssrc, lost)

        receiver._handle_rtp_packet = queued
        receiver._send_rtcp_nack = nack
        setattr(receiver, packet_path.SYNC_HANDLER, direct)


async def test_a_light_receivers_packets_skip_the_receive_queue() -> None:
    pair = await loopback([SyntheticVideoTrack(320, 180, fps=30)], video_codec="VP8")
    receiver = pair.receivers[0]
    counter = FrameCounter(started_at=time.time())
    way = Counted(receiver, counter)
    try:
        await wait_until(lambda: counter.frames >= 60)
        assert way.direct > 60
        # Only what arrived before DTLS finished on this side may have been queued.
        assert way.queued <= 5, (way.direct, way.queued)
        # Packets go on arriving while the statistics are gathered: compare each with the
        # direct count taken before it was asked for.
        direct = way.direct
        sample = await StatsSampler(pair.viewer).sample()
        (inbound,) = [s for s in sample.inbound if s.kind == "video"]
        assert inbound.packets_received >= direct  # the receiver's statistics count them
        direct = way.direct
        report = await pair.viewer.getStats()
        (transport,) = [s for s in report.values() if s.type == "transport"]
        assert transport.packetsReceived >= direct  # and so does the DTLS transport
        direct = way.direct
        sent = await pair.publisher.getStats()
        (sender_transport,) = [s for s in sent.values() if s.type == "transport"]
        assert sender_transport.packetsSent >= direct  # sent the direct way, counted too
    finally:
        await pair.close()


async def test_a_lost_packet_is_nacked_and_repaired_on_the_direct_way() -> None:
    pair = await loopback([SyntheticVideoTrack(320, 180, fps=30)], video_codec="VP8")
    receiver = pair.receivers[0]
    counter = FrameCounter(started_at=time.time())
    way = Counted(receiver, counter)
    (transceiver,) = pair.publisher.getTransceivers()
    drop = DropOnce(transceiver)
    lose_on_send(transceiver, drop)
    try:
        await wait_until(lambda: drop.dropped is not None and drop.dropped in way.nacked)
        await wait_until(lambda: drop.done)  # the sender answered with RTX
        frames = counter.frames
        await wait_until(lambda: counter.frames >= frames + 30)  # and frames go on
        assert way.queued <= 5 and way.direct > 40
    finally:
        await pair.close()


async def test_a_decoding_receiver_keeps_aiortcs_path() -> None:
    pair = await loopback([SyntheticVideoTrack(320, 180, fps=30)], video_codec="VP8")
    try:
        frame = await pair.remote_tracks[0].recv()
        assert isinstance(frame, av.VideoFrame) and frame.width == 320
        connection = pair.receivers[0].transport.transport._connection
        assert "_auvious_receive_now" not in vars(connection)
    finally:
        await pair.close()


async def test_run_eagerly_runs_to_the_first_wait_now_and_the_rest_in_a_task(
    caplog: pytest.LogCaptureFixture,
) -> None:
    steps: list[str] = []
    later: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def no_wait() -> None:
        steps.append("no wait")

    async def waits() -> None:
        steps.append("before")
        steps.append(await later)

    async def fails() -> None:
        raise ValueError("bad packet")

    packet_path.run_eagerly(no_wait())
    assert steps == ["no wait"]  # done before run_eagerly returned
    packet_path.run_eagerly(waits())
    assert steps == ["no wait", "before"]
    later.set_result("after")
    await wait_until(lambda: steps[-1] == "after")
    with caplog.at_level(logging.ERROR):
        packet_path.run_eagerly(fails())  # logged, not raised into the socket's callback
    assert "bad packet" in caplog.text
