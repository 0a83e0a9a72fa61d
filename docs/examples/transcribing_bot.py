"""A bot in a call: it listens (16 kHz PCM, where a transcriber would go), records what it
receives, shows a camera and answers snapshot requests of it.

Runs on the embedded local platform, with a second participant playing the caller (it
publishes a synthetic camera and microphone and asks the bot for a snapshot):

    .venv/bin/python docs/examples/transcribing_bot.py --seconds 5 --out recordings

Against a real platform, use the bot part alone: `Participant(url, ClientCredentials(...))`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agent import (
    ClientCredentials,
    ConferenceStreamType,
    FrameTap,
    Participant,
    Reception,
    SnapshotRequester,
    SnapshotTarget,
    ViewPolicy,
    synthetic_tracks,
    use_host_addresses,
)
from agent.api.models import CreateConferenceWebCommand
from server.embedded import EmbeddedServer


class Transcriber:
    """Stands in for speech-to-text: it gets every decoded audio chunk as 16 kHz mono int16."""

    def __init__(self) -> None:
        self.samples = 0
        self.loud_chunks = 0

    def __call__(self, pcm: npt.NDArray[np.int16], received_at: float) -> None:
        self.samples += len(pcm)
        if pcm.size and np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 300:
            self.loud_chunks += 1

    @property
    def seconds(self) -> float:
        return self.samples / 16_000


async def main(seconds: float, out: Path) -> int:
    use_host_addresses(["127.0.0.1"])  # media stays on this machine
    async with EmbeddedServer() as platform:  # one client 'dev', random secret
        login = (platform.client.client_id, platform.client.secret)
        transcriber = Transcriber()
        listening = ViewPolicy(
            video=Reception.DECODE,  # recording needs decoded media
            audio=Reception.DECODE,
            on_pcm=transcriber,
            record_dir=out,  # one .mp4 and one .wav per viewed stream
        )
        caller = Participant(platform.base_url, ClientCredentials(*login), name="caller")
        bot = Participant(
            platform.base_url, ClientCredentials(*login), name="bot", view_policy=listening
        )
        # Leaving the `async with` leaves the call and unregisters, also on errors.
        async with caller, bot:
            conference = await caller.api.conferences.create(CreateConferenceWebCommand())
            assert conference.id is not None
            await caller.join(conference.id)
            caller_tracks = synthetic_tracks(ConferenceStreamType.MIC_AND_CAM, speech=True)
            await caller.publish(ConferenceStreamType.MIC_AND_CAM, caller_tracks)

            await bot.join(conference.id, metadata={"name": "Transcribing bot"})
            # The bot's camera goes through a FrameTap: a snapshot is the frame being sent.
            camera = FrameTap(synthetic_tracks(ConferenceStreamType.CAM)["video"])
            await bot.publish(ConferenceStreamType.CAM, {"video": camera})
            async with SnapshotTarget(bot, camera) as answering:
                await asyncio.sleep(seconds)
                snapshot = await SnapshotRequester(caller).request(bot, within=10.0)
            measured = await bot.measurements()
            camera.stop()
            for track in caller_tracks.values():
                track.stop()

    print(f"heard {transcriber.seconds:.1f} s of audio, {transcriber.loud_chunks} loud chunks")
    for viewer in measured.viewers:
        for kind, received in viewer.tracks.items():
            print(f"{kind} from {viewer.stream_id}: {received.frames} frames, {received.recording}")
    round_trip = f"{snapshot.round_trip_s:.3f} s" if snapshot.round_trip_s is not None else "-"
    print(f"snapshot acquired={snapshot.acquired} ({snapshot.mime_type}), round trip {round_trip}")
    print(f"snapshots the bot answered: {len(answering.acquired)}")
    return 0 if snapshot.acquired and transcriber.samples else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to listen")
    parser.add_argument("--out", type=Path, default=Path("recordings"), help="recordings dir")
    arguments = parser.parse_args()
    raise SystemExit(asyncio.run(main(arguments.seconds, arguments.out)))
