"""Fields a scenario file may write but the run could not honour are refused at validation,
located, instead of being silently ignored."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent.scenario.loader import ScenarioError, load_scenario


def issue_of(tmp_path: Path, text: str) -> str:
    path = tmp_path / "scenario.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    (issue,) = caught.value.issues
    return str(issue)


def test_verify_tls_false_is_refused(tmp_path: Path) -> None:
    text = issue_of(
        tmp_path,
        """\
        name: remote
        server:
          url: https://auvious.example.com
          verify_tls: false
        participants: [{name: a}]
        """,
    )
    assert text.startswith(f"{tmp_path / 'scenario.yaml'}:3:")
    assert "server" in text and "verify_tls: false is not supported" in text


def test_an_audio_codec_other_than_opus_is_refused(tmp_path: Path) -> None:
    text = issue_of(
        tmp_path,
        """\
        name: call
        participants:
          - name: a
            publish: [{type: MIC, codec: PCMU}]
        """,
    )
    assert ":4:" in text and "participants[0].publish[0].codec" in text


def test_two_video_codecs_in_one_group_are_refused(tmp_path: Path) -> None:
    text = issue_of(
        tmp_path,
        """\
        name: call
        duration: 5s
        participants:
          - name: a
            publish:
              - {type: CAM, codec: VP8}
              - {type: SCREEN, codec: H264}
        """,
    )
    assert "participants[0].publish[1].codec" in text
    assert "one video codec" in text and ":7:" in text


def test_recording_nothing_is_refused(tmp_path: Path) -> None:
    text = issue_of(
        tmp_path,
        """\
        name: call
        participants:
          - name: a
            record: {audio: false, video: false}
        """,
    )
    assert "participants[0].record" in text and "use `record: false`" in text


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        ("{type: CAM, source: clip.mp4, fps: 15}", "a media file plays at its own size"),
        ("{type: CAM, source: face.png, resolution: 640x480}", "an image is sent at its own"),
    ],
)
def test_sizes_a_source_cannot_take_are_refused(tmp_path: Path, stream: str, message: str) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"")
    (tmp_path / "face.png").write_bytes(b"")
    text = issue_of(
        tmp_path,
        f"""\
        name: call
        duration: 5s
        participants:
          - name: a
            publish: [{stream}]
        """,
    )
    assert ":5:" in text and "participants[0].publish[0]" in text and message in text
