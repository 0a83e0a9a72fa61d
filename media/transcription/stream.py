"""Transcription of received audio, off the event loop, with bounded queues.

Each transcribed stream runs a voice activity detector on its 16 kHz PCM (cheap, on the loop);
every finished talk spurt is cut out (with a little audio before it) and queued for a worker
(a process pool by default: recognisers hold the GIL) that runs the engine. The queue of each
stream is bounded: when the workers fall behind, the oldest waiting spurt is dropped and
counted, so media is never held up. Each result is a `Segment` with its start and end on the
receiver's wall clock and the time its text became available.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import numpy as np

from media.transcription.engines import (
    SAMPLE_RATE,
    EngineFactory,
    EngineSpec,
    Pcm,
    Recognized,
    SpeechToText,
    Word,
)
from media.vad import Spurt, VoiceActivity

PRE_ROLL = 0.25
"""Seconds of audio before a spurt's first voiced frame given to the engine (soft onsets)."""

_engines: dict[bytes, SpeechToText] = {}
"""Engines built in this (worker) process, by their pickled factory."""


def transcribe_here(factory: EngineFactory, pcm: Pcm) -> tuple[Recognized, float]:
    """Run in a worker: the engine (built once per process) on `pcm`; and the CPU it took."""
    key = pickle.dumps(factory)
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = factory()
    began = time.process_time()
    return engine.transcribe(pcm), time.process_time() - began


@dataclass(frozen=True, slots=True)
class Segment:
    """Text of one talk spurt, times on the receiver's wall clock (seconds since the epoch)."""

    stream: str
    start: float
    end: float
    text: str
    available_at: float
    words: tuple[Word, ...] = ()
    """Word times are wall clock too."""
    cpu_s: float = 0.0

    @property
    def latency(self) -> float:
        """End of speech to text available: the `transcript_latency` of this segment."""
        return self.available_at - self.end

    def as_record(self, origin: float) -> dict[str, object]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "offset_start": round(self.start - origin, 3),
            "offset_end": round(self.end - origin, 3),
            "text": self.text,
            "available_at": round(self.available_at, 3),
            "latency_s": round(self.latency, 3),
            "words": [
                {"word": w.text, "start": round(w.start, 3), "end": round(w.end, 3)}
                for w in self.words
            ],
        }


class TranscriptionPool:
    """Where engines run: `workers` processes (default) or threads, shared by all streams."""

    def __init__(
        self,
        engine: EngineFactory | None = None,
        workers: int = 1,
        mode: Literal["process", "thread"] = "process",
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.engine: EngineFactory = engine if engine is not None else EngineSpec()
        try:
            pickle.dumps(self.engine)
        except (pickle.PicklingError, AttributeError, TypeError) as error:
            raise ValueError(
                "the engine factory must be picklable (a module-level class or function, or an"
                f" EngineSpec): {error}"
            ) from error
        self.workers = workers
        self.mode = mode
        self._executor: Executor | None = None

    @property
    def executor(self) -> Executor:
        if self._executor is None:
            if self.mode == "process":
                # spawn: the parent runs threads (aiortc's codecs), which fork does not copy.
                context = multiprocessing.get_context("spawn")
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
            else:
                self._executor = ThreadPoolExecutor(self.workers, "transcribe")
        return self._executor

    async def transcribe(self, pcm: Pcm) -> tuple[Recognized, float]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, transcribe_here, self.engine, pcm)

    async def warm_up(self) -> None:
        """Start the workers and build their engines, so the first spurt is not late for it.

        Also fails early, with the engine's own message, when the engine cannot be built."""
        silence = np.zeros(SAMPLE_RATE // 10, dtype=np.int16)
        await asyncio.gather(*(self.transcribe(silence) for _ in range(self.workers)))

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


@dataclass
class StreamStats:
    spurts: int = 0
    dropped: int = 0
    cpu_s: float = 0.0
    audio_s: float = 0.0
    errors: int = 0
    last_error: str | None = None


class TranscribedStream:
    """The PCM handler of one received audio stream (`on_pcm`-compatible), and its segments.

    `queue_limit` spurts may wait for a worker; beyond that the oldest waiting is dropped."""

    def __init__(
        self,
        name: str,
        pool: TranscriptionPool,
        queue_limit: int = 4,
        hangover: float = 0.45,
        on_segment: Callable[[Segment], None] | None = None,
    ) -> None:
        self.name = name
        self.pool = pool
        self.on_segment = on_segment
        self.segments: list[Segment] = []
        self.stats = StreamStats()
        self.vad = VoiceActivity(self._spurt, hangover=hangover)
        self._chunks: list[Pcm] = []
        self._chunks_first = 0
        self._waiting: asyncio.Queue[tuple[Spurt, Pcm] | None] = asyncio.Queue(queue_limit)
        self._worker: asyncio.Task[None] | None = None
        self._listeners: list[asyncio.Queue[Segment | None]] = []
        self._closed = False

    def __call__(self, pcm: Pcm, received_at: float) -> None:
        if self._closed:
            return
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        self._chunks.append(pcm)
        self.vad.feed(pcm, received_at)
        self._trim()

    def _trim(self) -> None:
        """Keep only the audio a spurt in progress (or the next one) may need."""
        since = self.vad.speaking_since
        keep_from = self.vad.sample_count - int(PRE_ROLL * SAMPLE_RATE)
        if since is not None:
            keep_from = self.vad.spurt_first_sample - int(PRE_ROLL * SAMPLE_RATE)
        while self._chunks and self._chunks_first + len(self._chunks[0]) <= keep_from:
            self._chunks_first += len(self._chunks.pop(0))

    def _spurt(self, spurt: Spurt) -> None:
        begin = max(self._chunks_first, spurt.first_sample - int(PRE_ROLL * SAMPLE_RATE))
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        pcm = audio[begin - self._chunks_first : spurt.last_sample - self._chunks_first]
        self.stats.spurts += 1
        if self._waiting.full():
            self._waiting.get_nowait()
            self.stats.dropped += 1
        self._waiting.put_nowait((spurt, pcm.copy()))

    async def _work(self) -> None:
        while (item := await self._waiting.get()) is not None:
            spurt, pcm = item
            try:
                recognized, cpu_s = await self.pool.transcribe(pcm)
            except Exception as error:  # an engine failing on one spurt must not end the stream
                self.stats.errors += 1
                self.stats.last_error = f"{type(error).__name__}: {error}"
                continue
            self.stats.cpu_s += cpu_s
            self.stats.audio_s += len(pcm) / SAMPLE_RATE
            origin = spurt.end - len(pcm) / SAMPLE_RATE  # wall time of pcm[0]
            words = tuple(Word(w.text, origin + w.start, origin + w.end) for w in recognized.words)
            segment = Segment(
                self.name, spurt.start, spurt.end, recognized.text, time.time(), words, cpu_s
            )
            if segment.text:
                self.segments.append(segment)
                for listener in self._listeners:
                    listener.put_nowait(segment)
                if self.on_segment is not None:
                    self.on_segment(segment)

    async def close(self) -> None:
        """End a spurt in progress, transcribe what waits, then end the result streams."""
        if self._closed:
            return
        self._closed = True
        self.vad.flush()
        if self._worker is not None:
            await self._waiting.put(None)
            await self._worker
        for listener in self._listeners:
            listener.put_nowait(None)

    def results(self) -> AsyncIterator[Segment]:
        """Segments of this stream as they are transcribed, until the stream is closed."""
        return drain(self._listen())

    def _listen(self) -> asyncio.Queue[Segment | None]:
        queue: asyncio.Queue[Segment | None] = asyncio.Queue()
        for segment in self.segments:
            queue.put_nowait(segment)
        if self._closed:
            queue.put_nowait(None)
        self._listeners.append(queue)
        return queue


async def drain(queue: asyncio.Queue[Segment | None]) -> AsyncIterator[Segment]:
    while (segment := await queue.get()) is not None:
        yield segment


__all__ = ["Segment", "StreamStats", "TranscribedStream", "TranscriptionPool", "transcribe_here"]
