"""Recordings made here, without a call: per track a WebM file (VP8 or Opus) encoded with PyAV
from the synthetic sources, whose video carries the timecode of its (simulated) capture time
and whose audio carries the tone marks at whole wall-clock seconds, plus the `Recording`
that describes them, as the recorder would."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from media import timecode
from media.audio import SyntheticAudioTrack
from media.pacing import AUDIO_SAMPLE_RATE
from media.video import SyntheticVideoTrack
from server.composition.recordings import RecordedTrack, Recording

_ENCODERS: dict[str, tuple[str, str, dict[str, object]]] = {
    # codec: (muxer, encoder, options) as the recorder stores them: VP8 in WebM, H264 in
    # Matroska.
    "VP8": ("webm", "libvpx", {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}),
    "H264": ("matroska", "libx264", {"preset": "ultrafast", "tune": "zerolatency"}),
}


def write_video(
    path: Path,
    started: float,
    seconds: float,
    width: int = 320,
    height: int = 240,
    fps: int = 15,
    codec: str = "VP8",
) -> RecordedTrack:
    """A VP8 WebM (or H264 Matroska) whose frame n carries timecode (n, capture ms) with
    capture = started + n/fps."""
    source = SyntheticVideoTrack(width, height, fps, timecode_on=False)
    count = max(1, round(seconds * fps))
    muxer, encoder, options = _ENCODERS[codec]
    with av.open(str(path), "w", format=muxer) as out:
        stream = out.add_stream(encoder, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 600_000
        stream.options = dict(options)
        for index in range(count):
            array = np.asarray(source.render(index).to_ndarray(), dtype=np.uint8)
            timecode.embed(array, index, round((started + index / fps) * 1000), fmt="yuv420p")
            frame = av.VideoFrame.from_ndarray(array, format="yuv420p")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    stopped = started + (count - 1) / fps
    return RecordedTrack("video", path, started, stopped, codec=codec)


def write_audio(
    path: Path, started: float, seconds: float, tone_hz: float = 1000.0
) -> RecordedTrack:
    """An Opus WebM of tone marks at every whole wall-clock second."""
    source = SyntheticAudioTrack(marks=True, speech=False, tone_hz=tone_hz)
    source.start_at(started)
    block = 960
    count = max(1, round(seconds * AUDIO_SAMPLE_RATE / block))
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=AUDIO_SAMPLE_RATE)
        stream.layout = "mono"
        for index in range(count):
            samples = source.render(index * block, block)
            pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            frame.sample_rate = AUDIO_SAMPLE_RATE
            frame.pts, frame.time_base = index * block, Fraction(1, AUDIO_SAMPLE_RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    stopped = started + (count * block) / AUDIO_SAMPLE_RATE
    return RecordedTrack("audio", path, started, stopped, codec="OPUS")


@dataclass(frozen=True, slots=True)
class Publisher:
    """Who publishes when, relative to the recording's start (seconds)."""

    user_id: str
    start: float = 0.0
    stop: float | None = None
    video: bool = True
    audio: bool = True
    codec: str = "VP8"


def make_recording(
    directory: Path,
    conversation_id: str,
    organization_id: str,
    publishers: Sequence[Publisher],
    *,
    seconds: float,
    started: float,
    size: tuple[int, int] = (320, 240),
    fps: int = 15,
    agent_id: str | None = None,
) -> Recording:
    """A finished recording of `seconds` with the publishers' tracks written under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    tracks: list[RecordedTrack] = []
    for index, pub in enumerate(publishers):
        begin = started + pub.start
        length = (pub.stop if pub.stop is not None else seconds) - pub.start
        stem = directory / f"{uuid.uuid4().hex}"
        if pub.video:
            suffix = ".video.webm" if pub.codec == "VP8" else ".video.mkv"
            track = write_video(stem.with_suffix(suffix), begin, length, *size, fps, pub.codec)
            tracks.append(_owned(track, pub.user_id, index))
        if pub.audio:
            track = write_audio(stem.with_suffix(".audio.webm"), begin, length)
            tracks.append(_owned(track, pub.user_id, index))
    return Recording(
        recorder_id=str(uuid.uuid4()),
        conversation_id=conversation_id,
        organization_id=organization_id,
        started=started,
        stopped=started + seconds,
        finished=True,
        agent_id=agent_id or (publishers[0].user_id if publishers else None),
        audio=any(p.audio for p in publishers),
        video=any(p.video for p in publishers),
        tracks=tuple(tracks),
    )


def _owned(track: RecordedTrack, user_id: str, index: int) -> RecordedTrack:
    return RecordedTrack(
        track.kind,
        track.path,
        track.started,
        track.stopped,
        user_id,
        f"stream-{index}",
        track.codec,
    )


@dataclass
class FileRecordings:
    """A `RecordingSource` over recordings a test made (and can add to, or mark unfinished)."""

    recordings: dict[str, list[Recording]] = field(default_factory=dict)

    def add(self, recording: Recording) -> None:
        self.recordings.setdefault(recording.conversation_id, []).append(recording)

    def recordings_for(self, conversation_id: str) -> Sequence[Recording]:
        return tuple(self.recordings.get(conversation_id, ()))
