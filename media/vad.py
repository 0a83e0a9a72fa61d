"""Voice activity: talk spurts (start, end) in a stream of 16 kHz PCM, on the receiver's clock.

WebRTC's voice activity detector (`webrtcvad`) classifies 30 ms frames; a spurt starts at the
first voiced frame and ends at the last voiced frame followed by `hangover` seconds without
voice, so the pauses between words do not split a sentence. Spurts shorter than `min_speech`
are clicks, not speech, and are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import webrtcvad

from media.clock import ArrivalClock

VAD_RATE = 16_000
FRAME_SAMPLES = 480  # 30 ms
FRAME_SECONDS = FRAME_SAMPLES / VAD_RATE
BLOCK = 160  # 10 ms: the resolution of a spurt's end
END_DB = 30.0


@dataclass(frozen=True, slots=True)
class Spurt:
    """Speech from `start` to `end` (seconds, wall clock), the PCM from `first_sample` on."""

    start: float
    end: float
    first_sample: int
    last_sample: int

    @property
    def duration(self) -> float:
        return self.end - self.start


class VoiceActivity:
    """Feed PCM chunks with their arrival times; `on_spurt` gets each finished talk spurt.

    The time of a chunk's last sample is its arrival time (as `ArrivalClock` smooths it);
    samples before it are earlier by their distance at 16 kHz.
    `sample_count` numbers samples from the first fed.

    WebRTC's detector keeps a frame classed as voiced about 0.1 s after the voice fades; the
    spurt's end is moved back to the last 10 ms block within `END_DB` of the spurt's loudest.
    """

    def __init__(
        self,
        on_spurt: Callable[[Spurt], None] | None = None,
        *,
        aggressiveness: int = 2,
        hangover: float = 0.45,
        min_speech: float = 0.15,
    ) -> None:
        if not 0 <= aggressiveness <= 3:
            raise ValueError(f"aggressiveness is 0..3, got {aggressiveness}")
        self._vad = webrtcvad.Vad(aggressiveness)
        self.on_spurt = on_spurt
        self.hangover = hangover
        self.min_speech = min_speech
        self.spurts: list[Spurt] = []
        self.sample_count = 0
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_first = 0
        self._start: tuple[float, int] | None = None
        self._last_voiced: tuple[float, int] | None = None
        self._clock = ArrivalClock()
        self._levels: list[tuple[float, int, float]] = []
        """(end time, end sample, RMS) of the 10 ms blocks of the spurt in progress."""

    def feed(self, pcm: npt.NDArray[np.int16], received_at: float) -> None:
        first = self.sample_count
        self.sample_count += len(pcm)
        end_time = self._clock.stamp(self.sample_count / VAD_RATE, received_at)
        if self._pending.size == 0:
            self._pending_first = first
        self._pending = np.concatenate([self._pending, pcm.astype(np.int16, copy=False)])
        whole = len(self._pending) // FRAME_SAMPLES * FRAME_SAMPLES
        for offset in range(0, whole, FRAME_SAMPLES):
            frame = self._pending[offset : offset + FRAME_SAMPLES]
            frame_first = self._pending_first + offset
            frame_end = end_time - (self.sample_count - frame_first - FRAME_SAMPLES) / VAD_RATE
            voiced = self._vad.is_speech(frame.tobytes(), VAD_RATE)
            if voiced or self._start is not None:
                blocks = frame.astype(np.float64).reshape(-1, BLOCK)
                loudness = np.sqrt(np.mean(blocks**2, axis=1))
                for index, level in enumerate(loudness):
                    block_end = frame_end - FRAME_SECONDS + (index + 1) * BLOCK / VAD_RATE
                    self._levels.append((block_end, frame_first + (index + 1) * BLOCK, level))
            self._frame(voiced, frame_end, frame_first)
        self._pending = self._pending[whole:]
        self._pending_first += whole

    def _frame(self, voiced: bool, frame_end: float, frame_first: int) -> None:
        if voiced:
            if self._start is None:
                self._start = (frame_end - FRAME_SECONDS, frame_first)
            self._last_voiced = (frame_end, frame_first + FRAME_SAMPLES)
        elif self._last_voiced is not None and frame_end - self._last_voiced[0] >= self.hangover:
            self._finish()

    def _finish(self) -> None:
        assert self._start is not None and self._last_voiced is not None
        end = self._last_voiced
        levels = [block for block in self._levels if block[0] <= end[0]]
        if levels:
            floor = max(level for _, _, level in levels) * 10 ** (-END_DB / 20)
            loud = [(at, sample) for at, sample, level in levels if level >= floor]
            if loud:
                end = loud[-1]
        spurt = Spurt(self._start[0], end[0], self._start[1], end[1])
        self._start = self._last_voiced = None
        self._levels = []
        if spurt.duration >= self.min_speech:
            self.spurts.append(spurt)
            if self.on_spurt is not None:
                self.on_spurt(spurt)

    def flush(self) -> None:
        """End a spurt in progress (the stream ended while someone spoke)."""
        if self._last_voiced is not None:
            self._finish()

    @property
    def spurt_first_sample(self) -> int:
        """First sample of the spurt in progress (the next sample when there is none)."""
        return self._start[1] if self._start is not None else self.sample_count

    @property
    def speaking_since(self) -> float | None:
        """Start of the spurt in progress, if any."""
        return self._start[0] if self._start is not None else None


class Spanned(Protocol):
    """Anything with a start and an end: a `Spurt`, an utterance said, a report's record."""

    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


S1 = TypeVar("S1", bound=Spanned)
S2 = TypeVar("S2", bound=Spanned)


def response_latencies(
    first: Sequence[S1], second: Sequence[S2], within: float = 10.0
) -> list[tuple[S1, S2, float]]:
    """For each spurt of `first` answered by `second`: (said, answer, gap in seconds).

    An answer is `second`'s first spurt starting after the end of `first`'s spurt (and before
    `first` speaks again, within `within` s). Negative gaps do not occur: an overlap is an
    interruption, not a response.
    """
    answered: list[tuple[S1, S2, float]] = []
    for index, said in enumerate(first):
        following = first[index + 1].start if index + 1 < len(first) else float("inf")
        for answer in second:
            if said.end <= answer.start < min(following, said.end + within):
                answered.append((said, answer, answer.start - said.end))
                break
    return answered
