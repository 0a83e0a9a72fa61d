"""The scenario runner in-process against the real local platform: real REST, MQTT event
channel and aiortc peer connections through the platform's media router on loopback.

Scenarios here are small (320x180 video, a few seconds) so the file stays quick on a shared
machine. What matters after every run, passed, failed or interrupted: nobody is registered
on the platform, the router holds no peer connection, and neither does any participant."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import SecretStr

from agent.scenario import run_steps
from agent.scenario import runner as runner_module
from agent.scenario.expect import evaluate
from agent.scenario.loader import load_scenario
from agent.scenario.model import Scenario
from agent.scenario.results import RunResult, StreamDirection
from agent.scenario.run_actor import Actor
from agent.scenario.runner import RunError, RunOptions, ScenarioRun
from server.embedded import EmbeddedServer
from server.media.router import Router
from tests.platform_support import CLIENTS
from tests.waiting import wait_until

LIVENESS = 20.0


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Scenario:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def options(server: EmbeddedServer, **changes: object) -> RunOptions:
    """The test platform, logged in as agent1 (AGENT, SUPERVISOR: conferences and tickets)."""
    fields: dict[str, object] = {
        "server_url": server.base_url,
        "client_id": "agent1",
        "client_secret": SecretStr(CLIENTS["agent1"][1]),
        "quiet": True,
    }
    fields.update(changes)
    return RunOptions(**fields)  # type: ignore[arg-type]


async def assert_nothing_left(server: EmbeddedServer, run: ScenarioRun) -> None:
    router = server.platform.router
    assert isinstance(router, Router)
    assert all(actor.peer_connection_count() == 0 for actor in run.actors)
    assert all(actor.participant is None for actor in run.agents)
    await wait_until(lambda: router.peer_connection_count() == 0, "the router closed every pc")
    assert server.platform.registrations.count() == 0


TWO_PARTY = """
name: small-call
duration: 4s
participants:
  - name: agent
    publish: [{type: CAM, resolution: 320x180, fps: 15}]
    receive: {video: decode}
  - name: customer
    role: customer
    display_name: Customer ${index}
    publish: [{type: MIC_AND_CAM, resolution: 320x180, fps: 15}]
    receive: {video: decode}
expect:
  delay: {p95: "< 5s"}
  conditions: [every_participant_joined, every_viewer_received_every_publisher, no_errors]
"""


async def test_a_two_party_call_is_measured_and_leaves_nothing_behind(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    scenario = write(tmp_path, TWO_PARTY)
    run = ScenarioRun(scenario, options(server))
    result = await run.execute()

    evaluation = evaluate(scenario, result)
    assert evaluation.passed, [e.message for e in evaluation.failures]
    assert [p.name for p in result.participants] == ["agent-0", "customer-0"]
    agent, customer = result.participants
    assert agent.join_time is not None and customer.join_time is not None
    # Each views the other's stream, under the id the other published it with.
    published = {
        p.name: [s.stream_id for s in p.streams if s.direction is StreamDirection.PUBLISH]
        for p in result.participants
    }
    for viewer, publisher in ((agent, "customer-0"), (customer, "agent-0")):
        views = [s for s in viewer.streams if s.direction is StreamDirection.VIEW]
        assert [v.stream_id for v in views] == published[publisher]
        view = views[0]
        assert view.publisher == publisher and view.frames > 10
        assert view.fps and max(sample.value for sample in view.fps) > 0
        assert view.first_frame_time is not None and view.setup_time is not None
    # Both decode video (`receive`), so both measure the delay from the timecodes.
    assert all(any(s.delay for s in p.streams) for p in result.participants)
    # Leaving and unregistering at the end are recorded steps.
    kinds = [step.kind for step in agent.steps]
    assert kinds[:3] == ["register", "join", "publish"] and kinds[-2:] == ["leave", "unregister"]
    assert agent.left_at is not None and result.duration >= 4.0
    await assert_nothing_left(server, run)


FAILING_STEPS = """
name: failing-steps
participants:
  - name: host
    publish: [{type: CAM, resolution: 320x180, fps: 15}]
    timeline:
      - do: register
      - do: join
      - do: publish
      - do: wait_for
        id: never
        condition: snapshot_acquired
        timeout: 1s
      - do: unpublish
        streams: [cam]
      - do: approve
      - do: sleep
        duration: 500ms
  - name: guest
    timeline:
      - do: register
      - do: join
      - do: leave
        after: host.never
      - do: unregister
"""


async def test_failing_steps_are_recorded_and_everyone_is_cleaned_up(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    # The host's timeline ends while it is still joined and registered: the runner must
    # leave and unregister for it.
    scenario = write(tmp_path, FAILING_STEPS)
    run = ScenarioRun(scenario, options(server))
    result = await run.execute()

    host, guest = result.participants
    failed = [(step.kind, step.ok) for step in host.steps if not step.ok]
    assert failed == [("wait_for", False), ("approve", False)]
    messages = [error.message for error in host.errors]
    assert "waited 1 s for snapshot_acquired" in messages[0]
    assert "no acquired snapshot to approve" in messages[1]
    # `after: host.never` fired although the step failed: it happened.
    assert guest.left_at is not None and not guest.errors
    assert [s.kind for s in host.steps][-2:] == ["leave", "unregister"]
    evaluation = evaluate(scenario, result)
    assert evaluation.expectations[0].passed  # the run itself completed
    await assert_nothing_left(server, run)


LONG_CALL = """
name: long-call
duration: 60s
participants:
  - name: agent
    count: 2
    display_name: Agent ${index}
    publish: [{type: CAM, resolution: 320x180, fps: 15}]
"""


async def test_an_interrupted_run_returns_what_it_measured_and_leaves_nothing(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    run = ScenarioRun(write(tmp_path, LONG_CALL), options(server))
    task = asyncio.get_running_loop().create_task(run.execute())
    await wait_until(
        lambda: len(run.actors) == 2 and all(a.views and a.published for a in run.agents),
        "both publish and view each other",
    )
    # The display names went with the joins, as participant metadata the others can read.
    participant = run.agents[0].participant
    assert participant is not None and participant.conference_id is not None
    view = await participant.api.conferences.simple_view(participant.conference_id)
    names = {
        (endpoint.metadata or {}).get("name")
        for member in view.participants or []
        for endpoint in member.endpoints or []
    }
    assert names == {"Agent 0", "Agent 1"}
    task.cancel()  # what asyncio.run does on Ctrl-C
    result = await asyncio.wait_for(task, LIVENESS)

    assert isinstance(result, RunResult) and result.interrupted
    assert result.duration < 60
    assert all(p.joined_at is not None and p.left_at is not None for p in result.participants)
    assert not evaluate(run.scenario, result).expectations[0].passed
    await assert_nothing_left(server, run)


async def test_a_runner_failure_inside_a_participant_still_cleans_everyone_up(
    server: EmbeddedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_live = run_steps.live

    async def live(actor: Actor) -> None:
        if actor.plan.index == 0:
            task = asyncio.get_running_loop().create_task(real_live(actor))
            try:
                await wait_until(lambda: actor.joined and bool(actor.published), "publishing")
                raise RuntimeError("a defect of the runner")
            finally:
                task.cancel()
                await asyncio.wait([task])
        await real_live(actor)

    monkeypatch.setattr(runner_module, "live", live)
    run = ScenarioRun(write(tmp_path, LONG_CALL.replace("60s", "5s")), options(server))
    result = await run.execute()

    assert [e.message for e in result.errors] == ["RuntimeError: a defect of the runner"]
    assert result.errors[0].step == "agent-0"
    assert not evaluate(run.scenario, result).expectations[0].passed
    await assert_nothing_left(server, run)


LOAD = """
name: small-load
participants:
  - name: caller
    count: 2
    conference: room-${arrival}
    timeline:
      - do: register
      - do: join
      - do: sleep
        duration: 2s
      - do: leave
      - do: unregister
phases:
  - name: burst
    duration: 2s
    arrival_count: 4
    max_concurrent: 4
  - name: drain
    duration: 2500ms
    arrival_count: 0
"""


async def test_phases_bring_arrivals_in_their_own_conferences_up_to_the_ceiling(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    # Arrivals at 0, 0.5, 1, 1.5 s of two callers each, who stay 2 s: at most 4 present,
    # so the third and fourth arrivals find two calls in progress and are skipped.
    scenario = write(tmp_path, LOAD)
    run = ScenarioRun(scenario, options(server))
    result = await run.execute()

    assert result.skipped_arrivals == 2
    assert [p.name for p in result.participants] == [
        "caller-0",
        "caller-1",
        "caller-0.1",
        "caller-1.1",
    ]
    assert [p.conference for p in result.participants] == ["room-0", "room-0", "room-1", "room-1"]
    assert all(p.joined_at is not None and not p.errors for p in result.participants)
    assert [(phase.name, phase.start, phase.end) for phase in result.phases] == [
        ("burst", 0.0, 2.0),
        ("drain", 2.0, 4.5),
    ]
    # Every timeline was done before the drain phase ended: the run ends with the last one.
    assert 2.0 <= result.duration < 4.5
    await assert_nothing_left(server, run)


async def test_a_platform_that_refuses_the_login_is_a_run_error(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    scenario = write(tmp_path, TWO_PARTY)
    wrong = options(server, client_secret=SecretStr("not-the-secret"))
    with pytest.raises(RunError) as raised:
        await ScenarioRun(scenario, wrong).execute()
    message = str(raised.value)
    assert "cannot log in" in message and "agent1" in message
    assert "not-the-secret" not in message


HOPELESS_REPEAT = """
name: hopeless-repeat
participants:
  - name: agent
    timeline:
      - do: repeat
        count: 1000
        steps:
          - do: join
          - do: leave
      - do: register
      - do: unregister
"""


async def test_a_repeat_whose_round_fails_entirely_stops_instead_of_piling_up_errors(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    scenario = write(tmp_path, HOPELESS_REPEAT)
    result = await ScenarioRun(scenario, options(server)).execute()
    (agent,) = result.participants
    assert [error.message for error in agent.errors] == [
        "not registered: a `register` step must come first",
        "not registered: a `register` step must come first",
        "repeat stopped: every step of round 1 failed",
    ]
    # The timeline goes on after the repeat.
    assert [(s.kind, s.ok) for s in agent.steps] == [
        ("join", False),
        ("leave", False),
        ("register", True),
        ("unregister", True),
    ]


CONTROLS = """
name: controls
participants:
  - name: host
    publish: [{type: CAM, resolution: 320x180, fps: 15}]
    view: none
    timeline:
      - do: register
      - do: join
      - do: publish
      - do: wait_for
        event: guest.ready
        timeout: 15s
      - do: mute
        media: video
      - do: unmute
        media: video
      - do: metadata
        key: STATE
        value: {live: true}
      - do: metadata
        key: LABEL
        value: main
        stream: cam
      - do: bitrate
        bitrate: 200k
      - do: send_event
        type: CallWrapUpEvent
        to: guest
        data: {reason: done}
      - do: wait_for
        event: guest.done
        timeout: 15s
      - do: leave
      - do: unregister
  - name: guest
    role: customer
    view: none
    timeline:
      - do: register
      - do: join
      - do: view
        of: [host]
      - do: wait_for
        id: ready
        condition: receiving_every_publisher
        timeout: 15s
      - do: wait_for
        event: ConferenceMetadataUpdatedEvent
        count: 3
        timeout: 15s
      - do: wait_for
        event: ConferenceStreamMetadataUpdatedEvent
        timeout: 15s
      - do: wait_for
        event: CallWrapUpEvent
        timeout: 15s
      - do: stop_view
        of: [host]
        id: done
      - do: leave
      - do: unregister
"""


async def test_conference_controls_and_custom_events_reach_the_others(tmp_path: Path) -> None:
    # The embedded platform's own client (no server URL): it has the SERVICE role that
    # sending events to participants needs.
    scenario = write(tmp_path, CONTROLS)
    run = ScenarioRun(scenario, RunOptions(quiet=True))
    result = await run.execute()

    host, guest = result.participants
    assert not host.errors and not guest.errors, host.errors + guest.errors
    assert all(step.ok for step in host.steps + guest.steps)
    assert [s.kind for s in host.steps].count("wait_for") == 2
    heard = [kind for _, kind in run.actors[1].record.heard]
    assert heard.count("ConferenceMetadataUpdatedEvent") >= 3  # mute set, removed, STATE
    assert "CallWrapUpEvent" in heard
    (view,) = [s for s in guest.streams if s.direction is StreamDirection.VIEW]
    assert view.frames > 0 and view.ended_at is not None
    assert guest.left_at is not None and view.ended_at <= guest.left_at
    assert run.leftover_peer_connections == 0
