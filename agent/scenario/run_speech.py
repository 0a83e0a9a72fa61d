"""A scenario participant's speech: what it says (`source: speech` streams, `say` steps) and
what it transcribes (`transcribe`), kept for the report on the run's clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.participant import Reception, ViewPolicy
from agent.participant.sources import SentMedia
from agent.scenario.model import ParticipantGroup, StreamSpec
from agent.scenario.results import (
    ErrorRecord,
    HeardSegment,
    HeardWord,
    ParticipantResult,
    SaidRecord,
    Span,
    StreamDirection,
    TranscriptResult,
)
from agent.scenario.run_clock import RunClock
from agent.scenario.surface import StepFailed
from media.mute import MutableTrack
from media.speech import SpeechTrack, Utterance, read_lines
from media.transcription import EngineSpec, Transcriber

__all__ = ["Listening", "Speaking"]


class Speaking:
    """The participant's `source: speech` streams: their tracks, their lines, what was said."""

    def __init__(self, result: ParticipantResult, clock: RunClock, base: Path) -> None:
        self.result = result
        self.clock = clock
        self.base = base
        self.tracks: dict[str, tuple[SpeechTrack, str | None]] = {}
        """Stream key -> (its speech track, its stream id once published)."""
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, spec: StreamSpec, media: SentMedia) -> None:
        """Give the stream about to be published a speech track as its (own) audio."""
        speech = spec.speech
        track = SpeechTrack(speech.voice, speech.words_per_minute) if speech else SpeechTrack()
        media.tracks["audio"] = media.own_tracks["audio"] = MutableTrack(track)
        self.tracks[spec.key] = (track, None)

    def published(self, spec: StreamSpec, stream_id: str | None) -> None:
        """The stream is out: it says its lines, if it has any."""
        track, _ = self.tracks[spec.key]
        self.tracks[spec.key] = (track, stream_id)
        speech = spec.speech
        if speech is None:
            return
        lines = read_lines(self.base / speech.file) if speech.file else speech.lines
        if lines:
            self._start(self._say_lines(spec.key, lines, speech.start, speech.pause))

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _say_lines(self, key: str, lines: list[str], start: float, pause: float) -> None:
        await asyncio.sleep(start)
        for line in lines:
            await self.say(key, line, wait=True)
            await asyncio.sleep(pause)

    async def say(self, key: str | None, text: str, *, wait: bool) -> None:
        """Say `text` on the stream `key` (None: the first speech stream published)."""
        if key is None:
            key = next(iter(self.tracks), None)
        if key is None or key not in self.tracks:
            raise StepFailed("no `source: speech` stream is published to say this on")
        track, stream_id = self.tracks[key]
        try:
            utterance = await track.say(text)
        except ValueError as error:
            raise StepFailed(str(error)) from error
        if wait:
            await self._record(utterance, stream_id)
        else:
            self._start(self._record(utterance, stream_id))

    async def _record(self, utterance: Utterance, stream_id: str | None) -> None:
        await utterance.said()
        assert utterance.start is not None and utterance.end is not None
        self.result.said.append(
            SaidRecord(
                start=self.clock.from_wall(utterance.start),
                end=self.clock.from_wall(utterance.end),
                text=utterance.text,
                stream_id=stream_id,
            )
        )

    def stopped(self, key: str) -> None:
        """The stream is unpublished: its track is gone with it."""
        self.tracks.pop(key, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self.tracks.clear()


class Listening:
    """The participant's transcription (`transcribe`): a transcriber whose streams are the
    audio of every stream it views; at the end, `TranscriptResult`s and files."""

    def __init__(self, group: ParticipantGroup, name: str, base: Path, out_dir: Path) -> None:
        spec = group.transcribe
        assert spec is not None
        model = str(base / spec.model) if spec.model else None
        self.transcriber = Transcriber(
            EngineSpec(spec.engine, model),
            workers=spec.workers,
            queue_limit=spec.queue_limit,
            out_dir=out_dir / name,
        )
        self.started = False

    def policy(self, policy: ViewPolicy) -> ViewPolicy:
        """`policy`, decoding audio and handing each viewed stream's PCM to the transcriber."""
        return replace(policy, audio=Reception.DECODE, pcm_per_stream=self.transcriber.stream)

    async def start(self) -> None:
        """Start the workers (and their model): the first utterance is then not late for it."""
        if not self.started:
            await self.transcriber.__aenter__()
            self.started = True

    async def close(self, result: ParticipantResult, clock: RunClock) -> None:
        """Transcribe what waits, write the files, and record every stream's transcript."""
        try:
            await self.transcriber.close()
        except Exception as error:  # the transcripts so far still go to the report
            message = f"transcription failed: {type(error).__name__}: {error}"
            result.errors.append(ErrorRecord(t=clock.now(), step="transcribe", message=message))
        publishers = {
            stream.stream_id: stream.publisher
            for stream in result.streams
            if stream.direction is StreamDirection.VIEW
        }
        files = {path.name: str(path) for path in self.transcriber.files}
        for stream_id, stream in self.transcriber.streams.items():
            result.transcripts.append(
                TranscriptResult(
                    stream_id=stream_id,
                    publisher=publishers.get(stream_id),
                    segments=[
                        HeardSegment(
                            start=clock.from_wall(s.start),
                            end=clock.from_wall(s.end),
                            text=s.text,
                            latency=s.latency,
                            words=[
                                HeardWord(
                                    text=w.text,
                                    start=clock.from_wall(w.start),
                                    end=clock.from_wall(w.end),
                                )
                                for w in s.words
                            ],
                        )
                        for s in stream.segments
                    ],
                    spurts=[
                        Span(start=clock.from_wall(s.start), end=clock.from_wall(s.end))
                        for s in stream.vad.spurts
                    ],
                    dropped=stream.stats.dropped,
                    failed=stream.stats.errors,
                    files=[
                        files[name]
                        for name in (f"{stream.name}.transcript.json", f"{stream.name}.vtt")
                        if name in files
                    ],
                )
            )
