"""The load generator watches itself: a run whose participants' process was saturated is
reported invalid (exit code 4, a banner, a report.json field, a JUnit error), a quiet run
shows the same figures as headroom.

The end-to-end cases run `auvious-agent run` in this process (`agent.cli.main`) on the
embedded platform with real peer connections; the saturated one blocks the run's event
loop on purpose (a callback that sleeps 120 ms every 250 ms), which is what a load generator
carrying more participants than its core can serve looks like to its timers."""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

import agent.load.scenario_job as scenario_job
from agent.cli import main
from agent.load.workers import merge_results
from agent.scenario.health import HealthNow, host_udp_errors, socket_drops
from agent.scenario.health_verdict import assess
from agent.scenario.live import LiveSnapshot, MetricsEndpoint, combine
from agent.scenario.outcome import ExitCode
from agent.scenario.results import PageHealth, ProcessHealth, RunResult, Sample
from tests.load_support import audio_call

CALL = audio_call("health-call")


def health(**figures: Any) -> ProcessHealth:
    base: dict[str, Any] = {
        "process": "0/1",
        "host": "here",
        "pid": 1,
        "seconds": 10.0,
        "lag_samples": 200,
        "loop_lag_p50": 0.001,
        "loop_lag_p99": 0.01,
        "loop_lag_max": 0.02,
        "own_lag_p99": 0.01,
        "cpu_mean": 0.4,
        "cpu_max": 0.6,
        "cpu_saturated_share": 0.0,
    }
    return ProcessHealth.model_validate({**base, **figures})


def test_the_verdict_names_the_saturated_process_and_why() -> None:
    assert assess([health()]).valid
    assert "headroom" in assess([health()]).message
    lagging = assess([health(), health(process="1/2", loop_lag_p99=0.08, own_lag_p99=0.08)])
    assert not lagging.valid and len(lagging.problems) == 1
    assert "process 1/2" in lagging.message and "lag p99 80 ms of its own" in lagging.message
    crowded = assess([health(loop_lag_p99=0.08, own_lag_p99=0.01, cpu_wait_share=0.3)])
    assert crowded.valid and "waiting for a CPU 30% of the time" in crowded.warnings[0]
    busy = assess([health(cpu_saturated_share=0.2)])
    assert not busy.valid and "CPU >= 95% of a core for 20%" in busy.problems[0]
    assert assess([health(cpu_saturated_share=0.1)]).valid  # the limit is "more than 10%"
    page = PageHealth(participant="b-0", cpu_mean=1.0, cpu_max=1.0, cpu_saturated_share=0.5)
    assert not assess([health(pages=[page])]).valid
    unmeasured = assess([])
    assert unmeasured.valid and not unmeasured.measured


def test_kernel_counters_are_read_from_proc(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "snmp").write_text(
        "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n"
        "Udp: 100 0 7 90 5 0\n"
    )
    (tmp_path / "net" / "snmp6").write_text("Udp6InErrors 3\nUdp6RcvbufErrors 2\n")
    assert host_udp_errors(tmp_path) == (7, 10)
    assert host_udp_errors(tmp_path / "missing") is None
    assert socket_drops(tmp_path) == {}  # no table, no sockets: nothing, not an error


def test_shards_health_travels_with_their_results() -> None:
    def result(process: str, started: float) -> RunResult:
        from datetime import UTC, datetime

        figures = health(process=process, cpu=[Sample(t=1.0, value=0.5)])
        return RunResult(
            scenario="s",
            started_at=datetime.fromtimestamp(started, UTC),
            duration=5.0,
            health=[figures],
        )

    merged = merge_results([result("0/2", 1000.0), result("1/2", 1002.0)])
    assert [h.process for h in merged.health] == ["0/2", "1/2"]
    assert [h.cpu[0].t for h in merged.health] == [1.0, 3.0]  # on the merged clock


async def test_live_gauges_per_process() -> None:
    now = HealthNow(loop_lag_p99=0.07, loop_lag_max=0.2, cpu=0.97, udp_drops=3, saturated=True)
    calm = HealthNow(loop_lag_p99=0.002, loop_lag_max=0.01, cpu=0.3, udp_drops=0, saturated=False)
    snapshot = combine([LiveSnapshot(health={"0/2": now}), LiveSnapshot(health={"1/2": calm})])

    async def source() -> LiveSnapshot:
        return snapshot

    async with MetricsEndpoint(source, 0) as endpoint:
        from aiohttp import ClientSession

        async with ClientSession() as session:
            url = f"http://127.0.0.1:{endpoint.port}/metrics"
            async with session.get(url) as response:
                text = await response.text()
    assert 'auvious_agent_load_generator_saturated{process="0/2"} 1.0' in text
    assert 'auvious_agent_load_generator_saturated{process="1/2"} 0.0' in text
    assert 'auvious_agent_loop_lag_seconds{process="0/2",quantile="0.99"} 0.07' in text
    assert 'auvious_agent_process_cpu_cores{process="0/2"} 0.97' in text
    assert 'auvious_agent_udp_receive_drops_total{process="0/2"} 3.0' in text


RunSpread = Callable[..., Coroutine[Any, Any, RunResult]]


def blocking_the_loop(real: RunSpread) -> RunSpread:
    """`run_spread` with the run's event loop blocked 120 ms out of every 370 ms."""

    async def blocked(*args: Any, **kwargs: Any) -> RunResult:
        loop = asyncio.get_running_loop()
        handle: list[asyncio.TimerHandle] = []

        def block() -> None:
            time.sleep(0.12)  # on purpose: this is the saturated load generator
            handle[:] = [loop.call_later(0.25, block)]

        handle.append(loop.call_later(0.25, block))
        try:
            return await real(*args, **kwargs)
        finally:
            handle[0].cancel()

    return blocked


def run_call(tmp_path: Path, name: str) -> tuple[int, dict[str, Any], Path]:
    path = tmp_path / "call.yaml"
    path.write_text(CALL, encoding="utf-8")
    report = tmp_path / name
    code = main(["run", str(path), "--report", str(report), "--workers", "1"])
    return code, json.loads((report / "report.json").read_text()), report


@pytest.mark.slow
def test_a_blocked_loop_makes_the_run_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(scenario_job, "run_spread", blocking_the_loop(scenario_job.run_spread))
    code, report, directory = run_call(tmp_path, "blocked")
    out = capsys.readouterr().out
    assert code == 4 and ExitCode(code) is ExitCode.LOAD_GENERATOR_SATURATED, out
    assert "INVALID health-call" in out and "the load generator was the bottleneck" in out
    verdict = report["load_generator"]
    assert verdict["valid"] is False and "event-loop lag p99" in verdict["problems"][0]
    (figures,) = report["result"]["health"]
    assert figures["own_lag_p99"] > 0.1 and figures["process"] == "0/1"
    assert figures["cpu_wait_share"] is not None  # Linux: the kernel's schedstat was read
    suite = ET.parse(directory / "junit.xml").getroot()
    assert suite.get("errors") == "1"
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    error = cases["load_generator"].find("error")
    assert error is not None and "bottleneck" in (error.get("message") or "")
    page = (directory / "report.html").read_text()
    assert "Invalid run: the load generator was the bottleneck" in page


@pytest.mark.slow
def test_a_quiet_run_shows_headroom(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, directory = run_call(tmp_path, "quiet")
    out = capsys.readouterr().out
    assert code == ExitCode.PASSED, out
    assert "the load generator had headroom" in out
    assert report["load_generator"]["valid"] is True
    (figures,) = report["result"]["health"]
    assert figures["lag_samples"] > 100 and figures["own_lag_p99"] < 0.05
    assert 0 < figures["cpu_mean"] < 0.95 and len(figures["cpu"]) >= 4
    assert figures["udp_socket_drops"] is not None  # Linux: the kernel's counters were read
    assert ET.parse(directory / "junit.xml").getroot().get("errors") == "0"
    page = (directory / "report.html").read_text()
    assert "Invalid run" not in page and "Load generator" in page and "headroom" in page


def test_lag_percentiles_keep_half_a_millisecond_in_a_fixed_memory() -> None:
    from agent.scenario.health import _Histogram

    lags = [0.001 * (i % 40) for i in range(10_000)] + [0.3] * 150 + [5.0]
    histogram = _Histogram()
    for lag in lags:
        histogram.add(lag)
    ordered = sorted(lags)
    for q in (0.5, 0.99):
        exact = ordered[round(q * len(ordered)) - 1]
        assert exact <= histogram.percentile(q) <= exact + _Histogram.RESOLUTION
    assert histogram.max == 5.0 and histogram.count == len(lags)


async def test_a_run_that_ends_during_its_startup_is_not_judged() -> None:
    """An interrupt before the judged window leaves only the setting up (imports, first
    joins), which stalls any loop: the figures are kept, the verdict is not given."""
    from agent.scenario.health import HealthSampler

    start = time.monotonic()
    async with HealthSampler("0/1", clock=lambda: time.monotonic() - start) as sampler:
        await asyncio.sleep(0.05)
        time.sleep(0.2)  # noqa: ASYNC251 (on purpose: a startup's stall)
        await asyncio.sleep(0.05)
    figures = sampler.summary()
    assert not figures.judged and figures.loop_lag_max >= 0.15
    verdict = assess([figures])
    assert verdict.valid and not verdict.measured
    assert "ended during its startup" in verdict.message
    assert not assess([figures, health()]).problems  # a judged process is still judged
    assert not assess([health(own_lag_p99=0.2, loop_lag_p99=0.2), figures]).valid
