"""The tracks a scenario stream publishes, from its `source`, `resolution` and `fps`.

Synthetic video carries the timecode and synthetic audio the timing marks, so viewers can
measure the end-to-end delay; still images get the timecode band for the same reason. A
synthetic camera is a `SwitchableCamera`, so camera requests have something to switch."""

from __future__ import annotations

from pathlib import Path

from aiortc import MediaStreamTrack

from agent.scenario.model import StreamSpec, StreamType
from agent.webrtc.factory import VideoCodec, media_kinds
from media.audio import SilenceTrack, SyntheticAudioTrack
from media.camera import SwitchableCamera
from media.player import FilePlayer
from media.video import StillImageTrack, SyntheticVideoTrack

__all__ = ["DEFAULT_FPS", "DEFAULT_RESOLUTION", "stream_tracks", "video_codecs"]

DEFAULT_RESOLUTION = (640, 360)
DEFAULT_FPS = 30.0
DEFAULT_STILL_FPS = 15.0


def _size(spec: StreamSpec) -> tuple[int, int]:
    if spec.resolution is None:
        return DEFAULT_RESOLUTION
    width, height = (int(part) for part in spec.resolution.split("x"))
    return width - width % 2, height - height % 2  # yuv420p needs even sizes


def stream_tracks(spec: StreamSpec, base: Path) -> dict[str, MediaStreamTrack]:
    """Fresh tracks (kind -> track) for one publish of `spec`; the caller stops them.

    Relative file sources resolve against `base`, the scenario file's folder."""
    kinds = media_kinds(spec.type.value)
    tracks: dict[str, MediaStreamTrack] = {}
    if spec.is_file and not spec.is_image:
        player = FilePlayer(base / spec.source)
        for kind in kinds:
            track = player.audio if kind == "audio" else player.video
            if track is None:
                raise ValueError(f"{spec.source} has no {kind} for a {spec.type} stream")
            tracks[kind] = track
        return tracks
    width, height = _size(spec)
    for kind in kinds:
        if kind == "audio":
            silent = spec.source in ("silence", "black")
            tracks[kind] = SilenceTrack() if silent else SyntheticAudioTrack(marks=True)
        elif spec.source == "black":
            tracks[kind] = StillImageTrack.black(width, height, spec.fps or DEFAULT_STILL_FPS)
        elif spec.is_image:
            path = base / spec.source
            tracks[kind] = StillImageTrack(path, spec.fps or DEFAULT_STILL_FPS, timecode_on=True)
        elif spec.type in (StreamType.CAM, StreamType.MIC_AND_CAM):
            # A phone-like camera: camera requests can switch it and turn its torch on.
            fps = spec.fps or DEFAULT_FPS
            tracks[kind] = SwitchableCamera.synthetic(width=width, height=height, fps=fps)
        else:
            tracks[kind] = SyntheticVideoTrack(width, height, spec.fps or DEFAULT_FPS)
    return tracks


def video_codecs(streams: list[StreamSpec]) -> tuple[VideoCodec, ...]:
    """The video codec a participant offers: the first its streams name, else VP8.

    One participant offers one codec list (aiortc negotiates per peer connection, but the
    participant sets it once)."""
    for spec in streams:
        if spec.codec == "H264":
            return ("H264",)
        if spec.codec == "VP8":
            return ("VP8",)
    return ("VP8",)
