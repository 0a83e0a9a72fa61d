"""The metrics a scenario can put thresholds on, and how each is read from a `RunResult`.

This registry is the one list of metric names: the `expect` section of the language, the
evaluation and the reports all take it from here."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.scenario.meetings import MIN_OVERLAP, gaps, intersect, meetings
from agent.scenario.results import (
    Freeze,
    ParticipantResult,
    RunResult,
    Sample,
    StreamDirection,
    StreamResult,
    TranscriptResult,
)
from agent.scenario.units import Quantity

if TYPE_CHECKING:
    from media.transcription.checks import UtteranceScore

__all__ = [
    "AGGREGATES",
    "METRICS",
    "Expected",
    "Metric",
    "MetricValue",
    "aggregate",
    "percentile",
    "summarize",
    "understood",
]


@dataclass(frozen=True)
class MetricValue:
    """One measured value; `weight` pools ratios (packets, steps) into an overall figure."""

    value: float
    participant: str
    t: float
    stream: str | None = None
    weight: float = 1.0


Extractor = Callable[[RunResult, float], Iterator[MetricValue]]


@dataclass(frozen=True)
class Expected:
    """A stream that should have a value of a metric: from `start` (its warm-up over) to
    `end`; a scope's phases and window keep it when they overlap that long enough."""

    participant: str
    stream: str | None
    """None: a participant's value (a join)."""
    start: float
    end: float


Population = Callable[[RunResult, float], Iterator[Expected]]
"""The streams of a run that should have values (the float is the warm-up, as extracting)."""


@dataclass(frozen=True)
class Metric:
    name: str
    quantity: Quantity
    description: str
    extract: Extractor
    """Values of the run; the float is the warm-up (seconds) cut from each stream's start."""
    population: Population | None = None
    """Every stream that should have a value: an expectation says how many of them it
    covered and fails when it covered fewer (`expect.coverage`)."""
    signed: bool = False
    """Values on both sides of zero, the best at zero (an A/V offset): `compare` calls a
    figure worse when it moved away from zero."""
    higher_is_better: bool = False
    """A quality measured as a fraction (SSIM): `compare` calls a drop worse, as it does for
    rates, bitrates, levels and scores."""
    per: str = ""
    """What one value is of, for the docs' metric table (`agent.scenario.metric_docs`)."""
    counts: str = "streams"
    """What `population` counts, as an expectation's message says it."""
    compared_by_default: bool = True
    """False: `compare` shows the figures but calls no regression unless the scenario or the
    command gives a tolerance (a slope extrapolated to an hour from a short run is noise)."""


AGGREGATES: tuple[str, ...] = (
    "min",
    "max",
    "mean",
    "p50",
    "p90",
    "p95",
    "p99",
    "total",
    "count",
    "overall",
)
"""How a metric's values are reduced to one figure. `overall` is the pooled figure: the
total for counts, the weighted mean for ratios (lost packets over all packets), else the
mean."""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, as numpy's default."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def aggregate(values: Sequence[MetricValue], name: str, quantity: Quantity) -> float | None:
    """One figure for `values`; None when there is nothing to reduce (except `count`)."""
    if name == "count":
        return float(len(values))
    if not values:
        return None
    numbers = [v.value for v in values]
    match name:
        case "min":
            return min(numbers)
        case "max":
            return max(numbers)
        case "mean":
            return math.fsum(numbers) / len(numbers)
        case "total":
            return math.fsum(numbers)
        case "overall":
            if quantity is Quantity.COUNT:
                return math.fsum(numbers)
            weight = math.fsum(v.weight for v in values)
            if weight <= 0:
                return math.fsum(numbers) / len(numbers)
            return math.fsum(v.value * v.weight for v in values) / weight
        case _ if name.startswith("p") and name[1:].isdigit():
            return percentile(numbers, float(name[1:]))
    raise ValueError(f"unknown aggregate {name!r}")


def summarize(values: Sequence[MetricValue], quantity: Quantity) -> dict[str, float | None]:
    """Every aggregate of `values`, as the JSON report lists them."""
    return {name: aggregate(values, name, quantity) for name in AGGREGATES}


# --- extraction ----------------------------------------------------------------------


def _streams(
    result: RunResult, direction: StreamDirection, video_only: bool = False
) -> Iterator[tuple[ParticipantResult, StreamResult]]:
    for participant in result.participants:
        for stream in participant.streams:
            if stream.direction is direction and (stream.has_video or not video_only):
                yield participant, stream


def _warm_from(stream: StreamResult, warmup: float) -> float:
    """Where a stream's measurements start to count: its start plus the warm-up."""
    if stream.started_at is not None:
        start = stream.started_at
    else:
        firsts = [series[0].t for series in (stream.fps, stream.delay, stream.bitrate) if series]
        start = min(firsts, default=0.0)
    return start + warmup


def _series(
    attribute: str, video_only: bool, direction: StreamDirection = StreamDirection.VIEW
) -> Extractor:
    def extract(result: RunResult, warmup: float) -> Iterator[MetricValue]:
        for participant, stream in _streams(result, direction, video_only):
            since = _warm_from(stream, warmup)
            samples: list[Sample] = getattr(stream, attribute)
            for sample in samples:
                if sample.t >= since:
                    yield MetricValue(sample.value, participant.name, sample.t, stream.stream_id)

    return extract


def _frozen_after(freezes: Iterable[Freeze], since: float) -> list[float]:
    """Freeze durations, each clipped to the part after `since`."""
    durations = []
    for freeze in freezes:
        end = freeze.start + freeze.duration
        if end > since:
            durations.append(end - max(freeze.start, since))
    return durations


def _freeze_count(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    for participant, stream in _streams(result, StreamDirection.VIEW, video_only=True):
        frozen = _frozen_after(stream.freezes, _warm_from(stream, warmup))
        t = stream.started_at or 0.0
        yield MetricValue(float(len(frozen)), participant.name, t, stream.stream_id)


def _freeze_total(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    for participant, stream in _streams(result, StreamDirection.VIEW, video_only=True):
        frozen = _frozen_after(stream.freezes, _warm_from(stream, warmup))
        t = stream.started_at or 0.0
        yield MetricValue(math.fsum(frozen), participant.name, t, stream.stream_id)


def _packet_loss(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    for participant, stream in _streams(result, StreamDirection.VIEW):
        sent = stream.packets_received + stream.packets_lost
        if sent:
            t = stream.started_at or 0.0
            loss = stream.packets_lost / sent
            yield MetricValue(loss, participant.name, t, stream.stream_id, weight=sent)


def _audio_concealed(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    for participant, stream in _streams(result, StreamDirection.VIEW):
        if stream.concealed is not None:
            t = stream.started_at or 0.0
            yield MetricValue(stream.concealed, participant.name, t, stream.stream_id)


def _once(direction: StreamDirection, has: Callable[[StreamResult], bool]) -> Population:
    """Streams that should have one value (at the stream's start, warm-up or not): those of
    `direction` that `has` says measured it."""

    def population(result: RunResult, warmup: float) -> Iterator[Expected]:
        for participant, stream in _streams(result, direction):
            if has(stream):
                t = stream.started_at or 0.0
                yield Expected(participant.name, stream.stream_id, t, t)

    return population


_carried_views = _once(StreamDirection.VIEW, lambda stream: stream.carried)
"""Viewed streams that received anything: each has packets, so a loss figure."""


def _views_set_up(result: RunResult, warmup: float) -> Iterator[Expected]:
    """Viewed streams that should have connected: those that received anything, and those
    that lasted `MIN_OVERLAP` (a view still connecting when its publisher left under churn,
    or when the run ended, is not expected to have)."""
    for participant, stream in _streams(result, StreamDirection.VIEW):
        t = stream.started_at or 0.0
        ended = stream.ended_at if stream.ended_at is not None else result.duration
        if stream.carried or ended - t >= MIN_OVERLAP:
            yield Expected(participant.name, stream.stream_id, t, t)


SAMPLED_SPAN = MIN_OVERLAP
"""Seconds a stream must last after its warm-up to be expected in a sampled series: its
first sample only starts the count (a rate needs two), and a short stay under churn may
end before the next. A viewed stream must also have been read twice after its warm-up."""


def _sampled(
    direction: StreamDirection,
    video_only: bool = False,
    measures: Measures = lambda who, stream, publisher: True,
) -> Population:
    """Streams that should have values in a per-second series: viewed ones that received
    anything (published ones: all) and receive as the series needs (`measures`), lasting
    `SAMPLED_SPAN` after their warm-up."""

    def population(result: RunResult, warmup: float) -> Iterator[Expected]:
        people = {participant.name: participant for participant in result.participants}
        for participant, stream in _streams(result, direction, video_only):
            if direction is StreamDirection.VIEW and not stream.carried:
                continue
            if not measures(participant, stream, people.get(stream.publisher or "")):
                continue
            start = _warm_from(stream, warmup)
            end = stream.ended_at if stream.ended_at is not None else result.duration
            if end - start < SAMPLED_SPAN:
                continue
            if direction is StreamDirection.VIEW and _sampled_times(stream, start) < 2:
                continue  # the sampler starved (a slow browser page): nothing was read at all
            yield Expected(participant.name, stream.stream_id, start, end)

    return population


_SERIES = ("fps", "delay", "bitrate", "jitter", "audio_level", "av_sync", "psnr", "ssim")


def _sampled_times(stream: StreamResult, since: float) -> int:
    """How many times from `since` on the sampler read the stream (any of its series): once a
    stream was read twice, a series without a value there is a gap of that series."""
    times: set[float] = set()
    for name in _SERIES:
        samples: list[Sample] = getattr(stream, name)
        times.update(sample.t for sample in samples if sample.t >= since)
    return len(times)


Measures = Callable[[ParticipantResult, StreamResult, ParticipantResult | None], bool]
"""Whether a viewer's stream (of that publisher, if known) should have values of a series."""


def _decodes(*kinds: str) -> Measures:
    """Whether a viewed stream's media of each of `kinds` ("main": video if it has any, else
    audio) was decoded (or sampled) and carries its marks: light reception reads no timecode
    and no sample. A browser decodes all, but its page reads the video timecode alone, and
    sends its fake microphone's beep, not timing marks: no audio delay either way."""

    def measures(
        who: ParticipantResult, stream: StreamResult, publisher: ParticipantResult | None
    ) -> bool:
        main = "video" if stream.has_video else "audio"
        wanted = [main if kind == "main" else kind for kind in kinds]
        browsers = who.kind == "browser" or (publisher is not None and publisher.kind == "browser")
        if browsers and "audio" in wanted:
            return False
        return all(stream.reception.get(kind, "light") != "light" for kind in wanted)

    return measures


def _audio_heard(
    who: ParticipantResult, stream: StreamResult, publisher: ParticipantResult | None
) -> bool:
    """Whether a viewed stream's audio level was measured: decoded by an agent. A browser's
    page plays its audio muted (autoplay without a gesture), and Chromium's
    `totalAudioEnergy` then stays 0: silence that was not, so it reports no level."""
    return who.kind != "browser" and stream.reception.get("audio", "light") != "light"


def _packets_lost(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    for participant, stream in _streams(result, StreamDirection.VIEW):
        t = stream.started_at or 0.0
        yield MetricValue(float(stream.packets_lost), participant.name, t, stream.stream_id)


def _setup_time(direction: StreamDirection, attribute: str) -> Extractor:
    def extract(result: RunResult, warmup: float) -> Iterator[MetricValue]:
        for participant, stream in _streams(result, direction):
            value: float | None = getattr(stream, attribute)
            if value is not None:
                t = stream.started_at or 0.0
                yield MetricValue(value, participant.name, t, stream.stream_id)

    return extract


def _join_time(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    """Every join counts, re-joins too (churn)."""
    for participant in result.participants:
        for joined_at, _, join_time in participant.presences(result.duration):
            if join_time is not None:
                yield MetricValue(join_time, participant.name, joined_at)


def _joiners(result: RunResult, warmup: float) -> Iterator[Expected]:
    """Every participant, at its arrival: each should have joined (the evaluation leaves out
    groups whose timeline has no join: it knows the scenario)."""
    for participant in result.participants:
        yield Expected(participant.name, None, participant.arrived_at, participant.arrived_at)


def _round_trips(attribute: str) -> Extractor:
    def extract(result: RunResult, warmup: float) -> Iterator[MetricValue]:
        for participant in result.participants:
            for request in getattr(participant, attribute):
                if request.round_trip is not None:
                    yield MetricValue(request.round_trip, participant.name, request.t)

    return extract


def _compositions(attribute: str) -> Extractor:
    def extract(result: RunResult, warmup: float) -> Iterator[MetricValue]:
        for participant in result.participants:
            for composition in participant.compositions:
                value = getattr(composition, attribute)
                if value is not None:
                    yield MetricValue(value, participant.name, composition.t)

    return extract


def _media_gap(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    """Per meeting of a viewer with a published stream it viewed: the seconds without a
    frame (video) or a packet (audio-only), after the first-frame grace (or the warm-up, if
    longer). A stream that stopped while its publisher still published counts for as long
    as it lasts, whatever the cause; views that cannot tell (`flowing`) are left out."""

    def viewed(viewer: ParticipantResult, publisher: ParticipantResult) -> bool:
        published = {id_ for s in publisher.streams for id_ in s.ids}
        return any(s.stream_id in published for s in viewer.streams)

    for meeting in meetings(result, viewed):
        start = meeting.start + max(MIN_OVERLAP, warmup)
        flowed = meeting.flowed()
        if flowed is None or start >= meeting.stop:
            continue
        missing = gaps((start, meeting.stop), intersect(flowed, [(start, meeting.stop)]))
        value = math.fsum(stop - begin for begin, stop in missing)
        yield MetricValue(value, meeting.viewer.name, meeting.start, meeting.stream.stream_id)


def _error_count(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    for participant in result.participants:
        yield MetricValue(float(len(participant.errors)), participant.name, participant.arrived_at)


def _error_rate(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    for participant in result.participants:
        steps = len(participant.steps)
        if steps:
            failed = sum(1 for step in participant.steps if not step.ok)
            yield MetricValue(failed / steps, participant.name, participant.arrived_at, None, steps)


def _measured_drift(series: Sequence[Sample], warmup: float) -> list[Sample]:
    """A drift series from the warm-up on (the run's first seconds set up its calls)."""
    return [sample for sample in series if sample.t >= warmup]


def _memory_slope(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    from agent.participant.drift import slope_per_hour  # the call stack: not for `validate`

    for process in result.health:
        points = _measured_drift(process.resident_memory_mb, warmup)
        slope = slope_per_hour([(point.t, point.value) for point in points])
        if slope is not None:
            yield MetricValue(slope, process.process, points[-1].t)


def _growth(series: str) -> Extractor:
    def extract(result: RunResult, warmup: float) -> Iterator[MetricValue]:
        for process in result.health:
            points = _measured_drift(getattr(process, series), warmup)
            if len(points) >= 2:
                yield MetricValue(points[-1].value - points[0].value, process.process, points[-1].t)

    return extract


def understood(
    result: RunResult,
) -> Iterator[tuple[ParticipantResult, TranscriptResult, UtteranceScore]]:
    """Each utterance a speaking participant said, scored against each transcript of it:
    (listener, transcript, score). Imported here: `validate` and `schema` load no numpy."""
    speakers = {p.name: p for p in result.participants if p.said}
    if not speakers:
        return
    from media.transcription.checks import Reference, score_utterances

    for listener in result.participants:
        for transcript in listener.transcripts:
            speaker = speakers.get(transcript.publisher or "")
            if speaker is None:
                continue
            said = [
                Reference(u.text, u.start, u.end)
                for u in speaker.said
                if u.stream_id in (None, transcript.stream_id)
            ]
            for scored in score_utterances(said, transcript.segments):
                yield listener, transcript, scored


def _word_error_rate(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    for listener, transcript, scored in understood(result):
        yield MetricValue(
            scored.word_error_rate,
            listener.name,
            scored.start,
            transcript.stream_id,
            weight=scored.words,
        )


def _transcript_latency(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    for listener in result.participants:
        for transcript in listener.transcripts:
            for segment in transcript.segments:
                yield MetricValue(segment.latency, listener.name, segment.end, transcript.stream_id)


def _response_latency(result: RunResult, warmup: float) -> Iterator[MetricValue]:
    """As each transcribing participant heard it: from the end of one stream's talk spurt to
    the start of another's answer; and from the end of what the listener itself said to the
    start of an answer it heard (the figure of a voice agent, as its caller perceives it)."""
    from media.vad import response_latencies

    for listener in result.participants:
        heard = listener.transcripts
        for first in heard:
            for second in heard:
                if first is not second:
                    for _, answer, gap in response_latencies(first.spurts, second.spurts):
                        yield MetricValue(gap, listener.name, answer.start, second.stream_id)
        for other in heard:
            for _, answer, gap in response_latencies(listener.said, other.spurts):
                yield MetricValue(gap, listener.name, answer.start, other.stream_id)


_ALL = (
    Metric(
        "join_time",
        Quantity.TIME,
        "Seconds from the join call to joined, per join (re-joins count too).",
        _join_time,
        _joiners,
        per="join call until joined, every join (re-joins too)",
        counts="participants",
    ),
    Metric(
        "publish_time",
        Quantity.TIME,
        "Seconds from starting to publish a stream until media flows.",
        _setup_time(StreamDirection.PUBLISH, "setup_time"),
        _once(StreamDirection.PUBLISH, lambda stream: stream.started_at is not None),
        per="published stream: start of publishing until media flows",
    ),
    Metric(
        "view_time",
        Quantity.TIME,
        "Seconds from starting to view a stream until it is connected.",
        _setup_time(StreamDirection.VIEW, "setup_time"),
        _views_set_up,
        per="viewed stream: start of viewing until connected",
    ),
    Metric(
        "first_frame_time",
        Quantity.TIME,
        "Seconds from starting to view a stream until its first frame.",
        _setup_time(StreamDirection.VIEW, "first_frame_time"),
        _once(StreamDirection.VIEW, lambda stream: stream.has_video and stream.frames > 0),
        per="viewed stream: start of viewing until its first frame",
    ),
    Metric(
        "video_fps",
        Quantity.RATE,
        "Frames per second received, sampled over time.",
        _series("fps", video_only=True),
        _sampled(StreamDirection.VIEW, video_only=True),
        per="viewed video stream, each second",
    ),
    Metric(
        "delay",
        Quantity.TIME,
        "End-to-end delay of received media, sampled over time.",
        _series("delay", video_only=False),
        _sampled(StreamDirection.VIEW, measures=_decodes("main")),
        per=(
            "viewed stream, each second: mean end-to-end delay of the frames (timecode) or marks "
            "(audio) in that second; needs decoding"
        ),
    ),
    Metric(
        "video_psnr",
        Quantity.SCORE,
        "PSNR (dB) of received synthetic video against the sent frame, sampled over time.",
        _series("psnr", video_only=True),
        per=(
            "viewed synthetic video, each second: mean PSNR (dB) of the frames scored in that "
            "second against the sent frame rebuilt from its timecode; needs decoding (see "
            "[network.md](network.md))"
        ),
    ),
    Metric(
        "video_ssim",
        Quantity.RATIO,
        "SSIM (0..1) of received synthetic video against the sent frame, sampled over time.",
        _series("ssim", video_only=True),
        per="the same for SSIM (0..1)",
        higher_is_better=True,
    ),
    Metric(
        "audio_mos",
        Quantity.SCORE,
        "MOS (wideband PESQ, 1..4.6) of received synthetic audio against the sent sound,"
        " per 4 s window.",
        _series("mos", video_only=False),
        per=(
            "viewed synthetic audio, each second: mean MOS (wideband PESQ, 1-4.6) of the 4 s "
            "windows scored in that second (one per 10 s by default) against the sent sound; "
            "needs `receive: {audio: decode}` (see [network.md](network.md))"
        ),
    ),
    Metric(
        "audio_concealed",
        Quantity.RATIO,
        "Fraction of the audio samples of a received stream that never arrived (concealed).",
        _audio_concealed,
        per="viewed audio stream (decoded): samples that never arrived / samples expected",
    ),
    Metric(
        "bitrate",
        Quantity.BITRATE,
        "Bits per second received, per viewed stream, sampled over time.",
        _series("bitrate", video_only=False),
        _sampled(StreamDirection.VIEW),
        per="viewed stream, each second: bits received",
    ),
    Metric(
        "bitrate_sent",
        Quantity.BITRATE,
        "Bits per second sent, per published stream, sampled over time.",
        _series("bitrate", video_only=False, direction=StreamDirection.PUBLISH),
        _sampled(StreamDirection.PUBLISH),
        per="published stream, each second: bits sent",
    ),
    Metric(
        "jitter",
        Quantity.TIME,
        "Interarrival jitter of received media (RTCP receiver statistics), sampled over time.",
        _series("jitter", video_only=False),
        _sampled(StreamDirection.VIEW),
        per=(
            "viewed stream, each second: interarrival jitter of its main track (video, else audio)"
            " from the receiver's RTCP statistics"
        ),
    ),
    Metric(
        "audio_level",
        Quantity.LEVEL,
        "RMS level (dBFS) of received audio, sampled over time (-120: silence); needs audio"
        " decoding.",
        _series("audio_level", video_only=False),
        _sampled(StreamDirection.VIEW, measures=_audio_heard),
        per=(
            "viewed stream with audio, each second: RMS level of the audio decoded in that second "
            "(`-120`: silence; the synthetic source's marks are about -24 dBFS); needs `receive: "
            "{audio: decode}` (a browser's page plays audio muted: no level)"
        ),
    ),
    Metric(
        "av_sync",
        Quantity.TIME,
        "How far received sound lags the picture of one stream (negative: it leads), from"
        " the audio marks' and video timecodes' delays; needs audio and video decoding.",
        _series("av_sync", video_only=True),
        _sampled(StreamDirection.VIEW, video_only=True, measures=_decodes("audio", "video")),
        signed=True,
        per=(
            "viewed stream with audio and video (`MIC_AND_CAM`): how far the sound lags the "
            "picture (negative: it leads), the mean delay of the audio marks less that of the "
            "video timecodes, paired as both measure; needs `receive: {audio: decode, video: "
            "sampled}` (or decode) and a synthetic source"
        ),
    ),
    Metric(
        "freeze_count",
        Quantity.COUNT,
        "Freezes per received video stream.",
        _freeze_count,
        per="viewed video stream",
    ),
    Metric(
        "freeze_total",
        Quantity.TIME,
        "Seconds frozen per received video stream.",
        _freeze_total,
        per="viewed video stream: seconds frozen",
    ),
    Metric(
        "packet_loss",
        Quantity.RATIO,
        "Fraction of packets lost per received stream.",
        _packet_loss,
        _carried_views,
        per="viewed stream: lost / (received + lost)",
    ),
    Metric(
        "packets_lost",
        Quantity.COUNT,
        "Packets lost per received stream.",
        _packets_lost,
        per="viewed stream",
    ),
    Metric(
        "snapshot_round_trip",
        Quantity.TIME,
        "Seconds from a snapshot request to the snapshot acquired.",
        _round_trips("snapshots"),
        per="snapshot request until acquired",
    ),
    Metric(
        "camera_round_trip",
        Quantity.TIME,
        "Seconds from a camera request to its processed answer.",
        _round_trips("camera_requests"),
        per="camera request until processed",
    ),
    Metric(
        "recording_start_time",
        Quantity.TIME,
        "Seconds from a start_recording request until the platform's recorder is ACTIVE.",
        _round_trips("recording_starts"),
        per="`start_recording` request until the platform's recorder is ACTIVE",
    ),
    Metric(
        "composition_time",
        Quantity.TIME,
        "Seconds from requesting a composition until it was COMPLETED (polled).",
        _compositions("composition_time"),
        per=(
            "composition (`compose` step with `wait`): request until seen COMPLETED (polled every "
            "0.5 s)"
        ),
    ),
    Metric(
        "composition_queue_time",
        Quantity.TIME,
        "Seconds a composition waited in the queue (QUEUED, as polled).",
        _compositions("queue_time"),
        per="composition: request until first seen out of QUEUED (polled)",
    ),
    Metric(
        "media_gap",
        Quantity.TIME,
        "Seconds a viewer in a call received no frame of a video stream (no packet of an "
        "audio-only one) being published, per meeting of the two (after a grace of 3 s).",
        _media_gap,
        per=(
            "meeting of a viewer (in the call, viewing the publisher's group) with a published "
            "stream: seconds without a frame (video) or a packet (audio-only: not decoded on the "
            "light path) after a 3 s first-frame grace (or the warm-up);"
            " a stream that stopped while its publisher still published counts for as long as it "
            "lasted, whatever the cause (an outage of the platform too)"
        ),
    ),
    Metric(
        "word_error_rate",
        Quantity.RATIO,
        "Word errors over words said, per utterance of a `source: speech` participant, as a"
        " transcribing participant understood it (`overall`: over all words).",
        _word_error_rate,
        per=(
            "utterance a `source: speech` participant said, as a transcribing participant "
            "understood it: word errors / words said (lower case, no punctuation); `overall`: all "
            "errors over all words"
        ),
    ),
    Metric(
        "transcript_latency",
        Quantity.TIME,
        "Seconds from the end of a talk spurt to its text, per transcribed segment.",
        _transcript_latency,
        per="transcribed segment: end of its speech until its text was available",
    ),
    Metric(
        "response_latency",
        Quantity.TIME,
        "Seconds from the end of one participant's speech to the start of the other's answer"
        " (voice activity), as a transcribing participant heard them.",
        _response_latency,
        per=(
            "as a transcribing participant heard it: end of one stream's talk spurt until the "
            "start of another's answer (before the first speaks again, within 10 s); and end of "
            "what the transcribing participant itself said until an answer it heard starts"
        ),
    ),
    Metric(
        "error_count", Quantity.COUNT, "Errors per participant.", _error_count, per="participant"
    ),
    Metric(
        "memory_slope",
        Quantity.COUNT,
        "MB per hour that a participants' process's resident memory grew, the least-squares"
        " slope of its samples (every 5 s) from the warm-up to the end of the measured part.",
        _memory_slope,
        compared_by_default=False,
        per="participants' process: least-squares slope of its resident memory per hour, over"
        " its drift samples (every 5 s, and one at the end of the measured part) from the"
        " warm-up on",
    ),
    Metric(
        "fds_growth",
        Quantity.COUNT,
        "Open file descriptors a participants' process gained from the warm-up to the end of"
        " the measured part.",
        _growth("open_fds"),
        per="participants' process: open file descriptors at the end of the measured part"
        " minus at its first sample after the warm-up",
    ),
    Metric(
        "threads_growth",
        Quantity.COUNT,
        "Threads a participants' process gained over the measured part (after the warm-up).",
        _growth("threads"),
        per="participants' process: the same for threads",
    ),
    Metric(
        "tasks_growth",
        Quantity.COUNT,
        "asyncio tasks a participants' process gained over the measured part.",
        _growth("asyncio_tasks"),
        per="participants' process: the same for asyncio tasks",
    ),
    Metric(
        "peer_connections_growth",
        Quantity.COUNT,
        "Peer connections a participants' process gained over the measured part.",
        _growth("peer_connections"),
        per="participants' process: the same for its peer connections",
    ),
    Metric(
        "error_rate",
        Quantity.RATIO,
        "Fraction of timeline steps that failed, per participant.",
        _error_rate,
        per="participant: failed steps / steps",
    ),
)

METRICS: dict[str, Metric] = {metric.name: metric for metric in _ALL}
