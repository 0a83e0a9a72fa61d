"""Snapshots and camera requests: the target that answers them like a phone, the requester
that sends them and checks what comes back, and the viewer-side camera watcher."""

from agent.snapshot.policy import ResponseAction, ResponsePolicy
from agent.snapshot.requester import (
    CameraRequestResult,
    Endpoint,
    EndpointRef,
    SnapshotRequester,
    SnapshotResult,
)
from agent.snapshot.target import CameraRefused, SnapshotTarget, TargetParticipant
from agent.snapshot.watch import CameraWatcher, StateSeen
from media.capture import FrameTap, ImageFormat, SentFrame, encode_image, image_format_for

__all__ = [
    "CameraRefused",
    "CameraRequestResult",
    "CameraWatcher",
    "Endpoint",
    "EndpointRef",
    "FrameTap",
    "ImageFormat",
    "ResponseAction",
    "ResponsePolicy",
    "SentFrame",
    "SnapshotRequester",
    "SnapshotResult",
    "SnapshotTarget",
    "StateSeen",
    "TargetParticipant",
    "encode_image",
    "image_format_for",
]
