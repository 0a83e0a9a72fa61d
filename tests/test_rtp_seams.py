"""The light receiver read straight from RTP: frames completed from sequence numbers and
markers (units, with hand-made packets), and over a real aiortc peer connection pair on
loopback: frames, keyframes, bytes and statistics without a decoder, a jitter buffer or a
track."""

from __future__ import annotations

import time

import pytest
from aiortc.rtp import RtpPacket

from agent.webrtc import seams
from media import passthrough
from media.loopback import loopback, wait_until
from media.rtp_seams import (
    MAX_DROPOUT,
    MAX_WAITING_FRAMES,
    FrameAssembler,
    count_frames_from_rtp,
    frame_counter,
)
from media.sinks import FrameCounter
from media.stats import StatsSampler
from media.video import SyntheticVideoTrack

Frame = tuple[int, bool]  # size, keyframe


def collector(kind: str = "video") -> tuple[FrameAssembler, list[Frame]]:
    frames: list[Frame] = []
    return frame_counter(kind, lambda _at, size, key: frames.append((size, key))), frames


def packets(first_seq: int, timestamp: int, sizes: list[int]) -> list[RtpPacket]:
    """One video frame: consecutive packets, the marker on the last."""
    return [
        RtpPacket(
            payload_type=96,
            sequence_number=(first_seq + i) & 0xFFFF,
            timestamp=timestamp,
            marker=int(i == len(sizes) - 1),
            payload=b"x" * size,
        )
        for i, size in enumerate(sizes)
    ]


def test_frames_complete_at_their_marker_in_any_order_and_duplicates_count_once() -> None:
    assembler, frames = collector()
    first = packets(100, 3000, [10, 20, 30])
    for packet in first:
        assembler.add(packet, keyframe_start=packet is first[0])
    assert frames == [(60, True)]
    second = packets(103, 6000, [5, 6, 7])
    for packet in [second[2], second[0], second[0], second[1]]:  # marker first, one duplicate
        assembler.add(packet, keyframe_start=False)
    assert frames == [(60, True), (18, False)]
    assembler.add(first[1], keyframe_start=False)  # a late retransmission of a counted frame
    assert len(frames) == 2


def test_a_frame_waits_for_its_repaired_packet_and_sequence_numbers_wrap() -> None:
    assembler, frames = collector()
    first = packets(65534, 0, [10, 10])  # 65534, 65535
    second = packets(0, 3000, [10, 10, 10])  # 0, 1, 2: across the wrap
    third = packets(3, 6000, [10])
    for packet in [*first, second[0], second[2], *third]:
        assembler.add(packet, keyframe_start=False)
    assert frames == [(20, False)], "the second frame lacks seq 1; the third waits behind it"
    assembler.add(second[1], keyframe_start=False)  # the NACKed packet arrives
    assert frames == [(20, False), (30, False), (10, False)]


def test_a_packet_lost_for_good_skips_its_frame_only() -> None:
    assembler, frames = collector()
    seq = 10
    for index in range(MAX_WAITING_FRAMES + 3):
        frame = packets(seq, index * 3000, [10, 10])
        seq += 2
        for packet in frame:
            if index != 1 or packet.marker:  # frame 1 loses its first packet
                assembler.add(packet, keyframe_start=False)
    assert assembler.frames_skipped == 1
    assert len(frames) == MAX_WAITING_FRAMES + 2, "every other frame is counted"


def test_audio_packets_are_frames() -> None:
    assembler, frames = collector("audio")
    for seq in (7, 8, 8, 10, 9):  # a duplicate; 9 arrives after 10 (counted late, as aiortc)
        assembler.add(RtpPacket(sequence_number=seq, payload=b"o" * 40), keyframe_start=False)
    assert len(frames) == 3  # 9 came after 10 was counted: too late to play, as in a jitter buffer
    assert frames[0] == (40, True)


@pytest.mark.slow
async def test_light_receiver_counts_straight_from_rtp_over_a_peer_connection() -> None:
    """No decoder and no passthrough "decoder" is built (nothing crosses the decoder thread),
    the remote track stays empty, and the connection's statistics still count packets."""
    assert "decoders" in seams.install(["decoders"])
    decoders = passthrough.decoder_constructions()
    passthroughs = passthrough.passthrough_constructions()
    pair = await loopback([SyntheticVideoTrack(320, 180, fps=30)], video_codec="VP8")
    counter = FrameCounter(started_at=time.time())
    count_frames_from_rtp(pair.receivers[0], counter.count)
    try:
        await wait_until(lambda: counter.frames >= 60)
        assert counter.keyframes >= 1  # the stream starts with one
        assert counter.bytes > 60 * 100
        assert counter.timeline.fps > 15
        ttff = counter.timeline.time_to_first_frame
        assert ttff is not None and 0 < ttff < 5
        assert passthrough.decoder_constructions() == decoders
        assert passthrough.passthrough_constructions() == passthroughs
        assert pair.remote_tracks[0]._queue.empty()  # type: ignore[attr-defined]
        sample = await StatsSampler(pair.viewer).sample()
        (inbound,) = [s for s in sample.inbound if s.kind == "video"]
        assert inbound.packets_received >= counter.frames
    finally:
        await pair.close()


def test_numbering_far_behind_the_last_frame_is_a_new_start_not_a_late_packet() -> None:
    assembler, frames = collector()
    for packet in [*packets(1000, 0, [10, 10]), *packets(1002, 3000, [10])]:
        assembler.add(packet, keyframe_start=False)
    for packet in packets(1001, 0, [10]):  # within MAX_MISORDER behind: a late duplicate
        assembler.add(packet, keyframe_start=False)
    assert frames == [(20, False), (10, False)] and assembler.frames_skipped == 0
    for packet in [*packets(200, 6000, [5, 5]), *packets(202, 9000, [7])]:  # 800 behind
        assembler.add(packet, keyframe_start=False)
    assert frames[2:] == [(10, False), (7, False)]
    assert assembler.frames_skipped == 1, "what was lost in between counts once"
    for packet in packets(203 + MAX_DROPOUT, 12000, [4]):  # far ahead: no gap to wait behind
        assembler.add(packet, keyframe_start=False)
    assert frames[4:] == [(4, False)] and assembler.frames_skipped == 2
