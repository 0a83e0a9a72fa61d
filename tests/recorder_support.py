"""Helpers for the recorder tests: seed 004 calls as a plain HTTP client makes them, and
reading back what was recorded with PyAV."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from server.composition.recordings import RecordedTrack, Recording
from server.embedded import EmbeddedServer
from server.recorder.store import recordings_for
from server.storage import STORAGE_KEY
from tests.platform_support import PlatformUser

BASE = "/rtc-recorder/api"


def triple_path(event: dict[str, Any]) -> str:
    return (
        f"{BASE}/recordings/{event['conversationId']}/{event['recorderId']}/{event['instanceId']}"
    )


async def start_recording(
    user: PlatformUser, conference_id: str, conversation_id: str = "conv-1", **fields: Any
) -> dict[str, Any]:
    body = {
        "applicationId": "app-1",
        "conferenceId": conference_id,
        "conversationId": conversation_id,
        **fields,
    }
    event: dict[str, Any] = await user.call("POST", f"{BASE}/recordings/start", json=body)
    return event


async def wait_state(
    user: PlatformUser, event: dict[str, Any], state: str, within: float = 10.0
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        current: dict[str, Any] = await user.call("GET", f"{triple_path(event)}/state")
        if current["state"] == state:
            return current
        assert loop.time() < deadline, f"recorder still {current['state']}, not {state}"
        await asyncio.sleep(0.05)


def recordings(server: EmbeddedServer, conversation_id: str) -> list[Recording]:
    return recordings_for(server.app[STORAGE_KEY], conversation_id)


@dataclass
class Decoded:
    codec: str
    frames: int
    seconds: float
    """From the first to the last frame's time."""
    width: int | None = None


def decode(path: Path) -> Decoded:
    """Every frame of a track file, decoded (a file that does not decode fails the test)."""
    with av.open(str(path)) as container:
        stream = container.streams[0]
        times = []
        width = None
        for frame in container.decode(stream):
            assert isinstance(frame, av.VideoFrame | av.AudioFrame) and frame.time is not None
            times.append(frame.time)
            if isinstance(frame, av.VideoFrame):
                width = frame.width
        return Decoded(stream.codec_context.name, len(times), max(times) - min(times), width)


def published_seconds(track: RecordedTrack) -> float:
    assert track.published_from is not None and track.published_to is not None
    return track.published_to - track.published_from
