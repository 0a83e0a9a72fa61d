"""The recorder's pieces on their own: keyframe detection in depayloaded frames, the OpusHead
WebM needs, RTP timestamps unwrapped across 2^32 and across a new SSRC, reordered, repeated
and lost packets into the tap (whole frames only, a keyframe awaited after a loss), and
salvaging a file cut short. Real encoders and aiortc's packetizers make the packets; the tap
and its writer are the platform's own; no network."""

from __future__ import annotations

import asyncio
import fractions
import itertools
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.codecs.h264 import H264Encoder, h264_depayload
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.rtp_seams import MAX_WAITING_FRAMES, starts_keyframe
from server.recorder.tap import RecordingTap, depayloader, frame_is_keyframe
from server.recorder.writer import TrackWriter, opus_head, salvage

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


def _vp8_frames(count: int, gop: int = 10, noisy: bool = False) -> list[bytes]:
    """Flat pictures (a packet a frame) or, ``noisy``, moving noise (several packets a frame)."""
    encoder = av.CodecContext.create("libvpx", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = 160, 120, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 15)
    encoder.gop_size = gop
    encoder.options = {"deadline": "realtime", "lag-in-frames": "0", "kf-max-dist": str(gop)}
    if noisy:
        encoder.bit_rate = 2_000_000
    noise = np.random.default_rng(1).integers(0, 256, size=(120, 320, 3), dtype=np.uint8)
    frames: list[bytes] = []
    for index in range(count):
        array = np.full((120, 160, 3), index * 9 % 256, dtype=np.uint8)
        if noisy:
            array = np.ascontiguousarray(noise[:, index * 4 % 160 :][:, :160])
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


async def _feed(tap: RecordingTap, packets: list[RtpPacket]) -> None:
    """As the router's ingress calls its downstreams: keyframe starts flagged."""
    for packet in packets:
        await tap.forward(packet, packet.sequence_number, starts_keyframe("VP8", packet.payload))


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


@pytest.mark.parametrize("ingress_restarts", [True, False])
async def test_timestamps_wrap_and_a_new_ssrc_continue_the_timeline(
    tmp_path: Path, ingress_restarts: bool
) -> None:
    """A new SSRC restarts the tap, whether its ingress says so (the publisher changed SSRC)
    or not (a reconnected publisher's packets come through a new ingress)."""
    frames = _vp8_frames(20)
    final = tmp_path / "track.webm"
    tap = RecordingTap("video", VP8, TrackWriter(final.with_suffix(".part"), final, "VP8"))
    assert tap.waiting_for_keyframe
    # The RTP clock wraps around 2^32 in the middle of the first source.
    await _feed(tap, _packets(frames[:10], 0xFFFFFFFF - 3 * 6000, ssrc=1, first_seq=65530))
    await asyncio.sleep(0.3)  # wall time passes before the publisher restarts
    if ingress_restarts:
        tap.restart()  # a new SSRC starts over at a keyframe, with its own clock and numbers
        assert tap.waiting_for_keyframe
    await _feed(tap, _packets(frames[10:], 12345, ssrc=2, first_seq=100))
    await tap.writer.close()

    with av.open(str(final)) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.size and p.pts is not None]
    assert pts[0] == 0
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    steps = [b - a for a, b in itertools.pairwise(pts)]
    # 6000 ticks at 90 kHz is 66 ms, across the wrap too; the restart jumps ahead by wall time
    # (each source's last frame is complete at its marker: written too).
    assert all(66 <= step <= 67 for step in steps[:9]), steps
    assert steps[9] >= 250, (pts, steps)
    assert len(pts) == 20


async def test_a_file_cut_short_is_salvaged_up_to_its_last_whole_cluster(tmp_path: Path) -> None:
    frames = _vp8_frames(45)  # 3 s at 15 fps: clusters close every second
    final = tmp_path / "track.webm"
    tap = RecordingTap("video", VP8, TrackWriter(final.with_suffix(".part"), final, "VP8"))
    await _feed(tap, _packets(frames, 0, ssrc=1, first_seq=0))
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


def _written(path: Path) -> list[tuple[int, bytes, bool]]:
    """(pts, data, keyframe) of every packet in a recorded file, and checks they all decode."""
    with av.open(str(path)) as container:
        stream = container.streams[0]
        packets = [
            (p.pts, bytes(p), p.is_keyframe)
            for p in container.demux(stream)
            if p.size and p.pts is not None
        ]
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(container.streams[0])) == len(packets)
    return packets


async def test_reordered_repeated_and_lost_packets_give_whole_frames_only(tmp_path: Path) -> None:
    frames = _vp8_frames(50, gop=40, noisy=True)  # keyframes: 0 and 40
    wire = _packets(frames, 0, ssrc=1, first_seq=65000)  # sequence numbers wrap on the way
    by_frame: list[list[RtpPacket]] = [[] for _ in frames]
    for packet in wire:
        by_frame[(packet.timestamp // 6000)].append(packet)
    assert all(len(f) >= 2 for f in by_frame[:6]), "the frames reordered span packets"
    order: list[RtpPacket] = []
    order += reversed(by_frame[0])  # a keyframe's packets in reverse: marker first
    order += [by_frame[1][0], by_frame[2][0], *by_frame[1][1:], *by_frame[2][1:]]  # interleaved
    order += [*by_frame[3][1:], *by_frame[4], by_frame[3][0]]  # 3 repaired after 4 (RTX)
    order += [by_frame[1][-1], by_frame[4][0]]  # late retransmissions of written frames
    order += by_frame[5][1:]  # frame 5 loses its first packet for good
    final = tmp_path / "track.webm"
    tap = RecordingTap("video", VP8, TrackWriter(final.with_suffix(".part"), final, "VP8"))
    await _feed(tap, order)
    assert not tap.waiting_for_keyframe, "the first keyframe came, nothing is lost yet"
    # Later frames wait behind the missing packet, then it counts as lost: the tap asks the
    # ingress for a keyframe (which sends a PLI while this is true) and drops what cannot decode.
    await _feed(tap, [p for f in by_frame[6 : 6 + MAX_WAITING_FRAMES] for p in f])
    assert tap.waiting_for_keyframe
    await _feed(tap, [p for f in by_frame[6 + MAX_WAITING_FRAMES :] for p in f])
    assert not tap.waiting_for_keyframe
    await tap.writer.close()

    written = _written(final)
    expected = [*range(5), *range(40, 50)]
    assert [pts for pts, _, _ in written] == [index * 6000 // 90 for index in expected]
    assert [data for _, data, _ in written] == [frames[index] for index in expected]
    assert [key for _, _, key in written] == [index in (0, 40) for index in expected]
    assert tap.frames_dropped == 1 + (40 - 6)  # frame 5 lost, 6..39 undecodable without it


async def test_a_tap_joining_mid_frame_starts_at_a_whole_keyframe(tmp_path: Path) -> None:
    frames = _vp8_frames(12, gop=5, noisy=True)  # keyframes: 0, 5, 10
    wire = _packets(frames, 0, ssrc=1, first_seq=0)
    final = tmp_path / "track.webm"
    tap = RecordingTap("video", VP8, TrackWriter(final.with_suffix(".part"), final, "VP8"))
    await _feed(tap, wire[1:])  # the first keyframe's first packet was before the tap
    await tap.writer.close()
    written = _written(final)
    assert [data for _, data, _ in written] == frames[5:]


async def test_reordered_audio_is_written_in_order_and_a_lost_packet_skipped(
    tmp_path: Path,
) -> None:
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
    encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "stereo", "s16"
    tone = (np.sin(np.arange(960 * 60) / 10) * 8000).astype(np.int16)
    payloads: list[bytes] = []
    for index in range(60):
        chunk = np.repeat(tone[index * 960 : (index + 1) * 960], 2)[None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48000, index * 960
        payloads += [bytes(p) for p in encoder.encode(frame)]
    wire = [
        RtpPacket(
            payload_type=111,
            sequence_number=(65530 + i) & 0xFFFF,
            timestamp=i * 960,
            ssrc=3,
            payload=p,
        )
        for i, p in enumerate(payloads)
    ]
    # 10 never comes; the last two swap places (the late one completes the one waiting).
    order = [*wire[:3], wire[4], wire[3], wire[3], *wire[5:10], *wire[11:-2], wire[-1], wire[-2]]
    final = tmp_path / "track.webm"
    tap = RecordingTap("audio", opus, TrackWriter(final.with_suffix(".part"), final, "opus"))
    for packet in order:
        await tap.forward(packet, packet.sequence_number, False)
    assert not tap.waiting_for_keyframe  # audio never waits for one
    await tap.writer.close()
    written = _written(final)
    expected = [i for i in range(len(payloads)) if i != 10]
    assert [pts for pts, _, _ in written] == [i * 20 for i in expected]
    assert [data for _, data, _ in written] == [payloads[i] for i in expected]


def test_h264_is_depayloaded_to_the_annex_b_aiortc_makes() -> None:
    """Single NAL units, STAP-A (SPS + PPS) and FU-A fragments from libx264 through aiortc's
    packetizer; the tap's depayloader reads them as aiortc's own does, and refuses garbage."""
    encoder = av.CodecContext.create("libx264", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 15)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    noise = np.random.default_rng(2).integers(0, 256, size=(240, 640, 3), dtype=np.uint8)
    packer = H264Encoder()
    kinds: set[int] = set()
    for index in range(4):
        array = np.ascontiguousarray(noise[:, index * 8 : index * 8 + 320])
        picture = av.VideoFrame.from_ndarray(array, format="rgb24").reformat(format="yuv420p")
        picture.pts = index
        for packet in encoder.encode(picture):
            payloads = packer.pack(packet)[0]
            kinds |= {p[0] & 0x1F for p in payloads}
            data = depayloader("H264")(payloads)
            assert data == b"".join(h264_depayload(p) for p in payloads)
            assert frame_is_keyframe("H264", data) == (index == 0)
    assert {24, 28} <= kinds, kinds
    for garbage in (b"\x00", b"\x00\x00\x00", b"\x1f\x01", b"\x18\x00\x09\x67"):
        with pytest.raises(ValueError):
            depayloader("H264")([garbage])
