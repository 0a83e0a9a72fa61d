"""How a run shows it is alive: one line redrawn in place on a terminal, a log line now and
then otherwise (CI logs, pipes)."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import TextIO

__all__ = ["OneLineFormatter", "Progress", "ProgressView", "console_logging"]

LOG_EVERY = 5.0
"""Seconds between plain progress lines when no terminal is attached."""


@dataclass(frozen=True)
class Progress:
    """What the run looks like now."""

    elapsed: float
    total: float | None
    """Planned length in seconds; None when the run lasts until the timelines are done."""
    phase: str | None
    participants: int
    joined: int
    streams_published: int
    streams_flowing: int
    """Viewed streams that received media since the previous look (frames; packets of an
    audio-only stream)."""
    streams_viewed: int
    errors: int
    skipped: int = 0

    def line(self) -> str:
        clock = f"{self.elapsed:5.1f}s"
        if self.total is not None:
            clock += f" / {self.total:.0f}s ({max(0.0, self.total - self.elapsed):.0f}s left)"
        parts = [clock]
        if self.phase:
            parts.append(f"phase {self.phase}")
        parts.append(f"joined {self.joined}/{self.participants}")
        parts.append(f"published {self.streams_published}")
        parts.append(f"flowing {self.streams_flowing}/{self.streams_viewed} viewed")
        if self.errors:
            parts.append(f"errors {self.errors}")
        if self.skipped:
            parts.append(f"skipped arrivals {self.skipped}")
        return "  ".join(parts)


class ProgressView:
    """Writes `Progress` to `out`: redrawn in place when `interactive`, else every few s."""

    def __init__(self, out: TextIO, interactive: bool, title: str) -> None:
        self.out = out
        self.interactive = interactive
        self.title = title
        self._last_log = float("-inf")
        self._drawn = False

    def show(self, progress: Progress) -> None:
        if self.interactive:
            self.out.write(f"\r\x1b[K{self.title}: {progress.line()}")
            self.out.flush()
            self._drawn = True
            return
        now = time.monotonic()
        if now - self._last_log >= LOG_EVERY:
            self._last_log = now
            print(f"{self.title}: {progress.line()}", file=self.out, flush=True)

    def finish(self, message: str) -> None:
        """The last word of the run, on its own line."""
        if self._drawn:
            self.out.write("\r\x1b[K")
            self._drawn = False
        print(f"{self.title}: {message}", file=self.out, flush=True)


class OneLineFormatter(logging.Formatter):
    """A log record as one line: an exception shows as its type and message, without the
    traceback (the run's console is for people; a defect shows in the report's errors)."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname.lower()} {record.name}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line += (
                f" ({type(error).__name__}: {error})"
                if str(error)
                else f" ({type(error).__name__})"
            )
        return line.replace("\n", " ")


QUIET_LOGGERS = ("amqtt", "transitions", "server")
"""The embedded platform's own chatter (its broker, its router) is not the run's news."""


def console_logging(stream: TextIO | None = None) -> None:
    """Warnings and errors on stderr, one line each; the embedded platform only on errors."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(OneLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
