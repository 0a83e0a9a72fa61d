"""Composition speed: how many times faster than real time the render child composes a
recording, per second of CPU (i.e. on one core).

A recording of two publishers (VP8 WebM + Opus WebM each, as the recorder writes them, with the
synthetic sources' timecodes and tone marks) is written first; then the platform's own render
child (`python -m server.composition.render JOB.json`, exactly what the composer spawns) renders
it as a 2-tile GRID MP4 (H264 + AAC) and as an MP3, and its CPU time (all its threads, from
`getrusage(RUSAGE_CHILDREN)`) and wall time are taken.

    .venv/bin/python benchmarks/bench_composition.py                 # 30 s, 320x240
    .venv/bin/python benchmarks/bench_composition.py --seconds 60 --size 640x480
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from media.composition_check import check_media
from server.composition.job import OutputType, RenderJob, kinds_for, timeline
from tests.composition_support import Publisher, make_recording

STARTED = 1_700_000_000.0


def load() -> str:
    return Path("/proc/loadavg").read_text().strip()


def render_child(job: RenderJob, job_file: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one render child."""
    job.dump(job_file)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "server.composition.render", str(job_file)],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parent.parent,
    )
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--size", default="320x240", help="output WxH (sources are 320x240)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-composition-") as tmp:
        directory = Path(tmp)
        print(f"writing a {args.seconds:g} s recording of two publishers ...", flush=True)
        recording = make_recording(
            directory, "bench", "org", [Publisher("a"), Publisher("b")],
            seconds=args.seconds, started=STARTED,
        )  # fmt: skip
        print(f"load average: {load()}")
        print(
            f"{'output':<24} {'cpu s':>7} {'wall s':>7} {'x real time / cpu':>18} {'x / wall':>9}"
        )
        kinds: tuple[OutputType, ...] = ("VIDEO", "AUDIO")
        for kind in kinds:
            duration, tracks = timeline([recording], kinds_for(kind))
            suffix = "mp4" if kind == "VIDEO" else "mp3"
            output = directory / f"out.{suffix}"
            job = RenderJob(str(output), kind, duration, width, height, 15, tracks)
            cpu, wall = render_child(job, directory / f"{kind}.json")
            size = (width, height) if kind == "VIDEO" else None
            problems = check_media(output, kind=kind, size=size, duration=duration)
            label = f"{kind} {args.size if kind == 'VIDEO' else 'mp3'} 2 tracks"
            print(
                f"{label:<24} {cpu:7.2f} {wall:7.2f} {duration / cpu:18.1f} {duration / wall:9.1f}"
                + (f"  PROBLEMS: {problems}" if problems else "")
            )
        print(f"load average: {load()}  (cpus: {os.cpu_count()})")


if __name__ == "__main__":
    main()
