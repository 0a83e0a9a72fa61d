"""Full-reference audio quality, live: a MOS estimate of received synthetic audio per window.

The synthetic sound (`media.audio.SyntheticSound`) is a pure function of the wall-clock
sample, so a receiver rebuilds what was sent and scores what it heard with wideband PESQ
(ITU-T P.862.2, the `pesq` package: the ITU reference C code). P.863 (POLQA) has no open
implementation, and ViSQOL has no build that installs here without Bazel; PESQ is the measure
the VoIP literature and webrtcperf-style tools report, on the MOS-LQO scale (about 1.0-4.6).

What is scored is what a listener with no concealment of its own would hear: decoded frames
are laid on the sender's sample clock by their RTP timestamps, and samples that never arrived
(lost, not repaired) are silence, counted as `concealed`. A window of `window` seconds is
scored every `interval` seconds; it is aligned to the reference by the audio marks' delay as a
first guess, then by cross-correlation (the sound is noise-like, so the peak is sharp).

Not scored: windows that are all silence (a muted sender: the silence share says it), and
windows that do not correlate with the synthetic sound (a file, espeak speech, or a sender
without the speech-like sound), counted as `unmeasured`.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from media.analysis import SILENCE_DBFS, Series, level_dbfs
from media.audio import SyntheticSound
from media.pacing import AUDIO_SAMPLE_RATE

__all__ = [
    "MOS_WINDOW",
    "PESQ_MISSING",
    "PESQ_RATE",
    "AudioQuality",
    "Window",
    "downsample",
    "pesq_available",
    "wideband_mos",
]

MOS_WINDOW = 4.0
"""Seconds of audio per MOS score: a few utterances, as P.862 wants (it was validated on
8-12 s samples; shorter windows score finer in time, at some loss of stability)."""
PESQ_RATE = 16_000
"""Wideband PESQ's sampling rate; received 48 kHz audio is low-passed and decimated to it."""
_FACTOR = AUDIO_SAMPLE_RATE // PESQ_RATE
_SEARCH = 0.5
"""Seconds either side of the first guess that the alignment searches (under half the marks'
1 s period, so a mark never aligns with the next one)."""
_MIN_CORRELATION = 0.5
"""Of the energy envelopes, marks left out: about 0.97 clean through Opus, 0.67 with 30% of
the packets lost, under 0.25 for marks-only audio."""
_BLOCK = PESQ_RATE // 100
"""10 ms at 16 kHz: the envelopes' resolution."""
_MAX_GAP = 2.0
"""A jump of the RTP timestamp beyond this many seconds is a new stream (a replaced peer
connection), not loss: the timeline starts again."""
_WRAP = 1 << 32

Samples = npt.NDArray[np.float32]


def _low_pass() -> npt.NDArray[np.float64]:
    """A 97-tap windowed-sinc filter at 7.2 kHz (below the 8 kHz Nyquist of 16 kHz)."""
    taps = np.arange(97) - 48
    cutoff = 7200 / AUDIO_SAMPLE_RATE
    kernel = 2 * cutoff * np.sinc(2 * cutoff * taps) * np.hamming(97)
    result: npt.NDArray[np.float64] = kernel / kernel.sum()
    return result


_KERNEL = _low_pass()


def downsample(samples: Samples) -> Samples:
    """48 kHz to 16 kHz: low-pass, keep every third sample (the same for reference and
    received, so the filter is no difference between them)."""
    filtered = np.convolve(samples.astype(np.float64), _KERNEL, mode="same")
    return filtered[::_FACTOR].astype(np.float32)


PESQ_MISSING = (
    "the audio MOS needs the `pesq` package (the ITU's P.862 reference code; it builds from "
    "source, so a C compiler): `pip install 'auvious-agent[quality]'`, or "
    "`scripts/bootstrap quality` in a checkout"
)


@functools.cache
def pesq_available() -> bool:
    """Whether `pesq` is installed: an extra (`quality`), since it has no binary wheels.
    Looked up once: every decoding audio viewer asks."""
    return importlib.util.find_spec("pesq") is not None


def wideband_mos(reference: Samples, received: Samples) -> float | None:
    """Wideband PESQ MOS-LQO of two aligned 16 kHz signals; None if the received one holds no
    utterance PESQ can find."""
    from pesq import NoUtterancesError, PesqError, pesq

    try:
        return float(pesq(PESQ_RATE, reference, received, "wb"))
    except (NoUtterancesError, PesqError):
        return None


@dataclass(frozen=True, slots=True)
class Window:
    """What was heard over one window, to be scored (`AudioQuality.score`)."""

    heard: Samples
    first_pts: int
    received_at: float
    delay: float


class AudioQuality:
    """MOS of sampled windows of one received stream against the rebuilt sent sound, and the
    share of the stream lost to concealment.

    `add(samples, pts, received_at, delay)` for every decoded 48 kHz frame: `pts` its RTP
    timestamp, `delay` the latest one-way delay the marks gave (seconds, or None). It returns
    a `Window` when one is due; `score(window)` is the costly part (about 0.1 s of CPU, PESQ
    mostly), so a monitor runs it off the event loop."""

    def __init__(
        self,
        sound: SyntheticSound | None = None,
        window: float = MOS_WINDOW,
        interval: float = 10.0,
    ) -> None:
        if window < 1.0:
            raise ValueError(f"the MOS window must be at least 1 s (PESQ), got {window}")
        if interval < window:
            raise ValueError(f"the MOS interval ({interval}) must be >= its window ({window})")
        self.scoring = pesq_available()
        """False without `pesq`: windows are not scored (`PESQ_MISSING`)."""
        self.sound = sound or SyntheticSound(marks=True, speech=True)
        if not self.sound.speech:
            raise ValueError("a MOS needs speech: the sound's marks alone are tones")
        self._marks = SyntheticSound(
            marks=True,
            mark_interval=self.sound.mark_interval,
            mark_seconds=self.sound.mark_seconds,
            tone_hz=self.sound.tone_hz,
        )
        """Where the marks are, which alignment leaves out (marks-only audio matches them)."""
        self.window = window
        self.interval = interval
        self.mos = Series()
        self.samples: list[tuple[float, float]] = []
        """(received_at, MOS) of each scored window: quality over time."""
        self.unmeasured = 0
        self.expected_samples = 0
        self.concealed_samples = 0
        self._chunks: list[Samples] = []
        self._buffered = 0
        self._first_pts: int | None = None
        self._next_pts: int | None = None
        self._next_at: float | None = None
        self._offset: int | None = None
        """Wall-clock sample minus RTP timestamp, once alignment found it."""

    @property
    def concealed_ratio(self) -> float:
        """Share of the expected samples that never arrived (0..1)."""
        return self.concealed_samples / self.expected_samples if self.expected_samples else 0.0

    def add(
        self, samples: Samples, pts: int, received_at: float, delay: float | None
    ) -> Window | None:
        if self._next_pts is None:
            self._restart(pts)
        else:
            gap = (pts - self._next_pts + _WRAP // 2) % _WRAP - _WRAP // 2
            if gap < 0:
                return None  # a repeat or an overtaken frame: already on the timeline
            if gap > _MAX_GAP * AUDIO_SAMPLE_RATE:
                self._restart(pts)
            elif gap:
                self._append(np.zeros(gap, dtype=np.float32))
                self.concealed_samples += gap
        self._append(samples)
        self.expected_samples += samples.size
        if self._next_at is None:
            self._next_at = received_at + self.window
        size = int(self.window * AUDIO_SAMPLE_RATE)
        if received_at < self._next_at or self._buffered < size:
            return None
        assert self._first_pts is not None
        self._next_at = received_at + self.interval
        heard = np.concatenate(self._chunks)[-size:]
        first_pts = (self._first_pts + self._buffered - size) % _WRAP
        return Window(heard, first_pts, received_at, delay if delay is not None else 0.1)

    def _restart(self, pts: int) -> None:
        self._chunks, self._buffered = [], 0
        self._first_pts = self._next_pts = pts
        self._offset = None

    def _append(self, samples: Samples) -> None:
        assert self._next_pts is not None and self._first_pts is not None
        self._chunks.append(samples)
        self._buffered += samples.size
        self._next_pts = (self._next_pts + samples.size) % _WRAP
        keep = int(self.window * AUDIO_SAMPLE_RATE)
        while self._buffered - self._chunks[0].size >= keep:
            dropped = self._chunks.pop(0)
            self._buffered -= dropped.size
            self._first_pts = (self._first_pts + dropped.size) % _WRAP

    def score(self, window: Window) -> float | None:
        """Score a window (thread-safe against `add`); the MOS, or None if not measured
        (without `pesq` installed: never, and the concealment figures stay)."""
        if not self.scoring:
            return None
        heard, first_pts = window.heard, window.first_pts
        if level_dbfs(heard) < SILENCE_DBFS:
            self.unmeasured += 1
            return None
        heard_16k = downsample(heard)
        # The last sample arrived at `received_at` and was sent `delay` before; once a
        # window aligned, the RTP timestamp places the next ones (a new stream: again).
        guesses = [round((window.received_at - window.delay) * AUDIO_SAMPLE_RATE) - heard.size]
        if self._offset is not None:
            guesses.insert(0, self._offset + first_pts)
        start = None
        for guess in guesses:
            start = self._align(heard_16k, guess)
            if start is not None:
                break
        if start is None:
            self.unmeasured += 1
            return None
        self._offset = start - first_pts
        reference = downsample(self.sound.samples(start, heard.size))
        score = wideband_mos(reference, heard_16k)
        if score is None:
            self.unmeasured += 1
            return None
        self.mos.add(score)
        self.samples.append((window.received_at, score))
        return score

    def _align(self, x: Samples, guess: int) -> int | None:
        """The wall-clock sample where `x` (heard, at 16 kHz) starts, searched within
        `_SEARCH` s of `guess`; None if nothing there is the synthetic speech.

        Opus codes noise-like sound perceptually (band energies, not the waveform), so the
        waveforms of sent and heard correlate weakly (about 0.4): the lag is found on the
        10 ms energy envelopes first (about 0.97 clean), leaving out the blocks of the marks,
        which marks-only audio would match too; then refined on the waveform within a block."""
        search = int(_SEARCH * AUDIO_SAMPLE_RATE)
        first = guess - search
        y = downsample(self.sound.samples(first, x.size * _FACTOR + 2 * search))
        heard, sent = _envelope(x), _envelope(y)
        marks = _envelope(downsample(self._marks.samples(first, y.size * _FACTOR))) > 0
        marks[1:] |= marks[:-1].copy()  # the codec smears a mark into the next block
        marks[:-1] |= marks[1:].copy()
        correlations = _masked_pearson(heard, sent, ~marks)
        best_lag = int(np.argmax(correlations))
        if correlations[best_lag] <= _MIN_CORRELATION:
            return None
        coarse = best_lag * _BLOCK
        low = max(0, coarse - _BLOCK)
        span = y[low : coarse + _BLOCK + x.size]
        fine = np.correlate(span, x, mode="valid")
        start = low + int(np.argmax(fine))
        return first + start * _FACTOR


def _envelope(samples: Samples) -> npt.NDArray[np.float64]:
    """RMS per `_BLOCK` of 16 kHz samples."""
    blocks = samples[: samples.size // _BLOCK * _BLOCK].astype(np.float64).reshape(-1, _BLOCK)
    result: npt.NDArray[np.float64] = np.sqrt(np.mean(blocks * blocks, axis=1))
    return result


def _masked_pearson(
    heard: npt.NDArray[np.float64], sent: npt.NDArray[np.float64], keep: npt.NDArray[np.bool_]
) -> npt.NDArray[np.float64]:
    """Pearson's correlation of `heard` with `sent` at every lag, over the blocks `keep` marks
    at that lag (one array operation for all lags, not a loop)."""
    windows = np.lib.stride_tricks.sliding_window_view(sent, heard.size)
    weights = np.lib.stride_tricks.sliding_window_view(keep, heard.size).astype(np.float64)
    count = np.maximum(weights.sum(axis=1), 1.0)
    sum_x = weights @ heard
    sum_y = (weights * windows).sum(axis=1)
    sum_xy = (weights * windows) @ heard
    sum_xx = weights @ (heard * heard)
    sum_yy = (weights * windows * windows).sum(axis=1)
    covariance = sum_xy - sum_x * sum_y / count
    variance = (sum_xx - sum_x**2 / count) * (sum_yy - sum_y**2 / count)
    result: npt.NDArray[np.float64] = np.where(
        variance > 0, covariance / np.sqrt(np.maximum(variance, 1e-300)), 0.0
    )
    return result
