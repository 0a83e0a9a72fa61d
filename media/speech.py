"""Speech sources: text said by an offline text-to-speech engine, with each utterance's timing.

The speech is rendered by espeak-ng (Debian's `espeak-ng`, installed by `scripts/ensure-espeak`)
into 48 kHz mono float samples. A `SpeechTrack` plays utterances in real time and stamps each
with the wall-clock time its voice starts and ends on the stream's sample clock (when those
samples were due to be sent; leading and trailing silence of the synthesis trimmed), so a
receiver can measure delays and response times against it.
"""

from __future__ import annotations

import asyncio
import functools
import io
import re
import shutil
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from media.audio import PacedAudioTrack, Samples
from media.pacing import AUDIO_SAMPLE_RATE

DEFAULT_VOICE = "en-us+klatt"
"""The voice PocketSphinx's US English model understands best of espeak-ng's (measured:
benchmarks/RESULTS.md, 'Speech')."""
DEFAULT_WORDS_PER_MINUTE = 175
SPEECH_LEVEL = 0.5
"""Peak level of rendered speech (-6 dBFS)."""
_VOICED = 0.02
"""Samples above this (of full scale) count as voice when trimming the synthesis."""


class SpeechUnavailable(RuntimeError):
    """espeak-ng is not installed (run scripts/ensure-espeak)."""


def espeak_path() -> str | None:
    return shutil.which("espeak-ng")


@functools.cache
def _known(listing: str) -> frozenset[str]:
    """Language codes, voice names, file names and other-language codes espeak-ng lists
    (`--voices` or `--voices=variant`), lower case."""
    binary = espeak_path()
    if binary is None:
        raise SpeechUnavailable("espeak-ng is not installed: run scripts/ensure-espeak")
    lines = subprocess.run(
        [binary, listing], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()[1:]
    names: set[str] = set()
    for line in lines:
        fields = line.split()
        if len(fields) >= 5:
            names.update(name.lower() for name in (fields[1], fields[3], fields[4]))
            names.add(fields[4].rsplit("/", 1)[-1].lower())
            names.update(re.findall(r"\(([^ )]+)", line.lower()))
    return frozenset(names)


def check_voice(voice: str) -> None:
    """Refuse a voice espeak-ng does not have (it would fall back to its default silently)."""
    language, _, variant = voice.partition("+")
    if language.lower() not in _known("--voices"):
        raise ValueError(f"espeak-ng has no voice {language!r} (see `espeak-ng --voices`)")
    if variant and variant.lower() not in _known("--voices=variant"):
        raise ValueError(f"espeak-ng has no variant {variant!r} (see `espeak-ng --voices=variant`)")


def synthesize(
    text: str,
    voice: str = DEFAULT_VOICE,
    words_per_minute: int = DEFAULT_WORDS_PER_MINUTE,
    sample_rate: int = AUDIO_SAMPLE_RATE,
) -> Samples:
    """`text` spoken by espeak-ng as float32 samples in [-1, 1], silence at both ends trimmed.

    Blocking (a subprocess, about 20 ms a sentence): call it off the event loop.
    """
    if not text.strip():
        raise ValueError("nothing to say: the text is empty")
    binary = espeak_path()
    if binary is None:
        raise SpeechUnavailable("espeak-ng is not installed: run scripts/ensure-espeak")
    check_voice(voice)
    done = subprocess.run(
        [binary, "-v", voice, "-s", str(words_per_minute), "--stdout", text],
        capture_output=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0 or not done.stdout:
        message = done.stderr.decode(errors="replace").strip() or f"exit {done.returncode}"
        raise ValueError(f"espeak-ng could not say {text[:40]!r} with voice {voice!r}: {message}")
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    chunks: list[Samples] = []
    with av.open(io.BytesIO(done.stdout), "r") as container:
        for frame in [*container.decode(audio=0), None]:
            chunks.extend(
                np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1)
                for out in resampler.resample(frame)
            )
    samples = np.concatenate(chunks)
    voiced = np.flatnonzero(np.abs(samples) > _VOICED)
    if voiced.size == 0:
        raise ValueError(f"espeak-ng rendered silence for {text[:40]!r}")
    samples = samples[voiced[0] : voiced[-1] + 1]
    peak = float(np.max(np.abs(samples)))
    return (samples * (SPEECH_LEVEL / peak)).astype(np.float32)


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of a text file, one utterance each."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    said = [line for line in lines if line]
    if not said:
        raise ValueError(f"{path}: no text to say")
    return said


@dataclass(eq=False)
class Utterance:
    """One thing said: its text and, once it plays, the wall-clock times its voice starts/ends."""

    text: str
    at: float | None = None
    """Requested start (wall clock); None: as soon as what was said before has finished."""
    after: Utterance | None = None
    """Start `pause` seconds after this one (of any track) has been said."""
    pause: float = 0.0
    start: float | None = None
    end: float | None = None
    samples: Samples = field(default_factory=lambda: np.zeros(0, np.float32), repr=False)
    _said: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _first_sample: int | None = field(default=None, repr=False)

    @property
    def duration(self) -> float:
        return len(self.samples) / AUDIO_SAMPLE_RATE

    async def said(self) -> Utterance:
        """Wait until the last sample of this utterance has been sent."""
        await self._said.wait()
        return self

    def as_record(self) -> dict[str, object]:
        return {"text": self.text, "start": self.start, "end": self.end}


class SpeechTrack(PacedAudioTrack):
    """A microphone that says what it is told, in order, silent in between.

    `await say(text)` queues an utterance (at a wall-clock time `at`, or after what is queued);
    each one's `start`/`end` are the send times of its first and last voiced samples.
    """

    def __init__(
        self, voice: str = DEFAULT_VOICE, words_per_minute: int = DEFAULT_WORDS_PER_MINUTE
    ) -> None:
        super().__init__()
        self.voice = voice
        self.words_per_minute = words_per_minute
        self.utterances: list[Utterance] = []
        self._queue: deque[Utterance] = deque()
        self._free_from = 0
        """First sample not taken by an utterance already placed."""

    async def say(
        self,
        text: str,
        at: float | None = None,
        *,
        after: Utterance | None = None,
        pause: float = 0.0,
    ) -> Utterance:
        """Render `text` (off the event loop) and queue it; returns its `Utterance`.

        `at`: not before this wall-clock time. `after`: not before `pause` seconds after that
        utterance (another participant's, say) ends: an answer after a known pause."""
        if at is not None and after is not None:
            raise ValueError("give `at` or `after`, not both")
        samples = await asyncio.to_thread(synthesize, text, self.voice, self.words_per_minute)
        utterance = Utterance(text=text, at=at, after=after, pause=pause, samples=samples)
        self.utterances.append(utterance)
        self._queue.append(utterance)
        return utterance

    def render(self, first_sample: int, count: int) -> Samples:
        # When `first_sample` is due: on a busy machine frames are rendered late and sent in a
        # burst, but the receiver plays (and its voice detector times) them by their samples.
        now = time.time() - (time.monotonic() - self._pacer.due)
        out = np.zeros(count, dtype=np.float32)
        end_sample = first_sample + count
        for utterance in list(self._queue):
            if utterance._first_sample is None:
                if utterance.after is not None:
                    if utterance.after.end is None:
                        break  # what it answers has not been said yet
                    utterance.at = utterance.after.end + utterance.pause
                start = max(first_sample, self._free_from)
                if utterance.at is not None:
                    wanted = first_sample + round((utterance.at - now) * AUDIO_SAMPLE_RATE)
                    start = max(start, wanted)
                if start >= end_sample:
                    break  # keep the order: later ones wait for this one
                utterance._first_sample = start
                utterance.start = now + (start - first_sample) / AUDIO_SAMPLE_RATE
                self._free_from = start + len(utterance.samples)
            begin = utterance._first_sample
            last = begin + len(utterance.samples)
            lo, hi = max(begin, first_sample), min(last, end_sample)
            if lo < hi:
                out[lo - first_sample : hi - first_sample] += utterance.samples[
                    lo - begin : hi - begin
                ]
            if last <= end_sample:
                utterance.end = now + (last - first_sample) / AUDIO_SAMPLE_RATE
                utterance._said.set()
                self._queue.remove(utterance)
        return out

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    async def say_lines(self, lines: list[str], pause: float = 1.0) -> list[Utterance]:
        """Say `lines` in order with `pause` seconds between them; returns when all are said."""
        said: list[Utterance] = []
        for line in lines:
            utterance = await self.say(line)
            said.append(await utterance.said())
            if pause > 0:
                await asyncio.sleep(pause)
        return said
