"""The composer's parts without a server: the GRID layout, the player URL signer, the wire
models' leniency, and a real render (PyAV) of recordings written here, checked for content:
codecs, size and duration, each publisher's timecode in its tile at the right moments, and
the mix aligned with the pictures."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.api.models.composition import (
    CreateCompositionWebCommand,
    format_duration,
    parse_duration,
)
from media.composition_check import TileSpan, check_media, check_sync, check_tiles
from media.layout import Rect, fit, grid
from server.composition.job import RenderJob, kinds_for, timeline
from server.composition.render import render
from server.signing import SignatureError, UrlSigner
from tests.composition_support import Publisher, make_recording

STARTED = 1_700_000_000.0


@pytest.mark.parametrize("count", range(10))
def test_grid_tiles_are_even_inside_the_picture_and_the_last_row_is_centred(count: int) -> None:
    rects = grid(count, 320, 240)
    assert len(rects) == count
    for rect in rects:
        assert rect.width % 2 == 0 and rect.height % 2 == 0 and rect.x % 2 == 0
        assert rect.x >= 0 and rect.x + rect.width <= 320
        assert rect.y >= 0 and rect.y + rect.height <= 240
    assert len({(r.width, r.height) for r in rects}) <= 1
    assert len({(r.x, r.y) for r in rects}) == count  # no two tiles in one place
    if count == 3:  # 2 columns: the third tile alone in the second row, centred
        assert rects[2].x == (320 - rects[2].width) // 2 // 2 * 2


def test_fit_keeps_the_aspect_ratio() -> None:
    assert fit(640, 480, Rect(0, 0, 160, 240)) == Rect(0, 60, 160, 120)
    assert fit(320, 240, Rect(160, 0, 160, 240)) == Rect(160, 60, 160, 120)


def test_the_player_signature_binds_path_and_time() -> None:
    now = [1_000_000.0]
    signer = UrlSigner(b"k" * 32, clock=lambda: now[0])
    path = "/composition/api/player/attachment/c1/id1/c1.mp4"
    query, valid_until = signer.sign_path(path, 900)
    assert valid_until.timestamp() == 1_000_900
    signer.verify_path(path, query["Date"], query["Expires"], query["Signature"])
    cases = {
        "another file": (path.replace("c1.mp4", "c2.mp4"), query["Date"], query["Expires"]),
        "inline instead": (path.replace("attachment", "inline"), query["Date"], query["Expires"]),
        "longer": (path, query["Date"], str(int(query["Expires"]) + 1)),
        "not a number": (path, "yesterday", query["Expires"]),
    }
    for what, (p, date, expires) in cases.items():
        with pytest.raises(SignatureError):
            signer.verify_path(p, date, expires, query["Signature"])
            pytest.fail(what)
    now[0] += 900
    with pytest.raises(SignatureError, match="expired"):
        signer.verify_path(path, query["Date"], query["Expires"], query["Signature"])
    query, _ = UrlSigner(b"k" * 32, clock=lambda: 2_000_000.0).sign_path(path, 900)
    with pytest.raises(SignatureError, match="validity window"):
        signer.verify_path(path, query["Date"], query["Expires"], query["Signature"])


def test_commands_accept_any_case_numeric_strings_and_the_newer_doc_names() -> None:
    command = CreateCompositionWebCommand.model_validate(
        {
            "conversationId": "c",
            "type": "video",
            "layout": "grid",
            "name": "n",
            "resolution": "qvga",
            "priority": "HIGH",
            "audioFormat": "mp3",
        }
    )
    assert command.to_wire() == {
        "conversationId": "c",
        "type": "VIDEO",
        "layout": "GRID",
        "name": "n",
        "resolution": "320x240",
        "audioFormat": "MP3",
        "videoFormat": "MP4",
        "priority": 2,
    }
    assert (
        CreateCompositionWebCommand.model_validate({**command.to_wire(), "priority": "7"}).priority
        == 7
    )
    for field, bad in (("resolution", "321x240"), ("resolution", "99x99"), ("type", "GIF")):
        with pytest.raises(ValidationError, match=field):
            CreateCompositionWebCommand.model_validate({**command.to_wire(), field: bad})


def test_durations_are_written_as_java_does_and_read_in_three_forms() -> None:
    assert [format_duration(s) for s in (0, 4.0, 65.123, 3600.5)] == [
        "PT0S",
        "PT4S",
        "PT1M5.123S",
        "PT1H0.5S",
    ]
    assert parse_duration("PT1M5.123S") == pytest.approx(65.123)
    assert parse_duration("00:01:05.5") == 65.5
    assert parse_duration("12") == 12.0


@pytest.fixture(scope="module")
def three_publishers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RenderJob]:
    """a from the start, b joins at 1.5 s, c leaves at 3 s, in a 4.5 s recording."""
    directory = tmp_path_factory.mktemp("render")
    recording = make_recording(
        directory,
        "conv",
        "org",
        [Publisher("a"), Publisher("b", start=1.5), Publisher("c", stop=3.0)],
        seconds=4.5,
        started=STARTED,
        size=(160, 120),
    )
    duration, tracks = timeline([recording], kinds_for("VIDEO"))
    job = RenderJob(str(directory / "out.mp4"), "VIDEO", duration, 320, 240, 15, tracks)
    render(job)
    return directory, job


@pytest.mark.slow
def test_a_video_composition_shows_every_publisher_in_its_tile_at_its_moments(
    three_publishers: tuple[Path, RenderJob],
) -> None:
    _, job = three_publishers
    output = Path(job.output)
    assert check_media(output, kind="VIDEO", size=(320, 240), duration=4.5) == []
    spans = [TileSpan(0, 4.5, "a"), TileSpan(0, 3.0, "c"), TileSpan(1.5, 4.5, "b")]
    assert check_tiles(output, spans, STARTED * 1000) == []
    assert check_sync(output, spans, STARTED * 1000) == []
    # The checks can fail: the wrong schedule, the wrong clock, the wrong size.
    assert check_tiles(output, [TileSpan(0, 4.5, "a"), TileSpan(0, 4.5, "b")], STARTED * 1000)
    assert check_tiles(output, spans, STARTED * 1000 + 1500)
    assert check_media(output, kind="VIDEO", size=(640, 480), duration=9.0)
    assert check_media(output, kind="AUDIO")


def test_an_audio_composition_is_the_mix_as_mp3(three_publishers: tuple[Path, RenderJob]) -> None:
    directory, video_job = three_publishers
    tracks = [t for t in video_job.tracks if t.kind == "audio"]
    job = RenderJob(str(directory / "out.mp3"), "AUDIO", video_job.duration, tracks=tracks)
    render(job)
    assert check_media(Path(job.output), kind="AUDIO", duration=4.5) == []


@pytest.mark.slow
def test_an_h264_track_in_matroska_is_composed_beside_a_vp8_one(tmp_path: Path) -> None:
    recording = make_recording(
        tmp_path, "conv", "org", [Publisher("vp8"), Publisher("h264", codec="H264", start=0.5)],
        seconds=2.5, started=STARTED, size=(160, 120),
    )  # fmt: skip
    assert {t.path.suffix for t in recording.tracks if t.kind == "video"} == {".webm", ".mkv"}
    duration, tracks = timeline([recording], kinds_for("VIDEO"))
    job = RenderJob(str(tmp_path / "out.mp4"), "VIDEO", duration, 320, 240, 15, tracks)
    render(job)
    spans = [TileSpan(0, 2.5, "vp8"), TileSpan(0.5, 2.5, "h264")]
    assert check_media(Path(job.output), kind="VIDEO", size=(320, 240), duration=2.5) == []
    assert check_tiles(Path(job.output), spans, STARTED * 1000) == []


def test_a_tile_is_read_when_the_schedule_and_the_render_differ_by_a_frame(
    tmp_path: Path,
) -> None:
    """Issue 14's intermittent "timecode read in 0/42 frames": the schedule the check reads
    (millisecond times from the Recorder API) can put a tile's start one output frame before
    the renderer's. On that frame the renderer still draws the old grid, and a shape told from
    it (another publisher's picture filling the new tile) used to be kept for the whole tile."""
    recording = make_recording(
        tmp_path, "conv", "org", [Publisher("a"), Publisher("b", start=1.0)],
        seconds=2.0, started=STARTED, size=(160, 120),
    )  # fmt: skip
    duration, tracks = timeline([recording], kinds_for("VIDEO"))
    job = RenderJob(str(tmp_path / "out.mp4"), "VIDEO", duration, 320, 240, 15, tracks)
    render(job)
    early = 1.0 - 1 / 15 - 0.001  # the frame at 14/15 s is b's in the schedule, not yet drawn
    spans = [TileSpan(0, 2.0, "a"), TileSpan(early, 2.0, "b")]
    assert check_tiles(Path(job.output), spans, STARTED * 1000) == []
