"""What one render needs, on the output timeline: built from the recordings by the service,
written as JSON for the child process, read back by `render`.

Recordings become consecutive segments (gaps between them are skipped); a track's times are
moved onto that timeline, so the renderer knows nothing of wall clocks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # the render child reads jobs without importing the platform's side
    from server.composition.recordings import Recording, TrackKind

OutputType = Literal["VIDEO", "AUDIO"]
DEFAULT_FPS = 15


@dataclass(frozen=True, slots=True)
class JobTrack:
    kind: TrackKind
    path: str
    origin: float
    """Output time of the file's first frame."""
    start: float
    """Shown / heard from here (output seconds) ..."""
    end: float
    """... until here."""
    user_id: str = ""


@dataclass(frozen=True, slots=True)
class RenderJob:
    output: str
    type: OutputType
    duration: float
    width: int = 320
    height: int = 240
    fps: int = DEFAULT_FPS
    tracks: list[JobTrack] = field(default_factory=list)

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))

    @classmethod
    def load(cls, path: Path) -> RenderJob:
        data: dict[str, Any] = json.loads(path.read_text())
        tracks = [JobTrack(**t) for t in data.pop("tracks")]
        return cls(**data, tracks=tracks)


def kinds_for(output: OutputType) -> frozenset[TrackKind]:
    """What an output is made of: VIDEO of the video and audio tracks, AUDIO of the audio."""
    both: frozenset[TrackKind] = frozenset({"audio", "video"})
    return both if output == "VIDEO" else frozenset({"audio"})


def timeline(
    recordings: Sequence[Recording], kinds: frozenset[TrackKind]
) -> tuple[float, list[JobTrack]]:
    """The total duration and the tracks of `kinds` in the order they start showing, the
    recordings laid end to end in the order they started."""
    offset = 0.0
    tracks: list[JobTrack] = []
    for recording in sorted(recordings, key=lambda r: r.started):
        length = max(0.0, recording.end - recording.started)
        for track in recording.tracks:
            if track.kind not in kinds:
                continue
            origin = offset + track.started - recording.started
            start = max(offset, offset + track.shown_from - recording.started)
            end = min(offset + length, offset + track.shown_to - recording.started)
            if end > start:
                tracks.append(
                    JobTrack(track.kind, str(track.path), origin, start, end, track.user_id)
                )
        offset += length
    tracks.sort(key=lambda t: t.start)  # the GRID order: who started first comes first
    return offset, tracks
