"""File content (snapshot images, transferred files, assets) under ``<data_dir>/files/<kind>/``.

Storage names are generated here (random hex), never derived from anything a client sent, so
no request can steer a write or a read outside the directory.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

_KINDS = frozenset(
    {
        "snapshots",
        "filetransfers",
        "assets",
        "recordings",
        "compositions",
        "cobrowse",
        "transcripts",
    }
)
_SCRATCH_SUFFIXES = frozenset({".part", ".job.json"})


class FileStore:
    def __init__(self, root: Path) -> None:
        self._root = root
        for kind in _KINDS:
            (root / kind).mkdir(parents=True, exist_ok=True)

    async def save(self, kind: str, data: bytes) -> str:
        """Write ``data`` under a fresh name and return that name (the storage key)."""
        key = secrets.token_hex(16)
        await asyncio.to_thread(self._write, self.path(kind, key), data)
        return key

    def directory(self, kind: str) -> Path:
        """Where the files of `kind` live (storage checks probe it)."""
        if kind not in _KINDS:
            raise ValueError(f"unknown file kind {kind!r}")
        return self._root / kind

    def path(self, kind: str, key: str) -> Path:
        if kind not in _KINDS:
            raise ValueError(f"unknown file kind {kind!r}")
        if len(key) != 32 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError("invalid storage key")
        return self._root / kind / key

    @staticmethod
    def new_key() -> str:
        """A fresh storage key, for content a writer streams into place itself."""
        return secrets.token_hex(16)

    def scratch(self, kind: str, key: str, suffix: str) -> Path:
        """A working file beside ``key`` (``.part`` while written, ``.job.json``)."""
        if suffix not in _SCRATCH_SUFFIXES:
            raise ValueError(f"unknown scratch suffix {suffix!r}")
        return self.path(kind, key).with_suffix(suffix)

    def exists(self, kind: str, key: str) -> bool:
        return self.path(kind, key).is_file()

    async def delete(self, kind: str, key: str) -> None:
        await asyncio.to_thread(self.path(kind, key).unlink, True)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        """Write then rename, so a crash never leaves a half-written file under the real name."""
        tmp = path.with_suffix(".part")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
