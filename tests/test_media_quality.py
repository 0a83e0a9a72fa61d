"""PSNR/SSIM of synthetic video against the frame rebuilt from its timecode (`media.quality`)."""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt
import pytest

from media import timecode
from media.quality import MAX_PSNR_DB, VideoQuality, psnr, ssim
from media.video import SyntheticPattern, SyntheticVideoTrack


def _sent(track: SyntheticVideoTrack, index: int) -> tuple[av.VideoFrame, tuple[int, int]]:
    frame = track.render(index)
    assert track.last_code is not None
    return frame, track.last_code


def test_psnr_and_ssim_rank_damage() -> None:
    track = SyntheticVideoTrack(320, 180, 15)
    frame, _ = _sent(track, 3)
    clean = timecode.luma(frame).copy()
    assert psnr(clean, clean) == MAX_PSNR_DB and ssim(clean, clean) == pytest.approx(1.0)
    shifted = clean.astype(np.int16) + np.random.default_rng(1).integers(-4, 5, clean.shape)
    noisy: npt.NDArray[np.uint8] = shifted.clip(0, 255).astype(np.uint8)
    blanked = clean.copy()
    blanked[60:120] = 16
    assert 35 < psnr(clean, noisy) < 45 and psnr(clean, blanked) < 20
    assert 1.0 > ssim(clean, noisy) > ssim(clean, blanked)
    with pytest.raises(ValueError, match="differ in size"):
        ssim(clean, clean[:100])


def test_a_receiver_rebuilds_the_sent_frame_and_samples_at_its_interval() -> None:
    track = SyntheticVideoTrack(320, 180, 15)
    quality = VideoQuality(interval=1.0)
    for index in range(30):  # two seconds of frames, received as sent
        frame, code = _sent(track, index)
        quality.add(frame, code, received_at=index / 15)
    assert quality.psnr_db.values == [MAX_PSNR_DB, MAX_PSNR_DB]  # one per second, exact copies
    # A stale frame (what a freeze shows) scored against the frame it claims to be is exact;
    # one whose picture is another frame's is not.
    other, code = _sent(track, 40)
    wrong = track.render(47)
    quality.add(wrong, code, received_at=10.0)
    assert quality.psnr_db.values[-1] < 30 and quality.ssim.values[-1] < 0.9
    quality.add(other, None, received_at=20.0)  # the code did not read: not scored
    small = SyntheticVideoTrack(160, 90, 15)
    quality.add(*_sent(small, 1), received_at=30.0)
    assert quality.unmeasured == 1 and quality.resolution_changes == 1
    assert quality.psnr_db.values[-1] == MAX_PSNR_DB  # rebuilt at the new size


def test_a_freeze_is_scored_as_the_stale_picture_against_the_frames_sent_meanwhile() -> None:
    pattern = SyntheticPattern(320, 180)
    codes = [(index, 1_800_000_000_000 + index * 1000 // 15) for index in range(45)]
    sent = [
        (av.VideoFrame.from_ndarray(pattern.render(code[0], code), format="yuv420p"), code)
        for code in codes
    ]
    quality = VideoQuality(interval=0.2, frozen=True)
    for index in (*range(15), *range(30, 45)):  # frames 15-29 never arrive: a 1 s freeze
        frame, code = sent[index]
        quality.add(frame, code, received_at=code[1] / 1000 + 0.05)
    frozen = [score for _, score, _ in quality.samples if score < 30]
    assert quality.frozen_scores == len(frozen) == 5  # one per 0.2 s of the freeze
    assert all(score == MAX_PSNR_DB for _, score, _ in quality.samples if score >= 30)
    times = [at for at, _, _ in quality.samples]
    assert times == sorted(times)
    steady = VideoQuality(interval=0.2)  # sampled reception: gaps are by design, not scored
    for index in (0, 1, 30):
        steady.add(*sent[index], received_at=sent[index][1][1] / 1000)
    assert steady.frozen_scores == 0
