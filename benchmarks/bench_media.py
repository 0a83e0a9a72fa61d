"""Issue "Media" figures side by side, in one run and one table: CPU per publish+view pair with
an encoder per publisher versus encode once, send many, each with a decoding versus a light
viewer (`bench_encode_fanout.py`), and the router's CPU per forwarded stream
(`bench_router.py`). Each part is measured as its own script measures it; this one runs them
back to back under the same machine load, which it reports.

    .venv/bin/python benchmarks/bench_media.py --pairs 4 --layouts 1x1 1x4 4x1 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_encode_fanout import CONFIGS, run_isolated
from bench_router import FPS, HEIGHT, WIDTH, clip_kbps, measure_layouts, parse_layout

from agent.webrtc import seams
from agent.webrtc.host_addresses import LOOPBACK, use_host_addresses

Row = tuple[str, str, str, str, str]


async def router_rows(layouts: list[tuple[int, int]], seconds: float) -> list[Row]:
    rows: list[Row] = []
    async for publishers, viewers_each, r in measure_layouts(layouts, seconds):
        forwarded = publishers * viewers_each
        rows.append(
            (
                f"router, {publishers} publisher(s) x {viewers_each} viewer(s)",
                f"{forwarded} forwarded",
                f"{r['per_forwarded_pct']:.2f}% per forwarded stream",
                f"{r['router_core_pct']:.1f}% total",
                f"{r['viewer_fps']:.1f}",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[4])
    parser.add_argument("--layouts", nargs="+", type=parse_layout, default=[(1, 1), (1, 4), (4, 1)])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per row")
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args()
    seams.install()  # the packet path the agent runs with (the CLI installs it too)
    use_host_addresses(LOOPBACK, subprocesses=True)

    load_before = os.getloadavg()
    rows: list[Row] = []
    for pairs in args.pairs:
        for config in CONFIGS:
            result = run_isolated(config, pairs, args.seconds, args.warmup)
            rows.append(
                (
                    f"agent pairs: {config}",
                    f"{pairs} pairs",
                    f"{100 * result.cpu_per_pair:.1f}% per pair",
                    f"{100 * result.cpu_per_pair * pairs:.1f}% total",
                    f"{result.fps_per_viewer:.1f}",
                )
            )
            print(" | ".join(rows[-1]), file=sys.stderr, flush=True)  # progress
    rows += asyncio.run(router_rows(args.layouts, args.seconds))
    load_after = os.getloadavg()

    print(
        f"# {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"load average (1/5/15 min) before {' '.join(f'{x:.2f}' for x in load_before)}, "
        f"after {' '.join(f'{x:.2f}' for x in load_after)}"
    )
    print(
        f"# VP8 {WIDTH}x{HEIGHT} {FPS} fps; {args.seconds:g} s measured per row; agent pairs: "
        f"synthetic source, no server; router: pre-encoded clip of {clip_kbps():.0f} kbit/s, "
        "router alone in its process, viewers count frames"
    )
    header: Row = ("what", "size", "CPU (% of one core)", "whole process", "fps per viewer")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
