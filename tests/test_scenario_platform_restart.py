"""A scenario run whose platform is killed mid-call and restarted (issue 15): the run fails,
and what it says holds. Nothing is mocked: `auvious-agent serve` is its own process, killed
with SIGKILL and started again on its port and data directory; `auvious-agent run --server`
runs the call as a user would, with real peer connections on loopback.

The participants come back (re-register, rejoin, publish again): the platform gives their
streams new ids. A run read the views of the new ids as belonging to no published stream, and
reported no media from the kill to the end of the run although it flowed again."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from server.config import DEV_SECRET_FILE
from tests.serve_support import serve_process

pytestmark = [pytest.mark.serial, pytest.mark.timeout(240)]  # a real 30 s call, timed

CLI = Path(sys.executable).parent / "auvious-agent"

SCENARIO = """\
name: killed-call
participants:
  - name: agent
    publish: [{type: MIC_AND_CAM, resolution: 320x240, fps: 15}]
    timeline: &call
      - {do: register, keep_alive: 3s}    # a lost registration is found within seconds
      - do: join
      - do: publish
      - do: view
      - {do: sleep, duration: 28s}
      - do: leave
      - do: unregister
  - name: customer
    role: customer
    publish: [{type: MIC_AND_CAM, resolution: 320x240, fps: 15}]
    timeline: *call
expect:
  media_gap: {max: "< 500ms"}     # a restart takes longer: the run fails
  conditions: [every_viewer_received_every_publisher]
"""


async def _lines_until(stream: asyncio.StreamReader, text: str, seen: list[str]) -> None:
    while text not in (line := (await stream.readline()).decode()):
        assert line, f"the run ended before {text!r}: {seen}"
        seen.append(line)


async def test_a_call_whose_platform_restarted_fails_and_counts_the_media_that_came_back(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "killed.yaml"
    scenario.write_text(SCENARIO)
    data, report = tmp_path / "data", tmp_path / "report"
    async with serve_process("--data-dir", str(data)) as (url, _, first):
        env = {**os.environ, "AUVIOUS_CLIENT_SECRET": (data / DEV_SECRET_FILE).read_text().strip()}
        run = await asyncio.create_subprocess_exec(
            *(str(CLI), "run", str(scenario), "--server", url, "--client-id", "dev"),
            *("--report", str(report)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        assert run.stdout is not None
        out: list[str] = []
        await _lines_until(run.stdout, "flowing 2/2", out)  # media flows both ways
        first.kill()
        await first.wait()
        port = str(urlsplit(url).port)
        async with serve_process("--data-dir", str(data), "--port", port):
            out.append((await run.stdout.read()).decode())
            await run.wait()
    text = "".join(out)
    assert run.returncode == 1, text
    assert "FAIL media_gap max < 500ms" in text

    found: dict[str, Any] = json.loads((report / "report.json").read_text())
    streams = [(p["name"], s) for p in found["participants"] for s in p["streams"]]
    published = {name: s for name, s in streams if s["direction"] == "publish"}
    for name, stream in published.items():  # one record, under its ids before and after
        assert len(stream["earlier_ids"]) == 1, (name, stream)
        assert stream["stream_id"] not in stream["earlier_ids"]
    raw = {p["name"]: p for p in found["result"]["participants"]}
    bounds = []
    for name, stream in published.items():  # as its viewer received it, before and after
        viewer = next(other for other in raw if other != name)
        views = [s for s in raw[viewer]["streams"] if s["direction"] == "view"]
        [old] = [s for s in views if s["stream_id"] in stream["earlier_ids"]]
        [new] = [s for s in views if s["stream_id"] == stream["stream_id"]]
        stopped = max(sample["t"] for sample in old["fps"] if sample["value"] > 0)
        flowing = [sample["t"] for sample in new["fps"] if sample["value"] > 0]
        assert flowing[-1] - flowing[0] >= 5.0, "media flowed again for a while"
        bounds.append(new["started_at"] - stopped + 1.5)
    # The stop lasted from the kill until the participants were back, not to the end.
    [gap] = [e for e in found["expectations"] if e["metric"] == "media_gap"]
    assert 0.5 < gap["measured"] < max(bounds), (gap, bounds)
