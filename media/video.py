"""Video sources: synthetic moving pictures with a timecode, still images and black."""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import timecode
from media.pacing import VIDEO_CLOCK_RATE, VIDEO_TIME_BASE, Pacer, wall_ms


class PacedVideoTrack(MediaStreamTrack):
    """A video track that renders frame `n` when it is due, stamped on the 90 kHz RTP clock."""

    kind = "video"

    def __init__(self, fps: float = 30.0) -> None:
        super().__init__()
        self.fps = fps
        self._pacer = Pacer(fps)

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.wait()
        frame = self.render(index)
        frame.pts = round(index * VIDEO_CLOCK_RATE / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        return frame

    @abstractmethod
    def render(self, index: int) -> av.VideoFrame:
        """Build frame `index`; called when it is due, so wall-clock time is its capture time."""


class SyntheticPattern:
    """The synthetic picture of one size: frame `index` is a pure function of the index and
    its timecode, so a receiver that read the code can rebuild the frame that was sent
    (`media.quality`).

    The content scrolls and a box bounces, so every frame differs (the encoder has work and a
    freeze is visible to the eye), while the band at the top stays machine readable."""

    def __init__(self, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"width and height must be even for yuv420p, got {width}x{height}")
        self.width = width
        self.height = height
        # A horizontally periodic texture; frame n shows a window shifted by n * speed.
        self._period = max(64, width // 4)
        x = np.arange(width + self._period)
        yy = np.arange(height)[:, None]
        phase = 2 * np.pi * x[None, :] / self._period
        texture = 128 + 60 * np.sin(phase + yy / 23.0) + 30 * np.sin(3 * phase - yy / 7.0)
        self._texture = texture.clip(0, 255).astype(np.uint8)
        self._box = max(8, height // 6) // 2 * 2

    def render(self, index: int, code: tuple[int, int] | None) -> npt.NDArray[np.uint8]:
        """Frame `index` as a yuv420p array (planes stacked), with `code` in its band."""
        w, h = self.width, self.height
        array = np.empty((h * 3 // 2, w), dtype=np.uint8)
        offset = (index * 4) % self._period
        array[:h] = self._texture[:, offset : offset + w]
        # Chroma drifts slowly so colour changes too.
        array[h : h + h // 4] = 128 + int(40 * np.sin(index / 50.0))
        array[h + h // 4 :] = 128 + int(40 * np.cos(index / 70.0))
        box = self._box
        span_x, span_y = w - box, h - box
        bx = abs((index * 7) % (2 * span_x) - span_x)
        by = abs((index * 5) % (2 * span_y) - span_y)
        array[by : by + box, bx : bx + box] = 235
        if code is not None:
            timecode.embed(array, code[0], code[1], fmt="yuv420p")
        return array


class SyntheticVideoTrack(PacedVideoTrack):
    """`SyntheticPattern` frames with each frame's sequence number and send time in the
    timecode band (the sequence number is the pattern's index)."""

    def __init__(
        self, width: int = 640, height: int = 360, fps: float = 30.0, timecode_on: bool = True
    ) -> None:
        super().__init__(fps)
        self.pattern = SyntheticPattern(width, height)
        self.width = width
        self.height = height
        self.timecode_on = timecode_on
        self.last_code: tuple[int, int] | None = None

    def render(self, index: int) -> av.VideoFrame:
        code = (index, wall_ms()) if self.timecode_on else None
        array = self.pattern.render(index, code)
        if code is not None:
            self.last_code = code
        return av.VideoFrame.from_ndarray(array, format="yuv420p")


def load_image(path: str | Path) -> av.VideoFrame:
    """Decode the first picture of an image (PNG, JPEG...) or video file, as yuv420p."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return frame.reformat(format="yuv420p")
    raise ValueError(f"{path} holds no picture")


class StillImageTrack(PacedVideoTrack):
    """One picture repeated at `fps`, optionally with a timecode band so delay stays measurable.

    `image` is a decoded frame, an RGB (H, W, 3) uint8 array, or a path PyAV can open.
    """

    def __init__(
        self,
        image: av.VideoFrame | npt.NDArray[np.uint8] | str | Path,
        fps: float = 15.0,
        timecode_on: bool = False,
    ) -> None:
        super().__init__(fps)
        if isinstance(image, (str, Path)):
            frame = load_image(image)
        elif isinstance(image, np.ndarray):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        else:
            frame = image.reformat(format="yuv420p")
        self._array = np.asarray(frame.to_ndarray(), dtype=np.uint8)
        self.width, self.height = frame.width, frame.height
        self.timecode_on = timecode_on

    @classmethod
    def black(cls, width: int = 640, height: int = 360, fps: float = 15.0) -> StillImageTrack:
        """A black picture: the camera-off case."""
        array = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        array[:height] = timecode.BLACK
        return cls(av.VideoFrame.from_ndarray(array, format="yuv420p"), fps=fps)

    def render(self, index: int) -> av.VideoFrame:
        array = self._array
        if self.timecode_on:
            array = array.copy()
            timecode.embed(array, index, wall_ms(), fmt="yuv420p")
        return av.VideoFrame.from_ndarray(array, format="yuv420p")
