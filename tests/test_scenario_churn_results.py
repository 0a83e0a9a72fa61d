"""Churn in the results: every join counts, and "every viewer received every publisher"
judges each meeting of a viewer (present and viewing) with a published stream, not the
span from first join to last leave. Results are built by hand as the runner records them."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.scenario.expect import evaluate
from agent.scenario.model import Scenario
from agent.scenario.report.html import render_html
from agent.scenario.results import (
    ParticipantResult,
    Presence,
    RunResult,
    Sample,
    StreamDirection,
    StreamResult,
    ViewingChange,
)

SCENARIO = Scenario.model_validate(
    {
        "name": "churn",
        "participants": [
            {"name": "host", "publish": [{"type": "CAM"}]},
            {"name": "guest", "role": "customer", "publish": [{"type": "CAM"}]},
        ],
        "expect": {
            "join_time": {"count": ">= 3", "max": "< 1s"},
            "conditions": ["every_viewer_received_every_publisher"],
        },
    }
)


def publish(stream_id: str, start: float, end: float) -> StreamResult:
    return StreamResult(
        stream_id=stream_id,
        direction=StreamDirection.PUBLISH,
        stream_type="CAM",
        started_at=start,
        ended_at=end,
    )


def view(stream_id: str, publisher: str, start: float, end: float, frames: int) -> StreamResult:
    return StreamResult(
        stream_id=stream_id,
        direction=StreamDirection.VIEW,
        stream_type="CAM",
        publisher=publisher,
        started_at=start,
        ended_at=end,
        frames=frames,
        fps=[Sample(t=start + 0.5, value=15.0), Sample(t=end - 0.5, value=15.0)],
    )


def churn_run(guest_views_second_stay: bool = True) -> RunResult:
    """The host is there 0-30 s publishing h1 (and h2, h3 briefly). The guest stays 1-9 s
    (publishing g1, viewing the host), is away 9-15 s, stays again 15-25 s (publishing g2)
    but stops viewing at 20 s. The host sees g1 and g2."""
    host = ParticipantResult(
        name="host-0",
        group="host",
        index=0,
        conference="main",
        arrived_at=0.0,
        joined_at=0.5,
        left_at=30.0,
        join_time=0.5,
        joins=[Presence(joined_at=0.5, left_at=30.0, join_time=0.5)],
        viewing=[ViewingChange(t=0.5, groups=["*", "guest", "host"])],
        streams=[
            publish("h1", 0.6, 30.0),
            publish("h2", 10.0, 14.0),  # while the guest is away
            publish("h3", 21.0, 24.5),  # while the guest is there but not viewing
            view("g1", "guest-0", 1.5, 9.0, 200),
            view("g2", "guest-0", 15.5, 25.0, 250),
        ],
    )
    guest_views = [view("h1", "host-0", 1.2, 9.0, 220)]
    if guest_views_second_stay:
        guest_views.append(view("h1", "host-0", 15.2, 20.0, 130))
    guest = ParticipantResult(
        name="guest-0",
        group="guest",
        index=0,
        conference="main",
        arrived_at=0.0,
        joined_at=1.0,
        left_at=25.0,
        join_time=0.3,
        joins=[
            Presence(joined_at=1.0, left_at=9.0, join_time=0.3),
            Presence(joined_at=15.0, left_at=25.0, join_time=0.7),
        ],
        viewing=[
            ViewingChange(t=1.0, groups=["*", "guest", "host"]),
            ViewingChange(t=4.0, groups=["*", "guest", "host"]),  # a `view` step changes nothing
            ViewingChange(t=8.5, groups=[]),
            ViewingChange(t=15.0, groups=["*", "guest", "host"]),
            ViewingChange(t=20.0, groups=[]),
        ],
        streams=[publish("g1", 1.1, 8.5), publish("g2", 15.1, 25.0), *guest_views],
    )
    return RunResult(
        scenario="churn",
        started_at=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
        duration=31.0,
        participants=[host, guest],
    )


def expectations(result: RunResult) -> dict[str, tuple[bool, str]]:
    return {e.name: (e.passed, e.message) for e in evaluate(SCENARIO, result).expectations}


def test_every_join_counts_for_join_time() -> None:
    found = expectations(churn_run())
    passed, message = found["join_time count >= 3"]
    assert passed, message
    assert "3 value(s)" in message  # the host once, the guest twice


def test_gaps_and_stop_view_are_no_misses_under_churn() -> None:
    # From first join to last leave the guest "was there" 1-25 s, so h2 and h3 would be
    # misses; but the guest was away 9-15 s and stopped viewing at 20 s.
    passed, message = expectations(churn_run())["every_viewer_received_every_publisher"]
    assert passed, message
    # Meetings: guest views h1 twice (1-8.5, 15-20), host views g1 once and g2 once.
    assert message.startswith("4 viewer/publisher pair(s)"), message


def test_a_view_step_of_a_group_viewed_already_does_not_cut_the_meeting() -> None:
    result = churn_run()
    guest = result.participants[1]
    # Frames only after 4 s: the meeting is 1-8.5 s, not 1-4 s and 4-8.5 s.
    guest.streams[2] = view("h1", "host-0", 4.5, 9.0, 150)
    passed, message = expectations(result)["every_viewer_received_every_publisher"]
    assert passed, message
    assert message.startswith("4 viewer/publisher pair(s)"), message


def test_a_meeting_without_frames_is_a_miss_naming_when() -> None:
    passed, message = expectations(churn_run(guest_views_second_stay=False))[
        "every_viewer_received_every_publisher"
    ]
    assert not passed
    assert "guest-0 did not receive host-0 CAM between 15.0s and 20.0s" in message


def test_the_html_timeline_draws_each_stay() -> None:
    page = render_html(SCENARIO, churn_run(), evaluate(SCENARIO, churn_run()))
    plots = page[page.index('<section id="plots">') : page.index('<section id="worst-streams">')]
    assert plots.count('class="present"') == 3  # the host's one stay, the guest's two
    assert "in the conference 15.0s to 25.0s" in plots
    # The frame-rate chart: a line per view, one legend entry per viewer and publisher
    # (the participants-over-time chart has its own two).
    frame_rate = plots[plots.index("Frame rate over time") : plots.index("Delay over time")]
    assert frame_rate.count('class="series"') == 4
    assert frame_rate.count(">guest-0 ← host-0 CAM</text>") == 1
