"""A report opened in Debian's Chromium through Playwright, watched for what a report must
never do: log a console error or warning, throw, or fetch anything (it opens offline)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agent.browser import CHROMIUM

if TYPE_CHECKING:
    from playwright.async_api import Page

SIZE_BOUND = 1_500_000
"""Bytes: the report of 200 participants (real or synthetic) stays under this, as
docs/scenarios.md states."""


@dataclass
class OpenedReport:
    page: Page
    html: Path
    problems: list[str] = field(default_factory=list)
    """Console errors and warnings, and uncaught exceptions."""
    fetched: list[str] = field(default_factory=list)
    """Every URL requested but the file itself."""

    async def assert_shaded(self, titles: Sequence[str], phases: Sequence[str]) -> None:
        """Each chart whose title starts with one of `titles` shades `phases`, in order."""
        for title in titles:
            chart = self.page.locator(f'#plots svg[aria-label^="{title}"]')
            shaded = await chart.locator("rect.shade title").all_text_contents()
            assert [s.split(":")[0] for s in shaded] == list(phases), title

    async def screenshot(self, png: Path) -> None:
        """The whole page as it first opens, then the checks every report must pass."""
        await self.page.goto(self.html.as_uri())
        shot = await self.page.screenshot(path=str(png), full_page=True)
        assert not self.problems, self.problems
        assert not self.fetched, f"the report fetched {self.fetched}: it must open offline"
        assert len(shot) > 50_000


@asynccontextmanager
async def open_report(html: Path) -> AsyncIterator[OpenedReport]:
    from playwright.async_api import ConsoleMessage, Request, async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            opened = OpenedReport(page, html)

            def console(message: ConsoleMessage) -> None:
                if message.type in ("error", "warning"):
                    opened.problems.append(f"{message.type}: {message.text}")

            def request(request: Request) -> None:
                url = request.url
                if url != html.as_uri() and not url.startswith(html.as_uri() + "#"):
                    opened.fetched.append(url)

            page.on("console", console)
            page.on("pageerror", lambda error: opened.problems.append(f"pageerror: {error}"))
            page.on("request", request)
            await page.goto(html.as_uri())
            yield opened
        finally:
            await browser.close()
