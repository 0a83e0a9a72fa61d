"""Loading scenario files: every problem names file, line, column and field path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from agent.scenario.loader import Issue, ScenarioError, load_scenario
from agent.scenario.model import RepeatStep, ResponsePolicy, Scenario, scenario_json_schema

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

VALID = """\
name: call
duration: 10s
participants:
  - name: agents
    publish:
      - type: MIC_AND_CAM
        fps: 30
  - name: customers
    role: customer
    view: [agents]
"""


def write(tmp_path: Path, text: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def issues_of(path: Path) -> list[Issue]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value.issues


def only_issue(path: Path) -> Issue:
    issues = issues_of(path)
    assert len(issues) == 1, [str(issue) for issue in issues]
    return issues[0]


def test_a_valid_file_loads(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    scenario = load_scenario(path)
    assert scenario.path == str(path)
    assert [group.name for group in scenario.participants] == ["agents", "customers"]
    assert scenario.duration == 10.0
    assert scenario.participants[0].publish[0].key == "mic_and_cam"
    assert scenario.participants[1].view == ["agents"]


def test_unknown_key_is_located_with_a_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("        fps: 30", "        fsp: 30"))
    issue = only_issue(path)
    assert (issue.file, issue.line, issue.column) == (str(path), 7, 9)
    assert issue.path == "participants[0].publish[0].fsp"
    assert "unknown key 'fsp'" in issue.message
    assert "did you mean 'fps'?" in issue.message
    assert str(issue).startswith(f"{path}:7:9: participants[0].publish[0].fsp: ")


def test_unknown_key_without_a_close_match_lists_the_allowed_ones(tmp_path: Path) -> None:
    issue = only_issue(write(tmp_path, VALID + "zzz: 1\n"))
    assert issue.path == "zzz"
    assert "allowed keys:" in issue.message and "participants" in issue.message


def test_wrong_type_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("        fps: 30", "        fps: fast"))
    issue = only_issue(path)
    assert (issue.line, issue.column) == (7, 14)
    assert issue.path == "participants[0].publish[0].fps"
    assert "valid number" in issue.message


def test_bad_duration_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("duration: 10s", "duration: 10 sec"))
    issue = only_issue(path)
    assert (issue.line, issue.column, issue.path) == (2, 11, "duration")
    assert "'10 sec' is not a duration" in issue.message
    assert '"500ms"' in issue.message


def test_missing_participant_reference_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("view: [agents]", "view: [agentz]"))
    issue = only_issue(path)
    assert (issue.line, issue.column) == (10, 12)
    assert issue.path == "participants[1].view[0]"
    assert "no participant group named 'agentz'" in issue.message
    assert "did you mean 'agents'?" in issue.message


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    role: customer", "    role: [customer"))
    issue = only_issue(path)
    assert issue.file == str(path)
    assert issue.line is not None and issue.column is not None
    assert 9 <= issue.line <= 11
    assert issue.message.startswith("YAML syntax:")


def test_tab_indentation_is_a_located_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text("name: x\nparticipants:\n\t- name: a\n", encoding="utf-8")
    issue = only_issue(path)
    assert (issue.line, issue.column) == (3, 1)
    assert "YAML syntax" in issue.message


def test_unknown_step_kind_points_at_do_with_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        VALID + textwrap.indent("timeline:\n  - do: register\n  - do: jion\n", "    "),
    )
    issue = only_issue(path)
    assert issue.path == "participants[1].timeline[1].do"
    assert (issue.line, issue.column) == (13, 13)
    assert "unknown step 'jion'; did you mean 'join'?" in issue.message


def test_errors_inside_steps_skip_the_union_tag_in_the_path(tmp_path: Path) -> None:
    timeline = (
        "timeline:\n  - do: repeat\n    count: 2\n    steps:\n"
        "      - do: sleep\n        duration: soon\n"
    )
    path = write(tmp_path, VALID + textwrap.indent(timeline, "    "))
    issue = only_issue(path)
    assert issue.path == "participants[1].timeline[0].steps[0].duration"
    assert (issue.line, issue.column) == (16, 23)


def test_misspelled_key_inside_a_step_suggests_that_steps_keys(tmp_path: Path) -> None:
    timeline = "timeline:\n  - do: wait_for\n    evnt: ConferenceJoinedEvent\n"
    issue = issues_of(write(tmp_path, VALID + textwrap.indent(timeline, "    ")))[0]
    assert issue.path == "participants[1].timeline[0].evnt"
    assert "did you mean 'event'?" in issue.message


def test_missing_required_key(tmp_path: Path) -> None:
    issue = only_issue(write(tmp_path, VALID.replace("name: call\n", "")))
    assert issue.path == "name"
    assert issue.message == "missing required key 'name'"
    assert (issue.line, issue.column) == (1, 1)


def test_bad_literal_value_suggests_the_closest(tmp_path: Path) -> None:
    issue = only_issue(write(tmp_path, VALID.replace("role: customer", "role: custommer")))
    assert issue.path == "participants[1].role"
    assert "did you mean 'customer'?" in issue.message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = VALID.replace("duration: 10s", "duration: 1 week").replace("fps: 30", "fsp: 30")
    issues = issues_of(write(tmp_path, text))
    assert [issue.path for issue in issues] == ["duration", "participants[0].publish[0].fsp"]


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    issues = issues_of(
        write(tmp_path, VALID.replace("duration: 10s", "duration: 10s\nduration: 5s"))
    )
    assert any("'duration' appears twice" in issue.message and issue.line == 3 for issue in issues)


def test_a_literal_secret_is_rejected_without_echoing_it(tmp_path: Path) -> None:
    server = "server:\n  url: https://auvious.example.com\n  client_secret: hunter2-very-secret\n"
    path = write(tmp_path, VALID + server)
    issue = only_issue(path)
    assert issue.path == "server.client_secret"
    assert "environment variable" in issue.message and "client_secret_env" in issue.message
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value.issues)


def test_server_credentials_by_environment_name(tmp_path: Path) -> None:
    server = (
        "server:\n  url: https://auvious.example.com\n  client_id: bot\n"
        "  client_secret_env: AUVIOUS_SECRET\n"
    )
    scenario = load_scenario(write(tmp_path, VALID + server))
    assert scenario.server is not None
    assert scenario.server.client_secret_env == "AUVIOUS_SECRET"


def test_unknown_step_reference_and_event(tmp_path: Path) -> None:
    timeline = (
        "timeline:\n  - do: join\n    id: joined\n  - do: leave\n    after: agents.joind\n"
        "  - do: wait_for\n    event: ConferenceJoinedEvnt\n"
    )
    issues = issues_of(write(tmp_path, VALID + textwrap.indent(timeline, "    ")))
    assert [issue.path for issue in issues] == [
        "participants[1].timeline[1].after",
        "participants[1].timeline[2].event",
    ]
    assert "no step of group 'agents' named 'joind'" in issues[0].message
    assert "did you mean 'ConferenceJoinedEvent'?" in issues[1].message


def test_step_references_that_exist_are_accepted(tmp_path: Path) -> None:
    agents = "    timeline:\n      - do: join\n        id: joined\n"
    customers = (
        "    timeline:\n      - do: join\n        after: agents.joined\n"
        "      - do: send_event\n        type: CallReadyEvent\n"
        "      - do: wait_for\n        event: CallReadyEvent\n"
    )
    text = VALID.replace("        fps: 30\n", "        fps: 30\n" + agents) + customers
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.participants[1].timeline is not None


def test_unknown_stream_and_target_references(tmp_path: Path) -> None:
    timeline = (
        "timeline:\n  - do: publish\n    streams: [cam]\n"
        "  - do: request_snapshot\n    target: customerz\n"
    )
    text = VALID.replace(
        "        fps: 30\n", "        fps: 30\n" + textwrap.indent(timeline, "    ")
    )
    issues = issues_of(write(tmp_path, text))
    assert [issue.path for issue in issues] == [
        "participants[0].timeline[0].streams[0]",
        "participants[0].timeline[1].target",
    ]
    assert "there are: mic_and_cam" in issues[0].message


def test_templates_are_checked(tmp_path: Path) -> None:
    text = VALID.replace("role: customer", "role: customer\n    display_name: ${vars.nope} ${idx}")
    issues = issues_of(write(tmp_path, text))
    assert {issue.path for issue in issues} == {"participants[1].display_name"}
    messages = " ".join(issue.message for issue in issues)
    assert "no variable 'nope'" in messages and "unknown template `${idx}`" in messages


def test_csv_columns_are_checked(tmp_path: Path) -> None:
    (tmp_path / "tickets.csv").write_text("ticket,name\nt1,Ada\n", encoding="utf-8")
    good = VALID.replace(
        "role: customer", "role: customer\n    data: {file: tickets.csv}\n    ticket: ${row.ticket}"
    )
    assert load_scenario(write(tmp_path, good)).participants[1].ticket == "${row.ticket}"
    issue = only_issue(write(tmp_path, good.replace("row.ticket", "row.tikcet"), "bad.yaml"))
    assert issue.path == "participants[1].ticket"
    assert "no column 'tikcet'" in issue.message


def test_missing_data_and_media_files(tmp_path: Path) -> None:
    # A media file plays at its own frame rate: `fps` goes.
    text = VALID.replace("fps: 30", "source: clip.mp4") + "data: {file: none.csv}\n"
    issues = issues_of(write(tmp_path, text))
    paths = {issue.path: issue.message for issue in issues}
    assert "no media file 'clip.mp4'" in paths["participants[0].publish[0].source"]
    assert "cannot read the data file" in paths["data.file"]


def test_a_default_timeline_needs_something_to_end_the_run(tmp_path: Path) -> None:
    issues = issues_of(write(tmp_path, VALID.replace("duration: 10s\n", "")))
    assert [issue.path for issue in issues] == ["participants[0]", "participants[1]"]
    assert "duration" in issues[0].message


def test_model_rules_give_clear_messages(tmp_path: Path) -> None:
    text = VALID.replace("type: MIC_AND_CAM", "type: MIC").replace("fps: 30", "codec: VP8")
    issue = only_issue(write(tmp_path, text))
    assert issue.path == "participants[0].publish[0]"
    assert "VP8 is a video codec" in issue.message


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert "empty" in only_issue(write(tmp_path, "")).message
    assert "mapping" in only_issue(write(tmp_path, "- a\n- b\n", "list.yaml")).message
    missing = only_issue(tmp_path / "absent.yaml")
    assert missing.file.endswith("absent.yaml") and "cannot read" in missing.message


def test_policy_and_record_shorthands() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "x",
            "duration": 5,
            "participants": [
                {"name": "a", "snapshot": "ignore", "camera": {"delay": "1s"}, "record": True},
                {"name": "b", "record": False},
            ],
        }
    )
    first, second = scenario.participants
    assert first.snapshot == ResponsePolicy(action="ignore")
    assert first.camera == ResponsePolicy(action="delay", delay=1.0)
    assert first.record is not None and first.record.path.startswith("recordings/")
    assert second.record is None


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_example_scenarios_validate(name: str) -> None:
    scenario = load_scenario(SCENARIOS / name)
    assert scenario.participants


def test_the_examples_are_all_there() -> None:
    expected = {"two-party-call", "webinar", "snapshot-and-camera", "churn", "ramp-load"}
    assert expected <= {p.stem for p in SCENARIOS.glob("*.yaml")}


def test_examples_use_what_they_show() -> None:
    snapshots = load_scenario(SCENARIOS / "snapshot-and-camera.yaml")
    timeline = snapshots.participants[0].timeline or []
    assert any(isinstance(step, RepeatStep) and step.count == 3 for step in timeline)
    ramp = load_scenario(SCENARIOS / "ramp-load.yaml")
    assert ramp.phases[1].ramp_to == 0.5 and ramp.phases[1].max_concurrent == 16


def test_schema_describes_the_language() -> None:
    schema = scenario_json_schema()
    defs = schema["$defs"]
    assert set(schema["required"]) == {"name", "participants"}
    assert schema["additionalProperties"] is False
    steps = defs["ParticipantGroup"]["properties"]["timeline"]["anyOf"][0]["items"]
    assert steps["discriminator"]["propertyName"] == "do"
    assert "client_secret" not in defs["ServerSpec"]["properties"]
    assert "p95" in defs["TimeThresholds"]["properties"]
    assert "description" in defs["ExpectSpec"]["properties"]["delay"]


def test_union_failures_read_as_one_issue(tmp_path: Path) -> None:
    issue = only_issue(write(tmp_path, VALID + "vars: {room: [1, 2]}\n"))
    assert issue.path == "vars.room"
    assert issue.message == "Input should be a valid string, integer, number or boolean"


def test_extension_keys_hold_anchors(tmp_path: Path) -> None:
    text = (
        "x-stream: &stream {type: CAM, fps: 15}\n"
        "name: anchors\nduration: 5s\n"
        "participants:\n  - name: a\n    publish: [*stream]\n"
        "  - name: b\n    publish: [{<<: *stream, resolution: 320x240}]\n"
    )
    scenario = load_scenario(write(tmp_path, text))
    assert scenario.participants[1].publish[0].fps == 15
    assert scenario.participants[1].publish[0].resolution == "320x240"


def test_a_bad_policy_says_what_a_policy_is(tmp_path: Path) -> None:
    issue = only_issue(
        write(tmp_path, VALID.replace("role: customer", "role: customer\n    camera: 5"))
    )
    assert issue.path == "participants[1].camera"
    assert "answer, ignore, delay or fail" in issue.message


def test_committed_schema_is_current() -> None:
    committed = json.loads((SCENARIOS / "scenario.schema.json").read_text(encoding="utf-8"))
    assert committed == scenario_json_schema(), (
        "run: auvious-agent schema > scenarios/scenario.schema.json"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in SCENARIOS.glob("*.yaml")))
def test_examples_satisfy_the_exported_schema(name: str) -> None:
    # What editors check with the schema must accept every file the loader accepts.
    data = yaml.safe_load((SCENARIOS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(scenario_json_schema()).validate(data)


def test_the_exported_schema_rejects_a_misspelled_key() -> None:
    validator = jsonschema.Draft202012Validator(scenario_json_schema())
    bad = {"name": "x", "participants": [{"name": "a", "cont": 2}]}
    assert any("cont" in error.message for error in validator.iter_errors(bad))


def test_a_delay_threshold_needs_a_decoding_viewer(tmp_path: Path) -> None:
    light = VALID.replace("fps: 30\n", "fps: 30\n    receive: {video: light}\n").replace(
        "view: [agents]\n", "view: [agents]\n    receive: {video: light}\n"
    )
    text = light + "expect:\n  delay: {p95: '< 200ms'}\n"
    issue = only_issue(write(tmp_path, text))
    assert (issue.path, issue.line, issue.column) == ("expect.delay", 14, 10)
    assert "receive: {video: decode}" in issue.message
    decoding = text.replace(
        "view: [agents]\n    receive: {video: light}",
        "view: [agents]\n    receive: {video: decode}",
    )
    assert load_scenario(write(tmp_path, decoding, "ok.yaml")).participants[1].receive.video == (
        "decode"
    )
    # Left out, `receive` samples video keyframes when a delay is expected: no issue.
    sampled = load_scenario(
        write(tmp_path, VALID + "expect:\n  delay: {p95: '< 200ms'}\n", "s.yaml")
    )
    assert sampled.receive(sampled.participants[1]).video == "sampled"


def test_group_credentials_need_an_id_and_a_secret_variable(tmp_path: Path) -> None:
    text = VALID.replace(
        "  - name: agents\n", "  - name: agents\n    credentials: {client_id: bot}\n"
    )
    issue = only_issue(write(tmp_path, text))
    assert issue.path == "participants[0].credentials"
    assert "client_secret_env" in issue.message
