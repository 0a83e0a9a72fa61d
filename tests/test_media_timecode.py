"""The frame timecode: exact round trip, refusal of damaged codes, survival through codecs."""

from __future__ import annotations

import fractions
from collections.abc import Callable
from typing import Any

import av
import numpy as np
import pytest
from aiortc.codecs.base import Decoder, Encoder
from aiortc.codecs.h264 import H264Decoder, H264Encoder, h264_depayload
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder, vp8_depayload
from aiortc.jitterbuffer import JitterFrame

from media import timecode
from media.pacing import wall_ms
from media.video import SyntheticVideoTrack


@pytest.mark.parametrize("fmt", ["rgb24", "gray", "yuv420p"])
def test_round_trip_in_every_layout(fmt: timecode.Fmt) -> None:
    shapes = {"rgb24": (360, 640, 3), "gray": (360, 640), "yuv420p": (540, 640)}
    rng = np.random.default_rng(1)
    array: np.ndarray[Any, np.dtype[np.uint8]] = rng.integers(0, 256, shapes[fmt], dtype=np.uint8)
    ts = wall_ms()
    timecode.embed(array, 123456789, ts, fmt=fmt)
    if fmt == "yuv420p":
        frame = av.VideoFrame.from_ndarray(array, format="yuv420p")
        assert timecode.read(frame) == (123456789, ts)
        rgb = np.asarray(frame.reformat(format="rgb24").to_ndarray(), dtype=np.uint8)
        assert timecode.read(rgb) == (123456789, ts)
    else:
        assert timecode.read(array) == (123456789, ts)


def test_absent_or_damaged_code_reads_as_none() -> None:
    rng = np.random.default_rng(2)
    noise = rng.integers(0, 256, (360, 640), dtype=np.uint8)
    assert timecode.read(noise) is None
    assert timecode.read(np.zeros((360, 640), np.uint8)) is None

    array = np.zeros((360, 640), np.uint8)
    timecode.embed(array, 7, 1_700_000_000_000, fmt="gray")
    geometry = timecode.TimecodeGeometry(640, 360)
    cell = geometry.cell
    # Flip one payload cell cleanly (black <-> white): the CRC must catch it.
    x = geometry.x0 + 20 * cell
    flipped = array.copy()
    flipped[cell : 2 * cell, x : x + cell] = 251 - flipped[cell : 2 * cell, x : x + cell]
    assert timecode.read(flipped) is None
    # A grey cell is ambiguous, never guessed.
    greyed = array.copy()
    greyed[0:cell, x : x + cell] = 128
    assert timecode.read(greyed) is None


def test_every_single_cell_flip_is_rejected() -> None:
    array = np.zeros((180, 320), np.uint8)
    timecode.embed(array, 99, 1_700_000_000_123, fmt="gray")
    geometry = timecode.TimecodeGeometry(320, 180)
    cell = geometry.cell
    for row in range(timecode.ROWS):
        for column in range(timecode.COLUMNS):
            damaged = array.copy()
            y, x = row * cell, geometry.x0 + column * cell
            damaged[y : y + cell, x : x + cell] = 251 - damaged[y : y + cell, x : x + cell]
            assert timecode.read(damaged) is None, (row, column)


def test_too_small_frames_are_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        timecode.embed(np.zeros((20, 40), np.uint8), 1, 1, fmt="gray")
    assert timecode.read(np.zeros((20, 40), np.uint8)) is None


def _through_aiortc(
    encoder: Encoder,
    decoder: Decoder,
    depayload: Callable[[bytes], bytes],
    width: int,
    height: int,
    frames: int = 90,
) -> tuple[int, int, float]:
    """Encode synthetic frames with aiortc's encoder, depayload and decode them as aiortc's
    receiver does; return (codes read correctly, frames decoded, kbit/s sent)."""
    track = SyntheticVideoTrack(width, height)
    good = decoded = sent = 0
    for index in range(frames):
        frame = track.render(index)
        frame.pts = index * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        payloads, timestamp = encoder.encode(frame, False)
        sent += sum(len(p) for p in payloads)
        data = b"".join(depayload(p) for p in payloads)
        for out in decoder.decode(JitterFrame(data, timestamp)):
            assert isinstance(out, av.VideoFrame)
            decoded += 1
            code = timecode.read(out)
            if code is not None:
                assert code[0] == index, "a code must never read back wrong"
                assert track.last_code == code
                good += 1
    return good, decoded, sent * 8 / (frames / 30) / 1000


def test_survives_vp8_at_300_kbits() -> None:
    encoder = Vp8Encoder()
    encoder.target_bitrate = 300_000
    good, decoded, kbps = _through_aiortc(encoder, Vp8Decoder(), vp8_depayload, 640, 360)
    assert decoded == 90
    assert kbps < 450, f"encoder did not hold the low bitrate: {kbps:.0f} kbit/s"
    assert good >= 88, f"only {good}/90 codes read"


def test_survives_h264_at_its_lowest_aiortc_bitrate() -> None:
    encoder = H264Encoder()
    encoder.target_bitrate = 300_000  # aiortc clamps to its 500 kbit/s floor
    good, decoded, _ = _through_aiortc(encoder, H264Decoder(), h264_depayload, 640, 360)
    assert decoded == 90
    assert good >= 88, f"only {good}/90 codes read"


@pytest.mark.parametrize("codec", ["libvpx", "libx264"])
def test_survives_150_kbits_at_640x360(codec: str) -> None:
    """Below aiortc's floors: PyAV encoders driven directly at 150 kbit/s."""
    width, height = 640, 360
    encoder = av.Codec(codec, "w").create("video")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.bit_rate = 150_000
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.framerate = fractions.Fraction(30, 1)
    encoder.options = (
        {"deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0"}
        if codec == "libvpx"
        else {"tune": "zerolatency", "preset": "veryfast"}
    )
    decoder = av.Codec("libvpx" if codec == "libvpx" else "h264", "r").create("video")
    track = SyntheticVideoTrack(width, height)
    good = decoded = 0
    for index in range(90):
        frame = track.render(index)
        frame.pts = index
        for packet in encoder.encode(frame):
            for out in decoder.decode(packet):
                decoded += 1
                code = timecode.read(out)
                if code is not None:
                    assert code[0] == out.pts
                    good += 1
    assert decoded >= 85
    assert good >= decoded - 3, f"only {good}/{decoded} codes read"
