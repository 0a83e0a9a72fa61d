"""Encode once, send many: one encoder, the same packets for every subscriber, keyframes for
late joiners and for PLIs that arrive over real peer connections."""

from __future__ import annotations

import asyncio
import fractions
from itertools import pairwise
from typing import Any

import aiortc.rtcrtpsender
import av
import pytest

from media import timecode
from media.fanout import (
    HEADROOM,
    MAX_RUNGS,
    MIN_SHARED_BITRATE,
    RUNG_RATIO,
    UP_HOLD,
    SharedEncoder,
    rung_for,
)
from media.loopback import loopback, wait_until
from media.passthrough import request_keyframe
from media.reader import TrackReader
from media.sinks import FrameCallback
from media.video import SyntheticVideoTrack


async def test_subscribers_get_the_same_packets_from_one_encoder() -> None:
    shared = SharedEncoder(SyntheticVideoTrack(320, 180, fps=30), codec="VP8")
    tracks = [shared.subscribe() for _ in range(3)]
    received: list[list[Any]] = [[await t.recv() for _ in range(15)] for t in tracks]
    assert shared.encoder_constructions == 1
    for packets in received:
        assert all(isinstance(p, av.Packet) for p in packets)
        assert packets[0].is_keyframe
        assert [bytes(p) for p in packets] == [bytes(p) for p in received[0]]
    pts = [p.pts for p in received[0]]
    assert pts == sorted(pts) and len(set(pts)) == 15

    # A late subscriber starts on a keyframe that its arrival forced.
    keyframes_before = shared.keyframes_encoded
    late = shared.subscribe()
    first = await asyncio.wait_for(late.recv(), 5)
    assert first.is_keyframe
    assert shared.keyframes_encoded > keyframes_before
    assert shared.encoder_constructions == 1

    for track in [*tracks, late]:
        track.stop()
    assert shared.subscribers == 0


async def test_a_keyframe_request_inside_the_interval_is_served_when_it_ends() -> None:
    """Viewers arriving close together (a join storm) ask within one interval: their requests
    make one keyframe, at the interval's end, and none is dropped (a dropped request would
    leave a viewer waiting for the router's PLI retry)."""
    interval = 1.0
    shared = SharedEncoder(
        SyntheticVideoTrack(320, 180, fps=30), codec="VP8", keyframe_min_interval=interval
    )
    track = shared.subscribe()
    try:
        first = await asyncio.wait_for(track.recv(), 5)
        assert first.is_keyframe
        forced_at = asyncio.get_running_loop().time()
        for _ in range(3):  # three viewers' PLIs, just after the first keyframe
            shared.request_keyframe()
        keyframes = shared.keyframes_encoded

        async def next_keyframe() -> None:
            while not (await track.recv()).is_keyframe:
                pass

        await asyncio.wait_for(next_keyframe(), interval + 5)
        assert asyncio.get_running_loop().time() - forced_at >= interval * 0.5  # waited for it
        assert shared.keyframes_encoded == keyframes + 1  # coalesced into one (GOP is 3000)
    finally:
        track.stop()


async def test_shared_encoder_rejects_unknown_codec_and_audio() -> None:
    from media.audio import SilenceTrack

    with pytest.raises(ValueError, match="codec"):
        SharedEncoder(SyntheticVideoTrack(), codec="AV1")
    with pytest.raises(ValueError, match="video"):
        SharedEncoder(SilenceTrack())


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_fan_out_over_peer_connections_costs_one_encode(
    codec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three publishers share one encoder; their viewers decode the timecode; aiortc's own
    per-sender encoders only ever packetize (their codec contexts are never opened)."""
    sender_encoders: list[Any] = []
    real_get_encoder = aiortc.rtcrtpsender.get_encoder  # type: ignore[attr-defined]

    def spy(codec_parameters: Any) -> Any:
        encoder = real_get_encoder(codec_parameters)
        sender_encoders.append(encoder)
        return encoder

    monkeypatch.setattr(aiortc.rtcrtpsender, "get_encoder", spy)

    shared = SharedEncoder(SyntheticVideoTrack(320, 180, fps=30), codec=codec)
    pairs = []
    codes: list[list[int]] = [[], [], []]
    readers = []
    for index in range(3):
        track = shared.subscribe()
        pair = await loopback([track], video_codec=codec)
        track.bind_sender(pair.senders[0])
        pairs.append(pair)

        def on_frame(frame: av.VideoFrame, _at: float, sink: list[int] = codes[index]) -> None:
            code = timecode.read(frame)
            if code is not None:
                sink.append(code[0])

        readers.append(TrackReader(pair.remote_tracks[0], [FrameCallback(on_frame)]).start())

    await wait_until(lambda: min(len(c) for c in codes) >= 20, 20)

    # A PLI from one viewer reaches the shared encoder through that sender.
    keyframes = shared.keyframes_encoded
    assert await request_keyframe(pairs[1].receivers[0])

    await wait_until(lambda: shared.keyframes_encoded > keyframes, 5)

    for reader in readers:
        await reader.stop()
    for pair in pairs:
        await pair.close()
    shared.close()

    assert shared.encoder_constructions == 1
    assert len(sender_encoders) == 3
    assert all(e.codec is None for e in sender_encoders), "a sender encoded by itself"
    # Every viewer saw the same frames of one source, in order.
    for seen in codes:
        assert seen == sorted(seen)
    common = set(codes[0]) & set(codes[1]) & set(codes[2])
    assert len(common) >= 10


@pytest.mark.parametrize(("codec", "name"), [("VP8", "libvpx"), ("H264", "libx264")])
def test_keyframes_are_recognised_in_real_bitstreams(codec: str, name: str) -> None:
    from media.passthrough import is_keyframe, keyframe_codec

    encoder = av.Codec(name, "w").create("video")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 180, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.gop_size = 10
    if name == "libx264":
        encoder.options = {"tune": "zerolatency"}
    source = SyntheticVideoTrack(320, 180)
    flags = []
    for index in range(25):
        frame = source.render(index)
        frame.pts = index
        for packet in encoder.encode(frame):
            data = bytes(packet)
            assert is_keyframe(f"video/{codec}", data) == packet.is_keyframe
            assert keyframe_codec(data) == (codec if packet.is_keyframe else None)
            flags.append(packet.is_keyframe)
    assert flags.count(True) >= 2 and flags.count(False) >= 10
    assert is_keyframe("audio/opus", b"\x01")


def at_targets(encoder: SharedEncoder) -> SharedEncoder:
    """Judge estimates against the rungs' targets, not what a tiny picture really sends (the
    rate measured over the last seconds is forgotten; it comes back with the next frames)."""
    for rung in encoder._rungs.values():
        rung._sent.clear()
    return encoder


async def test_scattered_estimates_use_at_most_max_rungs() -> None:
    """Estimates spread over the whole ladder (a starved machine's) cost at most MAX_RUNGS
    encodings: a subscriber whose rung is not encoded takes the nearest encoded one below its
    estimate, or keeps its own when none is below; a freed slot is taken again."""
    source = SyntheticVideoTrack(160, 90, 30)
    encoder = SharedEncoder(source, bitrate=800_000)
    assert MAX_RUNGS == 3 and len(encoder.ladder) == 7
    _top, mid, low, lowest, between = tracks = [encoder.subscribe() for _ in range(5)]
    try:
        for track in tracks:
            assert (await track.recv()).is_keyframe
        at_targets(encoder).take_estimate(mid, encoder.ladder[2])
        at_targets(encoder).take_estimate(low, encoder.ladder[4])
        assert (mid.target, low.target) == (2, 4)  # three rungs in use: 0, 2, 4
        encoder.take_estimate(lowest, 50_000)  # wants rung 6: nothing in use below it
        assert lowest.target is None and lowest.rung == 0
        at_targets(encoder).take_estimate(
            between, encoder.ladder[3]
        )  # wants 3: the nearest below is 4
        assert between.target == 4

        async def settled() -> bool:
            for track in tracks:
                await track.recv()
            return all(track.target is None for track in tracks)

        for _ in range(60):
            if await settled():
                break
        assert [t.rung for t in tracks] == [0, 2, 4, 0, 4]
        assert set(encoder.rungs) == {0, 2, 4}

        low.stop()
        between.stop()  # rung 4 is free again: the lowest gets its own rung
        encoder.take_estimate(lowest, 50_000)
        assert lowest.target == 6
    finally:
        encoder.close()
        source.stop()


async def test_without_headroom_no_rung_is_added() -> None:
    """When encoding already takes most of the time between frames, a falling estimate moves
    a stream only to a rung already encoded (or not at all); a stream alone on its rung still
    moves, since leaving frees its rung; with headroom back, the rung is added."""
    source = SyntheticVideoTrack(160, 90, 30)
    encoder = SharedEncoder(source, bitrate=800_000)
    first, second, third = tracks = [encoder.subscribe() for _ in range(3)]
    try:
        for track in tracks:
            assert (await track.recv()).is_keyframe
        assert encoder.encode_share < HEADROOM  # a 160x90 encode is quick
        encoder.encode_share = 1.0  # as measured on a starved machine
        at_targets(encoder).take_estimate(first, encoder.ladder[3])
        assert first.target is None and first.rung == 0  # rung 0 stays the only one
        encoder.encode_share = 0.0
        at_targets(encoder).take_estimate(first, encoder.ladder[3])
        assert first.target == 3
        encoder.encode_share = 1.0
        at_targets(encoder).take_estimate(second, encoder.ladder[5])  # nothing encoded below
        assert second.target is None and second.rung == 0
        at_targets(encoder).take_estimate(second, encoder.ladder[3])  # rung 3 is: taken
        assert second.target == 3
        at_targets(encoder).take_estimate(first, encoder.ladder[5])  # shares rung 3: stays
        assert first.target == 3
        second.stop()
        at_targets(encoder).take_estimate(first, encoder.ladder[5])  # alone on 3: leaving frees it
        assert first.target == 5 and third.rung == 0
    finally:
        encoder.close()
        source.stop()


async def test_each_subscriber_takes_its_own_rung_of_the_ladder() -> None:
    """A slow subscriber's estimate moves it alone to a lower rung, from a keyframe of that
    rung on; the fast one keeps the top rung's packets; hysteresis holds a rung against small
    dips and delays a climb; a rung nobody carries any more stops being encoded."""
    source = SyntheticVideoTrack(160, 90, 30)
    encoder = SharedEncoder(source, bitrate=800_000)
    assert encoder.ladder[0] == 800_000 and encoder.ladder[-1] >= MIN_SHARED_BITRATE
    assert all(b / a == pytest.approx(RUNG_RATIO, rel=1e-3) for a, b in pairwise(encoder.ladder))
    slow, fast = encoder.subscribe(), encoder.subscribe()
    try:
        first = [await slow.recv(), await fast.recv()]
        assert all(packet.is_keyframe for packet in first)
        encoder.take_estimate(fast, 2_000_000)  # above the profile: stays on top
        assert fast.rung == 0 and fast.target is None
        encoder.take_estimate(slow, 50_000)  # below what any rung sends: the lowest
        low = len(encoder.ladder) - 1
        assert slow.target == low == rung_for(encoder.ladder, 50_000)
        pairs = [(await slow.recv(), await fast.recv()) for _ in range(20)]
        assert [s.pts for s, _ in pairs] == [f.pts for _, f in pairs]
        differs = [bytes(s) != bytes(f) for s, f in pairs]
        switched = differs.index(True)  # the same packets until the switch, then its own
        assert all(differs[switched:]) and pairs[switched][0].is_keyframe
        assert slow.rung == low and slow.bitrate == encoder.ladder[low]
        assert encoder.rungs == {0: 800_000, low: encoder.ladder[low]}
        assert encoder.encoder_constructions == 2

        sending = min(encoder.ladder[low], encoder._rungs[low].sending())
        encoder.take_estimate(slow, int(sending * 0.85))  # one overuse answer: stays
        encoder.take_estimate(slow, 2_000_000)  # a climb waits for UP_HOLD
        assert slow.target is None and slow.up_since is not None
        slow.up_since -= UP_HOLD
        encoder.take_estimate(slow, 2_000_000)  # then one rung at a time
        assert slow.target == low - 1 and slow.switches == 2

        slow.stop()
        await wait_until(lambda: encoder.rungs == {0: 800_000})  # the lower rungs released
        assert fast.rung == 0
    finally:
        encoder.close()
        source.stop()
