"""CSV data files: one row per participant for credentials, tickets or anything templated."""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from agent.scenario.model import DataSource

__all__ = ["DataError", "RowPicker", "load_rows"]


class DataError(ValueError):
    """A data file that cannot be used; names the file and the line."""


def load_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file whose first line names the columns."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header or not any(column.strip() for column in header):
                raise DataError(f"{path}: empty CSV file; the first line must name the columns")
            columns = [column.strip() for column in header]
            duplicates = sorted({c for c in columns if columns.count(c) > 1})
            if duplicates:
                raise DataError(f"{path}:1: duplicate column(s) {', '.join(duplicates)}")
            rows = []
            for line, fields in enumerate(reader, start=2):
                if not fields:
                    continue
                if len(fields) != len(columns):
                    raise DataError(
                        f"{path}:{line}: {len(fields)} fields, but the header has {len(columns)}"
                    )
                rows.append(dict(zip(columns, fields, strict=True)))
    except OSError as error:
        raise DataError(f"{path}: cannot read the data file: {error.strerror}") from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise DataError(f"{path}: not a readable CSV file: {error}") from None
    if not rows:
        raise DataError(f"{path}: the CSV file has a header but no rows")
    return rows


class RowPicker:
    """Hands participant n its row: in order (wrapping around) or at random."""

    def __init__(
        self, rows: Sequence[Mapping[str, str]], mode: str, rng: random.Random | None = None
    ) -> None:
        if not rows:
            raise DataError("no rows to pick from")
        self._rows = rows
        self._mode = mode
        self._rng = rng or random.Random()

    @classmethod
    def from_source(
        cls, source: DataSource, base: Path, rng: random.Random | None = None
    ) -> RowPicker:
        return cls(load_rows(base / source.file), source.mode, rng)

    def pick(self, number: int) -> Mapping[str, str]:
        if self._mode == "random":
            return self._rng.choice(self._rows)
        return self._rows[number % len(self._rows)]
