"""Browser participants: headless Chromium on the platform's client page, driven by Playwright."""

from agent.browser.measurements import measurements_from_snapshot
from agent.browser.participant import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    BrowserError,
    BrowserParticipant,
    BrowserUnavailable,
    chromium_missing,
)
from agent.browser.report import (
    BrowserDecoding,
    BrowserPublishReport,
    BrowserSnapshot,
    BrowserViewReport,
    snapshot_from_page,
    video_report,
)

__all__ = [
    "CHROMIUM",
    "CHROMIUM_FLAGS",
    "BrowserDecoding",
    "BrowserError",
    "BrowserParticipant",
    "BrowserPublishReport",
    "BrowserSnapshot",
    "BrowserUnavailable",
    "BrowserViewReport",
    "chromium_missing",
    "measurements_from_snapshot",
    "snapshot_from_page",
    "video_report",
]
