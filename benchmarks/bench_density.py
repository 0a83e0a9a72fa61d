"""Participants sustained per core: agent participants, naive aiortc participants, Chromium.

Every configuration runs against the local platform in its own process (`auvious-agent
serve`, fresh for each run) and the participants in another (fresh too), so the figure is
the participants' own CPU: process time of the participants' process (all its threads) over
a measured window, divided by wall time. Participants come in conferences of two; each
publishes one stream (standard profile: VP8 640x360 30 fps ~800 kbit/s + Opus) and views
the other's. A run is "sustained" when, over the window, >= 95% of the nominal frames arrive,
video is frozen < 1% of the time and < 0.5% of packets are lost (`agent.load.sustained`).

Configurations:
  agent        full participants, encode once and packetize once, pushed into every sender
               (video and Opus), light receive straight from RTP (`agent.webrtc.seams.packet_path`)
  agent-audio  the same, audio only (MIC)
  naive        full participants, an encoder per sender, decoding (and measuring) receivers
  chromium     headless Chromium, fake camera and microphone, the platform's client page
               (CPU: the whole Chromium process tree)

    .venv/bin/python benchmarks/bench_density.py --seconds 12        # all side by side
    .venv/bin/python benchmarks/bench_density.py --participants 48 64 --naive-participants 4 6 \
        --audio-participants 200 240 --chromium-participants 2 --seconds 12
    .venv/bin/python benchmarks/bench_density.py --config agent --participants 8 16
    .venv/bin/python benchmarks/bench_density.py --config agent --participants 8 --profile DIR
    .venv/bin/python benchmarks/bench_density.py --config agent --participants 16 32 \
        --against /work/wt/before --rounds 3          # another tree beside this one, alternated

`--against TREE` measures another checkout of this project (its own `.venv`, an editable
install of it) beside this one in the same run: every configuration and count runs on one tree
then the other, the order flipping each round, so both see the same background load. Each run
uses this file's orchestration but imports the measured tree's `agent`, `media` and `server`
(platform included); the summary gives, per tree, participants sustained per core and the
participants' and platform's CPU per participant at each count (medians over rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# With --against, a run imports the measured tree's code (AUVIOUS_BENCH_TREE, see TREE_ENV).
sys.path.insert(
    0, os.environ.get("AUVIOUS_BENCH_TREE") or str(Path(__file__).resolve().parent.parent)
)

from agent.api.auth import ClientCredentials
from agent.api.models import ConferenceStreamType
from agent.load import (
    Crowd,
    LocalPlatform,
    MediaPlan,
    NaiveMedia,
    SharedMedia,
    judge,
    kind_windows,
    serve_platform,
)
from agent.load.platform import process_cpu_seconds
from agent.load.sustained import KindWindow
from agent.runtime import tune_garbage_collection

HERE = Path(__file__).resolve().parent.parent
TREE_ENV = "AUVIOUS_BENCH_TREE"
"""Set by `--against`: the tree whose code a run imports (else this file's own tree)."""
CONFIGS = ("agent", "naive", "agent-audio", "chromium")
CHROMIUM_FPS = 20.0
"""Chromium's fake camera (640x480) runs at 20 fps; its frames are judged against that."""
ID_ENV, SECRET_ENV = "AUVIOUS_CLIENT_ID", "AUVIOUS_CLIENT_SECRET"
ARRIVAL_RATE = 10.0  # participants per second while setting up
READY_TIMEOUT = 90.0


@dataclass
class Result:
    config: str
    participants: int
    arrived: int
    viewing: int
    cpu_cores: float
    """Participants' process (or Chromium tree) CPU over the window, in cores."""
    per_core: float | None
    platform_cores: float
    sustained: bool
    failures: list[str]
    frame_ratio: dict[str, float]
    worst_frame_ratio: dict[str, float]
    freeze_ratio: float
    loss: float
    seconds: float
    load: float
    max_rss_mb: float
    system_share: float = 0.0
    """Share of the participants' CPU spent in the kernel (sockets), for the profile."""
    errors: list[str] = field(default_factory=list)
    encoders: int = 0
    """Video encoder contexts the shared encoder opened (its rungs); 0 without one."""


def plan_for(config: str) -> MediaPlan:
    if config == "agent":
        return SharedMedia()
    if config == "agent-audio":
        return SharedMedia(ConferenceStreamType.MIC)
    if config == "naive":
        return NaiveMedia()
    raise ValueError(f"no media plan for {config!r}")


async def arrive_all(crowd: Crowd, participants: int) -> None:
    """Pairs of participants, each pair its own conference, arriving at ARRIVAL_RATE."""
    tasks: list[asyncio.Task[Any]] = []
    conference = ""
    for index in range(participants):
        if index % 2 == 0:
            conference = await crowd.create_conference()
        tasks.append(asyncio.create_task(crowd.arrive(conference, f"p{index}")))
        await asyncio.sleep(1 / ARRIVAL_RATE)
    await asyncio.gather(*tasks)


async def wait_ready(crowd: Crowd, participants: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while crowd.viewing() < participants:
        if time.monotonic() > deadline:
            return  # measured anyway: who does not view counts as nothing arrived
        await asyncio.sleep(0.5)


async def run_agent(
    config: str, url: str, participants: int, seconds: float, warmup: float, platform_pid: int
) -> Result:
    auth_id, auth_secret = os.environ[ID_ENV], os.environ[SECRET_ENV]
    crowd = Crowd(url, lambda: ClientCredentials(auth_id, auth_secret), plan_for(config))
    video_fps = 30.0
    try:
        await arrive_all(crowd, participants)
        await wait_ready(crowd, participants)
        await asyncio.sleep(warmup)
        before = await crowd.measurements()
        times0 = os.times()
        cpu0, platform0, wall0 = time.process_time(), process_cpu_seconds(platform_pid), time.time()
        await asyncio.sleep(seconds)
        cpu1, platform1, wall1 = time.process_time(), process_cpu_seconds(platform_pid), time.time()
        times1 = os.times()
        after = await crowd.measurements()
        encoders = getattr(getattr(crowd.plan, "video", None), "encoder_constructions", 0)
        windows = kind_windows(before, after, wall1 - wall0, video_fps)
        # A participant that never got to view counts as a stream with nothing arrived.
        missing = participants - len({key.split("/")[0] for key in after})
        windows += missing_windows(missing, crowd.plan.kinds, wall1 - wall0, video_fps)
        return summarize(
            config,
            participants,
            arrived=sum(m.error is None for m in crowd.members),
            viewing=crowd.viewing(),
            cpu=(cpu1 - cpu0) / (wall1 - wall0),
            platform_cpu=(platform1 - platform0) / (wall1 - wall0),
            system_share=(times1.system - times0.system) / max(cpu1 - cpu0, 1e-9),
            windows=windows,
            seconds=wall1 - wall0,
            errors=[f"{m.name}: {m.error}" for m in crowd.members if m.error][:5],
            encoders=encoders,
        )
    finally:
        await crowd.close()


def missing_windows(
    count: int, kinds: tuple[str, ...], seconds: float, video_fps: float
) -> list[KindWindow]:
    out = []
    for _ in range(max(0, count)):
        for kind in kinds:
            rate = video_fps if kind == "video" else 50.0
            out.append(KindWindow(kind, 0, rate * seconds, seconds, seconds, 0, 0))
    return out


def summarize(
    config: str,
    participants: int,
    *,
    arrived: int,
    viewing: int,
    cpu: float,
    platform_cpu: float,
    windows: list[KindWindow],
    seconds: float,
    errors: list[str],
    system_share: float = 0.0,
    encoders: int = 0,
) -> Result:
    report = judge(windows)
    return Result(
        config=config,
        participants=participants,
        arrived=arrived,
        viewing=viewing,
        cpu_cores=cpu,
        per_core=participants / cpu if report.sustained and cpu > 0 else None,
        platform_cores=platform_cpu,
        sustained=report.sustained,
        failures=report.failures,
        frame_ratio=report.frame_ratio,
        worst_frame_ratio=report.worst_frame_ratio,
        freeze_ratio=report.freeze_ratio,
        loss=report.loss,
        seconds=seconds,
        load=os.getloadavg()[0],
        max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        system_share=system_share,
        errors=errors,
        encoders=encoders,
    )


# --- Chromium ---------------------------------------------------------------------------------


def descendants_cpu(pid: int) -> float:
    """CPU seconds of every live descendant of `pid` (the Chromium processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    total, stack = 0.0, list(children.get(pid, []))
    while stack:
        child = stack.pop()
        stack.extend(children.get(child, []))
        try:
            total += process_cpu_seconds(child)
        except (OSError, ValueError, IndexError):
            continue
    return total


async def run_chromium(
    url: str, participants: int, seconds: float, warmup: float, platform_pid: int
) -> Result:
    from agent.browser.participant import BrowserParticipant
    from agent.browser.report import BrowserSnapshot

    auth_id, auth_secret = os.environ[ID_ENV], os.environ[SECRET_ENV]
    creator = Crowd(url, lambda: ClientCredentials(auth_id, auth_secret), SharedMedia())
    browsers: list[BrowserParticipant] = []
    errors: list[str] = []
    try:
        for index in range(participants):
            if index % 2 == 0:
                conference = await creator.create_conference()
            browser = BrowserParticipant(
                url, conference_id=conference, client_id=auth_id, client_secret=auth_secret
            )
            browsers.append(browser)
            try:
                await browser.start()
                await browser.join()
            except Exception as exc:
                errors.append(f"b{index}: {exc}")
        await asyncio.sleep(warmup + 3)

        async def views() -> dict[str, tuple[int, float, int, int]]:
            out: dict[str, tuple[int, float, int, int]] = {}
            for index, browser in enumerate(browsers):
                try:
                    snap: BrowserSnapshot = await browser.snapshot()
                except Exception:
                    continue
                for view in snap.viewed:
                    if view.video is not None:
                        out[f"b{index}/{view.stream_id}"] = (
                            view.video.frames,
                            view.video.total_freeze_duration,
                            sum(s.packets_received for s in view.inbound),
                            sum(s.packets_lost for s in view.inbound),
                        )
            return out

        me = os.getpid()
        before = await views()
        cpu0, platform0, wall0 = descendants_cpu(me), process_cpu_seconds(platform_pid), time.time()
        await asyncio.sleep(seconds)
        cpu1, platform1, wall1 = descendants_cpu(me), process_cpu_seconds(platform_pid), time.time()
        after = await views()
        window = wall1 - wall0
        windows = []
        for key, (frames, freeze, received, lost) in after.items():
            frames0, freeze0, received0, lost0 = before.get(key, (0, 0.0, 0, 0))
            windows.append(
                KindWindow(
                    "video",
                    frames - frames0,
                    CHROMIUM_FPS * window,
                    max(0.0, freeze - freeze0),
                    window,
                    max(0, received - received0),
                    max(0, lost - lost0),
                )
            )
        windows += missing_windows(participants - len(after), ("video",), window, CHROMIUM_FPS)
        return summarize(
            "chromium",
            participants,
            arrived=participants - len(errors),
            viewing=len(after),
            cpu=(cpu1 - cpu0) / window,
            platform_cpu=(platform1 - platform0) / window,
            windows=windows,
            seconds=window,
            errors=errors[:5],
        )
    finally:
        for browser in browsers:
            try:
                await browser.close()
            except Exception as exc:
                errors.append(str(exc))
        await creator.close()


# --- orchestration ----------------------------------------------------------------------------


def one(args: argparse.Namespace) -> None:
    """The participants' process: one configuration, result as JSON on the last line."""
    if args.one == "chromium":
        coro = run_chromium(
            args.url, args.participants[0], args.seconds, args.warmup, args.platform_pid
        )
    else:
        coro = run_agent(
            args.one, args.url, args.participants[0], args.seconds, args.warmup, args.platform_pid
        )
    tune_garbage_collection()  # as `auvious-agent run` and its workers do
    check_measured_tree()
    result = asyncio.run(coro)
    print(json.dumps(asdict(result)))


def check_measured_tree() -> None:
    """Refuse to measure other code than the tree asked for (an editable install pointing
    elsewhere would compare a tree with itself)."""
    import agent

    tree = Path(os.environ.get(TREE_ENV) or HERE).resolve()
    if not Path(agent.__file__).resolve().is_relative_to(tree):
        raise SystemExit(f"measured {agent.__file__}, not the agent of {tree}")


async def isolated(
    config: str, participants: int, seconds: float, warmup: float, profile: Path | None
) -> Result:
    """A fresh platform process and a fresh participants' process for one configuration."""
    async with serve_platform() as local:
        env = {
            **os.environ,
            ID_ENV: local.client_id,
            SECRET_ENV: local.client_secret.get_secret_value(),
        }
        command = [sys.executable, *command_tail(config, local, participants, seconds, warmup)]
        if profile is not None:
            spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            out = profile / f"{config}-{participants}.txt"
            command = [
                spy,
                "record",
                "--format",
                "raw",
                "--threads",
                "--nonblocking",
                "-o",
                str(out),
                "--",
                *command,
            ]
        process = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        stdout, stderr = await process.communicate()
        lines = [x for x in stdout.decode().splitlines() if x.startswith("{")]
        if process.returncode != 0 or not lines:
            tail = stderr.decode().strip().splitlines()[-5:]
            raise RuntimeError(f"{config} x{participants} failed: {' | '.join(tail)}")
        return Result(**json.loads(lines[-1]))


def command_tail(
    config: str, local: LocalPlatform, participants: int, seconds: float, warmup: float
) -> list[str]:
    return [
        __file__,
        "--one",
        config,
        "--url",
        local.base_url,
        "--platform-pid",
        str(local.pid),
        "--participants",
        str(participants),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
    ]


def print_result(r: Result, tree: str = "") -> None:
    frames = " ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(r.frame_ratio.items()))
    per_core = f"{r.per_core:7.1f}" if r.per_core is not None else "      -"
    verdict = "yes" if r.sustained else "NO: " + "; ".join(r.failures)
    print(
        f"{tree}{r.config:12} {r.participants:5d} {r.viewing:5d} {100 * r.cpu_cores:7.1f}% "
        f"{per_core} {100 * r.platform_cores:7.1f}% {frames:28} "
        f"{100 * r.freeze_ratio:6.2f}% {100 * r.loss:6.2f}% {r.load:5.2f} "
        f"{100 * r.system_share:4.0f}% {verdict}",
        flush=True,
    )
    if r.encoders > 1:
        print(f"#   the shared video encoder opened {r.encoders} encoder contexts (rungs)")
    for error in r.errors:
        print(f"#   {error}")


# --- another tree beside this one (--against) ----------------------------------------------


def describe(tree: Path) -> str:
    """The tree's commit, marked when its tracked files differ from it."""
    done = subprocess.run(
        ["git", "-C", str(tree), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "not a git tree"


def run_in_tree(
    tree: Path,
    config: str,
    participants: int,
    seconds: float,
    warmup: float,
    profile: Path | None,
) -> Result:
    """One configuration by `tree`'s own interpreter, imports and platform (this file's
    orchestration): a child that runs `isolated` and prints its result."""
    python = tree / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"--against {tree}: no {python} (give the tree its own venv)")
    command = [str(python), __file__, "--in-tree", config, "--participants", str(participants)]
    command += ["--seconds", str(seconds), "--warmup", str(warmup)]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        command += ["--profile", str(profile)]
    env = {**os.environ, TREE_ENV: str(tree), "PYTHONPATH": str(tree)}
    done = subprocess.run(command, env=env, cwd=tree, capture_output=True, text=True, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines())[-5:]
        raise RuntimeError(f"{config} x{participants} failed: {' | '.join(tail)}")
    return Result(**json.loads(lines[-1]))


def median(values: list[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def percent(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def print_comparison(trees: dict[str, Path], results: list[tuple[str, Result]]) -> None:
    """Per configuration and count, per tree: medians over the rounds of the participants'
    and the platform's CPU per participant, and participants sustained per core."""
    print(
        "# per tree: medians of the sustained rounds (a starved round does less work), "
        "% of a core per participant; then the participants' CPU per participant over all rounds"
    )
    print(
        f"{'config':12} {'parts':>5} {'tree':8} {'sustained':>9} {'CPU/part':>9} "
        f"{'platfm/part':>11} {'per core':>8} {'CPU/part, all':>13}"
    )
    keys = sorted({(r.config, r.participants) for _, r in results})
    for config, participants in keys:
        cost: dict[str, float | None] = {}
        for label in trees:
            runs = [
                r
                for t, r in results
                if t == label and (r.config, r.participants) == (config, participants)
            ]
            if not runs:
                continue
            kept = [r for r in runs if r.sustained]
            cost[label] = median([r.cpu_cores / participants for r in kept])
            platform_cost = median([r.platform_cores / participants for r in kept])
            per_core = median([r.per_core for r in kept if r.per_core is not None])
            print(
                f"{config:12} {participants:5d} {label:8} {len(kept):>4}/{len(runs):<4} "
                f"{percent(cost[label]):>9} {percent(platform_cost):>11} "
                f"{'-' if per_core is None else f'{per_core:.1f}':>8} "
                f"{percent(median([r.cpu_cores / participants for r in runs])):>13}"
            )
        before, after = cost.get("against"), cost.get("this")
        if before and after:
            print(
                f"#   this / against, CPU per participant (sustained rounds): {after / before:.3f}"
            )
    for label in trees:
        best: dict[str, float] = {}
        for t, r in results:
            if t == label and r.per_core is not None:
                best[r.config] = max(best.get(r.config, 0.0), r.per_core)
        print(
            f"# {label}: sustained participants per core (best run): "
            + (", ".join(f"{k} {v:.1f}" for k, v in best.items()) or "none sustained")
        )


def print_best(results: list[Result]) -> None:
    best: dict[str, float] = {}
    for r in results:
        if r.per_core is not None:
            best[r.config] = max(best.get(r.config, 0.0), r.per_core)
    print(
        "# sustained participants per core (best run): "
        + ", ".join(f"{k} {v:.1f}" for k, v in best.items())
    )
    if "agent" in best:
        for other in ("naive", "chromium"):
            if other in best:
                print(f"# agent / {other}: {best['agent'] / best[other]:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--participants", type=int, nargs="+", help="participant counts (default 8 16)"
    )
    parser.add_argument(
        "--audio-participants",
        type=int,
        nargs="+",
        help="counts for agent-audio (default: --participants, else 20 40)",
    )
    parser.add_argument(
        "--naive-participants",
        type=int,
        nargs="+",
        help="counts for naive (default: --participants)",
    )
    parser.add_argument(
        "--chromium-participants",
        type=int,
        nargs="+",
        help="counts for chromium, one browser each (default 2)",
    )
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--config", choices=CONFIGS, action="append")
    parser.add_argument(
        "--profile", type=Path, help="directory for py-spy profiles (raw, collapsed stacks)"
    )
    parser.add_argument(
        "--against",
        type=Path,
        help="another tree of this project (with its own .venv), measured beside this one",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="times every run repeats (trees alternate)"
    )
    parser.add_argument("--one", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--in-tree", choices=CONFIGS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--platform-pid", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(args)
        return
    if args.in_tree:
        result = asyncio.run(
            isolated(args.in_tree, args.participants[0], args.seconds, args.warmup, args.profile)
        )
        print(json.dumps(asdict(result)))
        return
    configs = args.config or [
        c for c in CONFIGS if c != "chromium" or Path("/usr/bin/chromium").exists()
    ]
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    trees = {"this": HERE}
    if args.against is not None:
        trees = {"against": args.against.resolve(), "this": HERE}
    print(
        f"# {platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"load {os.getloadavg()[0]:.2f}, python {platform.python_version()}"
    )
    print(f"# {args.seconds:g} s measured after {args.warmup:g} s warm-up; pairs per conference")
    if args.against is not None:
        print("# trees: " + ", ".join(f"{k} = {v} ({describe(v)})" for k, v in trees.items()))
    print(
        f"{'tree     ' if args.against else ''}{'config':12} {'parts':>5} {'views':>5} "
        f"{'CPU':>8} {'/core':>7} {'platfm':>8} {'frames (of nominal)':28} {'freeze':>7} "
        f"{'loss':>7} {'load':>5} {'sys':>5} sustained"
    )
    results: list[tuple[str, Result]] = []
    standard = args.participants or [8, 16]
    counts = {
        "agent-audio": args.audio_participants or args.participants or [20, 40],
        "naive": args.naive_participants or standard,
        "chromium": args.chromium_participants or [2],
    }
    runs = [(n, c) for c in configs for n in counts.get(c, standard)]
    for round_ in range(args.rounds):
        order = list(trees.items())[:: -1 if round_ % 2 else 1]
        for participants, config in sorted(runs):
            for label, tree in order:
                try:
                    if args.against is None:
                        result = asyncio.run(
                            isolated(config, participants, args.seconds, args.warmup, args.profile)
                        )
                    else:
                        profile = args.profile and args.profile / f"{label}-{round_}"
                        result = run_in_tree(
                            tree, config, participants, args.seconds, args.warmup, profile
                        )
                except RuntimeError as exc:
                    print(f"# {label}: {exc}", flush=True)
                    continue
                results.append((label, result))
                print_result(result, f"{label:8} " if args.against else "")
    if args.against is None:
        print_best([r for _, r in results])
    else:
        print_comparison(trees, results)
    print(f"# load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
