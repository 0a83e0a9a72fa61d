"""Speech for the tests: espeak-ng (or a skip naming why), known sentences, and speech fed to a
transcriber on a made-up clock (no real time, no network)."""

from __future__ import annotations

import numpy as np
import pytest

from media.speech import espeak_path, synthesize
from media.transcription.engines import Pcm
from media.transcription.stream import TranscribedStream

SENTENCES = (
    "Please call me back tomorrow morning.",
    "The meeting starts at ten o'clock.",
    "I would like to order a large pizza.",
)

WER_BOUND = 0.35
"""Word error rate PocketSphinx stays under on `SENTENCES` said by espeak-ng: measured 0.00 to
0.15 through the platform (benchmarks/RESULTS.md, 'Speech'); above, the audio path is wrong."""

needs_espeak = pytest.mark.skipif(
    espeak_path() is None,
    reason="espeak-ng is not installed and scripts/ensure-espeak could not install it (not root?)",
)


def pcm16k(text: str) -> Pcm:
    """`text` said at 16 kHz int16, the rate transcribers get."""
    return (synthesize(text, sample_rate=16_000) * 32767).astype(np.int16)


def feed(
    stream: TranscribedStream, pieces: list[Pcm | float], t0: float = 1_000.0
) -> list[tuple[float, float]]:
    """Feed speech (PCM) and pauses (seconds) in 20 ms chunks stamped from `t0`; returns the
    (start, end) clock times of each PCM piece."""
    spans: list[tuple[float, float]] = []
    clock, samples = t0, []
    for piece in pieces:
        audio = np.zeros(round(piece * 16_000), np.int16) if isinstance(piece, float) else piece
        if not isinstance(piece, float):
            spans.append((clock, clock + len(audio) / 16_000))
        clock += len(audio) / 16_000
        samples.append(audio)
    everything = np.concatenate(samples)
    for start in range(0, len(everything), 320):
        chunk = everything[start : start + 320]
        stream(chunk, t0 + (start + len(chunk)) / 16_000)
    return spans
