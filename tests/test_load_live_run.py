"""Live metrics of a scenario run: `RunOptions.metrics_port` serves Prometheus text while
the run goes on (real runner, participants and platform), the shipped Grafana dashboard asks
only for what it serves, and `shard` keeps only the shard's conferences."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from agent.load import Shard
from agent.scenario.loader import load_scenario
from agent.scenario.runner import RunOptions, ScenarioRun
from server.embedded import EmbeddedServer
from tests.distributed_support import free_port, metric_total, metric_value, metric_values
from tests.load_support import calling
from tests.platform_support import CLIENTS

SCENARIO = (
    """
name: live
seed: 3
duration: 9s
phases:
  - duration: 1s
    arrival_count: 2
  - duration: 8s
    arrival_count: 0
participants:
"""
    + calling("a")
    + "    receive: {video: decode, audio: decode}\n"  # delay, PSNR/SSIM and MOS too
    + calling("b")
)
DASHBOARD = Path(__file__).parent.parent / "deploy" / "grafana" / "auvious-agent.json"


def dashboard_metrics() -> dict[str, set[str]]:
    """Each query of the shipped dashboard (panels and variables) -> the metrics it names."""
    board = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    queries += [v["definition"] for v in board["templating"]["list"] if v["type"] == "query"]
    return {query: set(re.findall(r"\bauvious_agent_\w+", query)) for query in queries}


def served_names(text: str) -> set[str]:
    """The sample names of Prometheus text (`_total`, `_bucket`... as they are scraped)."""
    from prometheus_client.parser import text_string_to_metric_families

    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str) -> float:
    """The samples `name` (with at least these labels: every series also has `run`,
    `scenario` and `phase`) summed over the scenario's groups (`group`: a and b here)."""
    found = metric_total(text, name)
    assert found is not None, f"{name} not in:\n{text}"
    return found


def options(server: EmbeddedServer, **changes: object) -> RunOptions:
    fields: dict[str, object] = {
        "server_url": server.base_url,
        "client_id": "agent1",
        "client_secret": SecretStr(CLIENTS["agent1"][1]),
        "quiet": True,
    }
    fields.update(changes)
    return RunOptions(**fields)  # type: ignore[arg-type]


@pytest.mark.serial  # fps must show up in the live metrics
async def test_metrics_are_served_during_the_run_and_the_dashboard_asks_for_them(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    path = tmp_path / "live.yaml"
    path.write_text(SCENARIO)
    port = free_port()
    run = ScenarioRun(load_scenario(path), options(server, metrics_port=port))
    task = asyncio.create_task(run.execute())
    seen: dict[str, float] = {}
    served: set[str] = set()
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while not task.done() and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            try:
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    text = await response.text()
            except aiohttp.ClientConnectionError:
                continue  # not up yet, or the run has ended
            served |= served_names(text)
            flowing = value(text, 'auvious_agent_streams{direction="view"}')
            if flowing >= 4 and metric_value(text, 'auvious_agent_received_fps{kind="video"}'):
                seen["participants"] = value(text, "auvious_agent_participants")
                seen["published"] = value(text, 'auvious_agent_streams{direction="publish"}')
                seen["fps"] = value(text, 'auvious_agent_received_fps{kind="video",group="a"}')
                seen["groups"] = len(metric_values(text, "auvious_agent_participants"))
                seen["packets"] = value(text, "auvious_agent_packets_received_total")
                joins = 'auvious_agent_join_time_seconds_count{scenario="live"}'
                seen["joins"] = value(text, joins)
                seen["first_frames"] = value(
                    text, 'auvious_agent_first_frame_time_seconds_bucket{le="+Inf"}'
                )
                # Quality's distributions so far (the gauges give the mean now).
                seen["psnr"] = value(text, "auvious_agent_video_psnr_observed_db_count")
                seen["mos"] = value(text, "auvious_agent_audio_mos_observed_count")
                # The load generator's own health, during the run, for this process.
                seen["cpu"] = value(text, 'auvious_agent_process_cpu_cores{process="0/1"}')
                seen["saturated"] = value(
                    text, 'auvious_agent_load_generator_saturated{process="0/1"}'
                )
    result = await task
    assert seen, "the endpoint never showed the four views"
    assert seen["participants"] == 4 and seen["published"] == 4 and seen["groups"] == 2
    assert seen["fps"] > 0 and seen["packets"] > 0
    assert seen["joins"] == 4 and seen["first_frames"] >= 4  # histograms, for p95 in Grafana
    assert seen["psnr"] > 0 and seen["mos"] > 0
    assert seen["cpu"] > 0 and seen["saturated"] in (0.0, 1.0)
    assert len(result.participants) == 4
    # Every query of the Grafana dashboard names metrics this run served (quality included).
    asked = dashboard_metrics()
    assert asked and all(asked.values()), "a dashboard query names no metric"
    missing = {query: names - served for query, names in asked.items() if names - served}
    assert not missing, f"the dashboard asks for what the run did not serve: {missing}"
    # After the run the endpoint is gone.
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(f"http://127.0.0.1:{port}/metrics"):
                raise AssertionError("the metrics endpoint outlived its run")
        except aiohttp.ClientConnectionError:
            pass


async def test_a_shard_runs_only_its_conferences(server: EmbeddedServer, tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    path.write_text(SCENARIO.replace("duration: 7s", "duration: 3s").replace("6s", "2s"))
    first = await ScenarioRun(load_scenario(path), options(server, shard=Shard(0, 2))).execute()
    second = await ScenarioRun(load_scenario(path), options(server, shard=Shard(1, 2))).execute()
    names = [{p.name for p in first.participants}, {p.name for p in second.participants}]
    assert names == [{"a-0", "b-0"}, {"a-0.1", "b-0.1"}]  # call-0 and call-1, once each
