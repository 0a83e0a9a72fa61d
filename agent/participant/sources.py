"""What participants send: the one place a published stream's tracks come from.

Streams of one `SourceProfile` in a process send the same picture and sound, so by default
they share it: one rendered source per kind, one encoder (`media.fanout.SharedEncoder` for
video, `media.opus_fanout.SharedOpusEncoder` for audio), and each sender only packetizes
(`agent.webrtc.rtp_push`, through `Publisher`). N participants of one profile cost one
encode instead of N. The picture keeps its timecode, so viewers still measure the delay,
and the camera's frames go through one `FrameTap`, so a snapshot shows the frame that was
sent.

A participant whose picture or sound must differ from the others' (muted, a camera switched
or its torch on) diverges: `SentMedia.own(kind)` gives that kind its own source and its own
encoder (aiortc's, in the sender) from then on, and the others go on sharing. `own=True` at
`open` starts a stream that way (a scenario's `encoder: own`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from aiortc import MediaStreamTrack

from agent.participant.publisher import Publisher
from agent.webrtc.factory import VideoCodec
from media.audio import SilenceTrack, SyntheticAudioTrack
from media.camera import SwitchableCamera
from media.capture import FrameTap
from media.fanout import PacketQueueTrack, SharedEncoder
from media.mute import MutableTrack
from media.opus_fanout import SharedOpusEncoder
from media.player import FilePlayer
from media.video import StillImageTrack, SyntheticVideoTrack

__all__ = ["DEFAULT_VIDEO_BITRATE", "MediaSources", "SentMedia", "SourceKind", "SourceProfile"]

SourceKind = Literal["synthetic", "camera", "black", "silence", "image", "file"]
DEFAULT_VIDEO_BITRATE = 800_000
"""A shared encoder's bitrate when the stream names none (a 640x360@30 camera's)."""
UNPUSH_TIMEOUT = 2.0
"""How long a diverging sender may take to leave the shared packets (one frame, normally)."""
PUSH_POLL = 0.01


@dataclass(frozen=True, slots=True)
class SourceProfile:
    """What a stream sends, as far as sharing goes: equal profiles, same media.

    `kind`: `synthetic` (timecoded pattern; speech-like sound with timing marks), `camera`
    (the same, as a `SwitchableCamera` that camera requests can switch), `black` (and silent
    audio),
    `silence` (and black video), `image` (`path`, with the timecode band) or `file` (`path`,
    looped)."""

    kind: SourceKind = "synthetic"
    path: Path | None = None
    width: int = 640
    height: int = 360
    fps: float = 30.0
    video_bitrate: int = DEFAULT_VIDEO_BITRATE
    codec: VideoCodec = "VP8"

    def __post_init__(self) -> None:
        if self.kind in ("image", "file") and self.path is None:
            raise ValueError(f"a {self.kind} source needs a path")

    def video(self) -> MediaStreamTrack:
        """A fresh video source of this profile (decoded frames)."""
        width, height, fps = self.width, self.height, self.fps
        match self.kind:
            case "black" | "silence":
                return StillImageTrack.black(width, height, fps)
            case "image":
                assert self.path is not None
                return StillImageTrack(self.path, fps, timecode_on=True)
            case "camera":
                return SwitchableCamera.synthetic(width=width, height=height, fps=fps)
            case "file":
                return _file_track(self.path, "video")
        return SyntheticVideoTrack(width, height, fps)

    def audio(self) -> MediaStreamTrack:
        """A fresh audio source of this profile (decoded frames)."""
        match self.kind:
            case "black" | "silence":
                return SilenceTrack()
            case "file":
                return _file_track(self.path, "audio")
        return SyntheticAudioTrack(marks=True, speech=True)

    def audio_key(self) -> tuple[object, ...]:
        """Streams whose audio is the same whatever their video is."""
        if self.kind in ("black", "silence"):
            return ("silence",)
        if self.kind == "file":
            return ("file", self.path)
        return ("marks",)


def _file_track(path: Path | None, kind: str) -> MediaStreamTrack:
    assert path is not None
    player = FilePlayer(path)
    track = player.audio if kind == "audio" else player.video
    if track is None:
        raise ValueError(f"{path} has no {kind}")
    other = player.video if kind == "audio" else player.audio
    if other is not None:
        other.stop()
    return track


@dataclass
class _SharedVideo:
    tap: FrameTap
    encoder: SharedEncoder


@dataclass
class SentMedia:
    """The tracks of one published stream, shared or its own, kind by kind."""

    sources: MediaSources
    profile: SourceProfile
    tracks: dict[str, MediaStreamTrack]
    """What `Participant.publish` sends (kind -> track)."""
    tap: FrameTap | None
    """The video frames as sent (shared with the profile's other streams while shared)."""
    own_tracks: dict[str, MutableTrack] = field(default_factory=dict)
    """The kinds with their own source, mutable like a browser's tracks."""

    def shared(self, kind: str) -> bool:
        return kind in self.tracks and kind not in self.own_tracks

    async def own(self, kind: str, publisher: Publisher | None) -> MutableTrack:
        """This stream's own `kind` from now on (a no-op if it has it already): its own
        source and encoder, so it can change without changing the others'. `publisher`,
        the stream published now, switches its sender to it."""
        found = self.own_tracks.get(kind)
        if found is not None:
            return found
        if kind not in self.tracks:
            raise ValueError(f"this stream sends no {kind}")
        own, tap = self.sources.own_track(self.profile, kind)
        old = self.tracks[kind]
        self.tracks[kind] = self.own_tracks[kind] = own
        if tap is not None:
            self.tap = tap
        if publisher is not None:
            publisher.replace_track(kind, own)
            await _released(old)
        old.stop()
        return own

    def stop(self) -> None:
        """Stop sending: unsubscribe from the shared encoders, stop own sources."""
        for track in self.tracks.values():
            track.stop()  # a shared subscription ends; an own track stops its source too


async def _released(track: MediaStreamTrack) -> None:
    """Until no sender takes `track`'s packets by push any more (it sees the replacement at
    the next packet); stopping it before would end the sender with it."""
    if not isinstance(track, PacketQueueTrack):
        return
    deadline = asyncio.get_running_loop().time() + UNPUSH_TIMEOUT
    while track.pushed and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(PUSH_POLL)  # the push ends in rtp_push, which has no event to wait


class MediaSources:
    """The sources and shared encoders of one process (a run, a crowd); `close()` ends them."""

    def __init__(self) -> None:
        self._video: dict[SourceProfile, _SharedVideo] = {}
        self._audio: dict[tuple[object, ...], SharedOpusEncoder] = {}
        self.own_encoders = 0
        """Streams (kinds) that got their own source and encoder, for the run's figures."""

    @property
    def video_encoders(self) -> list[SharedEncoder]:
        return [shared.encoder for shared in self._video.values()]

    @property
    def audio_encoders(self) -> list[SharedOpusEncoder]:
        return list(self._audio.values())

    def open(
        self, profile: SourceProfile, kinds: tuple[str, ...], *, own: bool = False
    ) -> SentMedia:
        """The tracks for one more stream of `profile` carrying `kinds`."""
        sent = SentMedia(self, profile, {}, None)
        try:
            for kind in kinds:
                if own:
                    track, tap = self.own_track(profile, kind)
                    sent.tracks[kind] = sent.own_tracks[kind] = track
                    sent.tap = tap or sent.tap
                elif kind == "video":
                    sent.tracks[kind] = self.shared_video(profile).subscribe()
                    sent.tap = self._video[profile].tap
                else:
                    sent.tracks[kind] = self.shared_audio(profile).subscribe()
        except BaseException:
            sent.stop()
            raise
        return sent

    def own_track(self, profile: SourceProfile, kind: str) -> tuple[MutableTrack, FrameTap | None]:
        """A fresh source of `kind` for one stream alone (the sender encodes it), and the tap
        its video frames go through."""
        source = profile.video() if kind == "video" else profile.audio()
        tap = FrameTap(source) if kind == "video" else None
        self.own_encoders += 1
        return MutableTrack(tap or source), tap

    def shared_video(self, profile: SourceProfile) -> SharedEncoder:
        """The encoder every stream of `profile` sends the video of (its source's frames go
        through a `FrameTap`: the frames sent, for snapshots)."""
        shared = self._video.get(profile)
        if shared is None:
            tap = FrameTap(profile.video())
            encoder = SharedEncoder(tap, profile.codec, profile.video_bitrate)
            shared = self._video[profile] = _SharedVideo(tap, encoder)
        return shared.encoder

    def shared_audio(self, profile: SourceProfile) -> SharedOpusEncoder:
        """The Opus encoder every stream of `profile`'s audio (see `audio_key`) sends."""
        key = profile.audio_key()
        encoder = self._audio.get(key)
        if encoder is None:
            encoder = self._audio[key] = SharedOpusEncoder(profile.audio())
        return encoder

    def close(self) -> None:
        """Stop every shared encoder and source (the streams' own sources stop with them)."""
        for shared in self._video.values():
            shared.encoder.close()
            shared.tap.stop()
        for audio in self._audio.values():
            audio.close()
            audio.source.stop()
        self._video.clear()
        self._audio.clear()
