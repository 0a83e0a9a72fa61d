"""A run of the density profile as a worker job: participants in conferences of two, each
publishing one stream and viewing the other's, sharded by conference so a pair never spans
two processes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr

from agent.api.auth import ClientCredentials
from agent.api.models import ConferenceStreamType
from agent.load.crowd import Crowd
from agent.load.media import SharedMedia
from agent.load.workers import LiveSink, Shard
from agent.scenario.results import RunResult

__all__ = ["PairsJob"]

LIVE_INTERVAL = 1.0


@dataclass(frozen=True)
class PairsJob:
    """`participants` (even) named p0, p1...; pair k (p2k, p2k+1) belongs to shard k mod N.

    Picklable, so a `WorkerPool` can hand it to its processes (the secret travels through
    the pool's pipe, never on a command line)."""

    base_url: str
    client_id: str
    client_secret: SecretStr
    participants: int
    seconds: float
    stream_type: ConferenceStreamType = ConferenceStreamType.MIC_AND_CAM
    width: int = 640
    height: int = 360
    fps: float = 30.0
    video_bitrate: int = 800_000
    arrival_rate: float = 10.0

    def login(self) -> ClientCredentials:
        return ClientCredentials(self.client_id, self.client_secret.get_secret_value())

    async def __call__(self, shard: Shard, live: LiveSink) -> RunResult:
        plan = SharedMedia(
            self.stream_type,
            width=self.width,
            height=self.height,
            fps=self.fps,
            video_bitrate=self.video_bitrate,
        )
        crowd = Crowd(self.base_url, self.login, plan)
        started = datetime.now(UTC)
        origin = time.time()
        try:
            arrivals = []
            for pair in range(self.participants // 2):
                if not shard.owns(pair):
                    continue
                conference = await crowd.create_conference()
                for ordinal in (2 * pair, 2 * pair + 1):
                    arrivals.append(
                        asyncio.create_task(
                            crowd.arrive(conference, f"p{ordinal}", ordinal=ordinal)
                        )
                    )
                    await asyncio.sleep(1 / self.arrival_rate)
            await asyncio.gather(*arrivals)
            deadline = time.monotonic() + self.seconds
            while (left := deadline - time.monotonic()) > 0:
                live(await crowd.live())
                await asyncio.sleep(min(LIVE_INTERVAL, left))
            live(await crowd.live())
            participants = await crowd.participant_results(origin)
        finally:
            await crowd.close()
        return RunResult(
            scenario=f"pairs-{self.participants}",
            started_at=started,
            duration=time.time() - origin,
            participants=participants,
        )
