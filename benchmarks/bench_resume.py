"""Platform restart recovery (issue 16): the local platform (`auvious-agent serve`, its own
process) is killed with SIGKILL mid-call and started again on the same port and data
directory, `--restarts` times. A call of two participants (each publishing a small VP8 camera
and viewing the other's) must come back by itself each time: re-register, event channel,
`GET /conferences/active`, rejoin, republish, view again. The figure per restart is from the
moment the restarted platform prints its address (it answers) until both participants publish
and receive fresh video frames again.

    .venv/bin/python benchmarks/bench_resume.py --restarts 10
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.api.models import ConferenceStreamType
from agent.scenario.metrics import percentile
from agent.webrtc import seams
from agent.webrtc.host_addresses import LOOPBACK, use_host_addresses
from server.config import DEV_SECRET_FILE
from tests.resume_support import dev_participant, media_flowing, start_call
from tests.serve_support import serve_process

CAM = ConferenceStreamType.CAM
BOUND = 60.0
SERVE: dict[str, Any] = {"startup_timeout": 90.0, "stderr": Path("/tmp/bench_resume_serve.log")}


async def run(restarts: int, keep_alive: int) -> list[float]:
    seams.install()
    use_host_addresses(LOOPBACK, subprocesses=True)
    recoveries: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
        data = str(Path(tmp) / "data")
        async with AsyncExitStack() as servers:
            first = serve_process("--data-dir", data, **SERVE)
            url, _, process = await servers.enter_async_context(first)
            secret = (Path(data) / DEV_SECRET_FILE).read_text().strip()
            async with AsyncExitStack() as people_stack:
                people = []
                for name in ("kiosk", "agent"):
                    person = dev_participant(url, secret, name, keep_alive)
                    people.append(await people_stack.enter_async_context(person))
                await start_call(people, BOUND)
                port = str(urlsplit(url).port)
                for n in range(restarts):
                    process.kill()
                    await process.wait()
                    again = serve_process("--data-dir", data, "--port", port, **SERVE)
                    _, _, process = await servers.enter_async_context(again)
                    answering = time.monotonic()
                    for person in people:
                        await media_flowing(person, BOUND)
                    recoveries.append(time.monotonic() - answering)
                    print(f"restart {n + 1}: both back in {recoveries[-1]:.2f} s", flush=True)
                resumes = [r for p in people for r in p.timeline.find("resume")]
                print(
                    f"resume records: {len(resumes)}, all ok: {all(r.ok for r in resumes)}, "
                    f"seconds_to_media p95 "
                    f"{percentile([r.details['seconds_to_media'] for r in resumes], 95):.2f} s"
                )
    return recoveries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--restarts", type=int, default=10)
    parser.add_argument("--keep-alive", type=int, default=2, help="keepAliveSeconds (default 2)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the faults make every retry warn
    print(f"load average before: {os.getloadavg()}")
    values = asyncio.run(run(args.restarts, args.keep_alive))
    print(
        f"recovery after the platform answers: p50 {percentile(values, 50):.2f} s, "
        f"p95 {percentile(values, 95):.2f} s, max {max(values):.2f} s ({len(values)} restarts)"
    )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
