"""File playback loops with rising timestamps; still images and black frames."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import av
import numpy as np
import pytest

from media.pacing import AUDIO_SAMPLES_PER_FRAME, VIDEO_CLOCK_RATE
from media.player import FilePlayer
from media.video import StillImageTrack
from tests.media_support import make_clip


async def test_video_loops_with_rising_timestamps_in_real_time(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    make_clip(clip, seconds=0.4, fps=25)
    player = FilePlayer(clip, loop=True)
    assert player.video is not None and player.audio is not None
    started = time.monotonic()
    pts = [
        (await player.video.recv()).pts or 0 for _ in range(25)
    ]  # 10 frames per pass: 2.5 passes
    elapsed = time.monotonic() - started
    assert player.video.passes == 3
    assert all(b > a for a, b in itertools.pairwise(pts)), pts
    step = VIDEO_CLOCK_RATE // 25
    # Across the loop the step stays one frame: no jump back, no gap.
    assert all(b - a == pytest.approx(step, abs=2) for a, b in itertools.pairwise(pts))
    assert elapsed > 0.8, f"24 frame intervals at 25 fps took only {elapsed:.2f} s"
    player.video.stop()


async def test_audio_loops_as_continuous_48k_frames(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mkv"
    make_clip(clip, seconds=0.4)
    player = FilePlayer(clip, loop=True)
    assert player.audio is not None
    frames = [await player.audio.recv() for _ in range(50)]  # 1 s: 2.5 passes
    assert all(isinstance(f, av.AudioFrame) for f in frames)
    audio_frames = [f for f in frames if isinstance(f, av.AudioFrame)]
    assert player.audio.passes >= 3
    assert [f.pts for f in frames] == [i * AUDIO_SAMPLES_PER_FRAME for i in range(50)]
    assert {(f.sample_rate, f.format.name, f.layout.name) for f in audio_frames} == {
        (48000, "s16", "mono")
    }
    player.audio.stop()


async def test_without_loop_the_track_ends(tmp_path: Path) -> None:
    from aiortc.mediastreams import MediaStreamError

    clip = tmp_path / "clip.mp4"
    make_clip(clip, seconds=0.2, fps=25)
    player = FilePlayer(clip, loop=False)
    assert player.video is not None
    received = 0
    with pytest.raises(MediaStreamError):
        for _ in range(50):
            await player.video.recv()
            received += 1
    assert received == 5
    assert player.video.readyState == "ended"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothere\.mp4"):
        FilePlayer(tmp_path / "nothere.mp4")


async def test_still_image_from_png_and_black(tmp_path: Path) -> None:
    image = np.zeros((90, 160, 3), dtype=np.uint8)
    image[:, :80] = (255, 0, 0)
    png = tmp_path / "still.png"
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    with av.open(str(png), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 160, 90, "rgb24"
        container.mux(stream.encode(frame))
    track = StillImageTrack(png, fps=50)
    frames = [await track.recv() for _ in range(3)]
    assert [f.pts for f in frames] == [0, 1800, 3600]
    rgb = frames[2].to_ndarray(format="rgb24")
    assert rgb[45, 10, 0] > 200 and rgb[45, 150, 0] < 50

    black = StillImageTrack.black(64, 48, fps=50)
    out = (await black.recv()).to_ndarray(format="rgb24")
    assert out.max() < 10
