"""What the composer reads of a conversation's recordings: a small typed interface.

The recorder owns the recordings; the composer needs only, per recording, whether it is
finished, its wall-clock span, and per track its kind, file, codec and the span it covers.
Anything that answers `RecordingSource.recordings_for` can feed the composer: the platform's
recorder, or a directory of files a test wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from aiohttp import web

TrackKind = Literal["audio", "video"]


@dataclass(frozen=True, slots=True)
class RecordedTrack:
    """One recorded track: a file whose first frame was captured at `started` (epoch seconds)
    and whose last at `stopped`; frame times inside the file count from its first frame."""

    kind: TrackKind
    path: Path
    started: float
    stopped: float
    user_id: str = ""
    stream_id: str = ""
    codec: str = ""
    user_endpoint_id: str = ""
    stream_type: str = ""
    """The seed's StreamType (CAM, MIC, SCREEN, UNKNOWN)."""
    container: str = ""
    """"webm" or "matroska" (PyAV opens either without a hint)."""
    recorder_id: str = ""
    published_from: float | None = None
    published_to: float | None = None
    """The interval (epoch seconds) its stream was published while recorded, if known: its
    tile shows from then (black until the first frame) until then (holding the last frame);
    without it, from the first to the last frame."""

    @property
    def shown_from(self) -> float:
        if self.published_from is None:
            return self.started
        return min(self.published_from, self.started)

    @property
    def shown_to(self) -> float:
        return self.stopped if self.published_to is None else max(self.published_to, self.stopped)


@dataclass(frozen=True, slots=True)
class Recording:
    """One recorder session of a conversation."""

    recorder_id: str
    conversation_id: str
    organization_id: str
    started: float
    stopped: float | None
    """None while it records."""
    finished: bool
    """Nothing more will be written (stopped, failed, aborted or recovered)."""
    agent_id: str | None = None
    """Who started it."""
    audio: bool = True
    video: bool = True
    tracks: Sequence[RecordedTrack] = field(default_factory=tuple)

    @property
    def end(self) -> float:
        """Where its segment ends: `stopped`, else the last track's end."""
        if self.stopped is not None:
            return self.stopped
        return max((t.stopped for t in self.tracks), default=self.started)


class RecordingSource(Protocol):
    def recordings_for(self, conversation_id: str) -> Sequence[Recording]:
        """The conversation's recordings (every organization), oldest first."""


class NoRecordings:
    """The source of a platform without a recorder: every conversation is unknown."""

    def recordings_for(self, conversation_id: str) -> Sequence[Recording]:
        return ()


RECORDINGS_KEY = web.AppKey("auvious_recording_source", RecordingSource)
"""Set by the recorder's `setup` (the platform's recordings); absent means `NoRecordings`.
`Compositions.use_source` replaces it at run time (tests)."""
