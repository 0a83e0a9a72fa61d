"""Capture devices as sources: any input PyAV (FFmpeg) opens, by input format and device name.

`v4l2` cameras and `alsa`/`pulse` microphones on Linux, `avfoundation` on macOS, `dshow` on
Windows, and `lavfi` graphs (`testsrc`, `sine`) anywhere: the virtual devices the tests use.
A thread reads the device; the tracks stay paced by our own clock (`PacedVideoTrack`,
`PacedAudioTrack`), so the sender sees steady frames whatever the device does. A device that
fails to open, errors or stops sending (unplugged, taken by another process) is lost: the
reader says why in `error`, sends black or silence meanwhile, and reopens it with backoff,
as the participant retries the network.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

import av
import numpy as np

from media import timecode
from media.audio import PacedAudioTrack, Samples
from media.pacing import AUDIO_SAMPLE_RATE
from media.video import PacedVideoTrack

__all__ = ["DeviceAudioTrack", "DeviceCapture", "DeviceVideoTrack"]

log = logging.getLogger(__name__)

REOPEN_INITIAL = 0.5
REOPEN_MAXIMUM = 15.0
IDLE_CLOSE = 5.0
"""Seconds without a read after which the device is closed (a kiosk's camera light goes off
between calls); the next read opens it again."""
STALE = 2.0
"""Seconds after which a camera's last picture is no longer sent (black instead): a device
that stalls, or one reopened after an idle close until its first new picture."""
AUDIO_BUFFER = 0.2
"""Seconds of captured sound kept ahead of the sender (older samples are dropped)."""


class DeviceCapture:
    """Reads `kind` frames from one device in a thread and hands them to `on_frame`; reopens
    the device with backoff when it is lost. `pause()` says how long to wait before reading
    the next frame (a virtual device produces frames as fast as they are read)."""

    def __init__(
        self,
        input_format: str,
        device: str,
        options: Mapping[str, object],
        kind: str,
        on_frame: Callable[[object], None],
        pause: Callable[[], float] = lambda: 0.0,
        initial: float = REOPEN_INITIAL,
        maximum: float = REOPEN_MAXIMUM,
    ) -> None:
        self.input_format = input_format
        self.device = device
        self.options = {key: str(value) for key, value in options.items()}
        self.kind = kind
        self.on_frame = on_frame
        self.pause = pause
        self.initial = initial
        self.maximum = maximum
        self.opened = 0
        """Times the device was opened."""
        self.losses = 0
        """Times it was lost (failed to open, errored, stopped sending)."""
        self.error: str | None = None
        """Why it is lost now; None while it delivers (or before the first open)."""
        self.frames = 0
        self.idle_close = IDLE_CLOSE
        self._touched = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"DeviceCapture({self.input_format}:{self.device!r}, {self.kind})"

    @property
    def live(self) -> bool:
        return self.opened > 0 and self.error is None

    @property
    def reading(self) -> bool:
        """The device is open (or being reopened) for a reader now."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Called by every read: opens the device when it is not (first read, after idle)."""
        self._touched = time.monotonic()
        if not self.reading and not self._stop.is_set():
            self._thread = threading.Thread(
                target=self._run, name=f"capture-{self.kind}-{self.device}", daemon=True
            )
            self._thread.start()

    def _idle(self) -> bool:
        return time.monotonic() - self._touched > self.idle_close

    def stop(self) -> None:
        """Stop reading (the thread ends at its next frame or wait)."""
        self._stop.set()

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set() and not self._idle():
            before = self.frames
            try:
                self._read()
                if self._stop.is_set() or self._idle():
                    return  # closed: stopped, or nobody reads it
                raise EOFError("the device stopped sending")
            except Exception as error:
                self.losses += 1
                self.error = f"{type(error).__name__}: {error}"
            if self.frames > before:  # it worked for a while: a new loss starts the backoff over
                attempt = 0
            wait = min(self.initial * 2 ** min(attempt, 16), self.maximum)
            attempt += 1
            log.warning(
                "%s device %s (%s) lost: %s; reopening in %.1f s",
                self.kind,
                self.device,
                self.input_format,
                self.error,
                wait,
            )
            self._stop.wait(wait)

    def _read(self) -> None:
        with av.open(self.device, format=self.input_format, options=self.options) as container:
            streams = container.streams.video if self.kind == "video" else container.streams.audio
            if not streams:
                raise ValueError(f"the device has no {self.kind}")
            self.opened += 1
            for frame in container.decode(streams[0]):
                if self._stop.is_set() or self._idle():
                    break
                self.frames += 1
                self.error = None
                self.on_frame(frame)
                wait = self.pause()
                if wait > 0:
                    self._stop.wait(wait)


class DeviceVideoTrack(PacedVideoTrack):
    """A camera: the device's newest picture, scaled to `width`x`height`, at `fps`; black
    while the device is lost or its picture is older than `STALE`. Usable as one of a
    `SwitchableCamera`'s cameras (the one not shown is closed after `IDLE_CLOSE`)."""

    def __init__(
        self,
        input_format: str,
        device: str,
        options: Mapping[str, object],
        width: int,
        height: int,
        fps: float = 30.0,
    ) -> None:
        super().__init__(fps)
        self.width, self.height = width, height
        self._latest: av.VideoFrame | None = None
        self._latest_at = 0.0
        self._black = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
        self._black[:height] = timecode.BLACK
        self.capture = DeviceCapture(
            input_format, device, options, "video", self._keep, self._pause
        )

    def _keep(self, frame: object) -> None:
        assert isinstance(frame, av.VideoFrame)
        self._latest = frame
        self._latest_at = time.monotonic()

    def _pause(self) -> float:
        """No faster than twice the sending rate: a virtual device would spin a core."""
        return max(0.0, self._latest_at + 0.5 / self.fps - time.monotonic())

    def render(self, index: int) -> av.VideoFrame:
        self.capture.start()  # opened when first needed (and after an idle close)
        fresh = time.monotonic() - self._latest_at <= STALE
        latest = self._latest if self.capture.live and fresh else None
        if latest is None:
            return av.VideoFrame.from_ndarray(self._black, format="yuv420p")
        scaled = latest.reformat(width=self.width, height=self.height, format="yuv420p")
        # A frame of our own: the camera draws its state row into it.
        array = np.asarray(scaled.to_ndarray(), dtype=np.uint8)
        return av.VideoFrame.from_ndarray(array, format="yuv420p")

    def stop(self) -> None:
        self.capture.stop()
        super().stop()


class DeviceAudioTrack(PacedAudioTrack):
    """A microphone: the device's sound as 48 kHz mono in 20 ms frames; silence while it is
    lost or behind."""

    def __init__(
        self, input_format: str, device: str, options: Mapping[str, object] | None = None
    ) -> None:
        super().__init__()
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_SAMPLE_RATE)
        self._chunks: deque[Samples] = deque()
        self._buffered = 0
        self._lock = threading.Lock()
        self.capture = DeviceCapture(
            input_format, device, options or {}, "audio", self._keep, self._pause
        )

    def _keep(self, frame: object) -> None:
        assert isinstance(frame, av.AudioFrame)
        for chunk in self._resampler.resample(frame):
            samples = np.asarray(chunk.to_ndarray(), dtype=np.float32).reshape(-1)
            with self._lock:
                self._chunks.append(samples)
                self._buffered += samples.size
                while self._buffered > AUDIO_BUFFER * AUDIO_SAMPLE_RATE and self._chunks:
                    self._buffered -= self._chunks.popleft().size

    def _pause(self) -> float:
        """A virtual device runs ahead: wait while the buffer is full."""
        return 0.01 if self._buffered >= AUDIO_BUFFER * AUDIO_SAMPLE_RATE / 2 else 0.0

    def render(self, first_sample: int, count: int) -> Samples:
        self.capture.start()
        out = np.zeros(count, dtype=np.float32)
        filled = 0
        with self._lock:
            while filled < count and self._chunks:
                chunk = self._chunks[0]
                take = min(count - filled, chunk.size)
                out[filled : filled + take] = chunk[:take]
                filled += take
                self._buffered -= take
                if take == chunk.size:
                    self._chunks.popleft()
                else:
                    self._chunks[0] = chunk[take:]
        return out

    def stop(self) -> None:
        self.capture.stop()
        super().stop()
