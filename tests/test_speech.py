"""Speech sources, voice activity, transcription off the event loop and the checks on it, with
no network: espeak-ng's speech is fed to the transcriber directly, on a made-up clock."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest

from media.speech import SpeechTrack, read_lines, synthesize
from media.transcription import EngineSpec, Recognized, Transcriber, Word
from media.transcription.checks import (
    Reference,
    highlighted,
    score,
    score_utterances,
    word_error_rate,
)
from media.transcription.engines import Pcm
from media.transcription.files import vtt_time
from media.vad import VoiceActivity, response_latencies
from tests.speech_support import SENTENCES, WER_BOUND, feed, needs_espeak, pcm16k

pytestmark = needs_espeak


def test_synthesis_is_trimmed_speech_and_bad_voice_is_named() -> None:
    samples = synthesize("Hello there.")
    assert 0.3 < len(samples) / 48_000 < 2.0
    assert abs(samples[0]) > 0.01 and abs(samples[-1]) > 0.01  # no silence at either end
    assert np.max(np.abs(samples)) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="no-such-voice"):
        synthesize("Hello.", voice="no-such-voice")
    with pytest.raises(ValueError, match="empty"):
        synthesize("  ")


def test_read_lines_refuses_an_empty_file(tmp_path: Path) -> None:
    script = tmp_path / "lines.txt"
    script.write_text("\n  first line\n\nsecond line\n")
    assert read_lines(script) == ["first line", "second line"]
    script.write_text("\n \n")
    with pytest.raises(ValueError, match="no text to say"):
        read_lines(script)


async def test_speech_track_sends_each_utterance_when_its_time_says() -> None:
    track = SpeechTrack()
    first = await track.say("Yes.")
    wanted = time.time() + 1.0
    later = await track.say("No.", at=wanted)
    sent: list[tuple[float, float]] = []  # (send time of the frame's first sample, peak)
    while track.speaking:
        frame = await track.recv()
        sent.append((time.time(), float(np.abs(frame.to_ndarray()).max())))
    track.stop()
    assert first.start is not None and first.end is not None and later.start is not None
    assert first.end - first.start == pytest.approx(first.duration, abs=0.02)
    assert later.start == pytest.approx(wanted, abs=0.03)  # not back to back: when asked
    voiced = [at for at, peak in sent if peak > 1000]
    assert voiced[0] == pytest.approx(first.start, abs=0.05)
    silent_between = [at for at, peak in sent if first.end + 0.03 < at < later.start - 0.03]
    assert silent_between and all(
        peak < 10 for at, peak in sent if first.end + 0.03 < at < later.start - 0.03
    )


def test_response_latency_from_voice_activity() -> None:
    caller, answerer = VoiceActivity(), VoiceActivity()
    question, answer = pcm16k("How are you?"), pcm16k("Fine, thanks.")
    pause = 0.8
    silence = np.zeros(round((len(question) / 16_000 + pause) * 16_000), np.int16)
    tail = np.zeros(16_000, np.int16)
    a = np.concatenate(
        [question, np.zeros(len(answer) + len(silence) - len(question), np.int16), tail]
    )
    b = np.concatenate([silence, answer, tail])
    for start in range(0, min(len(a), len(b)), 320):
        at = 50.0 + (start + 320) / 16_000
        caller.feed(a[start : start + 320], at)
        answerer.feed(b[start : start + 320], at)
    caller.flush()
    answerer.flush()
    assert len(caller.spurts) == 1 and len(answerer.spurts) == 1
    ((said, _answer, gap),) = response_latencies(caller.spurts, answerer.spurts)
    assert said.start == pytest.approx(50.0, abs=0.05)
    assert gap == pytest.approx(pause, abs=0.1)


def test_word_error_rate_and_highlighting() -> None:
    result = score("The quick brown fox.", "the quack brown fox jumps")
    assert (result.words, result.substitutions, result.insertions) == (4, 1, 1)
    assert result.word_error_rate == 0.5
    assert highlighted(result) == "the [quick→quack] brown fox [+jumps+]"
    assert highlighted(score("one two three", "one three")) == "one [-two-] three"
    assert word_error_rate([result, score("yes", "yes")]) == pytest.approx(2 / 5)


def test_vtt_times() -> None:
    assert vtt_time(3723.4567) == "01:02:03.457"
    assert vtt_time(-1) == "00:00:00.000"


def test_unknown_or_missing_engines_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown engine 'sphinx'"):
        EngineSpec("sphinx")
    with pytest.raises(ValueError, match="needs `model`"):
        EngineSpec("faster-whisper")()
    with pytest.raises(ValueError, match="model directory /nonexistent does not exist"):
        EngineSpec("vosk", model="/nonexistent")()
    with pytest.raises(ValueError, match="needs the pywhispercpp package"):
        (tmp_path / "ggml.bin").write_bytes(b"")
        EngineSpec("whisper.cpp", model=str(tmp_path / "ggml.bin"))()
    with pytest.raises(ValueError, match="picklable"):
        Transcriber(lambda: EngineSpec()())


@pytest.mark.slow
async def test_three_sentences_transcribed_with_times_files_and_results(tmp_path: Path) -> None:
    async with Transcriber(out_dir=tmp_path, origin=1_000.0) as transcriber:
        stream = transcriber.stream("caller-audio", speaker="caller")
        heard = transcriber.results()
        spans = feed(stream, [0.5, *(p for s in SENTENCES for p in (pcm16k(s), 1.0))])
        first = await asyncio.wait_for(anext(heard), 30)
        assert first.stream == "caller-audio"
    segments = stream.segments
    assert len(segments) == 3, segments
    for segment, (start, end) in zip(segments, spans, strict=True):
        assert segment.start == pytest.approx(start, abs=0.1)
        assert segment.end == pytest.approx(end, abs=0.1)
        assert all(start - 0.3 < w.start <= w.end < end + 0.3 for w in segment.words)
    references = [Reference(s, a, b) for s, (a, b) in zip(SENTENCES, spans, strict=True)]
    wer = word_error_rate(score_utterances(references, segments))
    assert wer is not None and wer <= WER_BOUND, [s.text for s in segments]
    record = json.loads((tmp_path / "caller-audio.transcript.json").read_text())
    assert record["engine"] == "pocketsphinx" and record["speaker"] == "caller"
    assert [s["text"] for s in record["segments"]] == [s.text for s in segments]
    assert record["segments"][0]["offset_start"] == pytest.approx(0.5, abs=0.1)
    vtt = (tmp_path / "caller-audio.vtt").read_text()
    assert re.match(r"WEBVTT\n\n1\n00:00:00\.[45]\d\d --> 00:00:0[23]\.", vtt), vtt
    assert "<v caller>" in vtt


class CountingEngine:
    """An engine plugged in by a library user: it 'recognises' how long each spurt is."""

    def transcribe(self, pcm: Pcm) -> Recognized:
        return Recognized(f"{len(pcm)} samples", (Word("samples", 0.0, len(pcm) / 16_000),))


async def test_another_engine_plugs_in_and_runs_in_a_thread() -> None:
    transcriber = Transcriber(CountingEngine, mode="thread")
    async with transcriber:
        stream = transcriber.stream("x")
        speech = pcm16k("Hello there.")
        ((start, end),) = feed(stream, [0.5, speech, 1.0], t0=10.0)
    (segment,) = stream.segments
    samples = int(segment.text.split()[0])
    assert samples == pytest.approx(len(speech) + 0.25 * 16_000, abs=0.06 * 16_000)  # pre-roll
    assert (segment.start, segment.end) == pytest.approx((start, end), abs=0.05)
    assert segment.words[0].end == pytest.approx(segment.end, abs=0.001)  # on the wall clock
    assert transcriber.engine_name == "CountingEngine"
