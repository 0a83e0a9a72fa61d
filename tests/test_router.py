"""End-to-end tests of the media router: real aiortc peer connections on loopback, one process.

Publishers and viewers are plain aiortc peer connections created here; only the router is under
test. Where a test needs to see encoded frames at a viewer, it swaps aiortc's decoder factory
for a recorder (`recording_decoders`): the only stand-in, because a real decoder cannot tell us
which bytes arrived. It also proves the router's side never builds a decoder.
"""

from __future__ import annotations

import asyncio
import fractions
import os
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import av
import pytest
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    unpack_remb_fci,
)

from server.media.contract import Candidate, MediaRouterError
from server.media.router import Router
from tests.rtp_support import DropOnce, MovingVideo, lose_on_receive, lose_on_send

pytestmark = pytest.mark.timeout(60)

CONFERENCE = "conference-1"
VIDEO_CLOCK = 90000
FRAME_TICKS = 3000  # 30 fps


# --- media sources ---------------------------------------------------------------------------


class UndecodableVp8(MediaStreamTrack):
    """Sends random bytes as VP8 frames: aiortc only packetizes `av.Packet`s, no codec runs.

    Bit 0 of a VP8 frame's first byte is 0 on keyframes; the track sets it so on its first frame
    and `keyframe_delay` frames after `request_keyframe()` was called (the test wires that to the
    publisher's PLIs), like a real encoder. Every other frame is marked as a delta frame.
    """

    kind = "video"

    def __init__(self, frame_size: int = 3000, keyframe_delay: int = 0) -> None:
        super().__init__()
        self.frame_size = frame_size
        self.keyframe_delay = keyframe_delay
        self.sent: dict[bytes, int] = {}
        self.keyframes: list[int] = []
        self._keyframe_at: int | None = 0
        self._index = 0
        self._start: float | None = None
        self._rng = random.Random(7)

    def request_keyframe(self) -> None:
        if self._keyframe_at is None:
            self._keyframe_at = self._index + self.keyframe_delay

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            await asyncio.sleep(max(0.0, self._start + self._index / 30 - time.time()))
        size = self._rng.randint(self.frame_size // 2, self.frame_size)
        data = bytearray(self._rng.randbytes(size))
        if self._keyframe_at is not None and self._index >= self._keyframe_at:
            data[0] &= 0xFE
            self._keyframe_at = None
            self.keyframes.append(self._index)
        else:
            data[0] |= 0x01
        packet = av.Packet(bytes(data))
        packet.pts = self._index * FRAME_TICKS
        packet.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.sent[bytes(data)] = self._index
        self._index += 1
        return packet


# --- peers -----------------------------------------------------------------------------------


def new_pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


@dataclass
class Publisher:
    pc: RTCPeerConnection
    senders: dict[str, RTCRtpSender]
    plis: list[float] = field(default_factory=list)
    rembs: list[int] = field(default_factory=list)
    answer: str = ""


@dataclass
class Viewer:
    pc: RTCPeerConnection
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    sizes: list[tuple[int, int]] = field(default_factory=list)
    first_frame_at: float | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


def strip_candidates(sdp: str) -> tuple[str, list[str]]:
    """The SDP without its candidate lines, and those lines (for trickling them later)."""
    candidates = re.findall(r"^a=(candidate:.*?)\r?$", sdp, flags=re.M)
    stripped = re.sub(r"^a=(candidate:.*|end-of-candidates)\r?\n", "", sdp, flags=re.M)
    return stripped, candidates


async def start_publisher(
    router: Router,
    stream_id: str,
    tracks: list[MediaStreamTrack],
    trickle: bool = False,
    stream_type: str | None = None,
) -> Publisher:
    pc = new_pc()
    senders = {t.kind: pc.addTransceiver(t, direction="sendonly").sender for t in tracks}
    publisher = Publisher(pc=pc, senders=senders)
    video = senders.get("video")
    if video is not None:
        watch_feedback(video, publisher, next((t for t in tracks if t.kind == "video"), None))
    await pc.setLocalDescription(await pc.createOffer())
    offer, candidates = strip_candidates(pc.localDescription.sdp)
    answer = await router.publish(
        CONFERENCE, stream_id, offer if trickle else pc.localDescription.sdp, stream_type
    )
    publisher.answer = answer
    if trickle:  # only the router's checks towards the trickled candidates can connect then
        answer = strip_candidates(answer)[0]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    if trickle:
        await router.add_publish_candidates(
            stream_id, [Candidate(c, sdp_mid="0") for c in candidates] + [Candidate("")]
        )
    return publisher


def watch_feedback(sender: RTCRtpSender, publisher: Publisher, track: object) -> None:
    """Record PLIs and REMBs reaching the publisher; a PLI makes an `UndecodableVp8` key."""
    original = sender._handle_rtcp_packet

    async def spy(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
            publisher.plis.append(time.monotonic())
            if isinstance(track, UndecodableVp8):
                track.request_keyframe()
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            publisher.rembs.append(unpack_remb_fci(packet.fci)[0])
        await original(packet)

    sender._handle_rtcp_packet = spy  # type: ignore[method-assign]


async def start_viewer(
    router: Router,
    stream_id: str,
    viewer_id: str,
    kinds: tuple[str, ...] = ("video",),
    trickle: bool = False,
    consume: bool = True,
) -> Viewer:
    pc = new_pc()
    viewer = Viewer(pc=pc)
    for kind in kinds:
        pc.addTransceiver(kind, direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer, candidates = strip_candidates(pc.localDescription.sdp)
    answer = await router.view(stream_id, viewer_id, offer if trickle else pc.localDescription.sdp)
    if trickle:
        answer = strip_candidates(answer)[0]
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    if trickle:
        await router.add_view_candidates(
            viewer_id, [Candidate(c, sdp_mline_index=0) for c in candidates] + [Candidate("")]
        )
    if consume:
        for transceiver in pc.getTransceivers():
            viewer.tasks.append(
                asyncio.create_task(consume_track(transceiver.receiver.track, viewer))
            )
    return viewer


async def consume_track(track: MediaStreamTrack, viewer: Viewer) -> None:
    try:
        while True:
            frame = await track.recv()
            viewer.frames[track.kind] += 1
            if isinstance(frame, av.VideoFrame):
                viewer.sizes.append((frame.width, frame.height))
                if viewer.first_frame_at is None:
                    viewer.first_frame_at = time.monotonic()
    except MediaStreamError:
        pass


async def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.05)


async def close_all(*peers: Publisher | Viewer) -> None:
    for peer in peers:
        await peer.pc.close()
        for task in getattr(peer, "tasks", []):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


# --- decoder recorder ------------------------------------------------------------------------


@dataclass
class RecordingDecoders:
    """Every decoder aiortc builds in this process, each with the encoded frames it was given."""

    frames: list[list[bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def factory(self, codec: object) -> RecordingDecoder:
        with self.lock:
            self.frames.append([])
            return RecordingDecoder(self.frames[-1])


class RecordingDecoder:
    def __init__(self, sink: list[bytes]) -> None:
        self.sink = sink

    def decode(self, encoded_frame: JitterFrame) -> list[av.VideoFrame]:
        self.sink.append(bytes(encoded_frame.data))
        return []


@pytest.fixture
def recording_decoders(monkeypatch: pytest.MonkeyPatch) -> RecordingDecoders:
    decoders = RecordingDecoders()
    monkeypatch.setattr("aiortc.rtcrtpreceiver.get_decoder", decoders.factory)
    return decoders


@pytest.fixture
async def router() -> AsyncIterator[Router]:
    router = Router()
    yield router
    await router.close()


def sent_indexes(track: UndecodableVp8, received: list[bytes]) -> list[int]:
    """Which sent frame each received one is; asserts byte-identity and that none is missing."""
    indexes = []
    for frame in received:
        assert frame in track.sent, "a frame arrived that the publisher never sent"
        indexes.append(track.sent[frame])
    assert indexes == list(range(indexes[0], indexes[0] + len(indexes))), "frames are missing"
    return indexes


def decoder_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name.endswith("-decoder"))


# --- tests -----------------------------------------------------------------------------------


async def test_video_and_audio_reach_two_viewers(router: Router) -> None:
    publisher = await start_publisher(
        router, "s1", [MovingVideo(), AudioStreamTrack()], stream_type="MIC_AND_CAM"
    )
    viewers = [
        await start_viewer(router, "s1", f"v{i}", kinds=("audio", "video")) for i in range(2)
    ]
    try:
        await wait_for(
            lambda: all(v.frames["video"] >= 20 and v.frames["audio"] >= 20 for v in viewers),
            within=15,
            what="20 video and 20 audio frames at both viewers",
        )
        for viewer in viewers:
            assert set(viewer.sizes) == {(320, 180)}
        assert router.peer_connection_count() == 3
    finally:
        await close_all(publisher, *viewers)


async def test_h264_late_viewer_starts_at_a_keyframe(
    router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    track = MovingVideo()
    pc = new_pc()
    transceiver = pc.addTransceiver(track, direction="sendonly")
    h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.name == "H264"]
    transceiver.setCodecPreferences(h264)
    await pc.setLocalDescription(await pc.createOffer())
    answer = await router.publish(CONFERENCE, "s1", pc.localDescription.sdp, "CAM")
    assert "H264/90000" in answer and "VP8/90000" not in answer
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    publisher = Publisher(pc=pc, senders={"video": transceiver.sender})
    await asyncio.sleep(1.5)  # the late viewer needs a fresh IDR (by PLI) to start
    viewer = await start_viewer(router, "s1", "v1")
    try:
        await wait_for(lambda: viewer.frames["video"] >= 10, 10, "H264 frames at a late viewer")
        assert set(viewer.sizes) == {(320, 180)}
        assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
    finally:
        await close_all(publisher, viewer)


async def test_forwards_payload_byte_identical_without_decoding(
    router: Router, recording_decoders: RecordingDecoders
) -> None:
    track = UndecodableVp8()
    publisher = await start_publisher(router, "s1", [track])
    viewer = await start_viewer(router, "s1", "v1", consume=False)
    try:
        await wait_for(
            lambda: sum(len(f) for f in recording_decoders.frames) >= 30,
            within=15,
            what="30 frames at the viewer",
        )
        # One decoder in the whole process: the viewer's. The router built none.
        assert len(recording_decoders.frames) == 1
        assert decoder_threads() == 1
        indexes = sent_indexes(track, recording_decoders.frames[0])
        assert indexes[0] in track.keyframes, "the viewer did not start at a keyframe"
    finally:
        await close_all(publisher, viewer)


async def test_late_viewer_gets_keyframe_through_pli(
    router: Router, recording_decoders: RecordingDecoders
) -> None:
    # This publisher only ever makes a keyframe when asked by PLI (after its first frame), and
    # then only 5 frames later: the router must hold the late viewer back until it comes.
    track = UndecodableVp8(frame_size=1500, keyframe_delay=5)
    publisher = await start_publisher(router, "s1", [track])
    early = await start_viewer(router, "s1", "early", consume=False)
    late: Viewer | None = None
    try:
        await wait_for(lambda: len(track.sent) >= 45, within=10, what="1.5 s of video")
        keyframes_before = len(track.keyframes)
        joined = time.monotonic()
        late = await start_viewer(router, "s1", "late", consume=False)
        await wait_for(
            lambda: len(recording_decoders.frames) == 2 and len(recording_decoders.frames[1]) > 0,
            within=5,
            what="a first frame at the late viewer",
        )
        assert any(t > joined for t in publisher.plis), "no PLI reached the publisher"
        assert len(track.keyframes) > keyframes_before
        first = recording_decoders.frames[1][0]
        assert track.sent[first] in track.keyframes, "the late viewer did not start at a keyframe"
    finally:
        await close_all(publisher, early, *([late] if late else []))


async def test_lost_packets_are_repaired_upstream_and_downstream(
    router: Router, recording_decoders: RecordingDecoders
) -> None:
    track = UndecodableVp8(frame_size=4000)  # ~4 packets per frame
    publisher = await start_publisher(router, "s1", [track])
    viewer = await start_viewer(router, "s1", "v1", consume=False)

    # Upstream: the publisher's 40th packet never leaves; the router must NACK it (aiortc's
    # sender answers with RTX) and forward the repaired packet.
    upstream_transceiver = publisher.pc.getTransceivers()[0]
    upstream = DropOnce(upstream_transceiver)
    lose_on_send(upstream_transceiver, upstream)

    # Downstream: the viewer never sees the 60th packet the router sends it; the viewer NACKs
    # and the router must answer from its history, as RTX.
    downstream_transceiver = viewer.pc.getTransceivers()[0]
    downstream = DropOnce(downstream_transceiver, nth=60)
    lose_on_receive(downstream_transceiver, downstream)
    try:
        await wait_for(lambda: upstream.done and downstream.done, 10, "both retransmissions")
        await wait_for(
            lambda: sum(len(f) for f in recording_decoders.frames) >= 40, 10, "40 frames"
        )
        sent_indexes(track, recording_decoders.frames[0])  # complete, identical, none missing
    finally:
        await close_all(publisher, viewer)


async def test_viewer_pli_is_forwarded_upstream(router: Router) -> None:
    publisher = await start_publisher(router, "s1", [MovingVideo()])
    viewer = await start_viewer(router, "s1", "v1")
    try:
        await wait_for(lambda: viewer.frames["video"] >= 10, 10, "video at the viewer")
        await asyncio.sleep(0.6)  # past the router's keyframe-request spacing
        asked = time.monotonic()
        receiver = viewer.pc.getTransceivers()[0].receiver
        media_ssrc = receiver.getSynchronizationSources()[0].source
        await receiver._send_rtcp_pli(media_ssrc)
        await wait_for(lambda: any(t > asked for t in publisher.plis), 5, "the PLI upstream")
    finally:
        await close_all(publisher, viewer)


async def test_bitrate_cap_reaches_the_publishers_encoder_and_holds(router: Router) -> None:
    publisher = await start_publisher(router, "s1", [MovingVideo(noise=True)])
    viewer = await start_viewer(router, "s1", "v1")
    sender = publisher.senders["video"]

    def target() -> int | None:
        encoder = getattr(sender, "_RTCRtpSender__encoder", None)
        return getattr(encoder, "target_bitrate", None)

    try:
        cap = 300_000
        await wait_for(
            lambda: viewer.frames["video"] >= 10 and max(publisher.rembs, default=0) > cap,
            10,
            "video at the viewer and a router estimate above the cap",
        )
        await router.set_publish_bitrate("s1", cap)
        await wait_for(lambda: target() == cap, 5, "the encoder target to follow the cap")
        rembs_before = len(publisher.rembs)
        await asyncio.sleep(3)  # the router's own estimate keeps running meanwhile
        assert target() == cap
        later = publisher.rembs[rembs_before:]
        assert later, "the cap is not repeated"
        assert max(later) <= cap
    finally:
        await close_all(publisher, viewer)


async def test_trickled_candidates_and_offers_without_candidates(router: Router) -> None:
    publisher = await start_publisher(router, "s1", [MovingVideo()], trickle=True)
    viewer = await start_viewer(router, "s1", "v1", trickle=True)
    try:
        # The router's answer has its host candidates (the helpers then hide them from the
        # clients, so that media can only flow if the router applied the trickled candidates).
        assert "a=candidate:" in publisher.answer
        assert " typ srflx" not in publisher.answer and " typ relay" not in publisher.answer
        await wait_for(lambda: viewer.frames["video"] >= 10, 15, "video after trickled ICE")
    finally:
        await close_all(publisher, viewer)


async def test_unpublish_closes_viewers_and_nothing_is_left(router: Router) -> None:
    tasks_before = asyncio.all_tasks()
    fds_before = len(os.listdir("/proc/self/fd"))
    publisher = await start_publisher(router, "s1", [MovingVideo()])
    viewers = [await start_viewer(router, "s1", f"v{i}") for i in range(3)]
    other = await start_publisher(router, "s2", [AudioStreamTrack()])
    await wait_for(lambda: all(v.frames["video"] >= 5 for v in viewers), 15, "video at viewers")
    assert router.peer_connection_count() == 5

    await router.stop_view("v0")
    assert router.peer_connection_count() == 4
    await router.unpublish("s1")
    assert router.peer_connection_count() == 1
    with pytest.raises(MediaRouterError, match="unknown viewer v1"):
        await router.stop_view("v1")
    with pytest.raises(MediaRouterError, match="unknown stream s1"):
        await router.view("s1", "v9", viewers[0].pc.localDescription.sdp)
    await router.close()
    assert router.peer_connection_count() == 0

    await close_all(publisher, other, *viewers)
    await wait_for(
        lambda: asyncio.all_tasks() - tasks_before <= {asyncio.current_task()},
        5,
        "every task to end",
    )
    await wait_for(lambda: len(os.listdir("/proc/self/fd")) <= fds_before, 5, "sockets to close")
    assert decoder_threads() == 0


async def test_bad_requests_raise_media_router_error(router: Router) -> None:
    pc = new_pc()
    pc.addTransceiver("video", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    send_offer = pc.localDescription.sdp
    recv_pc = new_pc()
    recv_pc.addTransceiver("video", direction="recvonly")
    await recv_pc.setLocalDescription(await recv_pc.createOffer())
    recv_offer = recv_pc.localDescription.sdp
    try:
        cases: list[tuple[Callable[[], Awaitable[object]], str]] = [
            (lambda: router.publish(CONFERENCE, "s", "v=0\r\nm=garbage\r\n"), "does not parse"),
            (lambda: router.publish(CONFERENCE, "s", ""), "empty"),
            (lambda: router.publish(CONFERENCE, "s", recv_offer), "must be sendonly"),
            (lambda: router.publish(CONFERENCE, "s", send_offer, "MIC"), "MIC stream offers"),
            (lambda: router.publish(CONFERENCE, "s", send_offer, "WEBCAM"), "unknown stream type"),
            (lambda: router.view("nope", "v", recv_offer), "unknown stream nope"),
            (lambda: router.stop_view("nope"), "unknown viewer nope"),
            (lambda: router.unpublish("nope"), "unknown stream nope"),
            (lambda: router.add_view_candidates("nope", []), "unknown viewer nope"),
            (lambda: router.add_publish_candidates("nope", []), "unknown stream nope"),
            (lambda: router.set_publish_bitrate("nope", 1), "unknown stream nope"),
        ]
        for call, message in cases:
            with pytest.raises(MediaRouterError, match=message):
                await call()
        assert router.peer_connection_count() == 0

        await router.publish(CONFERENCE, "s", send_offer, "CAM")
        with pytest.raises(MediaRouterError, match="already published"):
            await router.publish(CONFERENCE, "s", send_offer)
        with pytest.raises(MediaRouterError, match="must be recvonly"):
            await router.view("s", "v", send_offer)
        with pytest.raises(MediaRouterError, match="malformed ICE candidate"):
            await router.add_publish_candidates("s", [Candidate("candidate:1 1 udp")])
        with pytest.raises(MediaRouterError, match="must be positive"):
            await router.set_publish_bitrate("s", 0)
        assert router.peer_connection_count() == 1
    finally:
        await pc.close()
        await recv_pc.close()


def test_strip_candidates_keeps_everything_else() -> None:
    """The trickle test relies on this helper removing exactly the candidate lines."""
    sdp = "v=0\r\na=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\na=end-of-candidates\r\na=mid:0\r\n"
    stripped, candidates = strip_candidates(sdp)
    assert stripped == "v=0\r\na=mid:0\r\n"
    assert candidates == ["candidate:1 1 udp 1 1.2.3.4 5 typ host"]
