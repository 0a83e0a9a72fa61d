"""The switchable camera (`media.camera`) and the frame tap the snapshot target captures from:
the state row survives the codecs a viewer or a snapshot goes through, the torch and the
second camera change the picture, and the tap keeps exactly what it handed out."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from agent.snapshot import FrameTap, ImageFormat, encode_image, image_format_for
from media import timecode
from media.camera import CameraState, SwitchableCamera, read_state, scene_luma
from media.video import SyntheticVideoTrack

STATES = [CameraState(c, t) for c in (0, 1, 2, 3) for t in (False, True)]


def _camera_in(state: CameraState) -> SwitchableCamera:
    camera = SwitchableCamera.synthetic(cameras=4)
    for _ in range(state.camera):
        camera.switch()
    camera.set_torch(state.torch)
    return camera


def _decode_image(data: bytes) -> av.VideoFrame:
    with av.open(io.BytesIO(data), mode="r") as container:
        return next(container.decode(video=0))


@pytest.mark.parametrize("state", STATES)
async def test_every_state_reads_back_from_raw_jpeg_and_png(state: CameraState) -> None:
    frame = _camera_in(state).render(7)
    assert read_state(frame) == state
    assert timecode.read(frame) is not None
    for fmt in ImageFormat:
        decoded = _decode_image(await encode_image(frame, fmt))
        assert read_state(decoded) == state, fmt
        assert timecode.read(decoded) == timecode.read(frame), fmt


def test_state_survives_vp8_at_viewer_bitrates() -> None:
    """What a viewer decodes: 640x360 at 300 kbit/s, switching state every 10 frames."""
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 640, 360, "yuv420p"
    encoder.bit_rate, encoder.time_base = 300_000, Fraction(1, 30)
    decoder = av.CodecContext.create("libvpx", "r")
    camera = SwitchableCamera.synthetic(cameras=2)
    shown: list[tuple[CameraState, CameraState | None]] = []
    for index in range(60):
        if index and index % 10 == 0:
            camera.switch() if index % 20 else camera.set_torch(not camera.state.torch)
        frame = camera.render(index)
        frame.pts = index
        for packet in encoder.encode(frame):
            shown.extend((camera.state, read_state(f)) for f in decoder.decode(packet))
    assert len(shown) >= 55
    readable = [(sent, seen) for sent, seen in shown if seen is not None]
    assert len(readable) >= 0.9 * len(shown)
    assert all(sent == seen for sent, seen in readable)


def test_frames_without_the_row_read_as_none() -> None:
    plain = SyntheticVideoTrack(640, 360).render(3)
    assert read_state(plain) is None
    assert read_state(np.zeros((20, 20), np.uint8)) is None  # too small for any band
    # A damaged row (one cell grey) is refused rather than misread.
    frame = SwitchableCamera.synthetic().render(0)
    array = frame.to_ndarray()
    cell = timecode.TimecodeGeometry(640, 360).cell
    y0, x0 = 4 * cell, timecode.TimecodeGeometry(640, 360).x0
    array[y0 : y0 + cell, x0 + 4 * cell : x0 + 5 * cell] = 128
    assert read_state(av.VideoFrame.from_ndarray(array, format="yuv420p")) is None


def test_torch_brightens_and_the_other_camera_mirrors_the_scene() -> None:
    camera = SwitchableCamera.synthetic(cameras=2)
    dark = camera.render(5)
    camera.set_torch(True)
    lit = camera.render(5)
    assert scene_luma(lit) - scene_luma(dark) > 40
    camera.set_torch(False)
    camera.switch()
    other = camera.render(5)
    geometry_row = 5 * timecode.TimecodeGeometry(640, 360).cell
    front = timecode.luma(dark)[geometry_row:]
    back = timecode.luma(other)[geometry_row:]
    assert not np.array_equal(front, back)
    assert np.array_equal(front, back[:, ::-1])
    # The timecode runs on across the switch: it is the frame index, not the camera's own.
    assert timecode.read(other) is not None and timecode.read(other)[0] == 5  # type: ignore[index]


def test_missing_capabilities_are_refused() -> None:
    single = SwitchableCamera.synthetic(cameras=1, torch=False)
    with pytest.raises(ValueError, match="only one camera"):
        single.switch()
    with pytest.raises(ValueError, match="no torch"):
        single.set_torch(True)
    with pytest.raises(ValueError, match="1 to 4 cameras"):
        SwitchableCamera([])


async def test_shown_waits_for_a_frame_with_the_new_state() -> None:
    camera = SwitchableCamera.synthetic(width=320, height=180, fps=60)
    await camera.recv()
    camera.switch()
    assert not camera._shown.is_set()
    frame = await camera.recv()
    await camera.shown()  # returns at once: that frame showed it
    assert read_state(frame) == CameraState(1, False)


async def test_tap_keeps_the_last_frame_it_handed_out() -> None:
    camera = SwitchableCamera.synthetic(width=320, height=180, fps=60)
    tap = FrameTap(camera)
    assert tap.last_frame is None
    frames = [await tap.recv() for _ in range(3)]
    assert tap.last_frame is frames[-1]
    codes = [timecode.read(f) for f in frames]
    assert all(code is not None for code in codes)
    assert [f.code for f in tap.sent] == codes
    assert tap.sent_at(codes[1]) == tap.sent[1].handed_at
    assert tap.sent_at((999, 0)) is None
    tap.stop()
    assert camera.readyState == "ended"
    with pytest.raises(ValueError, match="video"):
        FrameTap(_AudioOnly())


class _AudioOnly(SyntheticVideoTrack):
    kind = "audio"


@pytest.mark.parametrize(
    ("snapshot_type", "expected"),
    [
        (None, ImageFormat.JPEG),
        ("CAM", ImageFormat.JPEG),
        ("PNG", ImageFormat.PNG),
        ("image/png", ImageFormat.PNG),
        ("id-card-jpg", ImageFormat.JPEG),
    ],
)
def test_png_only_when_the_snapshot_type_asks(
    snapshot_type: str | None, expected: ImageFormat
) -> None:
    assert image_format_for(snapshot_type, ImageFormat.JPEG) is expected
    assert image_format_for("jpeg", ImageFormat.PNG) is ImageFormat.JPEG
    assert image_format_for("CAM", ImageFormat.PNG) is ImageFormat.PNG
