"""SQLite record store: every record domain (snapshots, ratings, interactions, ...) in one table.

Each record is a JSON document keyed by ``(kind, id)`` with the columns the domains filter on
kept beside it (organization, creation time, version). One generic table instead of one per
domain keeps the schema in one place; domain-specific filters read the JSON with
``json_extract``, which is fast enough for the record counts a local platform holds.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS records_by_org_time ON records (kind, organization_id, created_at);
"""

_COLUMNS = "id, organization_id, created_at, version, body"


class DuplicateRecordError(Exception):
    """A record with this kind and id already exists."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One row: ``body`` is the record's JSON document, ``created_at`` epoch milliseconds."""

    id: str
    organization_id: str
    created_at: int
    version: int
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Condition:
    """A filter on the JSON body: ``json_extract(body, path) <op> value``.

    ``op`` is one of ``=``, ``<``, ``>``, ``<=``, ``>=``, ``!=`` (true for a missing field too),
    ``IN`` (value a sequence), or ``CONTAINS`` (the body field is a JSON array holding the
    value). Paths must be ``$.`` followed by letters, digits, ``_`` and ``.``; anything else is
    refused before it reaches SQL.
    """

    path: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class Query:
    """Which records of a kind to read and in what order."""

    organization_id: str | None = None
    conditions: Sequence[Condition] = ()
    created_from: int | None = None
    created_to: int | None = None
    order_by: Sequence[tuple[str, bool]] = (("$created_at", True),)
    limit: int | None = None
    offset: int = 0


_OPS = {"=", "<", ">", "<=", ">="}
_COLUMN_KEYS = {"$created_at": "created_at", "$id": "id", "$version": "version"}


class RecordStore:
    """The SQLite database at ``path``; one connection used from the event loop's thread.

    Calls are synchronous: they touch a local file in WAL mode and finish in well under a
    millisecond for the sizes here, which is cheaper than hopping to a thread per call.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes so that they land together or not at all."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def insert(
        self,
        kind: str,
        record_id: str,
        organization_id: str,
        created_at: int,
        body: Mapping[str, Any],
    ) -> StoredRecord:
        try:
            self._db.execute(
                "INSERT INTO records (kind, id, organization_id, created_at, version, body) "
                "VALUES (?, ?, ?, ?, 0, ?)",
                (kind, record_id, organization_id, created_at, _dump(body)),
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateRecordError(f"{kind} {record_id} already exists") from exc
        return StoredRecord(record_id, organization_id, created_at, 0, dict(body))

    def scope_ids(self, kind: str) -> int:
        """Move every record of ``kind`` stored under a bare id to the id its organization
        scopes (``organization\\nid``, see `server.storage.access.org_key`): data written
        before ids became per organization stays reachable. Idempotent; how many moved."""
        cur = self._db.execute(
            "UPDATE records SET id = organization_id || char(10) || id "
            "WHERE kind = ? AND instr(id, char(10)) = 0",
            (kind,),
        )
        return cur.rowcount

    def get(self, kind: str, record_id: str) -> StoredRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM records WHERE kind = ? AND id = ?", (kind, record_id)
        ).fetchone()
        return _row(row) if row else None

    def update(
        self,
        kind: str,
        record_id: str,
        body: Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> int | None:
        """Replace a record's body and bump its version; returns the new version.

        With ``expected_version`` the write happens only if the stored version still equals it
        (optimistic locking); ``None`` is returned when it does not, or when the record is gone.
        """
        sql = "UPDATE records SET body = ?, version = version + 1 WHERE kind = ? AND id = ?"
        args: list[Any] = [_dump(body), kind, record_id]
        if expected_version is not None:
            sql += " AND version = ?"
            args.append(expected_version)
        cur = self._db.execute(sql + " RETURNING version", args)
        row = cur.fetchone()
        return int(row[0]) if row else None

    def delete(self, kind: str, record_id: str) -> bool:
        cur = self._db.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, record_id))
        return cur.rowcount > 0

    def delete_created_before(self, kind: str, created_before: int) -> int:
        """Delete every record of ``kind`` created before ``created_before``; how many went."""
        cur = self._db.execute(
            "DELETE FROM records WHERE kind = ? AND created_at < ?", (kind, created_before)
        )
        return cur.rowcount

    def find(self, kind: str, query: Query = Query()) -> list[StoredRecord]:
        where, args = _where(kind, query)
        order = ", ".join(
            f"{_order_key(key)} {'ASC' if ascending else 'DESC'}"
            for key, ascending in query.order_by
        )
        # Ties keep insertion order, reversed when the first key is descending ("newest
        # first" then stays newest first within one millisecond).
        newest_first = bool(query.order_by) and not query.order_by[0][1]
        tiebreak = "rowid DESC" if newest_first else "rowid"
        order = order or "created_at"
        sql = f"SELECT {_COLUMNS} FROM records WHERE {where} ORDER BY {order}, {tiebreak}"
        if query.limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [query.limit, query.offset]
        return [_row(r) for r in self._db.execute(sql, args).fetchall()]

    def count(self, kind: str, query: Query = Query()) -> int:
        where, args = _where(kind, query)
        row = self._db.execute(f"SELECT COUNT(*) FROM records WHERE {where}", args).fetchone()
        return int(row[0])


def _where(kind: str, query: Query) -> tuple[str, list[Any]]:
    parts = ["kind = ?"]
    args: list[Any] = [kind]
    if query.organization_id is not None:
        parts.append("organization_id = ?")
        args.append(query.organization_id)
    if query.created_from is not None:
        parts.append("created_at >= ?")
        args.append(query.created_from)
    if query.created_to is not None:
        parts.append("created_at <= ?")
        args.append(query.created_to)
    for cond in query.conditions:
        field = _order_key(cond.path)
        if cond.op in _OPS:
            parts.append(f"{field} {cond.op} ?")
            args.append(_scalar(cond.value))
        elif cond.op == "!=":
            parts.append(f"({field} IS NULL OR {field} != ?)")
            args.append(_scalar(cond.value))
        elif cond.op == "IN":
            values = [_scalar(v) for v in cond.value]
            if not values:
                parts.append("0")
                continue
            parts.append(f"{field} IN ({', '.join('?' for _ in values)})")
            args += values
        elif cond.op == "CONTAINS":
            parts.append("EXISTS (SELECT 1 FROM json_each(body, ?) WHERE value = ?)")
            args += [cond.path, _scalar(cond.value)]
        else:
            raise ValueError(f"unknown condition operator {cond.op!r}")
    return " AND ".join(parts), args


def _order_key(path: str) -> str:
    """A column for ``$``-prefixed keys, else a JSON path into the body (validated, not bound)."""
    if path in _COLUMN_KEYS:
        return _COLUMN_KEYS[path]
    if not path.startswith("$.") or not all(c.isalnum() or c in "._" for c in path[2:]):
        raise ValueError(f"invalid record path {path!r}")
    return f"json_extract(body, '{path}')"


_INT64 = range(-(2**63), 2**63)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value not in _INT64:
        # SQLite integers are 64-bit; as a REAL the value still compares correctly.
        return float(value)
    return value


def _dump(body: Mapping[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def _row(row: tuple[Any, ...]) -> StoredRecord:
    return StoredRecord(
        id=row[0],
        organization_id=row[1],
        created_at=row[2],
        version=row[3],
        body=json.loads(row[4]),
    )
