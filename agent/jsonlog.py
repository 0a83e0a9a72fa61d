"""JSON-lines logs (`--log-format json`): one object per record, for journald, Loki or any
collector. Messages are redacted when the record is made (`agent.redact.install_redaction`),
so no token or secret reaches a line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from agent.redact import redact

__all__ = ["JsonFormatter"]


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}` and `error` (type and text) with an exception;
    the traceback in `traceback`, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["error"] = redact(f"{type(error).__name__}: {error}")
            line["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)
