"""Participants sustained per core on the product path, next to the library crowd, in one run.

The product path is what a user runs: a YAML scenario through the CLI,
`auvious-agent run FILE --server URL --workers 1`, against a separate `auvious-agent serve`
(fresh for each run). The library crowd is `bench_density.py`'s path (`agent.load.Crowd`, its
own process, its own fresh platform). Both carry the same load: conferences of two, each
participant publishing one stream and viewing the other's:
  standard  VP8 640x360 30 fps ~800 kbit/s + Opus (MIC_AND_CAM)
  audio     Opus only (MIC)
and both are judged by one definition, `agent.load.sustained` (>= 95% of the nominal frames
arrive, video frozen < 1% of the time, < 0.5% of packets lost), over a measured window after
every participant arrived and a warm-up. The figure is participants per core of the
participants' process only (all its threads; not the platform's): for the product path, the
`run` process's CPU, read from /proc while it runs.

The product path must also pass the scenario's own expectations (the run's exit code 0):
standard: video fps p50 > 28, freezes < 1 s per stream, loss < 0.5%, every viewer received
every publisher, no errors; audio: loss < 0.5%, no errors. A run the load generator's own
health check calls invalid (exit 4) is reported as such.

How the window is read from the product path's report: video frames from each viewed
stream's per-second frame-rate samples inside the window, freezes inside the window; audio
frames (the run samples no audio frame rate) over each view's life from its first frame, and
packets over the whole run, both a little stricter than a window.

    .venv/bin/python benchmarks/bench_product_path.py --participants 48 --audio-participants 200
    .venv/bin/python benchmarks/bench_product_path.py --path product --participants 8 16 32
    .venv/bin/python benchmarks/bench_product_path.py --loop uvloop --loop asyncio
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_density import Result, isolated, missing_windows, print_result, summarize

from agent.load import serve_platform
from agent.load.platform import LocalPlatform, process_cpu_seconds
from agent.load.sustained import AUDIO_FRAME_RATE, KindWindow
from agent.webrtc.host_addresses import LOOPBACK, use_host_addresses

CLI = Path(sys.executable).with_name("auvious-agent")
SECRET_ENV = "AUVIOUS_CLIENT_SECRET"
ARRIVAL_RATE = 10.0
"""Participants per second while setting up, as `bench_density.py` arrives them."""
VIDEO_FPS = 30.0
TAIL = 3.0
"""Seconds the scenario runs on after the window, so the window's last samples are taken."""
POLL = 0.5
KEEP: Path | None = None
"""Where to keep each product run's scenario and reports (`--keep DIR`)."""

STANDARD = "{type: MIC_AND_CAM, resolution: 640x360, fps: 30, bitrate: 800k, codec: VP8}"
AUDIO = "{type: MIC}"


def scenario_text(kind: str, participants: int, warmup: float, seconds: float) -> str:
    """Conferences of two (`a` and `b` of one arrival), arriving at ARRIVAL_RATE."""
    calls = participants // 2
    arrive = calls * 2 / ARRIVAL_RATE
    publish = STANDARD if kind == "standard" else AUDIO
    expect = (
        """  video_fps: {p50: "> 28"}
  freeze_total: {max: "< 1s"}
  packet_loss: {overall: "< 0.5%"}
  conditions: [every_participant_joined, every_viewer_received_every_publisher, no_errors]
"""
        if kind == "standard"
        else """  packet_loss: {overall: "< 0.5%"}
  conditions: [every_participant_joined, no_errors]
"""
    )
    group = """  - name: {name}
    conference: call-${{arrival}}
    publish: [{publish}]
    view: all
"""
    return (
        f"""name: product-{kind}-{participants}
seed: 1
phases:
  - name: arrive
    duration: {arrive:g}s
    arrival_count: {calls}
  - name: talk
    duration: {warmup + seconds + TAIL:g}s
    arrival_count: 0
participants:
"""
        + group.format(name="a", publish=publish)
        + group.format(name="b", publish=publish)
        + f"""expect:
  warmup: {arrive + warmup:g}s
"""
        + expect
    )


class CpuPoller:
    """CPU seconds of the run and platform processes against wall time, while they run."""

    def __init__(self, run_pid: int, platform_pid: int) -> None:
        self.pids = (run_pid, platform_pid)
        self.samples: list[tuple[float, float, float]] = []

    async def poll(self) -> None:
        while True:
            try:
                run, serve = (process_cpu_seconds(pid) for pid in self.pids)
            except (OSError, ValueError, IndexError):
                return  # the run process ended
            self.samples.append((time.time(), run, serve))
            await asyncio.sleep(POLL)

    def at(self, when: float) -> tuple[float, float]:
        """CPU seconds (run, platform) at wall time `when`, interpolated."""
        before = max((s for s in self.samples if s[0] <= when), default=self.samples[0])
        after = min((s for s in self.samples if s[0] >= when), default=self.samples[-1])
        if after[0] == before[0]:
            return before[1], before[2]
        share = (when - before[0]) / (after[0] - before[0])
        return (
            before[1] + share * (after[1] - before[1]),
            before[2] + share * (after[2] - before[2]),
        )


def windows_of(
    report: dict[str, Any], kind: str, start: float, end: float, participants: int
) -> tuple[list[KindWindow], int]:
    """Per viewed stream and kind, what arrived over [start, end] of the run's clock; and
    how many views there were."""
    seconds = end - start
    windows: list[KindWindow] = []
    views = 0
    for participant in report["result"]["participants"]:
        for stream in participant["streams"]:
            if stream["direction"] != "view":
                continue
            views += 1
            received, lost = stream["packets_received"], stream["packets_lost"]
            if kind == "standard":
                frames, last = 0.0, None
                for sample in stream["fps"]:
                    if last is not None and start < sample["t"] <= end:
                        frames += sample["value"] * (sample["t"] - max(last, start))
                    last = sample["t"]
                frozen = sum(
                    max(0.0, min(end, f["start"] + f["duration"]) - max(start, f["start"]))
                    for f in stream["freezes"]
                )
                windows.append(
                    KindWindow(
                        "video", round(frames), VIDEO_FPS * seconds, frozen, seconds, received, lost
                    )
                )
            else:
                began = (stream["started_at"] or 0.0) + (stream["first_frame_time"] or 0.0)
                ended = stream["ended_at"] or report["duration"]
                life = max(0.0, ended - began)
                expected = AUDIO_FRAME_RATE * life
                windows.append(
                    KindWindow("audio", stream["frames"], expected, 0.0, life, received, lost)
                )
    kinds = ("video",) if kind == "standard" else ("audio",)
    return windows + missing_windows(participants - views, kinds, seconds, VIDEO_FPS), views


async def run_product(
    kind: str, participants: int, seconds: float, warmup: float, loop: str
) -> tuple[Result, dict[str, Any]]:
    """One `auvious-agent run` of the scenario against a fresh `serve`."""
    async with serve_platform() as local:
        with tempfile.TemporaryDirectory(prefix="bench-product-") as tmp:
            if KEEP is not None:
                tmp = str(KEEP / f"{kind}-{participants}-{loop}")
            path = Path(tmp) / f"product-{kind}.yaml"
            _write(path, scenario_text(kind, participants, warmup, seconds))
            report_dir = Path(tmp) / "report"
            code, poller, output = await _run_cli(local, path, report_dir, loop)
            report = json.loads((report_dir / "report.json").read_text())
    origin = datetime.fromisoformat(report["started_at"]).timestamp()
    arrive = (participants // 2) * 2 / ARRIVAL_RATE
    start, end = arrive + warmup, arrive + warmup + seconds
    (run0, serve0), (run1, serve1) = poller.at(origin + start), poller.at(origin + end)
    windows, views = windows_of(report, kind, start, end, participants)
    everyone = report["result"]["participants"]
    errors = [f"{p['name']}: {e['message']}" for p in everyone for e in p["errors"]]
    failed = [e["message"] for e in report["expectations"] if not e["passed"]]
    result = summarize(
        f"run-{kind}" + ("" if loop == "asyncio" else f"-{loop}"),
        participants,
        arrived=sum(1 for p in report["result"]["participants"] if p["joined_at"] is not None),
        viewing=views,
        cpu=(run1 - run0) / seconds,
        platform_cpu=(serve1 - serve0) / seconds,
        windows=windows,
        seconds=seconds,
        errors=(errors + failed)[:5],
    )
    health = report["load_generator"]
    figures = report["result"]["health"][0] if report["result"]["health"] else {}
    extra = {
        "exit_code": code,
        "expectations_passed": report["passed"],
        "load_generator_valid": health["valid"],
        "own_lag_p99_ms": 1000 * figures.get("own_lag_p99", 0.0),
        "loop_lag_p99_ms": 1000 * figures.get("loop_lag_p99", 0.0),
        "cpu_wait_share": figures.get("cpu_wait_share"),
        "output_tail": output[-3:],
    }
    if code != 0 and result.per_core is not None:  # the scenario's own verdict counts too
        result.per_core = None
        result.sustained = False
        result.failures.append(f"the run exited {code}")
    return result, extra


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


async def _run_cli(
    local: LocalPlatform, path: Path, report_dir: Path, loop: str
) -> tuple[int, CpuPoller, list[str]]:
    env = {**os.environ, SECRET_ENV: local.client_secret.get_secret_value()}
    process = await asyncio.create_subprocess_exec(
        str(CLI),
        "run",
        str(path),
        "--server",
        local.base_url,
        "--client-id",
        local.client_id,
        "--workers",
        "1",
        "--report",
        str(report_dir),
        "--event-loop",
        loop,
        *(arg for address in LOOPBACK for arg in ("--ice-host-address", address)),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    poller = CpuPoller(process.pid, local.pid)
    polling = asyncio.create_task(poller.poll())
    stdout, _ = await process.communicate()
    polling.cancel()
    lines = stdout.decode(errors="replace").splitlines()
    if not (report_dir / "report.json").is_file():
        raise RuntimeError(f"{path.name}: no report (exit {process.returncode}): {lines[-5:]}")
    return process.returncode or 0, poller, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--participants", type=int, nargs="+", default=[48])
    parser.add_argument("--audio-participants", type=int, nargs="+", default=[200])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--path", choices=("product", "crowd"), action="append", help="default: both"
    )
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        action="append",
        help="the run process's event loop (default asyncio; uvloop if installed)",
    )
    parser.add_argument("--json", type=Path, help="also write every result here")
    parser.add_argument("--keep", type=Path, help="keep each product run's scenario and reports")
    args = parser.parse_args()
    global KEEP
    KEEP = args.keep
    use_host_addresses(LOOPBACK, subprocesses=True)  # both paths keep media on this machine
    paths = args.path or ["product", "crowd"]
    loops = args.loop or ["asyncio"]
    print(
        f"# {platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"load {os.getloadavg()[0]:.2f}, python {platform.python_version()}"
    )
    print(f"# {args.seconds:g} s measured after arrivals + {args.warmup:g} s warm-up; pairs")
    print(
        f"{'config':12} {'parts':>5} {'views':>5} {'CPU':>8} {'/core':>7} {'platfm':>8} "
        f"{'frames (of nominal)':28} {'freeze':>7} {'loss':>7} {'load':>5} {'sys':>5} sustained"
    )
    rows: list[dict[str, Any]] = []
    runs = [("standard", n) for n in args.participants]
    runs += [("audio", n) for n in args.audio_participants]
    for kind, count in runs:
        if "crowd" in paths:
            config = "agent" if kind == "standard" else "agent-audio"
            try:
                crowd = asyncio.run(isolated(config, count, args.seconds, args.warmup, None))
            except RuntimeError as error:
                print(f"# {error}", flush=True)
            else:
                crowd.config = f"crowd-{kind}"
                print_result(crowd)
                rows.append(asdict(crowd))
        for loop in loops if "product" in paths else []:
            try:
                result, extra = asyncio.run(
                    run_product(kind, count, args.seconds, args.warmup, loop)
                )
            except RuntimeError as error:
                print(f"# {error}", flush=True)
                continue
            print_result(result)
            print(
                f"#   run exit {extra['exit_code']}, expectations "
                f"{'pass' if extra['expectations_passed'] else 'FAIL'}, load generator "
                f"{'valid' if extra['load_generator_valid'] else 'SATURATED'} (own lag p99 "
                f"{extra['own_lag_p99_ms']:.0f} ms, lag p99 {extra['loop_lag_p99_ms']:.0f} ms, "
                f"waiting for a CPU {100 * (extra['cpu_wait_share'] or 0):.0f}%)",
                flush=True,
            )
            rows.append({**asdict(result), **extra})
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    print(f"# load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
