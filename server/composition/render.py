"""Render one composition: `python -m server.composition.render JOB.json`.

Runs in a child process of the platform, so decoding and encoding never hold up the event loop
that routes media, and a cancel is a kill. Writes `job.output` (the service renames it when we
exit 0) and prints `progress SECONDS` lines as output time advances.

VIDEO: H264 (libx264, yuv420p, CRF 28, veryfast, 2 s GOP) at W x H and `fps`, the video
tracks shown at each output instant in a GRID ordered by when they started, each track holding
its last frame across gaps, plus the mix as AAC 128 kb/s; MP4 with the index first
(`+faststart`) so a browser can play it while it downloads. AUDIO: the mix as MP3 128 kb/s.
The mix is every audio track placed at its time, summed and soft-clipped, 48 kHz stereo,
made one second at a time so memory stays bounded whatever the length.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from media.layout import Rect, fit, grid
from server.composition.job import JobTrack, RenderJob

SAMPLE_RATE = 48000
AUDIO_BITRATE = 128_000
CRF = "28"
BLACK_Y, NEUTRAL_UV = 16, 128
CONTIGUOUS = int(0.03 * SAMPLE_RATE)
"""Audio frames closer than this to where the previous one ended are laid end to end, so
millisecond rounding of timestamps leaves no clicks."""

Planes = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]
Samples = npt.NDArray[np.float32]


def timed_frames(
    container: av.container.InputContainer, kind: str, origin: float
) -> Iterator[tuple[float, Any]]:
    """A track's decoded frames with their output time: `origin` plus the time since the
    file's first frame. A damaged tail ends the track where decoding stopped."""
    first: float | None = None
    try:
        for frame in container.decode(**{kind: 0}):
            if not isinstance(frame, av.VideoFrame | av.AudioFrame):
                continue
            if frame.pts is None or frame.time_base is None:
                continue
            at = float(frame.pts * frame.time_base)
            first = at if first is None else first
            yield origin + at - first, frame
    except av.FFmpegError:
        return


class VideoCursor:
    """A video track's decoded frames, advanced to the latest one due at an output time."""

    def __init__(self, track: JobTrack) -> None:
        self.track = track
        self._container = av.open(track.path)
        self._frames: Iterator[tuple[float, av.VideoFrame]] = timed_frames(
            self._container, "video", track.origin
        )
        self._current: tuple[float, av.VideoFrame] | None = None
        self._next = next(self._frames, None)
        self._cache: tuple[int, Rect, Planes] | None = None
        self._serial = 0

    def at(self, t: float) -> bool:
        """Advance to output time `t`; whether there is a frame to show."""
        while self._next is not None and self._next[0] <= t:
            self._current, self._next = self._next, next(self._frames, None)
            self._serial += 1
        return self._current is not None

    def planes(self, tile: Rect) -> tuple[Rect, Planes]:
        """The current frame scaled to fit `tile` (scaled once per frame and tile)."""
        assert self._current is not None
        frame = self._current[1]
        place = fit(frame.width, frame.height, tile)
        if self._cache is None or self._cache[0] != self._serial or self._cache[1] != place:
            scaled = frame.reformat(
                place.width, place.height, format="yuv420p", interpolation="AREA"
            )
            self._cache = (self._serial, place, split_planes(scaled))
        return place, self._cache[2]

    def close(self) -> None:
        self._container.close()


def split_planes(frame: av.VideoFrame) -> Planes:
    w, h = frame.width, frame.height
    flat = np.asarray(frame.to_ndarray(), dtype=np.uint8).reshape(-1)
    y = flat[: w * h].reshape(h, w)
    u = flat[w * h : w * h * 5 // 4].reshape(h // 2, w // 2)
    v = flat[w * h * 5 // 4 : w * h * 3 // 2].reshape(h // 2, w // 2)
    return y, u, v


class AudioCursor:
    """An audio track's samples as (output sample index, 48 kHz stereo float) chunks."""

    def __init__(self, track: JobTrack) -> None:
        self.track = track
        self._container = av.open(track.path)
        self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
        self._start = round(track.start * SAMPLE_RATE)
        self._end = round(track.end * SAMPLE_RATE)
        self._chunks = self._decode()
        self.pending: tuple[int, Samples] | None = next(self._chunks, None)

    def _decode(self) -> Iterator[tuple[int, Samples]]:
        expected: int | None = None
        for at, frame in timed_frames(self._container, "audio", self.track.origin):
            position = round(at * SAMPLE_RATE)
            if expected is not None and abs(position - expected) < CONTIGUOUS:
                position = expected
            for out in self._resampler.resample(frame):
                samples = out.to_ndarray().astype(np.float32, copy=False)
                expected = position + samples.shape[1]
                clipped = self._clip(position, samples)
                if clipped is not None:
                    yield clipped
                position = expected

    def _clip(self, position: int, samples: Samples) -> tuple[int, Samples] | None:
        lo = max(position, self._start)
        hi = min(position + samples.shape[1], self._end)
        if hi <= lo:
            return None
        return lo, samples[:, lo - position : hi - position]

    def add_to(self, mix: Samples, window_start: int) -> None:
        """Add every sample that falls in the window `mix` covers; keep the rest for later."""
        window_end = window_start + mix.shape[1]
        while self.pending is not None and self.pending[0] < window_end:
            position, samples = self.pending
            lo = max(position, window_start)
            hi = min(position + samples.shape[1], window_end)
            if hi > lo:
                mix[:, lo - window_start : hi - window_start] += samples[
                    :, lo - position : hi - position
                ]
            if position + samples.shape[1] > window_end:
                self.pending = (window_end, samples[:, window_end - position :])
                return
            self.pending = next(self._chunks, None)

    def close(self) -> None:
        self._container.close()


def soft_clip(mix: Samples, knee: float = 0.9) -> Samples:
    """Leave samples under the knee alone and bend the rest smoothly towards 1."""
    over = np.abs(mix) > knee
    if over.any():
        span = 1.0 - knee
        bent = np.sign(mix) * (knee + span * np.tanh((np.abs(mix) - knee) / span))
        mix = np.where(over, bent, mix).astype(np.float32)
    return mix


def compose_frame(cursors: list[VideoCursor], t: float, width: int, height: int) -> av.VideoFrame:
    y = np.full((height, width), BLACK_Y, dtype=np.uint8)
    u = np.full((height // 2, width // 2), NEUTRAL_UV, dtype=np.uint8)
    v = np.full((height // 2, width // 2), NEUTRAL_UV, dtype=np.uint8)
    showing = [c for c in cursors if c.track.start <= t < c.track.end]
    for cursor, tile in zip(showing, grid(len(showing), width, height), strict=True):
        if not cursor.at(t):
            continue  # published but no picture yet: its tile stays black
        place, (py, pu, pv) = cursor.planes(tile)
        y[place.y : place.y + place.height, place.x : place.x + place.width] = py
        cy, cx, ch, cw = place.y // 2, place.x // 2, place.height // 2, place.width // 2
        u[cy : cy + ch, cx : cx + cw] = pu
        v[cy : cy + ch, cx : cx + cw] = pv
    for cursor in cursors:
        if cursor not in showing:
            cursor.at(t)  # keep hidden tracks' decoders in step
    planar = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)])
    return av.VideoFrame.from_ndarray(planar.reshape(-1, width), format="yuv420p")


def render(job: RenderJob, progress: bool = False) -> None:
    """Write the composition `job` describes to `job.output`."""
    video = job.type == "VIDEO"
    out = av.open(
        job.output,
        "w",
        format="mp4" if video else "mp3",
        options={"movflags": "+faststart"} if video else {},
    )
    video_cursors: list[VideoCursor] = []
    audio_cursors: list[AudioCursor] = []
    try:
        vstream = None
        if video:
            vstream = out.add_stream("libx264", rate=job.fps)
            vstream.width, vstream.height = job.width, job.height
            vstream.pix_fmt = "yuv420p"
            vstream.codec_context.gop_size = 2 * job.fps
            vstream.codec_context.thread_count = 1  # one core: the router keeps the other
            vstream.options = {"preset": "veryfast", "crf": CRF}
            video_cursors = [VideoCursor(t) for t in job.tracks if t.kind == "video"]
        astream = out.add_stream("aac" if video else "libmp3lame", rate=SAMPLE_RATE)
        astream.layout = "stereo"
        astream.bit_rate = AUDIO_BITRATE
        audio_cursors = [AudioCursor(t) for t in job.tracks if t.kind == "audio"]

        total_samples = round(job.duration * SAMPLE_RATE)
        total_frames = math.ceil(job.duration * job.fps - 1e-9)
        frame_index = 0
        for window_start in range(0, total_samples, SAMPLE_RATE):
            mix = np.zeros((2, min(SAMPLE_RATE, total_samples - window_start)), np.float32)
            for acursor in audio_cursors:
                acursor.add_to(mix, window_start)
            aframe = av.AudioFrame.from_ndarray(soft_clip(mix), format="fltp", layout="stereo")
            aframe.sample_rate = SAMPLE_RATE
            aframe.pts = window_start
            aframe.time_base = Fraction(1, SAMPLE_RATE)
            out.mux(astream.encode(aframe))
            window_end = (window_start + mix.shape[1]) / SAMPLE_RATE
            while vstream is not None and frame_index < total_frames:
                t = frame_index / job.fps
                if t >= window_end:
                    break
                vframe = compose_frame(video_cursors, t, job.width, job.height)
                vframe.pts = frame_index
                vframe.time_base = Fraction(1, job.fps)
                out.mux(vstream.encode(vframe))
                frame_index += 1
            if progress:
                print(f"progress {window_end:.3f}", flush=True)
        if vstream is not None:
            out.mux(vstream.encode(None))
        out.mux(astream.encode(None))
    finally:
        out.close()
        for vcursor in video_cursors:
            vcursor.close()
        for acursor in audio_cursors:
            acursor.close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m server.composition.render JOB.json", file=sys.stderr)
        return 2
    os.nice(5)  # below the platform's own process, which routes live media
    render(RenderJob.load(Path(argv[1])), progress=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
