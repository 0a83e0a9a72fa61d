"""Media files made on the spot for the tests that play files (no binary fixtures in git)."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np


def make_clip(path: Path, seconds: float = 0.4, fps: int = 25) -> None:
    """A tiny clip with video (numbered grey levels) and a 440 Hz tone."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        audio = container.add_stream("aac", rate=44100)
        audio.layout = "mono"
        frames = round(seconds * fps)
        for index in range(frames):
            array = np.full((96, 160, 3), index * 8 % 256, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        total = round(seconds * 44100)
        t = np.arange(total) / 44100
        tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, total, 1024):
            chunk = tone[start : start + 1024].reshape(1, -1)
            aframe = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            aframe.sample_rate = 44100
            aframe.pts = start
            aframe.time_base = fractions.Fraction(1, 44100)
            container.mux(audio.encode(aframe))
        container.mux(audio.encode(None))
