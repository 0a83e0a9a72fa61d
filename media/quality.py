"""Full-reference video quality, live: PSNR and SSIM of received synthetic frames.

The synthetic video (`media.video.SyntheticPattern`) is a pure function of a frame's sequence
number, which its timecode carries; a receiver that reads the code rebuilds the very frame that
was sent and compares luma with luma. What the viewer sees after coding, loss, concealment and
freezes is measured, on sampled frames (`interval`), so the load path stays light.

A freeze is scored too, when every frame is decoded (`frozen=True`): while no new frame comes,
the viewer keeps seeing the last one, so the picture shown during the gap is scored against
the frame the sender had moved on to (one score per `interval` of the gap, at most
`MAX_FROZEN_SCORES`). Loss that the jitter buffer turns into dropped frames then lowers PSNR
and SSIM as it lowers what a person sees, the way full-reference scores of a recorded viewer
(webrtcperf's VMAF) count it.

Not measured: frames whose code does not read (damaged band: counted as `unmeasured`), frames
of another size than the sender's pattern would be (a resolution change: counted, not scored),
and video from files, images or a browser's fake camera (no reference: no score; fps, freezes
and delay still are).

SSIM is Wang et al.'s (2004) on 8x8 windows with a stride of 4, constants from the paper, as
ffmpeg's `ssim` filter does; written on numpy (a few array operations) rather than pulling
scikit-image and scipy into every agent install.
"""

from __future__ import annotations

import math

import av
import numpy as np
import numpy.typing as npt

from media import timecode
from media.analysis import FREEZE_MIN_EXTRA, Series
from media.video import SyntheticPattern

__all__ = ["MAX_FROZEN_SCORES", "MAX_PSNR_DB", "VideoQuality", "psnr", "ssim"]

MAX_PSNR_DB = 100.0
"""PSNR of identical pictures (infinite in theory), so series stay finite."""

MAX_FROZEN_SCORES = 10
"""Scores of one freeze at most (each rebuilds a frame), however long it lasted."""

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_WINDOW = 8
_STRIDE = 4

Plane = npt.NDArray[np.uint8]


def psnr(reference: Plane, received: Plane) -> float:
    """Peak signal-to-noise ratio in dB of two 8-bit planes of one size."""
    error = reference.astype(np.float64) - received.astype(np.float64)
    mse = float(np.mean(error * error))
    if mse == 0.0:
        return MAX_PSNR_DB
    return min(MAX_PSNR_DB, 10 * math.log10(255.0 * 255.0 / mse))


def _window_sums(plane: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Sums over every 8x8 window at a stride of 4: 4x4 block sums, four blocks a window."""
    rows, columns = plane.shape[0] // _STRIDE, plane.shape[1] // _STRIDE
    cropped = plane[: rows * _STRIDE, : columns * _STRIDE]
    blocks = cropped.reshape(rows, _STRIDE, columns, _STRIDE).sum(axis=(1, 3))
    sums: npt.NDArray[np.float64] = (
        blocks[:-1, :-1] + blocks[1:, :-1] + blocks[:-1, 1:] + blocks[1:, 1:]
    )
    return sums


def ssim(reference: Plane, received: Plane) -> float:
    """Mean structural similarity (0..1, 1 identical) of two 8-bit planes of one size."""
    if reference.shape != received.shape:
        raise ValueError(f"planes differ in size: {reference.shape} vs {received.shape}")
    if min(reference.shape) < _WINDOW:
        raise ValueError(f"planes smaller than {_WINDOW}x{_WINDOW}")
    x = reference.astype(np.float64)
    y = received.astype(np.float64)
    n = float(_WINDOW * _WINDOW)
    sx, sy = _window_sums(x), _window_sums(y)
    sxx, syy, sxy = _window_sums(x * x), _window_sums(y * y), _window_sums(x * y)
    mx, my = sx / n, sy / n
    vx = sxx / n - mx * mx
    vy = syy / n - my * my
    cov = sxy / n - mx * my
    index = ((2 * mx * my + _C1) * (2 * cov + _C2)) / ((mx * mx + my * my + _C1) * (vx + vy + _C2))
    return float(index.mean())


class VideoQuality:
    """PSNR and SSIM of sampled received frames against the rebuilt sent frame, plus the
    resolution changes of the stream.

    `add(frame, code, received_at)` for every decoded frame whose timecode was read (or
    tried); at most one frame per `interval` seconds is scored. `frozen`: every frame is
    decoded, so a gap between frames is a freeze whose picture is scored too."""

    def __init__(self, interval: float = 1.0, frozen: bool = False) -> None:
        if interval < 0:
            raise ValueError(f"the quality sampling interval must be >= 0, got {interval}")
        self.interval = interval
        self.psnr_db = Series()
        self.ssim = Series()
        self.samples: list[tuple[float, float, float]] = []
        """(received_at, PSNR dB, SSIM) of each scored frame: quality over time."""
        self.unmeasured = 0
        self.resolution_changes = 0
        self.size: tuple[int, int] | None = None
        self.frozen = frozen
        self.frozen_scores = 0
        self._next_at = 0.0
        self._patterns: dict[tuple[int, int], SyntheticPattern] = {}
        self._last: tuple[av.VideoFrame, tuple[int, int], float] | None = None
        self._first_code: tuple[int, int] | None = None

    def add(self, frame: av.VideoFrame, code: tuple[int, int] | None, received_at: float) -> None:
        size = (frame.width, frame.height)
        if self.size is not None and size != self.size:
            self.resolution_changes += 1
        self.size = size
        if self.frozen:
            self._score_freeze(received_at)
            if code is not None:
                self._first_code = self._first_code or code
                self._last = (frame, code, received_at)
        if received_at < self._next_at:
            return
        if code is None or frame.width % 2 or frame.height % 2:
            self.unmeasured += 1
            return
        self._next_at = received_at + self.interval
        self._score(frame, code, received_at)

    def _score(self, frame: av.VideoFrame, code: tuple[int, int], at: float) -> None:
        """Score `frame` as shown at `at` against the sent frame `code` names."""
        size = (frame.width, frame.height)
        pattern = self._patterns.get(size)
        if pattern is None:
            pattern = self._patterns[size] = SyntheticPattern(*size)
        reference = pattern.render(code[0], code)[: frame.height]
        received = timecode.luma(frame)
        score_psnr, score_ssim = psnr(reference, received), ssim(reference, received)
        self.psnr_db.add(score_psnr)
        self.ssim.add(score_ssim)
        self.samples.append((at, score_psnr, score_ssim))

    def _score_freeze(self, now: float) -> None:
        """If the last frame stayed on screen until `now` for longer than a freeze, score it
        against the frames sent meanwhile: the sender's frame rate from the codes read."""
        if self._last is None or self._first_code is None:
            return
        frame, (seq, sent_ms), shown_at = self._last
        first_seq, first_ms = self._first_code
        if seq <= first_seq or sent_ms <= first_ms:
            return
        per_second = (seq - first_seq) * 1000 / (sent_ms - first_ms)
        interval = 1 / per_second
        gap = now - shown_at
        if gap <= max(3 * interval, interval + FREEZE_MIN_EXTRA):  # as FrameTimeline
            return
        scores = min(MAX_FROZEN_SCORES, max(1, round(gap / self.interval) if self.interval else 1))
        for index in range(scores):
            since = gap * (index + 0.5) / scores
            sent = (seq + round(since * per_second), sent_ms + round(since * 1000))
            self._score(frame, sent, shown_at + since)
            self.frozen_scores += 1
