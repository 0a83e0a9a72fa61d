"""A 200-participant run's results, synthetic but shaped like a real ramp: 50 rooms of four
(a host and three guests) arriving over a 40 s ramp, a steady minute, a drain. Every viewer
samples each stream it views once a second (fps, delay, bitrate, jitter) as the runner does,
with noise, a delay that grows with the load, and three faults to find: one view that stops
for 15 s (a freeze and a gap), one with a 900 ms delay, one room with 8% packet loss.

No runner and no platform: the report code is what is tested, on data of the size and shape
a real 200-participant run produces (tens of thousands of samples)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from agent.scenario.model import Scenario
from agent.scenario.results import (
    ErrorRecord,
    Freeze,
    ParticipantResult,
    PhaseRecord,
    Presence,
    RunResult,
    Sample,
    StepRecord,
    StreamDirection,
    StreamResult,
)

ROOMS = 50
GUESTS = 3
RAMP, STEADY, DRAIN = 40.0, 60.0, 20.0
DURATION = RAMP + STEADY + DRAIN

STOPPED = ("guest-52", "host-17", 70.0, 85.0)
"""The viewer, the publisher it stopped receiving, and when (a freeze of 15 s)."""
SLOW = ("guest-101", "host-33")
"""A view with 900 ms of delay in the steady phase."""
LOSSY_ROOM = 41

SCENARIO: dict[str, Any] = {
    "name": "crowd-200",
    "description": "50 rooms of four ramping up; the report at scale.",
    "phases": [
        {"name": "ramp", "duration": "40s", "arrival_count": ROOMS},
        {"name": "steady", "duration": "60s", "arrival_count": 0},
        {"name": "drain", "duration": "20s", "arrival_count": 0},
    ],
    "participants": [
        {
            "name": "host",
            "role": "agent",
            "conference": "room-${arrival}",
            "publish": [{"type": "MIC_AND_CAM"}],
            "view": "all",
        },
        {
            "name": "guest",
            "count": GUESTS,
            "role": "customer",
            "conference": "room-${arrival}",
            "publish": [{"type": "MIC_AND_CAM"}],
            "view": "all",
        },
    ],
    "expect": {
        "warmup": "3s",
        "join_time": {"p95": "< 2s"},
        "video_fps": {"p50": "> 12"},
        "delay": {"p95": "< 300ms"},
        "freeze_total": {"max": "< 5s"},
    },
}


def crowd_scenario() -> Scenario:
    return Scenario.model_validate(SCENARIO)


def _view(
    rng: random.Random,
    viewer: str,
    publisher: str,
    room: int,
    start: float,
    end: float,
    load: list[int],
) -> StreamResult:
    fps, delay, bitrate, jitter = [], [], [], []
    freezes = []
    stopped = (viewer, publisher) == STOPPED[:2]
    lossy = room == LOSSY_ROOM
    t = start + 1.0
    while t < end:
        present = load[min(int(t), len(load) - 1)]
        rate = max(0.0, rng.gauss(15.0, 0.6) - (2.5 if lossy else 0.0))
        late = 0.06 + 0.0004 * present + abs(rng.gauss(0, 0.012))
        if (viewer, publisher) == SLOW and RAMP <= t < RAMP + STEADY:
            late += 0.85
        if stopped and STOPPED[2] <= t < STOPPED[3]:
            rate = 0.0
        else:
            delay.append(Sample(t=t, value=late))
        fps.append(Sample(t=t, value=rate))
        bitrate.append(Sample(t=t, value=max(0.0, rng.gauss(300_000.0, 15_000.0) * rate / 15)))
        jitter.append(Sample(t=t, value=abs(rng.gauss(0.004, 0.002))))
        t += 1.0
    if stopped:
        freezes.append(Freeze(start=STOPPED[2], duration=STOPPED[3] - STOPPED[2]))
    seconds = max(end - start, 0.0)
    received = int(seconds * 90)
    lost = int(received * 0.08) if lossy else rng.randint(0, 3)
    return StreamResult(
        stream_id=f"s-{publisher}",
        direction=StreamDirection.VIEW,
        stream_type="MIC_AND_CAM",
        publisher=publisher,
        started_at=start,
        ended_at=end,
        setup_time=round(rng.uniform(0.1, 0.4), 3),
        first_frame_time=round(rng.uniform(0.2, 0.6), 3),
        frames=int(sum(s.value for s in fps)),
        packets_received=received,
        packets_lost=lost,
        fps=fps,
        delay=delay,
        bitrate=bitrate,
        jitter=jitter,
        freezes=freezes,
    )


def crowd_run(seed: int = 15) -> RunResult:
    rng = random.Random(seed)
    people: list[dict[str, Any]] = []
    for room in range(ROOMS):
        arrived = room * RAMP / ROOMS
        for group, index in [("host", room)] + [
            ("guest", room * GUESTS + g) for g in range(GUESTS)
        ]:
            join_time = round(rng.lognormvariate(-1.0, 0.35), 3)
            people.append(
                {
                    "name": f"{group}-{index}",
                    "group": group,
                    "index": index,
                    "room": room,
                    "arrived_at": arrived,
                    "joined_at": arrived + join_time,
                    "join_time": join_time,
                    "left_at": RAMP + STEADY + rng.uniform(0.0, DRAIN - 2.0),
                }
            )
    load = [
        sum(1 for p in people if p["joined_at"] <= second < p["left_at"])
        for second in range(int(DURATION) + 1)
    ]
    participants = []
    for person in people:
        mates = [p for p in people if p["room"] == person["room"] and p is not person]
        streams = [
            StreamResult(
                stream_id=f"s-{person['name']}",
                direction=StreamDirection.PUBLISH,
                stream_type="MIC_AND_CAM",
                started_at=person["joined_at"],
                ended_at=person["left_at"],
                setup_time=round(rng.uniform(0.1, 0.3), 3),
            )
        ]
        for mate in mates:
            start = max(person["joined_at"], mate["joined_at"]) + 0.3
            end = min(person["left_at"], mate["left_at"])
            streams.append(
                _view(rng, person["name"], mate["name"], person["room"], start, end, load)
            )
        errors = []
        if person["index"] in (7, 88) and person["group"] == "guest":
            errors.append(ErrorRecord(t=60.0, step="view", message="view of a stream timed out"))
        participants.append(
            ParticipantResult(
                name=person["name"],
                group=person["group"],
                index=person["index"],
                arrival=person["room"],
                conference=f"room-{person['room']}",
                arrived_at=person["arrived_at"],
                joined_at=person["joined_at"],
                left_at=person["left_at"],
                join_time=person["join_time"],
                joins=[
                    Presence(
                        joined_at=person["joined_at"],
                        left_at=person["left_at"],
                        join_time=person["join_time"],
                    )
                ],
                streams=streams,
                steps=[
                    StepRecord(t=person["arrived_at"], kind="join", duration=person["join_time"])
                ],
                errors=errors,
            )
        )
    participants.sort(key=lambda p: (p.group != "host", p.index))
    return RunResult(
        scenario="crowd-200",
        started_at=datetime(2026, 12, 7, 17, 0, tzinfo=UTC),
        duration=DURATION,
        participants=participants,
        phases=[
            PhaseRecord(name="ramp", start=0.0, end=RAMP),
            PhaseRecord(name="steady", start=RAMP, end=RAMP + STEADY),
            PhaseRecord(name="drain", start=RAMP + STEADY, end=DURATION),
        ],
    )
