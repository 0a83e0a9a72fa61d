"""Transcript files: JSON (segments, words, latencies, wall-clock and call-relative times) and
WebVTT (the segments as cues, times from the start of the call)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from media.transcription.stream import Segment


def vtt_time(seconds: float) -> str:
    """`HH:MM:SS.mmm`, as WebVTT wants it (negative times clamp to zero)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def webvtt(segments: Sequence[Segment], origin: float, speaker: str | None = None) -> str:
    cues = ["WEBVTT", ""]
    for index, segment in enumerate(segments, 1):
        text = segment.text.replace("-->", "->")
        cues += [
            str(index),
            f"{vtt_time(segment.start - origin)} --> {vtt_time(segment.end - origin)}",
            f"<v {speaker}>{text}" if speaker else text,
            "",
        ]
    return "\n".join(cues)


def write_transcript(
    directory: Path,
    name: str,
    segments: Sequence[Segment],
    origin: float,
    *,
    speaker: str | None = None,
    engine: str | None = None,
    extra: dict[str, object] | None = None,
) -> tuple[Path, Path]:
    """Write `<name>.transcript.json` and `<name>.vtt` in `directory`; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"{name}.transcript.json"
    vtt_path = directory / f"{name}.vtt"
    record: dict[str, object] = {
        "stream": name,
        "speaker": speaker,
        "engine": engine,
        "origin": round(origin, 3),
        "segments": [segment.as_record(origin) for segment in segments],
    }
    record.update(extra or {})
    json_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    vtt_path.write_text(webvtt(segments, origin, speaker), encoding="utf-8")
    return json_path, vtt_path
