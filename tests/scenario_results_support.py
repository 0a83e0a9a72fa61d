"""Synthetic results of a two-party run (no runner needed), shared by the report tests:
20 s of media per stream with a slow start and one freeze, so every metric has something to
measure and the expectations below have one failure to report. The agent says a sentence the
customer transcribes, after the customer's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent.scenario.model import Scenario
from agent.scenario.results import (
    CompositionRecord,
    Freeze,
    HeardSegment,
    ParticipantResult,
    ProcessHealth,
    RoundTrip,
    RunResult,
    SaidRecord,
    Sample,
    Span,
    StepRecord,
    StreamDirection,
    StreamResult,
    TranscriptResult,
)

STREAMS = {"agent-0": "s-agent", "customer-0": "s-customer"}


def scenario(expect: dict[str, Any]) -> Scenario:
    return Scenario.model_validate(
        {
            "name": "two-party",
            "duration": "20s",
            "participants": [
                {"name": "agent", "publish": [{"type": "MIC_AND_CAM"}]},
                {"name": "customer", "role": "customer", "publish": [{"type": "MIC_AND_CAM"}]},
            ],
            "expect": expect,
        }
    )


def view(publisher: str, *, frames: int = 600, fps_low_until: float = 3.0) -> StreamResult:
    """20 s of a received stream: 5 fps for the first seconds, 30 after; one 0.5 s freeze."""
    return StreamResult(
        stream_id=STREAMS[publisher],
        direction=StreamDirection.VIEW,
        stream_type="MIC_AND_CAM",
        publisher=publisher,
        started_at=1.0,
        setup_time=0.3,
        first_frame_time=0.4,
        frames=frames,
        packets_received=990,
        packets_lost=10,
        reception={"video": "decode", "audio": "decode"},
        fps=[Sample(t=1.0 + s, value=5.0 if s < fps_low_until else 30.0) for s in range(20)],
        delay=[Sample(t=1.0 + s, value=0.08 + 0.002 * s) for s in range(20)],
        psnr=[Sample(t=1.0 + s, value=45.0) for s in range(20)],
        ssim=[Sample(t=1.0 + s, value=0.99) for s in range(20)],
        mos=[Sample(t=1.0 + s, value=4.1) for s in range(0, 20, 10)],
        concealed=0.01,
        bitrate=[Sample(t=1.0 + s, value=750_000.0) for s in range(20)],
        jitter=[Sample(t=1.0 + s, value=0.004) for s in range(20)],
        audio_level=[Sample(t=1.0 + s, value=-24.0) for s in range(20)],
        av_sync=[Sample(t=1.0 + s, value=0.02) for s in range(20)],
        freezes=[Freeze(start=10.0, duration=0.5)],
    )


def participant(name: str, other: str, join_time: float, **extra: Any) -> ParticipantResult:
    group, index = name.split("-")
    publish = StreamResult(
        stream_id=STREAMS[name],
        direction=StreamDirection.PUBLISH,
        stream_type="MIC_AND_CAM",
        started_at=1.0,
        setup_time=0.2,
        bitrate=[Sample(t=1.0 + s, value=800_000.0) for s in range(20)],
    )
    return ParticipantResult(
        name=name,
        group=group,
        index=int(index),
        conference="c1",
        arrived_at=0.0,
        joined_at=join_time,
        left_at=21.0,
        join_time=join_time,
        streams=[publish, view(other)],
        steps=[StepRecord(t=0.0, kind="join", duration=join_time)],
        **extra,
    )


def run(**changes: Any) -> RunResult:
    participants = [
        participant(
            "agent-0",
            "customer-0",
            0.4,
            snapshots=[RoundTrip(t=5.0, target="customer-0", round_trip=1.2)],
            camera_requests=[RoundTrip(t=7.0, target="customer-0", round_trip=2.0)],
            recording_starts=[RoundTrip(t=3.0, round_trip=0.05)],
            compositions=[
                CompositionRecord(
                    t=20.0,
                    conversation="conv-1",
                    id="c1",
                    type="VIDEO",
                    state="COMPLETED",
                    queue_time=0.5,
                    composition_time=3.0,
                    duration=20.0,
                    file="compositions/agent-0-c1.mp4",
                )
            ],
            said=[SaidRecord(start=5.0, end=6.0, text="Hello there.", stream_id="s-agent")],
        ),
        participant(
            "customer-0",
            "agent-0",
            0.9,
            said=[SaidRecord(start=3.0, end=4.0, text="Hi.", stream_id="s-customer")],
            transcripts=[
                TranscriptResult(
                    stream_id="s-agent",
                    publisher="agent-0",
                    segments=[HeardSegment(start=5.05, end=6.05, text="hello there", latency=1.2)],
                    spurts=[Span(start=5.05, end=6.05)],
                )
            ],
        ),
    ]
    fields: dict[str, Any] = {
        "scenario": "two-party",
        "started_at": datetime(2026, 11, 23, 13, 0, tzinfo=UTC),
        "duration": 22.0,
        "participants": participants,
    }
    fields.update(changes)
    return RunResult(**fields)


EXPECT = {
    "warmup": "3s",
    "join_time": {"p95": "< 1s"},
    "delay": {"p95": "< 50ms"},
    "conditions": ["every_viewer_received_every_publisher"],
}


def drifting_process() -> ProcessHealth:
    """A participants' process whose memory grows 1 MB every 10 s (360 MB an hour) and that
    gains three file descriptors after its first 50 s; 0 -> 4 peer connections as its calls
    start; threads and tasks steady."""
    times = [float(t) for t in range(0, 101, 10)]
    return ProcessHealth(
        process="0/1",
        host="here",
        pid=1,
        seconds=100.0,
        lag_samples=1000,
        loop_lag_p50=0.001,
        loop_lag_p99=0.01,
        loop_lag_max=0.02,
        own_lag_p99=0.01,
        cpu_mean=0.4,
        cpu_max=0.6,
        cpu_saturated_share=0.0,
        resident_memory_mb=[Sample(t=t, value=200.0 + t / 10) for t in times],
        open_fds=[Sample(t=t, value=40.0 if t < 50 else 43.0) for t in times],
        threads=[Sample(t=t, value=9.0) for t in times],
        asyncio_tasks=[Sample(t=t, value=30.0) for t in times],
        peer_connections=[Sample(t=t, value=0.0 if t < 5 else 4.0) for t in times],
    )
