"""Timed records of what a participant did, for the reports.

Every step (register, join, publish, view, replace, leave...) becomes one `StepRecord`: when
it started, how long it took, whether it worked, and the figures of that step (time to the
publish answer, time to connected...). Reports read them in order; nothing here does I/O.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from agent.redact import redact

__all__ = ["StepRecord", "Timeline"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StepRecord:
    """One step. `started_at` is wall-clock (comparable across participants on one host);
    `seconds` is measured on the monotonic clock."""

    step: str
    started_at: float
    seconds: float | None = None
    ok: bool = True
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Timeline:
    """The records of one participant, in the order the steps started."""

    def __init__(self, name: str, limit: int | None = None) -> None:
        self.name = name
        self.records: list[StepRecord] = []
        self.limit = limit
        """Keep at most this many records, the newest (None: all, as a run's report needs);
        a process that runs for weeks sets one."""
        self.dropped = 0
        """Records dropped for the limit, oldest first."""

    def _add(self, record: StepRecord) -> None:
        self.records.append(record)
        if self.limit is not None and len(self.records) > self.limit:
            excess = len(self.records) - self.limit // 2  # drop in chunks: rare, cheap
            del self.records[:excess]
            self.dropped += excess

    def __repr__(self) -> str:
        return f"Timeline({self.name!r}, {len(self.records)} records)"

    @contextlib.contextmanager
    def step(self, step: str, **details: Any) -> Iterator[StepRecord]:
        """Time the body; an exception (cancellation included) marks the record failed and
        propagates. The body may add figures to `record.details`."""
        record = StepRecord(step, time.time(), details=dict(details))
        self._add(record)
        started = time.monotonic()
        try:
            yield record
        except BaseException as exc:
            record.ok = False
            record.error = describe(exc)
            raise
        finally:
            record.seconds = time.monotonic() - started

    def note(self, step: str, *, ok: bool = True, error: str | None = None, **details: Any) -> None:
        """A step without a duration (an event that happened, a failure seen)."""
        self._add(StepRecord(step, time.time(), None, ok, error, dict(details)))

    def find(self, step: str) -> list[StepRecord]:
        return [r for r in self.records if r.step == step]


def describe(exc: BaseException) -> str:
    """An exception as one line for a record (redacted: records end up in reports)."""
    text = str(exc)
    return redact(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
