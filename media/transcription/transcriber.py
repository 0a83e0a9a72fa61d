"""A transcriber for many received streams: one pool of engine workers, one `TranscribedStream`
per stream, every segment as an async stream of results, transcript files at the end."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Literal

from media.transcription.engines import EngineFactory, EngineSpec
from media.transcription.files import write_transcript
from media.transcription.stream import Segment, TranscribedStream, TranscriptionPool, drain


class Transcriber:
    """`stream(name)` makes the PCM handler of one received stream (a `ViewPolicy`'s
    `pcm_per_stream` calls it with the stream's label); `results()` yields every stream's
    segments as they come; `close()` finishes what waits and writes `out_dir`'s files.

    `engine`: an `EngineSpec` (default: PocketSphinx) or a picklable factory of a
    `SpeechToText`. `workers` processes (or threads with `mode="thread"`, for engines that
    release the GIL) serve all streams; each stream queues at most `queue_limit` spurts.
    """

    def __init__(
        self,
        engine: EngineFactory | None = None,
        *,
        workers: int = 1,
        mode: Literal["process", "thread"] = "process",
        queue_limit: int = 4,
        out_dir: Path | None = None,
        origin: float | None = None,
    ) -> None:
        self.pool = TranscriptionPool(engine, workers, mode)
        self.queue_limit = queue_limit
        self.out_dir = out_dir
        self.origin = origin if origin is not None else time.time()
        """Time zero of the WebVTT cues (the call's start, by default this object's creation)."""
        self.streams: dict[str, TranscribedStream] = {}
        self.speakers: dict[str, str] = {}
        self.files: list[Path] = []
        self._listeners: list[asyncio.Queue[Segment | None]] = []
        self._closed = False

    @property
    def engine_name(self) -> str:
        engine = self.pool.engine
        if isinstance(engine, EngineSpec):
            return engine.name
        return str(getattr(engine, "__qualname__", type(engine).__qualname__))

    def stream(self, name: str, speaker: str | None = None) -> TranscribedStream:
        """The PCM handler for the received stream `name` (made once per name)."""
        if self._closed:
            raise RuntimeError("the transcriber is closed")
        if name not in self.streams:
            self.streams[name] = TranscribedStream(
                _safe(name), self.pool, self.queue_limit, on_segment=self._publish
            )
        if speaker is not None:
            self.speakers[name] = speaker
        return self.streams[name]

    def _publish(self, segment: Segment) -> None:
        for listener in self._listeners:
            listener.put_nowait(segment)

    def results(self) -> AsyncIterator[Segment]:
        """Every stream's segments from now on, as transcribed, until `close()`."""
        queue: asyncio.Queue[Segment | None] = asyncio.Queue()
        if self._closed:
            queue.put_nowait(None)
        self._listeners.append(queue)
        return drain(queue)

    async def __aenter__(self) -> Transcriber:
        await self.pool.warm_up()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Finish every stream (its last spurt too), write the files, stop the workers."""
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.gather(*(stream.close() for stream in self.streams.values()))
            if self.out_dir is not None:
                self.write(self.out_dir)
        finally:
            self.pool.close()
            for listener in self._listeners:
                listener.put_nowait(None)

    def write(self, directory: Path) -> list[Path]:
        """`<stream>.transcript.json` and `<stream>.vtt` for every stream."""
        for name, stream in self.streams.items():
            stats = stream.stats
            extra: dict[str, object] = {
                "spurts": stats.spurts,
                "dropped": stats.dropped,
                "errors": stats.errors,
                "cpu_s": round(stats.cpu_s, 3),
                "audio_s": round(stats.audio_s, 3),
            }
            self.files += write_transcript(
                directory,
                stream.name,
                stream.segments,
                self.origin,
                speaker=self.speakers.get(name),
                engine=self.engine_name,
                extra=extra,
            )
        return self.files


def _safe(name: str) -> str:
    """A stream name fit for a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "stream"
