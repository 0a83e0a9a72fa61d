"""A switchable camera with a torch, whose state every frame shows.

A phone answers camera requests by switching to its other camera or turning its torch on, and
the agent on the other side only knows it worked when the picture changes. This source makes
that change machine readable: below the timecode band it draws a row of 8 black/white cells
(a 1010 sync pattern, two bits of camera index, the torch bit, odd parity) sized like the
timecode's cells, so it survives VP8/H264/JPEG coding the same way. For the eye, the second
camera shows its scene mirrored and the torch brightens the scene.

The cameras are `PacedVideoTrack`s used as renderers: this track owns the pacing, so the frame
index (and with it the timecode's sequence number) runs on across switches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from media import timecode
from media.video import PacedVideoTrack, SyntheticVideoTrack

__all__ = ["CameraState", "SwitchableCamera", "read_state", "scene_luma"]

_SYNC = (1, 0, 1, 0)
_MARK_CELLS = 8
MAX_CAMERAS = 4
TORCH_LIFT = 70
"""Luma added to the scene while the torch is on (clipped at the video white level)."""


@dataclass(frozen=True, slots=True)
class CameraState:
    camera: int
    """Index of the camera in use (0: the first configured)."""
    torch: bool


def _mark_bits(state: CameraState) -> list[int]:
    data = [(state.camera >> 1) & 1, state.camera & 1, int(state.torch)]
    parity = 1 - (sum(data) % 2)
    return [*_SYNC, *data, parity]


class _MarkGeometry:
    """The state row: directly below the timecode band, from its left edge."""

    def __init__(self, width: int, height: int) -> None:
        band = timecode.TimecodeGeometry(width, height)
        self.cell = band.cell
        self.x0 = band.x0
        self.y0 = band.band_height
        self.y1 = self.y0 + self.cell

    def cells(self, luma: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
        """Mean of the inner half of each cell (edges blur under coding)."""
        cell, inset = self.cell, self.cell // 4
        row = luma[self.y0 : self.y1, self.x0 : self.x0 + _MARK_CELLS * cell]
        inner = row.reshape(cell, _MARK_CELLS, cell)[inset : cell - inset, :, inset : cell - inset]
        return np.asarray(inner.mean(axis=(0, 2)), dtype=np.float64)


def read_state(frame: av.VideoFrame | npt.NDArray[np.uint8]) -> CameraState | None:
    """The camera state a frame shows, or None when the row is absent or damaged."""
    y = timecode.luma(frame)
    try:
        geometry = _MarkGeometry(y.shape[1], y.shape[0])
    except ValueError:
        return None
    means = geometry.cells(y)
    if np.any((means > timecode.LOW_THRESHOLD) & (means < timecode.HIGH_THRESHOLD)):
        return None
    bits = [int(m >= timecode.HIGH_THRESHOLD) for m in means]
    if tuple(bits[:4]) != _SYNC or sum(bits[4:]) % 2 != 1:
        return None
    return CameraState(camera=bits[4] * 2 + bits[5], torch=bool(bits[6]))


def scene_luma(frame: av.VideoFrame | npt.NDArray[np.uint8]) -> float:
    """Mean luma of the scene (below the state row): how bright the picture looks."""
    y = timecode.luma(frame)
    geometry = _MarkGeometry(y.shape[1], y.shape[0])
    return float(y[geometry.y1 :].mean())


class SwitchableCamera(PacedVideoTrack):
    """Video from one of `cameras` at a time, with an optional torch.

    `switch()` and `set_torch()` take effect on the next rendered frame; `await shown()`
    returns once a frame with the current state has been handed out by `recv()`.
    """

    def __init__(
        self, cameras: Sequence[PacedVideoTrack], *, torch: bool = True, fps: float = 30.0
    ) -> None:
        super().__init__(fps)
        if not 1 <= len(cameras) <= MAX_CAMERAS:
            raise ValueError(
                f"a camera source needs 1 to {MAX_CAMERAS} cameras, got {len(cameras)}"
            )
        self.cameras = list(cameras)
        self.has_torch = torch
        self._state = CameraState(camera=0, torch=False)
        self._shown = asyncio.Event()

    @classmethod
    def synthetic(
        cls,
        cameras: int = 2,
        *,
        torch: bool = True,
        width: int = 640,
        height: int = 360,
        fps: float = 30.0,
    ) -> SwitchableCamera:
        """`cameras` synthetic cameras (moving picture with the timecode)."""
        sources = [SyntheticVideoTrack(width, height, fps) for _ in range(cameras)]
        return cls(sources, torch=torch, fps=fps)

    @property
    def state(self) -> CameraState:
        return self._state

    def switch(self) -> CameraState:
        """Use the next camera (the other one, with two). Raises if there is only one."""
        if len(self.cameras) < 2:
            raise ValueError("this source has only one camera")
        camera = (self._state.camera + 1) % len(self.cameras)
        return self._set(CameraState(camera=camera, torch=self._state.torch))

    def set_torch(self, on: bool) -> CameraState:
        if not self.has_torch:
            raise ValueError("this source has no torch")
        return self._set(CameraState(camera=self._state.camera, torch=on))

    def _set(self, state: CameraState) -> CameraState:
        if state != self._state:
            self._state = state
            self._shown.clear()
        return state

    async def shown(self) -> None:
        """Wait until a frame showing the current state has left `recv()`."""
        await self._shown.wait()

    async def recv(self) -> av.VideoFrame:
        frame = await super().recv()
        self._shown.set()
        return frame

    def render(self, index: int) -> av.VideoFrame:
        """The current camera's frame, changed in place (no copy of the picture)."""
        state = self._state
        frame = self.cameras[state.camera].render(index)
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        luma, *chroma = (_plane(frame, i) for i in range(3))
        geometry = _MarkGeometry(frame.width, frame.height)
        scene = luma[geometry.y1 :]
        if state.camera % 2:
            scene[:] = scene[:, ::-1]
            for plane in chroma:
                plane[geometry.y1 // 2 :] = plane[geometry.y1 // 2 :, ::-1]
        if state.torch:
            np.minimum(scene, timecode.WHITE - TORCH_LIFT, out=scene)
            scene += TORCH_LIFT
        cells = np.where(np.array(_mark_bits(state)) == 1, timecode.WHITE, timecode.BLACK)
        row = np.repeat(cells.astype(np.uint8), geometry.cell)
        x1 = geometry.x0 + row.size
        luma[geometry.y0 : geometry.y1, geometry.x0 : x1] = row
        # Neutral chroma under the row keeps it black and white in RGB.
        for plane in chroma:
            plane[geometry.y0 // 2 : -(-geometry.y1 // 2), geometry.x0 // 2 : -(-x1 // 2)] = 128
        return frame


def _plane(frame: av.VideoFrame, index: int) -> npt.NDArray[np.uint8]:
    """A writable view of one plane of a frame, without its row padding."""
    plane = frame.planes[index]
    writable: Any = plane  # a plane exports a writable buffer; the stubs do not say so
    rows: npt.NDArray[np.uint8] = np.frombuffer(writable, np.uint8).reshape(-1, plane.line_size)
    return rows[: plane.height, : plane.width]
