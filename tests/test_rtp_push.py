"""Packetize once, send many (`agent.webrtc.seams.rtp_push`) over real peer connections on loopback:
a shared encoder pushes into several senders, each packet is packetized once for all of them,
the far ends count every frame, a lost packet is repaired from the pushed history, statistics
and RTCP counters follow, and a replaced track hands the sender back to aiortc's own loop."""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any

import pytest
from aiortc.codecs.vpx import Vp8Encoder, VpxPayloadDescriptor

from agent.webrtc.seams import rtp_push, udp_gso
from agent.webrtc.seams.packet_path import receive_directly
from media.fanout import FanoutTrack, SharedEncoder
from media.loopback import LoopbackPair, loopback, wait_until
from media.rtp_seams import count_frames_from_rtp
from media.sinks import FrameCounter
from media.stats import StatsSampler
from media.video import SyntheticVideoTrack
from tests.rtp_support import DropOnce, lose_on_receive


class Viewed:
    """One pushed sender and the light receiver at its far end."""

    def __init__(self, pair: LoopbackPair, subscriber: FanoutTrack) -> None:
        self.pair = pair
        self.subscriber = subscriber
        self.counter = FrameCounter(started_at=time.time())
        receiver = pair.receivers[0]
        count_frames_from_rtp(receiver, self.counter.count)
        receive_directly(receiver)


async def pushed(encoder: SharedEncoder) -> Viewed:
    subscriber = encoder.subscribe()

    def push(pair: LoopbackPair) -> None:
        subscriber.bind_sender(pair.senders[0])
        rtp_push.push_into(pair.senders[0], subscriber)

    pair = await loopback([subscriber], video_codec="VP8", before_offer=push)
    return Viewed(pair, subscriber)


async def test_three_pushed_senders_packetize_each_packet_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = SyntheticVideoTrack(320, 180, fps=30)
    encoder = SharedEncoder(source, "VP8", bitrate=300_000)
    calls = [0]
    vp8_pack = Vp8Encoder.pack

    def counting_pack(self: Vp8Encoder, packet: Any) -> Any:
        calls[0] += 1
        return vp8_pack(self, packet)

    monkeypatch.setattr(Vp8Encoder, "pack", counting_pack)
    views: list[Viewed] = []
    try:
        views = [await pushed(encoder) for _ in range(3)]
        await wait_until(lambda: all(v.counter.frames >= 45 for v in views), 20)
        for view in views:
            assert view.subscriber.pushed
            assert view.subscriber._queue.empty()  # nothing went the pulled way
            assert view.counter.keyframes >= 1
        # One pack per encoded packet for all three senders: three packers would have made
        # about three times as many calls as frames were encoded.
        assert 45 <= calls[0] <= encoder.frames_encoded
        sample = await StatsSampler(views[0].pair.publisher).sample()
        (outbound,) = sample.outbound
        assert outbound.packets_sent >= views[0].counter.frames  # aiortc's counters follow
    finally:
        for view in views:
            await view.pair.close()
        encoder.close()
        source.stop()
    for view in views:  # the closed senders let go of their subscriber tracks
        assert not view.subscriber.pushed
        assert view.subscriber.readyState == "ended"


@pytest.mark.parametrize("gso", ["1", "0"], ids=["gso", "per-packet"])
async def test_a_lost_pushed_packet_is_repaired_from_the_senders_history(
    gso: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With GSO on, a frame's packets leave in one `sendmsg` (the loopback kernel splits them,
    so the receiver still sees and loses one packet); with it off, none do."""
    monkeypatch.setenv(udp_gso.ENV, gso)
    batches = udp_gso.batches_sent()
    source = SyntheticVideoTrack(640, 360, fps=30)
    encoder = SharedEncoder(source, "VP8", bitrate=1_500_000)  # several packets a frame
    view = await pushed(encoder)
    (transceiver,) = view.pair.viewer.getTransceivers()
    drop = DropOnce(transceiver, nth=30)
    lose_on_receive(transceiver, drop)
    try:
        await wait_until(lambda: drop.done, 15)  # NACKed, retransmitted as RTX
        frames = view.counter.frames
        await wait_until(lambda: view.counter.frames >= frames + 20)
    finally:
        await view.pair.close()
        encoder.close()
        source.stop()
    if gso == "1" and sys.platform == "linux":  # GSO is in every kernel this runs on
        assert udp_gso.batches_sent() > batches
    else:
        assert udp_gso.batches_sent() == batches


async def test_a_replaced_track_hands_the_sender_back_to_aiortcs_loop() -> None:
    source = SyntheticVideoTrack(320, 180, fps=30)
    encoder = SharedEncoder(source, "VP8", bitrate=300_000)
    view = await pushed(encoder)
    replacement = SyntheticVideoTrack(320, 180, fps=30)
    try:
        await wait_until(lambda: view.counter.frames >= 20)
        view.pair.senders[0].replaceTrack(replacement)
        await wait_until(lambda: not view.subscriber.pushed)  # no longer pushed
        frames = view.counter.frames
        await wait_until(lambda: view.counter.frames >= frames + 30, 15)  # aiortc encodes now
    finally:
        await view.pair.close()
        encoder.close()
        source.stop()
        replacement.stop()


async def test_rungs_of_one_frame_share_a_vp8_picture_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two subscribers of one shared encoder on two rungs: every rung's packets of one source
    frame carry one picture id, and consecutive frames consecutive ids, so each stream's ids run
    on without gaps (Chromium reads a gap as a lost frame and stops decoding) and a stream that
    switches rungs keeps counting."""
    source = SyntheticVideoTrack(320, 180, fps=30)
    encoder = SharedEncoder(source, "VP8", bitrate=600_000)
    packed: list[tuple[int, int | None]] = []
    vp8_pack = Vp8Encoder.pack

    def recording_pack(self: Vp8Encoder, packet: Any) -> Any:
        payloads, timestamp = vp8_pack(self, packet)
        descriptor, _ = VpxPayloadDescriptor.parse(payloads[0])
        packed.append((packet.pts, descriptor.picture_id))
        return payloads, timestamp

    monkeypatch.setattr(Vp8Encoder, "pack", recording_pack)
    views: list[Viewed] = []
    try:
        views = [await pushed(encoder) for _ in range(2)]
        await wait_until(lambda: all(v.counter.frames >= 15 for v in views), 20)
        encoder.take_estimate(views[1].subscriber, 150_000)  # the far end of one says: less
        await wait_until(lambda: len(encoder.rungs) == 2 and views[1].subscriber.rung > 0, 10)
        before = [v.counter.frames for v in views]
        more = [(v, b + 30) for v, b in zip(views, before, strict=True)]
        await wait_until(lambda: all(v.counter.frames >= n for v, n in more), 20)
    finally:
        for view in views:
            await view.pair.close()
        encoder.close()
        source.stop()
    ids: dict[int, set[int | None]] = {}
    for pts, picture_id in packed:
        ids.setdefault(pts, set()).add(picture_id)
    assert None not in {i for per_frame in ids.values() for i in per_frame}
    assert max(len(per_frame) for per_frame in ids.values()) == 1, "rungs numbered apart"
    assert len(packed) > len(ids), "no frame was encoded on two rungs"
    numbers = [int(next(iter(ids[pts])) or 0) for pts in sorted(ids)]
    steps = {(b - a) % (1 << 15) for a, b in itertools.pairwise(numbers)}
    assert steps == {1}, f"picture ids skip: steps {sorted(steps)}"
