"""What a scenario stream sends, from its `source`, `resolution`, `fps`, `bitrate` and
`codec`: its `SourceProfile`, which the run's `MediaSources` turns into tracks (shared by the
streams of one profile unless the stream says `encoder: own`).

Synthetic video carries the timecode and synthetic audio the timing marks, so viewers can
measure the end-to-end delay; still images get the timecode band for the same reason. A
synthetic camera is a `SwitchableCamera`, so camera requests have something to switch."""

from __future__ import annotations

from pathlib import Path

from agent.participant.sources import DEFAULT_VIDEO_BITRATE, SourceKind, SourceProfile
from agent.scenario.model import StreamSpec, StreamType
from agent.webrtc.factory import VideoCodec

__all__ = ["DEFAULT_FPS", "DEFAULT_RESOLUTION", "profile_of", "video_codecs"]

DEFAULT_RESOLUTION = (640, 360)
DEFAULT_FPS = 30.0
DEFAULT_STILL_FPS = 15.0


def _size(spec: StreamSpec) -> tuple[int, int]:
    if spec.resolution is None:
        return DEFAULT_RESOLUTION
    width, height = (int(part) for part in spec.resolution.split("x"))
    return width - width % 2, height - height % 2  # yuv420p needs even sizes


def profile_of(spec: StreamSpec, base: Path) -> SourceProfile:
    """The profile of `spec`; relative file sources resolve against `base`, the scenario
    file's folder."""
    kind: SourceKind
    path = None
    still = False
    if spec.is_image:
        kind, path, still = "image", (base / spec.source).resolve(), True
    elif spec.is_file:
        kind, path = "file", (base / spec.source).resolve()
    elif spec.source in ("black", "silence"):
        kind, still = "black" if spec.source == "black" else "silence", True
    elif spec.type in (StreamType.CAM, StreamType.MIC_AND_CAM):
        kind = "camera"  # a phone-like camera: camera requests can switch it, torch it
    else:
        kind = "synthetic"
    width, height = _size(spec)
    return SourceProfile(
        kind=kind,
        path=path,
        width=width,
        height=height,
        fps=spec.fps or (DEFAULT_STILL_FPS if still else DEFAULT_FPS),
        video_bitrate=int(spec.bitrate) if spec.bitrate is not None else DEFAULT_VIDEO_BITRATE,
        codec=video_codecs([spec])[0],
    )


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
