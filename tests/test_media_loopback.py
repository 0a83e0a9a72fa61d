"""Sources to sinks over a real aiortc peer connection pair on loopback (no server involved:
these test the media library; the platform's own tests run it through the router)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import av
import numpy as np
import pytest

from agent.webrtc import seams
from media import passthrough
from media.audio import SyntheticAudioTrack
from media.loopback import loopback, wait_until
from media.monitor import AudioMonitor, VideoMonitor, av_sync_ms
from media.reader import TrackReader
from media.recorder import VideoRecorder, WavRecorder
from media.sinks import FrameCounter, KeyframeDecoder, PcmCallback
from media.stats import StatsSampler
from media.video import SyntheticVideoTrack

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_light_receiver_counts_frames_without_a_decoder(codec: str) -> None:
    assert "decoders" in seams.install(["decoders"])
    decoders_before = passthrough.decoder_constructions()
    passthroughs_before = passthrough.passthrough_constructions()
    source = SyntheticVideoTrack(320, 180, fps=30)
    pair = await loopback([source], video_codec=codec, decode=False)
    counter = FrameCounter(started_at=time.time())
    pictures: list[av.VideoFrame] = []
    sampler = KeyframeDecoder(
        lambda frame, _at: pictures.append(frame),
        receiver=pair.receivers[0],
        interval=0.5,
    )
    reader = TrackReader(pair.remote_tracks[0], [counter, sampler]).start()
    await wait_until(lambda: counter.frames >= 60)
    await reader.stop()
    await pair.close()

    assert passthrough.decoder_constructions() == decoders_before
    assert passthrough.passthrough_constructions() == passthroughs_before + 1
    assert counter.decoded == 0
    assert counter.bytes > 60 * 100
    assert counter.keyframes >= 2, "periodic PLIs from the sampler should force keyframes"
    assert counter.timeline.fps > 15
    ttff = counter.timeline.time_to_first_frame
    assert ttff is not None and 0 < ttff < 5
    # Sampled decoding: the keyframes decoded on their own, the rest did not.
    assert sampler.decoded == counter.keyframes == len(pictures)
    assert {(p.width, p.height) for p in pictures} == {(320, 180)}


async def test_decoded_call_records_measures_and_calls_back(tmp_path: Path) -> None:
    video_source = SyntheticVideoTrack(640, 360, fps=30)
    audio_source = SyntheticAudioTrack(marks=True, speech=True, mark_interval=0.5)
    started = time.time()
    pair = await loopback([video_source, audio_source])
    video_track, audio_track = pair.remote_tracks
    assert (video_track.kind, audio_track.kind) == ("video", "audio")

    video_monitor = VideoMonitor(started_at=started)
    video_file = tmp_path / "call.mp4"
    wav_file = tmp_path / "call.wav"
    audio_monitor = AudioMonitor(started_at=started, tone_hz=1000.0, mark_interval=0.5)
    pcm: list[np.ndarray] = []
    readers = [
        TrackReader(video_track, [video_monitor, VideoRecorder(video_file)]).start(),
        TrackReader(
            audio_track,
            [audio_monitor, WavRecorder(wav_file), PcmCallback(lambda p, _at: pcm.append(p))],
        ).start(),
    ]
    publisher_stats, viewer_stats = StatsSampler(pair.publisher), StatsSampler(pair.viewer)
    await wait_until(lambda: video_monitor.first_code is not None)
    # The recording starts at the first frame's arrival, not its send time: under load the
    # first frame can take most of a second to arrive, which the recording rightly leaves out.
    call_started = video_monitor.timeline.first_at
    assert call_started is not None
    await publisher_stats.sample()
    await viewer_stats.sample()
    await asyncio.sleep(3.0)
    sent = await publisher_stats.sample()
    got = await viewer_stats.sample()

    # Round-trip time needs a sender report answered by a receiver report: allow for RTCP's
    # randomised 0.5-1.5 s interval.
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        rtts = [o.round_trip_time_s for o in (await publisher_stats.sample()).outbound]
        if any(rtt is not None for rtt in rtts):
            break
        await asyncio.sleep(0.3)
    await pair.publisher.close()
    call_ended = time.time()
    for reader in readers:
        await asyncio.wait_for(reader.wait(), 10)
    await pair.close()
    call_seconds = call_ended - call_started

    video = video_monitor.report()
    assert video.frames > 60
    assert video.codes_read >= 0.95 * video.frames
    assert video.fps > 15
    assert video.time_to_first_frame is not None and video.time_to_first_frame < 5
    delay = video.delay_ms
    assert delay["p50"] is not None and 0 < delay["p50"] < 500, delay
    assert delay["min"] is not None and delay["min"] > 0

    audio = audio_monitor.report()
    assert audio.marks >= 4
    assert audio.delay_ms["p50"] is not None and 0 < audio.delay_ms["p50"] < 500, audio
    assert 0.0 < audio.silence_ratio < 0.9
    sync = av_sync_ms(video, audio)
    assert sync is not None and abs(sync) < 300, sync

    with av.open(str(video_file)) as container:
        seconds = float(container.duration or 0) / av.time_base
        assert container.streams.video[0].codec_context.name == "h264"
    assert seconds == pytest.approx(call_seconds, rel=0.10), (seconds, call_seconds)
    with av.open(str(wav_file)) as container:
        stream = container.streams.audio[0]
        wav_seconds = float(container.duration or 0) / av.time_base
        assert stream.sample_rate == 48000
    # Audio keeps the sender's clock: audio held up while the loop lagged arrives in a burst,
    # so the WAV may reach back before the first video frame, though not before the call.
    assert 0.9 * call_seconds <= wav_seconds <= 1.1 * (call_ended - started), (
        wav_seconds,
        call_seconds,
    )
    assert sum(p.size for p in pcm) / 16000 == pytest.approx(wav_seconds, rel=0.05)

    assert any(i.kind == "video" and i.packets_received > 50 for i in got.inbound)
    assert all(0 <= i.jitter_s < 1 for i in got.inbound)
    assert got.bitrate_in_bps is not None and got.bitrate_in_bps > 50_000
    video_out = next(o for o in sent.outbound if o.kind == "video")
    assert video_out.bitrate_bps is not None and video_out.bitrate_bps > 50_000
    assert any(rtt is not None and 0 <= rtt < 1 for rtt in rtts), rtts
