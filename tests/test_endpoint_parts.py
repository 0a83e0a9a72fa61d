"""The endpoint's parts that need no platform (issue 16): its file checked like a scenario's,
login from the environment, the invitation event, JSON-lines logs without secrets, systemd's
watchdog period, and a capture device that is lost and reopened (lavfi, for real)."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.api.models.events import ClientEvent, parse_event
from agent.cli import main
from agent.endpoint.cli import load_endpoint, login_of
from agent.endpoint.invitation import INVITATION_TYPE, invitation_of, invite_command
from agent.endpoint.model import EndpointSpec
from agent.endpoint.systemd import notify, watchdog_interval
from agent.jsonlog import JsonFormatter
from agent.participant.drift import DriftWatcher
from agent.participant.records import Timeline
from agent.redact import register_secret
from agent.scenario.cli import OptionsError
from media import timecode
from media.device import DeviceAudioTrack, DeviceVideoTrack
from tests.waiting import wait_until

GOOD = """\
name: kiosk
server: {url: "http://127.0.0.1:8080", client_id: dev, client_secret_env: KIOSK_SECRET}
conference: lobby
publish:
  camera: {format: v4l2, device: /dev/video0, options: {video_size: 1280x720, framerate: 30}}
  second_camera: synthetic
snapshot: {delay: 2s}
"""


def test_a_valid_file_checks_and_a_wrong_one_names_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert main(["endpoint", str(good), "--check"]) == 0
    spec = load_endpoint(good)
    assert isinstance(spec, EndpointSpec) and spec.snapshot.delay == 2.0
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        GOOD.replace("conference: lobby", "conferance: lobby")
        .replace("framerate: 30}", "framerate: [30]}")
        .replace("client_id: dev,", "client_id: dev, client_secret: hunter22,")
        + "torch: maybe\n"
    )
    assert main(["endpoint", str(bad)]) == 2
    errors = capsys.readouterr().err
    assert f"{bad}:2:" in errors and "server.client_secret: a secret must not be written" in errors
    assert f"{bad}:3:1: conferance: unknown key 'conferance'; did you mean 'conference'?" in errors
    assert f"{bad}:5:" in errors and "publish.camera.options.framerate" in errors
    assert f"{bad}:8:8: torch: Input should be 'simulate' or 'refuse'" in errors
    assert "hunter22" not in errors
    both = tmp_path / "both.yaml"
    both.write_text(GOOD + "ticket_env: VISITOR_TICKET\n")
    assert main(["endpoint", str(both), "--check"]) == 2
    assert "a ticket (`ticket_env`) or a client, not both" in capsys.readouterr().err


def test_login_names_the_missing_environment_variable(tmp_path: Path) -> None:
    spec = EndpointSpec.model_validate(
        {"name": "k", "server": {"url": "http://h:1", "client_id_env": "KIOSK_ID"}}
    )
    with pytest.raises(OptionsError, match="KIOSK_ID"):
        login_of(spec, {})
    with pytest.raises(OptionsError, match="AUVIOUS_CLIENT_SECRET"):
        login_of(spec, {"KIOSK_ID": "dev"})
    assert login_of(spec, {"KIOSK_ID": "dev", "AUVIOUS_CLIENT_SECRET": "s3cret-value"})()


def test_an_invitation_counts_only_as_a_client_event_the_platform_marked() -> None:
    command = invite_command("u1", "org1", "conf-1", "ep-1", reason="visitor")
    body = command.event
    assert body["type"] == INVITATION_TYPE and body["conferenceId"] == "conf-1"
    marked = parse_event({**body, "sentBy": {"userId": "u2", "organizationId": "org1"}})
    assert isinstance(marked, ClientEvent)
    found = invitation_of(marked)
    assert found is not None and found.conference_id == "conf-1" and found.reason == "visitor"
    assert invitation_of(parse_event(body)) is None, "unmarked: not from the platform's client"
    broken = {"type": INVITATION_TYPE, "timestamp": datetime.now(UTC).isoformat(), "sentBy": {}}
    assert invitation_of(parse_event(broken)) is None, "no conference: ignored"


def test_json_lines_logs_keep_secrets_out() -> None:
    register_secret("kiosk-client-secret-123")
    record = logging.LogRecord(
        "agent.endpoint", logging.WARNING, __file__, 1, "login with %s failed", None, None
    )
    record.args = ("kiosk-client-secret-123",)
    try:
        raise ValueError("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl refused")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    parsed = json.loads(line)
    assert parsed["level"] == "warning" and parsed["logger"] == "agent.endpoint"
    assert parsed["message"] == "login with [REDACTED] failed"
    assert "eyJ" not in line and parsed["error"].startswith("ValueError: token [REDACTED]")


def test_systemd_notification_only_when_asked_for() -> None:
    assert notify("READY=1", {}) is False
    assert notify("READY=1", {"NOTIFY_SOCKET": "/nonexistent/notify"}) is False
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None


async def test_a_lost_device_is_reopened_with_backoff_and_sends_black_meanwhile() -> None:
    # A camera that stops after half a second, as if unplugged, and comes back on reopening.
    camera = DeviceVideoTrack("lavfi", "testsrc=size=160x120:rate=30:duration=0.5", {}, 96, 64, 30)
    camera.capture.initial = 0.3
    missing = DeviceAudioTrack("lavfi", "no_such_filter")
    try:
        first = await camera.recv()
        assert (first.width, first.height) == (96, 64)
        await wait_until(lambda: camera.capture.frames > 0, "the device delivers")
        await wait_until(lambda: camera.capture.error is not None, "the device is lost")
        luma = camera.render(0).to_ndarray()[:64]
        assert luma.max() <= timecode.BLACK + 1, "black while lost"
        await wait_until(lambda: camera.capture.opened >= 2, "reopened")
        frames = 0
        while frames < 10:  # the track keeps its pace through the loss
            await camera.recv()
            frames += 1
        silence = await missing.recv()
        await wait_until(lambda: missing.capture.losses >= 1, "failing to open is a loss")
        assert missing.capture.error is not None and not missing.capture.live
        assert not silence.to_ndarray().any()
    finally:
        camera.stop()
        missing.stop()
        await asyncio.sleep(0)


def test_the_documented_example_file_is_valid() -> None:
    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "kiosk.yaml"
    spec = load_endpoint(example)
    assert isinstance(spec, EndpointSpec) and spec.publish is not None
    assert spec.publish.second_camera is not None


def test_a_device_format_this_ffmpeg_lacks_is_an_error_of_the_file(tmp_path: Path) -> None:
    file = tmp_path / "k.yaml"
    file.write_text(GOOD.replace("format: v4l2", "format: nosuchinput"))
    assert load_endpoint(file) == 2


def test_a_timeline_with_a_limit_keeps_the_newest_records() -> None:
    timeline = Timeline("kiosk", limit=10)
    for n in range(25):
        timeline.note("keepalive", ok=False, n=n)
    assert len(timeline.records) <= 10 and timeline.records[-1].details["n"] == 24
    assert timeline.dropped + len(timeline.records) == 25


def test_a_drift_watcher_with_keep_holds_only_the_newest_samples() -> None:
    drift = DriftWatcher(lambda: 3, keep=4)
    for _ in range(9):
        drift.take()
    assert len(drift.samples) == 4 and drift.samples[-1].peer_connections == 3


async def test_a_device_nobody_reads_is_closed_and_opened_again_on_the_next_read() -> None:
    camera = DeviceVideoTrack("lavfi", "testsrc=size=160x120:rate=30", {}, 96, 64, 30)
    camera.capture.idle_close = 0.3
    try:
        for _ in range(5):
            await camera.recv()
        await wait_until(lambda: camera.capture.frames > 0, "the device delivers")
        assert camera.capture.reading and camera.capture.opened == 1
        await wait_until(lambda: not camera.capture.reading, "closed while nobody reads")
        for _ in range(5):
            await camera.recv()
        await wait_until(lambda: camera.capture.opened == 2, "opened again")
        assert camera.capture.losses == 0, "closing an idle device is not a loss"
    finally:
        camera.stop()
