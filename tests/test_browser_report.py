"""The browser driver's pure parts: reading the page's `auviousStats()` and its arguments.

No browser here: the raw dicts below have the shape client.js returns (see `auviousStats`), so
these run everywhere, also where Chromium is missing.
"""

from __future__ import annotations

import pytest

from agent.browser import (
    BrowserParticipant,
    chromium_missing,
    measurements_from_snapshot,
    snapshot_from_page,
    video_report,
)


def page_stats(frames: list[list[object]]) -> dict[str, object]:
    return {
        "state": "joined",
        "endpointId": "browser-endpoint",
        "conferenceId": "conf-1",
        "errors": [],
        "published": [
            {
                "streamId": "s-browser",
                "type": "MIC_AND_CAM",
                "connectionState": "connected",
                "candidatesSent": 3,
                "outbound": {
                    "audio": {
                        "ssrc": 1,
                        "packetsSent": 50,
                        "bytesSent": 4000,
                        "codec": "audio/opus",
                    },
                    "video": {
                        "ssrc": 2,
                        "packetsSent": 90,
                        "bytesSent": 90000,
                        "codec": "video/VP8",
                        "encoderImplementation": "libvpx",
                    },
                },
            }
        ],
        "viewed": [
            {
                "streamId": "s-agent",
                "viewerId": "v-1",
                "type": "MIC_AND_CAM",
                "publisherEndpointId": "agent-endpoint",
                "connectionState": "connected",
                "startedAt": 1000.0,
                "candidatesSent": 2,
                "inbound": {
                    "video": {
                        "ssrc": 7,
                        "packetsReceived": 300,
                        "packetsLost": 2,
                        "jitter": 0.004,
                        "bytesReceived": 250000,
                        "framesDecoded": 60,
                        "framesPerSecond": 30,
                        "freezeCount": 0,
                        "codec": "video/H264",
                    },
                    "audio": {
                        "ssrc": 8,
                        "packetsReceived": 100,
                        "packetsLost": 0,
                        "jitter": 0.002,
                        "bytesReceived": 8000,
                        "totalSamplesReceived": 96000,
                        "codec": "audio/opus",
                    },
                },
                "frames": frames,
            }
        ],
    }


def test_frames_read_in_the_page_give_the_agents_video_report() -> None:
    # 31 frames at 30 fps, each sent 80 ms before it arrived; the 11th was unreadable and
    # frames 20..24 never arrived (a 200 ms gap: a freeze after 33 ms intervals).
    frames: list[list[object]] = []
    at = 1000.5
    for seq in range(36):
        if 20 <= seq < 25:
            continue
        at = 1000.5 + seq / 30
        if seq == 10:
            frames.append([at, None, None])
        else:
            frames.append([at, seq, round(at * 1000) - 80])
    report = video_report(1000.0, frames)
    assert report.frames == 31
    assert report.codes_read == 30 and report.codes_unreadable == 1
    assert report.frames_skipped == 5 + 1  # the gap, and the unreadable one between reads
    assert report.freeze_count == 1
    assert report.time_to_first_frame == pytest.approx(0.5)
    assert report.delay_ms["p50"] == pytest.approx(80, abs=1)


def test_snapshot_in_the_participants_measurement_shape() -> None:
    frames: list[list[object]] = [
        [1000.5 + i / 30, i, round((1000.5 + i / 30) * 1000) - 50] for i in range(30)
    ]
    snapshot = snapshot_from_page(page_stats(frames))
    [viewed] = snapshot.viewing("agent-endpoint")
    assert viewed.decoding["video"].codec == "video/H264"
    assert viewed.bytes_received == 258000
    [published] = snapshot.published
    assert published.codecs == {"audio": "audio/opus", "video": "video/VP8"}
    assert published.encoders["video"] == "libvpx"

    measured = measurements_from_snapshot("browser-1", snapshot)
    assert (measured.name, measured.endpoint_id) == ("browser-1", "browser-endpoint")
    [viewer] = measured.viewers
    assert viewer.state == "live"
    video, audio = viewer.tracks["video"], viewer.tracks["audio"]
    assert video.frames == 30 and video.fps == pytest.approx(30, rel=0.01)
    assert video.delay_ms is not None and video.delay_ms["p50"] == pytest.approx(50, abs=1)
    assert (video.packets_received, video.packets_lost, video.jitter_s) == (300, 2, 0.004)
    assert audio.frames == 100  # one Opus packet, one 20 ms frame
    [publisher] = measured.publishers
    assert publisher.bytes_sent == 94000
    assert set(publisher.tracks) == {"audio", "video"}


def test_page_answers_without_state_are_refused_by_name() -> None:
    raw = page_stats([])
    del raw["state"]
    with pytest.raises(KeyError, match="state"):
        snapshot_from_page(raw)


def test_browser_arguments_are_checked_and_the_secret_stays_out_of_sight() -> None:
    with pytest.raises(ValueError, match="ticket, or a client id"):
        BrowserParticipant("http://127.0.0.1:1", client_id="only-id")
    with pytest.raises(ValueError, match="VP8 or H264"):
        BrowserParticipant("http://127.0.0.1:1", ticket="t", video_codec="AV1")
    browser = BrowserParticipant(
        "http://127.0.0.1:1", client_id="bot", client_secret="s3cret-value", conference_id="c"
    )
    assert "s3cret-value" not in repr(browser) and "s3cret-value" not in browser.url
    assert browser.url.startswith("http://127.0.0.1:1/client/?")
    assert "conference=c" in browser.url


def test_a_missing_chromium_is_named() -> None:
    reason = chromium_missing("/nonexistent/chromium")
    assert reason is not None and "/nonexistent/chromium" in reason
