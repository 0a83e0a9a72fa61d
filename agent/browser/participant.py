"""A real browser in a conference: Debian's Chromium, headless, driven by Playwright.

The browser opens the platform's own client page (`/client`), so what is tested is Chromium's
WebRTC stack with the platform, not a copy of the agent's logic. The page does the protocol;
this class launches the browser, fills the join form (credentials never go into the URL),
waits for the page's state and reads its `auviousStats()`.

    async with BrowserParticipant(base_url, conference_id=cid, client_id=..., client_secret=...)
            as browser:
        await browser.join()
        snapshot = await browser.snapshot()

Playwright's browser downloads are never used: the executable is the system's Chromium.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import urlencode

from agent.browser.measurements import measurements_from_snapshot
from agent.browser.page_cpu import PageCpu, open_page
from agent.browser.report import BrowserSnapshot, snapshot_from_page
from agent.participant import ParticipantMeasurements

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page, Playwright

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "BrowserError",
    "BrowserParticipant",
    "BrowserUnavailable",
    "chromium_missing",
]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # Unmuted playout without a user gesture, and real host candidates instead of mDNS names
    # (aiortc on the platform's side cannot resolve `.local` names).
    "--autoplay-policy=no-user-gesture-required",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    # Gather 127.0.0.1 too: in a loopback-only network namespace (how the tests run) it is
    # the only address there is.
    "--allow-loopback-in-peer-connection",
)
JOIN_TIMEOUT = 30.0


class BrowserError(Exception):
    """The page failed (its own error list is in the message) or did not get there in time."""


class BrowserUnavailable(BrowserError):
    """No Chromium or no Playwright here: the caller can skip rather than fail."""


def chromium_missing(executable: str = CHROMIUM) -> str | None:
    """Why a browser participant cannot run here, or None when it can."""
    if not Path(executable).exists() and shutil.which(executable) is None:
        return f"{executable} is not installed (scripts/ensure-chromium installs it as root)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return (
            "the playwright package is missing: scripts/bootstrap browser in a checkout, "
            "else pip install 'auvious-agent[browser]'"
        )
    return None


class BrowserParticipant:
    """One Chromium page in one conference, logged in as a client or with a ticket."""

    def __init__(
        self,
        base_url: str,
        *,
        conference_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        ticket: str | None = None,
        video_codec: str | None = None,
        keep_alive_seconds: int = 30,
        timecode: bool = True,
        executable: str = CHROMIUM,
        name: str = "browser",
    ) -> None:
        if ticket is None and (client_id is None or client_secret is None):
            raise ValueError("give a ticket, or a client id and its secret")
        if video_codec not in (None, "VP8", "H264"):
            raise ValueError(f"video codec must be VP8 or H264, not {video_codec!r}")
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.conference_id = conference_id
        self.client_id = client_id
        self._client_secret = client_secret
        self.ticket = ticket
        self.video_codec = video_codec
        self.keep_alive_seconds = keep_alive_seconds
        self.timecode = timecode
        self.executable = executable
        self.console: list[str] = []
        self._playwright: Playwright | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._cpu: PageCpu | None = None
        """The page, watched for the load generator's health while it is open."""

    def __repr__(self) -> str:
        who = "ticket" if self.ticket else f"client {self.client_id!r}"
        return f"BrowserParticipant({self.name!r}, {who}, conference={self.conference_id!r})"

    @property
    def url(self) -> str:
        params = {"keepAlive": str(self.keep_alive_seconds)}
        if self.conference_id:
            params["conference"] = self.conference_id
        if self.video_codec:
            params["codec"] = self.video_codec
        if not self.timecode:
            params["timecode"] = "0"
        return f"{self.base_url}/client/?{urlencode(params)}"

    @property
    def page(self) -> Page:
        if self._page is None:
            raise BrowserError("the browser is not started")
        return self._page

    async def start(self) -> None:
        """Launch Chromium with a fresh profile and open the client page."""
        reason = chromium_missing(self.executable)
        if reason is not None:
            raise BrowserUnavailable(reason)
        from playwright.async_api import async_playwright

        self._profile = tempfile.TemporaryDirectory(prefix="auvious-chromium-")
        self._playwright = await async_playwright().start()
        self._context = await self._playwright.chromium.launch_persistent_context(
            self._profile.name,
            executable_path=self.executable,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            permissions=["camera", "microphone"],
            viewport={"width": 1280, "height": 900},
        )
        self._page = (
            self._context.pages[0] if self._context.pages else await self._context.new_page()
        )
        self._page.on("console", lambda message: self._note(f"{message.type}: {message.text}"))
        self._page.on("pageerror", lambda error: self._note(f"pageerror: {error}"))
        self._cpu = open_page(self.name, self._page)
        await self._page.goto(self.url)

    def _note(self, line: str) -> None:
        self.console.append(line)
        del self.console[:-200]

    async def join(self, within: float = JOIN_TIMEOUT) -> str:
        """Fill the form, join, publish; returns the browser's user endpoint id."""
        page = self.page
        if self.ticket:
            await page.fill("input[name=ticket]", self.ticket)
        else:
            await page.fill("input[name=clientId]", self.client_id or "")
            await page.fill("input[name=clientSecret]", self._client_secret or "")
        await page.click("#join button[type=submit]")
        await self.wait_for(
            lambda s: s.state == "joined" and bool(s.published), within, "joined and published"
        )
        endpoint = await page.evaluate("window.auvious.endpointId")
        return str(endpoint)

    async def reload(self, within: float = JOIN_TIMEOUT) -> str:
        """Reload the page mid-call (it unregisters on `pagehide`), then join again."""
        await self.page.reload()
        return await self.join(within)

    async def leave(self) -> None:
        await self.page.evaluate("window.auviousLeave()")

    async def snapshot(self) -> BrowserSnapshot:
        raw: dict[str, Any] = await self.page.evaluate("window.auviousStats()")
        return snapshot_from_page(raw)

    async def measurements(self) -> ParticipantMeasurements:
        """The snapshot in the agent's `Participant.measurements()` shape, for one report."""
        return measurements_from_snapshot(self.name, await self.snapshot())

    async def wait_for(
        self, predicate: Callable[[BrowserSnapshot], bool], within: float, what: str
    ) -> BrowserSnapshot:
        """Poll the page's snapshot until `predicate` holds; BrowserError on a page failure."""
        deadline = time.monotonic() + within
        while True:
            snapshot = await self.snapshot()
            if snapshot.state == "failed":
                raise BrowserError(f"the page failed: {'; '.join(snapshot.errors)}")
            if predicate(snapshot):
                return snapshot
            if time.monotonic() > deadline:
                raise BrowserError(
                    f"not {what} within {within:g} s; page state {snapshot.state}, "
                    f"errors {snapshot.errors}, console {self.console[-5:]}"
                )
            await asyncio.sleep(0.25)

    async def screenshot(self, path: str | Path) -> None:
        await self.page.screenshot(path=str(path))

    async def close(self) -> None:
        self._cpu = None
        if self._context is not None:
            await self._context.close()
            self._context = None
            self._page = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
