"""A participant of a `kind: browser` group: headless Chromium on the platform's client page.

The page does the protocol itself (login, register, join, publish MIC_AND_CAM from Chromium's
fake devices, view every stream), so the steps a browser can take are few: `register` starts
Chromium on the page, `join` fills the form and waits until the page has joined and
published, `leave` leaves, `unregister` closes the browser (the page unregisters on
`pagehide`); `publish` only checks it did. The checks of the scenario refuse every other step
before a run (`agent.scenario.checks_browser`).

Its measurements come from the page's `auviousStats()` (getStats, and the agent's timecode read
through a canvas) in the agent's shapes, so they go through the same `ViewSeries` as an
agent's and into the same report."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from agent.browser import (
    BrowserParticipant,
    BrowserSnapshot,
    BrowserViewReport,
    measurements_from_snapshot,
)
from agent.participant import StreamState, ViewerMeasurements
from agent.scenario.plan import ParticipantPlan
from agent.scenario.results import Freeze, Sample, StreamDirection, StreamResult
from agent.scenario.run_actor import Actor
from agent.scenario.run_context import OTHERS, RunContext
from agent.scenario.run_metrics import ViewSeries, new_stream
from agent.scenario.surface import ParticipantRecord, StepFailed, StepSurface, group_login

__all__ = ["BrowserActor", "new_actor"]

log = logging.getLogger(__name__)

ENDPOINT_POLL = 0.1
"""How often `join` looks for the page's endpoint id, so the others know whose streams the
browser's are from the first ConferenceStreamPublishedEvent on."""


def new_actor(run: RunContext, plan: ParticipantPlan, arrived_at: float) -> StepSurface:
    """The participant of `plan` as its group's kind says."""
    if plan.group.kind == "browser":
        return BrowserActor(run, plan, arrived_at)
    return Actor(run, plan, arrived_at)


class BrowserSeries(ViewSeries):
    """One stream the browser views: the agent's series, plus what only the browser says."""

    def __init__(self, result: StreamResult) -> None:
        super().__init__(result)
        self._last_bytes: tuple[float, int] | None = None

    def bitrate(self, now: float, total_bytes: int) -> None:
        self.result.bitrate.extend(_rate(self._last_bytes, now, total_bytes))
        self._last_bytes = (now, total_bytes)


class BrowserActor:
    """A participant that is a Chromium page: the same `StepSurface` as an agent's `Actor`
    (the runner and the steps use both alike), the steps a browser can take (the ones
    registered with `browser=True`), and the same `ParticipantRecord`."""

    def __init__(self, run: RunContext, plan: ParticipantPlan, arrived_at: float) -> None:
        self.run = run
        self.plan = plan
        self.record = ParticipantRecord(run, plan, arrived_at)
        self.name, self.group, self.result = plan.name, plan.group, self.record.result
        self.result.kind = "browser"
        self.present = True
        self.targets: set[str] = set()
        self.snapshots_acquired = 0
        self.snapshots_waited = 0
        """A browser requests no snapshots: `snapshot_acquired` never holds for it."""
        self.browser: BrowserParticipant | None = None
        self._endpoint_id: str | None = None
        self._joined = False
        self._left = False
        self._open = 0
        self._views: dict[str, BrowserSeries] = {}
        self._published: dict[str, tuple[StreamResult, tuple[float, int] | None]] = {}

    def __repr__(self) -> str:
        return f"BrowserActor({self.name!r}, conference={self.plan.conference!r})"

    # --- state the others read ----------------------------------------------------------------

    @property
    def user_id(self) -> None:
        return None  # the page's user stays in the page

    @property
    def registered(self) -> bool:
        return self.browser is not None

    @property
    def endpoint_id(self) -> str | None:
        return self._endpoint_id

    @property
    def joined(self) -> bool:
        return self._joined

    def peer_connection_count(self) -> int:
        """The page's open peer connections at the last sample (none once Chromium is gone)."""
        return self._open if self.browser is not None else 0

    def publishing(self) -> list[str]:
        return [r.stream_id for r, _ in self._published.values() if r.ended_at is None]

    def viewed_streams(self) -> list[StreamResult]:
        return [r for r in self._results() if r.ended_at is None]

    def receiving(self, stream_id: str) -> bool:
        series = self._views.get(stream_id)
        return series is not None and series.result.frames > 0

    # --- the steps ----------------------------------------------------------------------------

    async def register(self, keep_alive: float) -> None:
        if self.browser is not None:
            raise StepFailed("already registered")
        platform = self.run.platform
        conference_id = await platform.conference(self.plan.conference)
        ticket = client_id = secret = None
        if self.group.role == "customer":
            ticket = self.plan.ticket or await platform.ticket_id(conference_id, self.name)
        else:
            own = group_login(self.plan) or platform.login
            client_id, secret = own.client_id, own.client_secret.get_secret_value()
        browser = BrowserParticipant(
            platform.base_url,
            conference_id=conference_id,
            client_id=client_id,
            client_secret=secret,
            ticket=ticket,
            video_codec=self.group.codec,
            keep_alive_seconds=max(1, round(keep_alive)),
            name=self.name,
        )
        try:
            await browser.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await browser.close()
            raise
        self.browser = browser

    def _require_browser(self) -> BrowserParticipant:
        if self.browser is None:
            raise StepFailed("not registered: a `register` step must come first")
        return self.browser

    async def join(self, conference: str | None) -> None:
        browser = self._require_browser()
        if self._joined or self._left:
            raise StepFailed("a browser page joins once (a `join` after `leave` needs a new page)")
        started = self.run.clock.now()
        joining = asyncio.get_running_loop().create_task(browser.join())
        try:
            while not joining.done():
                found = await browser.page.evaluate("window.auvious.endpointId")
                self._endpoint_id = found if isinstance(found, str) else self._endpoint_id
                await asyncio.wait({joining}, timeout=ENDPOINT_POLL)
        finally:
            if not joining.done():
                joining.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await joining
        self._endpoint_id = joining.result()
        self._claim_streams()
        self.targets = {*self.run.group_names, OTHERS}  # the page views every stream
        now = self.run.clock.now()
        self._joined = True
        self.record.joined(started, self.targets)
        snapshot = await browser.snapshot()
        for published in snapshot.published:
            result = new_stream(
                published.stream_id, StreamDirection.PUBLISH, published.stream_type, started
            )
            result.setup_time = now - started
            self.record.stream(result)
            self._published[published.stream_id] = (result, None)

    def _claim_streams(self) -> None:
        """Views the others started before the page's endpoint id was known name the browser."""
        for other in self.run.roster.peers(self):
            for stream in other.result.streams:
                if stream.publisher == self._endpoint_id:
                    stream.publisher = self.name

    async def publish(self, names: list[str] | None) -> None:
        """The page publishes on joining; this step only checks that it did."""
        if not self._joined or not self.publishing():
            raise StepFailed("not in a conference: a `join` step must come first")

    async def leave(self) -> None:
        browser = self._require_browser()
        if not self._joined:
            raise StepFailed("not in a conference: a `join` step must come first")
        await self.sample()
        try:
            await browser.leave()
        finally:
            self._joined = False
            self._left = True
            self._end_streams()
            self.record.left()

    async def unregister(self) -> None:
        browser = self._require_browser()
        if self._joined:
            await self.leave()
        self.browser = None
        self._endpoint_id = None
        await browser.close()

    def _end_streams(self) -> None:
        self.record.end_streams([*(r for r, _ in self._published.values()), *self._results()])

    def _results(self) -> list[StreamResult]:
        return [series.result for series in self._views.values()]

    # --- measurements and the end -------------------------------------------------------------

    async def sample(self) -> None:
        if self.browser is None or not self._joined:
            return
        try:
            snapshot = await self.browser.snapshot()
        except Exception as exc:  # the page going away under us: the next sample will do
            log.debug("%s: sampling failed: %s", self.name, exc)
            return
        self._take(snapshot)

    def _take(self, snapshot: BrowserSnapshot) -> None:
        clock = self.run.clock
        now = clock.now()
        figures = measurements_from_snapshot(self.name, snapshot)
        live = {StreamState.LIVE.value, StreamState.CONNECTING.value}
        self._open = sum(1 for p in figures.publishers if p.state in live) + sum(
            1 for v in figures.viewers if v.state in live
        )
        seen = set()
        for view, viewer in zip(snapshot.viewed, figures.viewers, strict=True):
            seen.add(view.stream_id)
            series = self._views.get(view.stream_id) or self._new_view(view, viewer)
            if series.result.ended_at is not None:
                continue
            main = "video" if "video" in viewer.tracks else "audio"
            series.take(viewer, main, now)
            series.bitrate(now, view.bytes_received)
            video = view.decoding.get("video")
            series.result.frames_decoded = video.frames_decoded if video is not None else None
            series.result.freezes = [
                Freeze(start=clock.from_wall(f.start), duration=f.duration) for f in view.freezes
            ]
        for stream_id, series in self._views.items():
            if stream_id not in seen and series.result.ended_at is None:
                series.result.ended_at = now  # unpublished: the page stopped viewing it
        for published in snapshot.published:
            entry = self._published.get(published.stream_id)
            if entry is not None:
                result, last = entry
                result.bitrate.extend(_rate(last, now, published.bytes_sent))
                self._published[published.stream_id] = (result, (now, published.bytes_sent))

    def _new_view(self, view: BrowserViewReport, viewer: ViewerMeasurements) -> BrowserSeries:
        clock = self.run.clock
        endpoint_id = viewer.publisher_endpoint_id
        publisher = self.run.roster.by_endpoint(endpoint_id)
        started = clock.from_wall(view.started_at) if view.started_at else clock.now()
        result = new_stream(
            view.stream_id,
            StreamDirection.VIEW,
            viewer.stream_type,
            started,
            publisher=publisher.name if publisher is not None else endpoint_id,
        )
        self.record.stream(result)
        series = BrowserSeries(result)
        self._views[view.stream_id] = series
        return series

    async def close(self) -> None:
        """Leave and close Chromium, whatever state the page is in; recorded as steps."""
        browser = self.browser
        if browser is not None:
            if self._joined:
                await self.record.closing_step("leave", self.leave())
            self.browser = None
            await self.record.closing_step("unregister", browser.close())
        self._end_streams()
        self.present = False


def _rate(last: tuple[float, int] | None, now: float, total_bytes: int) -> list[Sample]:
    """The bitrate since the last sample, from the cumulative byte count."""
    if last is None or now <= last[0] or total_bytes < last[1]:
        return []
    return [Sample(t=now, value=(total_bytes - last[1]) * 8 / (now - last[0]))]
