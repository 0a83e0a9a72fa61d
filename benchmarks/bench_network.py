"""CPU cost of per-participant impairment and of live video quality scoring.

Impairment: the time `Direction.submit` adds per datagram (ideal, and the "4g" and
"lossy-wifi" presets, which queue, delay and drop), on one event loop, packets delivered to a
no-op; compared with what a packet costs in the engine (about 100-150 us of CPU a packet,
RESULTS.md, `bench_density.py`), it gives the share of the engine's CPU. (With a rate limit
most of these back-to-back packets overflow the queue: its figure is the drop path's.)
Quality: one PSNR+SSIM score of a 640x360 and a 320x180 frame (rebuild + compare), which a
viewer does once per `quality_interval` (1 s by default); one audio MOS window (4 s, wideband
PESQ with the alignment), which a viewer that decodes audio does once per
`audio_quality_interval` (10 s by default), and the per-frame bookkeeping between windows.

    .venv/bin/python benchmarks/bench_network.py
"""

from __future__ import annotations

import asyncio
import random
import time

from agent.network import Direction, preset
from media.audio import SyntheticSound, speech_like
from media.audio_quality import AudioQuality
from media.pacing import AUDIO_SAMPLE_RATE, AUDIO_SAMPLES_PER_FRAME
from media.quality import VideoQuality
from media.video import SyntheticVideoTrack

PACKETS = 200_000


async def _submit_cost(name: str) -> float:
    profile = preset(name)
    direction = Direction(profile.down, random.Random(1))
    data = bytes(1100)

    def deliver(_data: bytes, _addr: object) -> None:
        return None

    start = time.process_time()
    for index in range(PACKETS):
        direction.submit(deliver, data, None)
        if index % 500 == 0:
            await asyncio.sleep(0)  # let timers run, as the loop would between reads
    await asyncio.sleep(0.5)
    return (time.process_time() - start) / PACKETS * 1e6


def _quality_cost(width: int, height: int) -> float:
    track = SyntheticVideoTrack(width, height, 30)
    frames = [(track.render(i), track.last_code) for i in range(20)]
    quality = VideoQuality(interval=0)
    start = time.process_time()
    for index, (frame, code) in enumerate(frames):
        quality.add(frame, code, float(index))
    return (time.process_time() - start) / len(frames) * 1e3


def _mos_cost() -> tuple[float, float]:
    """(ms of CPU per scored window, us of CPU per 20 ms frame added between windows)."""
    speech_like()  # built once per process (cached), not per viewer
    sound = SyntheticSound(marks=True, speech=True)
    quality = AudioQuality(interval=4.0)
    first = round(1_800_000_000.3 * AUDIO_SAMPLE_RATE)
    frames = [sound.samples(first + i * 960, AUDIO_SAMPLES_PER_FRAME) for i in range(1000)]
    windows = []
    adding = 0.0
    for index, samples in enumerate(frames):
        start = time.process_time()
        window = quality.add(samples, index * 960, (first + index * 960) / AUDIO_SAMPLE_RATE, 0.0)
        adding += time.process_time() - start
        if window is not None:
            windows.append(window)
    start = time.process_time()
    for window in windows:
        quality.score(window)
    scoring = (time.process_time() - start) / len(windows) * 1e3
    return scoring, adding / len(frames) * 1e6


async def main() -> None:
    for name in ("ideal", "4g", "lossy-wifi", "3g"):
        print(f"impairment {name:10s}: {await _submit_cost(name):6.2f} us CPU per packet")
    for size in ((640, 360), (320, 180)):
        print(f"quality {size[0]}x{size[1]}: {_quality_cost(*size):6.2f} ms CPU per scored frame")
    window_ms, frame_us = _mos_cost()
    print(f"audio MOS: {window_ms:6.1f} ms CPU per 4 s window, {frame_us:5.1f} us per 20 ms frame")


if __name__ == "__main__":
    asyncio.run(main())
