"""Audio MOS (wideband PESQ) of received synthetic sound: alignment, concealment, what is not
scored. Frames are fed as a receiver gets them (48 kHz, RTP timestamps), without a network;
the end-to-end comparison of a clean and an impaired listener is in tests/test_network.py."""

from __future__ import annotations

import numpy as np
import pytest

from media.audio import SyntheticAudioTrack, SyntheticSound
from media.audio_quality import AudioQuality
from media.pacing import AUDIO_SAMPLE_RATE, AUDIO_SAMPLES_PER_FRAME
from tests.child_support import ROOT, run_python

SENT_AT = 1_800_000_000.37
"""Wall-clock time of the first frame sent (so the sound is not at a round position)."""


def _listen(
    quality: AudioQuality,
    sound: SyntheticSound,
    seconds: float,
    drop: float = 0.0,
    first_pts: int = 4_294_000_000,
    delay: float = 0.08,
) -> None:
    """Frames as decoded: `drop` of them never arrive; RTP timestamps wrap past 2^32."""
    rng = np.random.default_rng(1)
    first = round(SENT_AT * AUDIO_SAMPLE_RATE)
    for index in range(int(seconds / 0.02)):
        if rng.random() < drop:
            continue
        offset = index * AUDIO_SAMPLES_PER_FRAME
        samples = sound.samples(first + offset, AUDIO_SAMPLES_PER_FRAME)
        pts = (first_pts + offset) % (1 << 32)
        arrived = (first + offset) / AUDIO_SAMPLE_RATE + delay
        window = quality.add(samples, pts, arrived, delay - 0.03)  # the marks' estimate is off
        if window is not None:
            quality.score(window)


def test_the_sent_sound_scores_the_top_and_loss_scores_lower() -> None:
    sound = SyntheticSound(marks=True, speech=True)
    clean, lossy = AudioQuality(interval=5.0), AudioQuality(interval=5.0)
    _listen(clean, sound, 16.0)
    _listen(lossy, sound, 16.0, drop=0.1)
    assert clean.mos.values and min(clean.mos.values) > 4.5  # aligned to the sample
    assert clean.concealed_ratio == 0 and clean.unmeasured == 0
    assert len(lossy.mos.values) == len(clean.mos.values) == 3
    assert max(lossy.mos.values) < 3.0
    assert lossy.concealed_ratio == pytest.approx(0.1, abs=0.03)
    assert [t for t, _ in clean.samples] == sorted(t for t, _ in clean.samples)


def test_sound_other_than_the_synthetic_speech_is_not_scored() -> None:
    marks_only, silence = AudioQuality(interval=4.0), AudioQuality(interval=4.0)
    _listen(marks_only, SyntheticSound(marks=True), 9.0)
    assert marks_only.mos.values == [] and marks_only.unmeasured == 2
    # A muted sender sends zeros: the silence share says it, not a MOS.
    frames = np.zeros(AUDIO_SAMPLES_PER_FRAME, dtype=np.float32)
    for index in range(250):
        window = silence.add(frames, index * AUDIO_SAMPLES_PER_FRAME, SENT_AT + index * 0.02, None)
        if window is not None:
            assert silence.score(window) is None
    assert silence.unmeasured == 1 and silence.mos.values == []


def test_a_track_sends_the_sound_a_receiver_rebuilds() -> None:
    track = SyntheticAudioTrack(marks=True, speech=True)
    track.start_at(SENT_AT)
    sent = track.render(960, 960)
    rebuilt = track.sound.samples(round(SENT_AT * AUDIO_SAMPLE_RATE) + 960, 960)
    assert np.array_equal(sent, rebuilt) and np.abs(sent).max() > 0


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="speech"):
        AudioQuality(SyntheticSound(marks=True))
    with pytest.raises(ValueError, match="window"):
        AudioQuality(interval=2.0)


def test_without_pesq_the_agent_runs_and_an_audio_mos_expectation_is_refused() -> None:
    """`pesq` is an extra (no binary wheels: it needs a C compiler). Without it (hidden here
    from a child interpreter, as on a machine that never built it) the participant's code
    imports, windows are not scored, and `validate` refuses an `audio_mos` threshold with the
    fix, naming the file, line and field."""
    code = (
        "import sys; sys.modules['pesq'] = None\n"
        "from agent.cli import main\n"
        "from media.audio_quality import AudioQuality\n"
        "assert not AudioQuality().scoring\n"
        "sys.exit(main(['validate', 'scenarios/bad-network.yaml']))\n"
    )
    result = run_python(code)
    assert result.returncode == 2, result.stdout + result.stderr
    out = result.stdout + result.stderr
    lines = (ROOT / "scenarios/bad-network.yaml").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if text.strip().startswith("audio_mos:"))
    assert f"bad-network.yaml:{line}" in out and "expect.audio_mos" in out, out
    assert "auvious-agent[quality]" in out and "Traceback" not in out
