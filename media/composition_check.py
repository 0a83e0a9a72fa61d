"""Checks of a composed file's content, not just its state: codecs, size and duration; and,
because the synthetic sources carry timecodes and tone marks, whether each publisher is seen
in its tile at the right moments and the mixed audio lines up with the pictures.

Every check returns a list of problems (empty when the file passes), written for a report;
tests and scenario expectations share them.

The tile check needs the schedule of who published when, on the composition's timeline
(seconds from its start): `TileSpan(start, end)`, in the order they started, which is the
GRID order of the renderer (`media.layout`). `origin_ms` is the wall-clock time (epoch ms) of
the composition's t = 0, i.e. the recording's start: a tile showing at output time t a frame
captured at wall time W is W - origin_ms - 1000 t ms early (negative: late); that must be
steady (within 0.25 s of the tile's median) and the median small (within 1 s, the way from camera
to recorder).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from media import timecode
from media.analysis import ToneOnsetDetector, mark_delay, mono_samples
from media.layout import Rect, fit, grid

TIMECODE_BOUND = 0.25
"""How far (seconds) a tile's picture may stray from its usual delay: the composer holds each
frame until the next (1/15 s), plus the source's frame interval and encoder rounding."""
DELAY_BOUND = 1.0
"""How late (seconds, the median) a tile's pictures may be against the wall clock they were
captured by: the way from the publisher's camera to the recorder (encode, network, jitter
buffer), which a loaded machine stretches; not the composer's doing."""
AV_SYNC_BOUND = 0.1
"""How far (seconds) the mixed audio's tone marks may be from the video's timecodes."""
LIVE_TIMECODE_BOUND = 0.6
"""`TIMECODE_BOUND` for a call recorded live on a loaded machine: the publishers' own event
loop can stall for a few frames (every tile late at the same moment, 0.42 s seen under the
suite's load); frozen, missing or out-of-order tiles still fail."""
FROZEN_AFTER = 0.5
"""A tile whose timecode does not advance for this long (seconds) is frozen."""
SETTLE = 0.2
"""Seconds after a tile appears or the layout changes that are not judged."""


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What PyAV reads of a file's streams."""

    video_codec: str | None
    audio_codec: str | None
    width: int | None
    height: int | None
    duration: float
    video_frames: int = 0


def probe(path: Path) -> MediaInfo:
    with av.open(str(path)) as container:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = container.duration / 1_000_000 if container.duration else 0.0
        frames = 0
        if video is not None:
            frames = sum(1 for _ in container.demux(video) if _.size)
        return MediaInfo(
            video_codec=video.codec_context.name if video else None,
            audio_codec=audio.codec_context.name if audio else None,
            width=video.codec_context.width if video else None,
            height=video.codec_context.height if video else None,
            duration=duration,
            video_frames=frames,
        )


def check_media(
    path: Path,
    *,
    kind: str,
    size: tuple[int, int] | None = None,
    duration: float | None = None,
) -> list[str]:
    """VIDEO: H264 at `size` plus AAC; AUDIO: MP3 and no video; the duration within
    max(1 s, 5%) of `duration`."""
    try:
        info = probe(path)
    except (av.FFmpegError, IndexError, OSError) as exc:
        return [f"{path.name}: not readable media ({exc})"]
    problems: list[str] = []
    if kind.upper() == "VIDEO":
        if info.video_codec != "h264":
            problems.append(f"video codec is {info.video_codec}, expected h264")
        if size is not None and (info.width, info.height) != size:
            problems.append(f"video is {info.width}x{info.height}, expected {size[0]}x{size[1]}")
        if info.audio_codec != "aac":
            problems.append(f"audio codec is {info.audio_codec}, expected aac")
    else:
        if info.audio_codec not in ("mp3", "mp3float"):
            problems.append(f"audio codec is {info.audio_codec}, expected mp3")
        if info.video_codec is not None:
            problems.append(f"an AUDIO composition has a {info.video_codec} video stream")
    if duration is not None and abs(info.duration - duration) > max(1.0, 0.05 * duration):
        problems.append(f"lasts {info.duration:.2f} s, expected {duration:.2f} s")
    return problems


@dataclass(frozen=True, slots=True)
class TileSpan:
    """A publisher's video on the composition's timeline."""

    start: float
    end: float
    label: str = ""
    source: tuple[int, int] | None = None
    """The publisher's picture size (or just its aspect, e.g. (16, 9)); None: told from the
    letterbox bars in its tile."""


@dataclass
class TileReport:
    label: str
    judged: int = 0
    read: int = 0
    offsets: list[float] = field(default_factory=list)
    """Picture time - shown time of every readable frame (seconds; negative: shown late)."""
    longest_still: float = 0.0

    @property
    def read_ratio(self) -> float:
        return self.read / self.judged if self.judged else 0.0


ASPECTS = ((4, 3), (16, 9), (1, 1), (3, 4), (9, 16), (5, 4))
"""Picture shapes a detected one is snapped to (the renderer fits exactly these ratios)."""
LIT = 48
"""Luma above which a row or column of a tile is picture, not letterbox bar (black is 16)."""


def detect_aspect(luma: np.ndarray, tile: Rect) -> tuple[int, int] | None:
    """The shape of the picture in `tile`, from where its black bars end; None when the tile
    is all black (no frame yet)."""
    region = luma[tile.y : tile.y + tile.height, tile.x : tile.x + tile.width]
    rows = np.flatnonzero(region.max(axis=1) > LIT)
    cols = np.flatnonzero(region.max(axis=0) > LIT)
    if rows.size == 0 or cols.size == 0:
        return None
    height, width = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
    aspect = width / height
    best = min(ASPECTS, key=lambda a: abs(a[0] / a[1] - aspect))
    return best if abs(best[0] / best[1] - aspect) / aspect < 0.08 else (width, height)


def read_tiles(
    path: Path, spans: Sequence[TileSpan], origin_ms: float
) -> tuple[list[TileReport], list[float]]:
    """Per tile, what its timecodes say; and the video's offsets (picture wall time - shown
    time, seconds) over all readable tiles, for the A/V comparison."""
    reports = [TileReport(span.label or f"tile {n}") for n, span in enumerate(spans)]
    offsets: list[float] = []
    last_seq: list[tuple[int, float] | None] = [None] * len(spans)
    shapes: dict[int, tuple[int, int]] = {}
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.pts is None or frame.time_base is None:
                continue
            t = float(frame.pts * frame.time_base)
            showing = [n for n, s in enumerate(spans) if s.start <= t < s.end]
            rects = grid(len(showing), frame.width, frame.height)
            luma = timecode.luma(frame)
            changed_at = max([spans[n].start for n in showing], default=0.0)
            ended = [s.end for s in spans if s.end <= t]
            settled = t - max([changed_at, *ended]) >= SETTLE
            for n, tile in zip(showing, rects, strict=True):
                span = spans[n]
                if not settled or span.end - t < SETTLE:
                    # Not judged, and no shape told from it: around a layout change the
                    # renderer's grid may still be the old one (our schedule and its differ
                    # by a rounding), and a shape read from another tile's picture would make
                    # the whole tile unreadable.
                    continue
                shape = span.source or shapes.get(n) or detect_aspect(luma, tile)
                if shape is None:
                    shape = (frame.width, frame.height)
                elif span.source is None and shape in ASPECTS:
                    shapes[n] = shape  # an odd shape is told again on the next frame
                place = fit(shape[0], shape[1], tile)
                code = timecode.read(
                    np.ascontiguousarray(
                        luma[place.y : place.y + place.height, place.x : place.x + place.width]
                    )
                )
                report = reports[n]
                report.judged += 1
                if code is None:
                    continue
                report.read += 1
                offset = (code[1] - origin_ms) / 1000 - t
                report.offsets.append(offset)
                offsets.append(offset)
                previous = last_seq[n]
                if previous is None or previous[0] != code[0]:
                    last_seq[n] = (code[0], t)
                else:
                    report.longest_still = max(report.longest_still, t - previous[1])
    return reports, offsets


def check_tiles(
    path: Path,
    spans: Sequence[TileSpan],
    origin_ms: float,
    *,
    bound: float = TIMECODE_BOUND,
    delay_bound: float = DELAY_BOUND,
    min_read: float = 0.8,
) -> list[str]:
    """Each publisher's timecode is readable in its tile (at least `min_read` of the frames);
    its pictures come at a steady delay after their capture (the median within `delay_bound`,
    each frame within `bound` of the median: no tile runs fast, slow or out of order); and it
    keeps moving (no frozen tile)."""
    reports, _ = read_tiles(path, spans, origin_ms)
    return _tile_problems(reports, bound, delay_bound, min_read)


def _tile_problems(
    reports: list[TileReport], bound: float, delay_bound: float, min_read: float
) -> list[str]:
    problems: list[str] = []
    for report in reports:
        if report.judged == 0:
            problems.append(f"{report.label}: never shown")
            continue
        if report.read_ratio < min_read:
            problems.append(
                f"{report.label}: timecode read in {report.read}/{report.judged} frames"
            )
        if report.offsets:
            usual = statistics.median(report.offsets)
            stray = max(abs(o - usual) for o in report.offsets)
            if abs(usual) > delay_bound:
                problems.append(
                    f"{report.label}: pictures {abs(usual):.3f} s from their capture time "
                    f"(bound {delay_bound} s)"
                )
            if stray > bound:
                problems.append(
                    f"{report.label}: a picture {stray:.3f} s off the tile's usual delay "
                    f"(bound {bound} s)"
                )
        if report.longest_still > FROZEN_AFTER:
            problems.append(f"{report.label}: frozen for {report.longest_still:.2f} s")
    return problems


def audio_mark_offsets(path: Path, origin_ms: float, tone_hz: float = 1000.0) -> list[float]:
    """Where the tone marks of the mix fall relative to the whole wall-clock seconds they were
    sent at (seconds, signed; the sources start a mark at every whole second)."""
    offsets: list[float] = []
    detector: ToneOnsetDetector | None = None
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            if frame.pts is None or frame.time_base is None:
                continue
            if detector is None:
                detector = ToneOnsetDetector(tone_hz, frame.sample_rate)
            at = float(frame.pts * frame.time_base)
            for onset in detector.add(mono_samples(frame), at):
                wall = origin_ms / 1000 + onset
                delay = mark_delay(wall, 1.0)
                if delay is None:
                    delay = (wall % 1.0) - 1.0
                offsets.append(delay)
    return offsets


def check_sync(
    path: Path,
    spans: Sequence[TileSpan],
    origin_ms: float,
    *,
    bound: float = AV_SYNC_BOUND,
) -> list[str]:
    """The mixed audio is aligned with the pictures: the median offset of the tone marks and
    of the timecodes differ by at most `bound` seconds."""
    _, video = read_tiles(path, spans, origin_ms)
    audio = audio_mark_offsets(path, origin_ms)
    if not video:
        return ["no readable timecode to compare the audio with"]
    if not audio:
        return ["no tone mark found in the audio"]
    # How late each is shown: a mark sent at wall W sounding at t is (origin + t - W) late; a
    # picture captured at W shown at t is late by minus its offset (W - origin - t).
    audio_late = statistics.median(audio)
    video_late = -statistics.median(video)
    skew = audio_late - video_late
    if abs(skew) > bound:
        return [f"audio and video are {skew * 1000:.0f} ms apart (bound {bound * 1000:.0f} ms)"]
    return []
