"""What the platform keeps across restarts: SQLite records and file content in the data dir.

Route modules reach it with ``storage_of(request)``; ``install(app)`` (idempotent, called by
each record module's ``setup``) opens the data directory once per application and closes it
on cleanup.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from server.platform import PLATFORM_KEY
from server.signing import UrlSigner
from server.storage.files import FileStore
from server.storage.locks import KeyedLocks
from server.storage.records import (
    Condition,
    DuplicateRecordError,
    Query,
    RecordStore,
    StoredRecord,
)

__all__ = [
    "STORAGE_KEY",
    "Condition",
    "DuplicateRecordError",
    "FileStore",
    "Query",
    "RecordStore",
    "Storage",
    "StoredRecord",
    "attach",
    "epoch_ms",
    "install",
    "storage_of",
    "utc_now",
]


class Storage:
    """The data directory: ``platform.sqlite3`` for records, ``files/`` for content, and the
    key that signs download URLs (kept there so URLs outlive a restart)."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.records = RecordStore(data_dir / "platform.sqlite3")
        self.files = FileStore(data_dir / "files")
        self.signer = UrlSigner.from_data_dir(data_dir)
        self.locks = KeyedLocks()
        """Per-record turns for changes that pair a record with its file (asset uploads)."""

    def close(self) -> None:
        self.records.close()


STORAGE_KEY = web.AppKey("auvious_storage", Storage)


def install(app: web.Application) -> None:
    if STORAGE_KEY not in app:
        attach(app, Storage(app[PLATFORM_KEY].data_dir))


def attach(app: web.Application, storage: Storage) -> None:
    """Make `storage` the application's, closed at cleanup (after the hooks added before)."""
    app[STORAGE_KEY] = storage

    async def close(app: web.Application) -> None:
        storage.close()

    app.on_cleanup.append(close)


def storage_of(request: web.Request) -> Storage:
    return request.app[STORAGE_KEY]


def utc_now() -> datetime:
    return datetime.now(UTC)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)
