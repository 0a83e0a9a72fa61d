"""File playback that loops with rising timestamps (aiortc's `MediaPlayer(loop=True)` does not:
its pacing is lost after the first pass or its encoder fails after the seek).

Each track reopens the file at the end of a pass and shifts the next pass's timestamps by the
length of the previous one, so the receiver sees one continuous stream. Decoding runs in the
default executor so a large file does not stall the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Generator
from pathlib import Path

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.pacing import (
    AUDIO_SAMPLE_RATE,
    AUDIO_SAMPLES_PER_FRAME,
    AUDIO_TIME_BASE,
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
)


def _has_stream(path: Path, kind: str) -> bool:
    with av.open(str(path)) as container:
        return any(s.type == kind for s in container.streams)


class LoopingFileTrack(MediaStreamTrack):
    """One kind of media from a file, played in real time, optionally looping forever."""

    def __init__(self, path: str | Path, kind: str, loop: bool = True) -> None:
        super().__init__()
        if kind not in ("audio", "video"):
            raise ValueError(f"kind must be audio or video, got {kind!r}")
        self.kind = kind
        self.path = Path(path)
        self.loop = loop
        self.passes = 0
        self._frames: Generator[tuple[av.AudioFrame | av.VideoFrame, float], None, None] | None = (
            None
        )
        self._start: float | None = None

    def _decode(self) -> Generator[tuple[av.AudioFrame | av.VideoFrame, float], None, None]:
        """Yield (frame restamped on the RTP clock, media time in seconds) across passes."""
        if self.kind == "video":
            yield from self._decode_video()
        else:
            yield from self._decode_audio()

    def _decode_video(self) -> Generator[tuple[av.VideoFrame, float], None, None]:
        offset = 0.0
        while True:
            self.passes += 1
            end = offset
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                rate = float(stream.average_rate or 30)
                first: float | None = None
                for index, picture in enumerate(container.decode(stream)):
                    local = picture.time if picture.time is not None else index / rate
                    if first is None:
                        first = local
                    media_time = offset + local - first
                    picture.pts = round(media_time * VIDEO_CLOCK_RATE)
                    picture.time_base = VIDEO_TIME_BASE
                    end = media_time + 1 / rate
                    yield picture, media_time
            if not self.loop or end <= offset:
                return
            offset = end

    def _decode_audio(self) -> Generator[tuple[av.AudioFrame, float], None, None]:
        # One resampler for all passes: it is not flushed at a pass's end, so every frame
        # has 20 ms and the loop point is seamless in the sample count.
        resampler = av.AudioResampler(
            format="s16", layout="mono", rate=AUDIO_SAMPLE_RATE, frame_size=AUDIO_SAMPLES_PER_FRAME
        )
        samples = 0

        def stamp(chunk: av.AudioFrame) -> tuple[av.AudioFrame, float]:
            nonlocal samples
            chunk.pts = samples
            chunk.time_base = AUDIO_TIME_BASE
            samples += chunk.samples
            return chunk, chunk.pts / AUDIO_SAMPLE_RATE

        while True:
            self.passes += 1
            produced = False
            with av.open(str(self.path)) as container:
                for source in container.decode(audio=0):
                    produced = True
                    source.pts = None  # the source's clock restarts each pass
                    for chunk in resampler.resample(source):
                        yield stamp(chunk)
            if not self.loop or not produced:
                break
        for chunk in resampler.resample(None):
            yield stamp(chunk)

    async def recv(self) -> av.AudioFrame | av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._frames is None:
            self._frames = self._decode()
        item = await asyncio.get_running_loop().run_in_executor(None, next, self._frames, None)
        if item is None:
            self.stop()
            raise MediaStreamError
        frame, media_time = item
        now = time.monotonic()
        if self._start is None:
            self._start = now - media_time
        delay = self._start + media_time - now
        if delay > 0:
            await asyncio.sleep(delay)
        return frame

    def stop(self) -> None:
        super().stop()
        if self._frames is not None:
            # Closing ends the current pass's container; if the generator is still running in
            # the executor it raises ValueError and is closed when it is collected.
            with contextlib.suppress(ValueError):
                self._frames.close()
            self._frames = None


class FilePlayer:
    """The audio and video tracks of a media file (None for a kind the file lacks)."""

    def __init__(self, path: str | Path, loop: bool = True) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"media file not found: {path}")
        self.audio = LoopingFileTrack(path, "audio", loop) if _has_stream(path, "audio") else None
        self.video = LoopingFileTrack(path, "video", loop) if _has_stream(path, "video") else None
        if self.audio is None and self.video is None:
            raise ValueError(f"{path} has neither audio nor video")
