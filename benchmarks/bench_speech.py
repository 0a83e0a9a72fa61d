"""Issue "Speech" figures: how many concurrently transcribed streams one core carries with the
default engine (PocketSphinx), and the word error rate on the example's sentences through the
local platform.

streams: N streams of espeak-ng speech (sentences with 1 s pauses, about 70% speech) fed in
real time to one `Transcriber` with ONE worker process (one core's worth of recogniser); for
each N: the worker's CPU per stream, transcript latency (end of speech to text) p50/p95 and
spurts dropped by the bounded queues. One core carries N streams while the worker is below
100% and the latency stays flat.

wer: `--runs` calls on the embedded platform; a caller says the sentences, a bot transcribes.

    .venv/bin/python benchmarks/bench_speech.py --streams 1 2 3 4 --seconds 30 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.api.auth import ClientCredentials
from agent.api.models import ConferenceStreamType, CreateConferenceWebCommand
from agent.participant import Participant, Reception, ViewPolicy
from agent.webrtc.host_addresses import LOOPBACK, use_host_addresses
from media.speech import SpeechTrack, synthesize
from media.transcription import Transcriber
from media.transcription.checks import Reference, score_utterances, word_error_rate
from server.embedded import EmbeddedServer

SENTENCES = [
    "Please call me back tomorrow morning.",
    "The meeting starts at ten o'clock.",
    "I would like to order a large pizza.",
]
MORE = [
    "What time does the train leave for the city?",
    "Thank you very much for your help today.",
    "The weather will be sunny this afternoon.",
]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def streams_row(count: int, seconds: float) -> dict[str, float]:
    said = [synthesize(sentence, sample_rate=16_000) for sentence in SENTENCES + MORE]
    speech = [(samples * 32767).astype(np.int16) for samples in said]
    pause = np.zeros(16_000, np.int16)
    async with Transcriber(workers=1) as transcriber:
        streams = [transcriber.stream(f"s{index}") for index in range(count)]

        async def talk(index: int) -> None:
            order = itertools.cycle(speech[index % len(speech) :] + speech[: index % len(speech)])
            audio = np.concatenate([x for s in itertools.islice(order, 40) for x in (s, pause)])
            await asyncio.sleep(index * 0.37)  # not all in step
            start = time.monotonic()
            for at in range(0, int(seconds * 16_000), 320):
                due = start + (at + 320) / 16_000
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                streams[index](audio[at : at + 320], time.time())

        began = time.monotonic()
        await asyncio.gather(*(talk(index) for index in range(count)))
        wall = time.monotonic() - began
    segments = [s for stream in streams for s in stream.segments]
    cpu = sum(stream.stats.cpu_s for stream in streams)
    audio = sum(stream.stats.audio_s for stream in streams)
    latencies = [s.latency for s in segments]
    return {
        "streams": count,
        "worker_pct": 100 * cpu / wall,
        "per_stream_pct": 100 * cpu / wall / count,
        "rtf": cpu / audio if audio else float("nan"),
        "latency_p50": percentile(latencies, 50),
        "latency_p95": percentile(latencies, 95),
        "dropped": sum(stream.stats.dropped for stream in streams),
        "spurts": sum(stream.stats.spurts for stream in streams),
    }


async def wer_run(lines: list[str]) -> tuple[float | None, list[float], list[float]]:
    async with EmbeddedServer() as platform:
        login = ClientCredentials(platform.client.client_id, platform.client.secret)
        async with Transcriber() as transcriber:
            policy = ViewPolicy(audio=Reception.DECODE, pcm_per_stream=transcriber.stream)
            caller = Participant(platform.base_url, login, name="caller")
            bot = Participant(platform.base_url, login, name="bot", view_policy=policy)
            async with caller, bot:
                conference = await caller.api.conferences.create(CreateConferenceWebCommand())
                assert conference.id is not None
                await caller.join(conference.id)
                microphone = SpeechTrack()
                await caller.publish(ConferenceStreamType.MIC, {"audio": microphone})
                await bot.join(conference.id)
                await asyncio.sleep(1.5)
                said = await microphone.say_lines(lines, pause=1.0)
                await asyncio.sleep(1.0)
                microphone.stop()
    segments = [s for stream in transcriber.streams.values() for s in stream.segments]
    references = [Reference(u.text, u.start or 0, u.end or 0) for u in said]
    onsets = [
        seg.start - u.start
        for u in said
        for seg in segments
        if u.start is not None and abs(seg.start - u.start) < 1.0
    ]
    scored = score_utterances(references, segments)
    return word_error_rate(scored), [s.latency for s in segments], onsets


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--streams", type=int, nargs="*", default=[1, 2, 3, 4])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3, help="calls for the word error rate")
    args = parser.parse_args()
    use_host_addresses(LOOPBACK, subprocesses=True)
    print(f"load before: {os.getloadavg()}")
    print("| streams | worker CPU | per stream | CPU s per audio s | latency p50 | p95 | dropped |")
    print("|---|---|---|---|---|---|---|")
    for count in args.streams:
        r = await streams_row(count, args.seconds)
        print(
            f"| {count} | {r['worker_pct']:.0f}% | {r['per_stream_pct']:.1f}% | {r['rtf']:.2f} |"
            f" {r['latency_p50']:.2f} s | {r['latency_p95']:.2f} s |"
            f" {r['dropped']:.0f}/{r['spurts']:.0f} |",
            flush=True,
        )
    for lines, label in ((SENTENCES, "example"), (SENTENCES + MORE, "six sentences")):
        for run in range(args.runs):
            wer, latencies, onsets = await wer_run(lines)
            print(
                f"wer {label} run {run + 1}: {wer:.3f}; transcript latency median"
                f" {statistics.median(latencies):.2f} s; segment start - said start median"
                f" {statistics.median(onsets) * 1000:.0f} ms",
                flush=True,
            )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
