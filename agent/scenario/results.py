"""What a run measured: the runner fills it, expectations and reports read it.

Times are seconds since the run started (`RunResult.started_at`), so samples from every
participant share one clock and a report can draw them on one axis."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "RECENT_LOOK",
    "ErrorRecord",
    "Freeze",
    "HeardSegment",
    "HeardWord",
    "PageHealth",
    "ParticipantResult",
    "PhaseRecord",
    "Presence",
    "ProcessHealth",
    "RoundTrip",
    "RunResult",
    "SaidRecord",
    "Sample",
    "Span",
    "StepRecord",
    "StreamDirection",
    "StreamResult",
    "TranscriptResult",
    "ViewingChange",
]


class _Record(BaseModel):
    # NaN or infinity from a broken measurement is caught where it is recorded, not when
    # a report cannot be written.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Sample(_Record):
    """One measurement at time `t`."""

    t: float
    value: float


class Freeze(_Record):
    """A stretch where a received video stream showed no new frame."""

    start: float
    duration: float = Field(ge=0)


class RoundTrip(_Record):
    """A request answered (or not) by another participant: snapshots, camera requests.

    `round_trip` is None when no answer came; that counts as an error, not as a time."""

    t: float
    target: str | None = None
    round_trip: float | None = Field(default=None, ge=0)
    succeeded: bool = True


class CompositionRecord(_Record):
    """A composition this participant requested (seed 003), as it went."""

    t: float
    conversation: str
    id: str
    type: str
    state: str | None = None
    """The last state seen: COMPLETED, FAILED, CANCELLED, or still under way."""
    queue_time: float | None = Field(default=None, ge=0)
    """Seconds from the request until it was first seen out of QUEUED (as polled)."""
    composition_time: float | None = Field(default=None, ge=0)
    """Seconds from the request until it was seen COMPLETED (as polled)."""
    duration: float | None = Field(default=None, ge=0)
    """Seconds of media it holds (the platform's `duration`)."""
    file: str | None = None
    """Where it was downloaded, relative to the report directory."""
    problems: list[str] = Field(default_factory=list)
    """What the content check found wrong with the file."""


class RecordedTrackResult(_Record):
    """One track of a recording this participant stopped, as the platform reports it:
    how long its stream was published while recorded and how long the file covers."""

    recorder: str
    user: str | None = None
    kind: str
    published: float | None = Field(default=None, ge=0)
    """Seconds the stream was published while recorded."""
    recorded: float | None = Field(default=None, ge=0)
    """Seconds from the track's first to its last packet; None without a file."""
    size: int | None = Field(default=None, ge=0)
    """Bytes of the track's file; None when there is none."""


class ErrorRecord(_Record):
    t: float
    step: str | None = None
    message: str


class StepRecord(_Record):
    """One timeline step a participant performed; `error_rate` counts these."""

    t: float
    kind: str
    duration: float = Field(ge=0)
    ok: bool = True


class StreamDirection(StrEnum):
    PUBLISH = "publish"
    VIEW = "view"


RECENT_LOOK = 2.0
"""Seconds since a look that counted new packets for an audio-only view to be flowing (the
runner looks every second)."""


class StreamResult(_Record):
    """One published or viewed conference stream of a participant.

    `stream_id` is the conference stream's id on both sides, so a view matches the publish
    it shows. For a viewed stream, `publisher` names the participant whose stream it is; `fps`,
    `delay`, `bitrate` and `freezes` describe what arrived (for a published one, what left)."""

    stream_id: str
    direction: StreamDirection
    stream_type: str
    earlier_ids: list[str] = Field(default_factory=list)
    """A published stream's ids before it was published again under a new one (after a
    resume or a replaced connection): views of those ids showed it too."""
    publisher: str | None = None
    viewer_id: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    setup_time: float | None = Field(default=None, ge=0)
    first_frame_time: float | None = Field(default=None, ge=0)
    frames: int = Field(default=0, ge=0)
    packets_received: int = Field(default=0, ge=0)
    packets_lost: int = Field(default=0, ge=0)
    frames_decoded: int | None = Field(default=None, ge=0)
    """What the browser's decoder output (getStats); None for an agent, whose `frames` are
    what it decoded or counted as its `receive` says."""
    fps: list[Sample] = Field(default_factory=list)
    delay: list[Sample] = Field(default_factory=list)
    bitrate: list[Sample] = Field(default_factory=list)
    freezes: list[Freeze] = Field(default_factory=list)
    jitter: list[Sample] = Field(default_factory=list)
    """Interarrival jitter of the main track (RTCP's figure), seconds, for a viewed stream."""
    audio_level: list[Sample] = Field(default_factory=list)
    """RMS level (dBFS) of the audio decoded since the previous sample (-120: silence)."""
    av_sync: list[Sample] = Field(default_factory=list)
    """Seconds the sound lags the picture (negative: it leads): the audio marks' delay less
    the video timecodes' delay, each the mean of those measured since the previous pair."""
    reception: dict[str, str] = Field(default_factory=dict)
    """How a viewed stream's media was received, per kind ("video": light, sampled or
    decode): which of its series should have values (`agent.scenario.metrics` coverage)."""
    psnr: list[Sample] = Field(default_factory=list)
    """PSNR (dB) of the frames scored since the previous sample (`media.quality`)."""
    ssim: list[Sample] = Field(default_factory=list)
    """SSIM (0..1) of the frames scored since the previous sample."""
    mos: list[Sample] = Field(default_factory=list)
    """MOS (wideband PESQ) of the audio windows scored since the previous sample
    (`media.audio_quality`)."""
    loss: list[Sample] = Field(default_factory=list)
    """Packets lost over packets expected since the previous sample (0..1), for a viewed
    stream: loss over time, where `packets_lost` is the total."""
    concealed: float | None = Field(default=None, ge=0, le=1)
    """Share of the received audio's samples that never arrived (lost, not repaired)."""

    @property
    def ids(self) -> set[str]:
        """Every id this stream had: the current one and `earlier_ids`."""
        return {self.stream_id, *self.earlier_ids}

    @property
    def has_video(self) -> bool:
        return self.stream_type != "MIC"

    @property
    def carried(self) -> bool:
        """Whether anything was received: frames, or packets (audio is not decoded light)."""
        return self.frames > 0 or self.packets_received > 0

    def delivering(self, now: float) -> bool:
        """Whether media arrived at the latest look: frames (video) by its last frame rate,
        else packets since the look before (an audio-only stream: not decoded light)."""
        if self.has_video:
            return bool(self.fps) and self.fps[-1].value > 0
        last = self.loss[-1] if self.loss else None
        return last is not None and last.value < 1.0 and now - last.t <= RECENT_LOOK

    @property
    def label(self) -> str:
        """How reports name this stream: "customers-0 ← agents-0 CAM"."""
        if self.direction is StreamDirection.VIEW and self.publisher:
            return f"← {self.publisher} {self.stream_type}"
        return f"→ {self.stream_type}"


class Presence(_Record):
    """One stay in the conference, from a join to its leave (None: still there at the end).

    Churn joins and leaves many times: each join is one, and `join_time` counts each."""

    joined_at: float
    left_at: float | None = None
    join_time: float = Field(ge=0)


class ViewingChange(_Record):
    """From `t` on, the participant views the streams of these groups (`*`: endpoints the
    run did not create). A join sets the group's `view`; `view` and `stop_view` change it."""

    t: float
    groups: list[str]


class NetworkChange(_Record):
    """From run time `t` on, the participant's link was `profile`."""

    t: float
    profile: str


class NetworkIndication(_Record):
    """What the platform said of this participant's network
    (ConferenceNetworkIndicatorUpdatedEvent), at run time `t`."""

    t: float
    grade: str | None = None
    jitter: float | None = None
    rtt: float | None = None
    quality: float | None = None


class NetworkRecord(_Record):
    """What the participant's shaped link did (`agent.network`): its profile changes and,
    per direction, the packets given, lost (loss, bursts, outages), dropped by the rate
    limit's queue, and delivered."""

    changes: list[NetworkChange] = Field(default_factory=list)
    up: dict[str, int] = Field(default_factory=dict)
    down: dict[str, int] = Field(default_factory=dict)
    platform: list[NetworkIndication] = Field(default_factory=list)
    """What the platform's network indicator said of this participant, beside the above."""


class SaidRecord(_Record):
    """An utterance a participant said (`source: speech`): when its voice was sent."""

    start: float
    end: float
    text: str
    stream_id: str | None = None


class HeardWord(_Record):
    text: str
    start: float
    end: float


class HeardSegment(_Record):
    """A transcribed talk spurt: times on the run's clock as received; `latency` from the end
    of the speech to the text available."""

    start: float
    end: float
    text: str
    latency: float
    words: list[HeardWord] = Field(default_factory=list)


class Span(_Record):
    """Voice activity: one talk spurt as received."""

    start: float
    end: float


class TranscriptResult(_Record):
    """What a transcribing participant heard of one viewed stream."""

    stream_id: str
    publisher: str | None = None
    segments: list[HeardSegment] = Field(default_factory=list)
    spurts: list[Span] = Field(default_factory=list)
    dropped: int = Field(default=0, ge=0)
    """Spurts dropped because the transcription workers fell behind."""
    failed: int = Field(default=0, ge=0)
    """Spurts the engine failed on."""
    files: list[str] = Field(default_factory=list)


class ParticipantResult(_Record):
    """One participant of a group: "agents-0" is index 0 of group "agents".

    `joined_at`, `left_at` and `join_time` are the first join, the last leave and the
    first join's time; `joins` has every stay."""

    name: str
    group: str
    kind: str = "agent"
    """The group's kind: agent, or browser (Chromium on the client page)."""
    index: int = Field(ge=0)
    arrival: int = Field(default=0, ge=0)
    conference: str | None = None
    arrived_at: float
    joined_at: float | None = None
    left_at: float | None = None
    join_time: float | None = Field(default=None, ge=0)
    joins: list[Presence] = Field(default_factory=list)
    viewing: list[ViewingChange] = Field(default_factory=list)
    streams: list[StreamResult] = Field(default_factory=list)
    snapshots: list[RoundTrip] = Field(default_factory=list)
    camera_requests: list[RoundTrip] = Field(default_factory=list)
    recording_starts: list[RoundTrip] = Field(default_factory=list)
    """Each `start_recording`: seconds from the request until the recorder was ACTIVE."""

    compositions: list[CompositionRecord] = Field(default_factory=list)
    recordings: list[RecordedTrackResult] = Field(default_factory=list)
    """Tracks of the recordings this participant started and stopped."""
    steps: list[StepRecord] = Field(default_factory=list)
    errors: list[ErrorRecord] = Field(default_factory=list)
    network: NetworkRecord | None = None
    """The impaired link (the group's `network:`); None on the host's own network."""
    said: list[SaidRecord] = Field(default_factory=list)
    transcripts: list[TranscriptResult] = Field(default_factory=list)

    def presences(self, end: float) -> list[tuple[float, float, float | None]]:
        """(joined at, left at, join time) of every stay; a stay not left ends at `end`.

        A result made without `joins` (a load crowd) has its one stay from the summary."""
        if self.joins:
            return [
                (p.joined_at, p.left_at if p.left_at is not None else end, p.join_time)
                for p in self.joins
            ]
        if self.joined_at is None:
            return []
        left = self.left_at if self.left_at is not None else end
        return [(self.joined_at, left, self.join_time)]


class PhaseRecord(_Record):
    name: str
    start: float
    end: float


class PageHealth(_Record):
    """A browser participant's page CPU (Chromium's `Performance.getMetrics`), in cores."""

    participant: str
    cpu_mean: float = Field(ge=0)
    cpu_max: float = Field(ge=0)
    cpu_saturated_share: float = Field(ge=0, le=1)


class ProcessHealth(_Record):
    """How one process that ran participants fared (`agent.scenario.health`): if it was
    saturated, the run measured the load generator, not the platform.

    Lags are seconds a timer of the event loop fired late; CPU is cores (1.0: one core
    busy, all threads counted); `cpu_saturated_share` is the share of the run's seconds at
    >= 95% of a core. `host_udp_*` count the whole host (or network namespace); None where the
    kernel does not tell (not Linux)."""

    process: str
    """The process's part of the run: its shard, "0/1" for a single process."""
    host: str
    pid: int
    seconds: float = Field(ge=0)
    lag_samples: int = Field(ge=0)
    loop_lag_p50: float = Field(ge=0)
    loop_lag_p99: float = Field(ge=0)
    loop_lag_max: float = Field(ge=0)
    own_lag_p99: float = Field(ge=0)
    """p99 of the lag the process caused itself (its callbacks, its threads holding the
    GIL): the lateness less the time the loop's thread waited for a CPU others held."""
    cpu_wait_share: float | None = Field(default=None, ge=0)
    """Share of the run the loop's thread was runnable but waiting for a CPU (a busy host)."""
    cpu_mean: float = Field(ge=0)
    cpu_max: float = Field(ge=0)
    cpu_saturated_share: float = Field(ge=0, le=1)
    udp_socket_drops: int | None = Field(default=None, ge=0)
    host_udp_rcvbuf_errors: int | None = Field(default=None, ge=0)
    host_udp_in_errors: int | None = Field(default=None, ge=0)
    cpu: list[Sample] = Field(default_factory=list)
    """CPU share of every second of the run."""
    loop_lag: list[Sample] = Field(default_factory=list)
    """The worst loop lag of every second of the run."""
    resident_memory_mb: list[Sample] = Field(default_factory=list)
    """Drift (issue 16), sampled every few seconds of the measured part: resident memory."""
    open_fds: list[Sample] = Field(default_factory=list)
    threads: list[Sample] = Field(default_factory=list)
    asyncio_tasks: list[Sample] = Field(default_factory=list)
    peer_connections: list[Sample] = Field(default_factory=list)
    pages: list[PageHealth] = Field(default_factory=list)
    judged: bool = True
    """False when the run ended before its judged window began (the startup, or the
    warm-up): the figures then cover only the setting up, and give no verdict."""


class RunResult(_Record):
    """Everything one run of a scenario measured."""

    scenario: str
    started_at: datetime
    duration: float = Field(ge=0)
    participants: list[ParticipantResult] = Field(default_factory=list)
    phases: list[PhaseRecord] = Field(default_factory=list)
    skipped_arrivals: int = Field(default=0, ge=0)
    interrupted: bool = False
    errors: list[ErrorRecord] = Field(default_factory=list)
    """Errors of the run itself, not of one participant (server start, setup)."""
    health: list[ProcessHealth] = Field(default_factory=list)
    """Each participants' process's own health (one per worker or shard)."""
    scenario_digest: str | None = None
    """Which version of the scenario file made this result (`agent.scenario.seeding`)."""
    shards: list[str] = Field(default_factory=list)
    """The shards ("I/N") this result covers: one for a process's run, all of them merged."""
