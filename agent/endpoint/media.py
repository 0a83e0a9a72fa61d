"""What an endpoint sends: one camera (two with `second_camera`, for CAMERA_SWITCH) behind a
`SwitchableCamera`, whose torch FLASH_ON brightens, and a microphone.

The tracks live as long as the endpoint: each call (and each resume) publishes the same
ones, so a switched camera stays switched across a platform restart."""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import MediaStreamTrack

from agent.endpoint.model import AudioSource, PublishSpec, VideoSource
from media.audio import SilenceTrack, SyntheticAudioTrack
from media.camera import SwitchableCamera
from media.capture import FrameTap
from media.device import DeviceAudioTrack, DeviceCapture, DeviceVideoTrack
from media.video import PacedVideoTrack, StillImageTrack, SyntheticVideoTrack

__all__ = ["EndpointMedia", "open_media"]


@dataclass
class EndpointMedia:
    tracks: dict[str, MediaStreamTrack]
    """kind -> track, as `Participant.publish` takes them."""
    tap: FrameTap | None
    """The camera's frames as sent: what a snapshot shows, and what camera requests change."""

    @property
    def camera(self) -> SwitchableCamera | None:
        source = self.tap.source if self.tap is not None else None
        return source if isinstance(source, SwitchableCamera) else None

    def devices(self) -> list[DeviceCapture]:
        """The capture devices read (their state goes to `/readyz` and the metrics)."""
        tracks = [*self.tracks.values(), *(self.camera.cameras if self.camera else [])]
        return [t.capture for t in tracks if isinstance(t, DeviceVideoTrack | DeviceAudioTrack)]

    def stop(self) -> None:
        for track in self.tracks.values():
            track.stop()
        camera = self.camera
        if camera is not None:
            camera.stop()
            for source in camera.cameras:
                source.stop()


def _camera(source: VideoSource, width: int, height: int, fps: float) -> PacedVideoTrack:
    if source == "synthetic":
        return SyntheticVideoTrack(width, height, fps)
    if source == "black":
        return StillImageTrack.black(width, height, fps)
    return DeviceVideoTrack(source.format, source.device, source.options, width, height, fps)


def _microphone(source: AudioSource) -> MediaStreamTrack:
    if source == "synthetic":
        return SyntheticAudioTrack(marks=True)
    if source == "silence":
        return SilenceTrack()
    return DeviceAudioTrack(source.format, source.device, source.options)


def open_media(spec: PublishSpec, torch: bool) -> EndpointMedia:
    """The tracks `spec` describes (devices open when first read, not here)."""
    tracks: dict[str, MediaStreamTrack] = {}
    tap = None
    if spec.has_video:
        width, height = spec.size
        sources = [spec.camera] + ([spec.second_camera] if spec.second_camera else [])
        cameras = [_camera(source, width, height, spec.fps) for source in sources]
        tap = FrameTap(SwitchableCamera(cameras, torch=torch, fps=spec.fps))
        tracks["video"] = tap
    if spec.has_audio:
        tracks["audio"] = _microphone(spec.microphone)
    return EndpointMedia(tracks, tap)
