"""What the platform keeps across restarts: SQLite records and file content in the data dir."""

from __future__ import annotations

from pathlib import Path

from server.storage.files import FileStore
from server.storage.records import (
    Condition,
    DuplicateRecordError,
    Query,
    RecordStore,
    StoredRecord,
)

__all__ = [
    "Condition",
    "DuplicateRecordError",
    "FileStore",
    "Query",
    "RecordStore",
    "Storage",
    "StoredRecord",
]


class Storage:
    """The data directory: ``platform.sqlite3`` for records and ``files/`` for content."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.records = RecordStore(data_dir / "platform.sqlite3")
        self.files = FileStore(data_dir / "files")

    def close(self) -> None:
        self.records.close()
