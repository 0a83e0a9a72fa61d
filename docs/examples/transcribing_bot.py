"""A bot in a call: it transcribes what it hears (PocketSphinx, offline, in a worker process),
writes the transcript (JSON and WebVTT) and a recording, shows a camera and answers snapshot
requests of it.

Runs on the embedded local platform, with a second participant playing the caller: it says a
few sentences (espeak-ng), publishes a synthetic camera and asks the bot for a snapshot. The
bot's transcript is scored against what the caller said (word error rate):

    .venv/bin/python docs/examples/transcribing_bot.py --out transcripts
    .venv/bin/python docs/examples/transcribing_bot.py --say "Hello there." --say "Goodbye."

Against a real platform, use the bot part alone: `Participant(url, ClientCredentials(...))`.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from aiortc.mediastreams import MediaStreamTrack

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
from media.speech import SpeechTrack
from media.transcription import Transcriber
from media.transcription.checks import Reference, highlighted, score_utterances, word_error_rate
from server.embedded import EmbeddedServer

SENTENCES = [
    "Please call me back tomorrow morning.",
    "The meeting starts at ten o'clock.",
    "I would like to order a large pizza.",
]


def small_camera() -> MediaStreamTrack:
    """A synthetic camera at 320x180, 15 fps: cheap to encode and decode."""
    return synthetic_tracks(ConferenceStreamType.CAM, width=320, height=180, fps=15)["video"]


async def show(transcriber: Transcriber) -> None:
    """Print each transcribed segment as soon as it is available (the stream of results)."""
    async for segment in transcriber.results():
        print(f"[{segment.start - transcriber.origin:6.2f} s] {segment.text}", flush=True)


async def main(lines: list[str], seconds: float, out: Path) -> int:
    use_host_addresses(["127.0.0.1"])  # media stays on this machine
    async with EmbeddedServer() as platform:  # one client 'dev', random secret
        login = (platform.client.client_id, platform.client.secret)
        # The transcriber starts its worker (and model) now, so the first sentence is not late.
        async with Transcriber(out_dir=out) as transcriber:
            printing = asyncio.create_task(show(transcriber))
            listening = ViewPolicy(
                video=Reception.DECODE,  # recording needs decoded media
                audio=Reception.DECODE,
                pcm_per_stream=transcriber.stream,  # each viewed stream gets its own transcript
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
                microphone = SpeechTrack()  # says what it is told; silent in between
                camera_of_caller = small_camera()
                await caller.publish(
                    ConferenceStreamType.MIC_AND_CAM,
                    {"audio": microphone, "video": camera_of_caller},
                )

                await bot.join(conference.id, metadata={"name": "Transcribing bot"})
                # The bot's camera goes through a FrameTap: a snapshot is the frame being sent.
                camera = FrameTap(small_camera())
                await bot.publish(ConferenceStreamType.CAM, {"video": camera})
                async with SnapshotTarget(bot, camera) as answering:
                    await asyncio.sleep(1.0)  # the bot views the caller's stream
                    said = await microphone.say_lines(lines, pause=0.8)
                    await asyncio.sleep(seconds)
                    snapshot = await SnapshotRequester(caller).request(bot, within=10.0)
                measured = await bot.measurements()
                for track in (camera, microphone, camera_of_caller):
                    track.stop()
        await printing  # the results stream ends when the transcriber closes

    segments = [segment for stream in transcriber.streams.values() for segment in stream.segments]
    references = [Reference(u.text, u.start or 0.0, u.end or 0.0) for u in said]
    scores = score_utterances(references, segments)
    for scored in scores:
        print(f"said:  {scored.reference}\nheard: {highlighted(scored)}")
    wer = word_error_rate(scores)
    print(f"word error rate {wer:.2f} over {len(said)} utterances" if wer is not None else "-")
    latencies = sorted(segment.latency for segment in segments)
    if latencies:
        print(f"transcript latency: median {latencies[len(latencies) // 2]:.2f} s")
    for path in transcriber.files:
        print(f"transcript: {path}")
    for viewer in measured.viewers:
        for kind, received in viewer.tracks.items():
            print(f"{kind} from {viewer.stream_id}: {received.frames} frames, {received.recording}")
    round_trip = f"{snapshot.round_trip_s:.3f} s" if snapshot.round_trip_s is not None else "-"
    print(f"snapshot acquired={snapshot.acquired} ({snapshot.mime_type}), round trip {round_trip}")
    print(f"snapshots the bot answered: {len(answering.acquired)}")
    return 0 if snapshot.acquired and segments else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--say", action="append", help="a sentence the caller says (repeat)")
    parser.add_argument("--seconds", type=float, default=1.0, help="listen this long after")
    parser.add_argument("--out", type=Path, default=Path("transcripts"), help="output directory")
    arguments = parser.parse_args()
    lines = arguments.say or SENTENCES
    raise SystemExit(asyncio.run(main(lines, arguments.seconds, arguments.out)))
