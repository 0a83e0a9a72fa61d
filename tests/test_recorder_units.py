"""The recorder's pieces on their own: keyframe detection in depayloaded frames, the OpusHead
WebM needs, RTP timestamps unwrapped across 2^32 and across a new SSRC, and salvaging a file
cut short. Real encoders make the frames; no network."""

from __future__ import annotations

import asyncio
import fractions
import itertools
import struct
from pathlib import Path

import av
import numpy as np
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from server.recorder.tap import RecordingTap, frame_is_keyframe
from server.recorder.writer import TrackWriter, opus_head, salvage

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


def _vp8_frames(count: int) -> list[bytes]:
    encoder = av.CodecContext.create("libvpx", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 15)
    encoder.gop_size = 10
    encoder.options = {"deadline": "realtime", "lag-in-frames": "0"}
    frames: list[bytes] = []
    for index in range(count):
        array = np.full((120, 160, 3), index * 9 % 256, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(array, format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        frames += [bytes(p) for p in encoder.encode(frame)]
    return frames


def _packets(frames: list[bytes], first_ts: int, ssrc: int, first_seq: int) -> list[RtpPacket]:
    """RTP as aiortc's sender makes it: 15 fps, 6000 ticks a frame, marker on the last."""
    packer = Vp8Encoder()
    packets = []
    seq = first_seq
    for index, data in enumerate(frames):
        packet = av.Packet(data)
        packet.pts, packet.time_base = index, fractions.Fraction(1, 15)
        payloads, _ = packer.pack(packet)
        timestamp = (first_ts + index * 6000) & 0xFFFFFFFF
        for n, payload in enumerate(payloads):
            packets.append(
                RtpPacket(
                    payload_type=96,
                    marker=n == len(payloads) - 1,
                    sequence_number=seq & 0xFFFF,
                    timestamp=timestamp,
                    ssrc=ssrc,
                    payload=payload,
                )
            )
            seq += 1
    return packets


def test_keyframes_are_recognised_in_depayloaded_frames() -> None:
    frames = _vp8_frames(3)
    assert frame_is_keyframe("VP8", frames[0])
    assert not frame_is_keyframe("VP8", frames[1])
    assert frame_is_keyframe("H264", b"\x00\x00\x00\x01\x67\x42" + b"\x00\x00\x01\x65\x88")
    assert not frame_is_keyframe("H264", b"\x00\x00\x00\x01\x41\x9a")
    assert not frame_is_keyframe("VP8", b"")


def test_the_opus_head_is_what_webm_players_expect() -> None:
    head = opus_head()
    assert len(head) == 19 and head.startswith(b"OpusHead")
    version, channels, pre_skip, rate, gain, mapping = struct.unpack("<BBHIhB", head[8:])
    assert (version, channels, pre_skip, rate, gain, mapping) == (1, 2, 312, 48000, 0, 0)


async def test_timestamps_wrap_and_a_new_ssrc_continue_the_timeline(tmp_path: Path) -> None:
    frames = _vp8_frames(20)
    final = tmp_path / "track.webm"
    tap = RecordingTap("video", VP8, TrackWriter(final.with_suffix(".part"), final, "VP8"))
    assert tap.waiting_for_keyframe
    # The RTP clock wraps around 2^32 in the middle of the first source.
    for packet in _packets(frames[:10], 0xFFFFFFFF - 3 * 6000, ssrc=1, first_seq=65530):
        await tap.forward(packet, packet.sequence_number, False)
    await asyncio.sleep(0.3)  # wall time passes before the publisher restarts
    tap.restart()  # a new SSRC starts over at a keyframe, with its own clock and numbers
    assert tap.waiting_for_keyframe
    for packet in _packets(frames[10:], 12345, ssrc=2, first_seq=100):
        await tap.forward(packet, packet.sequence_number, False)
    await tap.writer.close()

    with av.open(str(final)) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.size and p.pts is not None]
    assert pts[0] == 0
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    steps = [b - a for a, b in itertools.pairwise(pts)]
    # 6000 ticks at 90 kHz is 66 ms, across the wrap too; the restart jumps ahead by wall time
    # (the last frame of each source waits in the jitter buffer for a next one: not written).
    assert all(66 <= step <= 67 for step in steps[:8]), steps
    assert any(step >= 250 for step in steps[8:]), (pts, steps)
    assert len(pts) == 18


async def test_a_file_cut_short_is_salvaged_up_to_its_last_whole_cluster(tmp_path: Path) -> None:
    frames = _vp8_frames(45)  # 3 s at 15 fps: clusters close every second
    final = tmp_path / "track.webm"
    tap = RecordingTap("video", VP8, TrackWriter(final.with_suffix(".part"), final, "VP8"))
    for packet in _packets(frames, 0, ssrc=1, first_seq=0):
        await tap.forward(packet, packet.sequence_number, False)
    await tap.writer.close()
    whole = final.read_bytes()
    cut = tmp_path / "cut.part"
    cut.write_bytes(whole[: len(whole) * 2 // 3])  # as a crash leaves it
    saved, last_ms = salvage(cut, tmp_path / "saved", "webm")
    assert 10 <= saved < 44 and last_ms is not None and last_ms > 500
    with av.open(str(tmp_path / "saved")) as container:
        assert sum(1 for _ in container.decode(video=0)) == saved
    garbage = tmp_path / "garbage.part"
    garbage.write_bytes(b"not a matroska file at all" * 10)
    assert salvage(garbage, tmp_path / "nothing", "webm") == (0, None)
    assert not (tmp_path / "nothing").exists()
