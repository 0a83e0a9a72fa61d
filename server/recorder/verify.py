"""`POST /storageproviders/{applicationId}/verify`: real probes of the local store.

The five checks of the seed, run against the directory recordings are written to: it exists
and is a writable directory (the "bucket"), a probe file can be written, read back equal,
overwritten and read back, and deleted. The probe's name is generated, never the caller's.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from agent.api.models.recorder import StorageTestResult, StorageVerificationStatusMessage


def verify_store(root: Path) -> StorageVerificationStatusMessage:
    probe = root / f".verify-{secrets.token_hex(8)}"
    first = secrets.token_bytes(64)
    second = secrets.token_bytes(64)

    def bucket() -> str:
        if not root.is_dir():
            raise OSError(f"{root.name} is not a directory")
        if not os.access(root, os.W_OK | os.X_OK):
            raise OSError(f"{root.name} is not writable")
        return "the recordings directory exists and is writable"

    def write() -> str:
        probe.write_bytes(first)
        return f"wrote {len(first)} bytes"

    def read() -> str:
        if probe.read_bytes() != first:
            raise OSError("read back different bytes than were written")
        return "read back what was written"

    def modify() -> str:
        probe.write_bytes(second)
        if probe.read_bytes() != second:
            raise OSError("an overwrite did not take effect")
        return "overwrote the probe and read the new content back"

    def delete() -> str:
        probe.unlink()
        if probe.exists():
            raise OSError("the probe is still there after deleting it")
        return "deleted the probe"

    results: list[StorageTestResult] = []
    failed = False
    for check in (bucket, write, read, modify, delete):
        results.append(_run(check, skip=failed))
        failed = failed or not results[-1].passed
    probe.unlink(missing_ok=True)
    bucket_result, write_result, read_result, modify_result, delete_result = results
    return StorageVerificationStatusMessage(
        bucket_test_result=bucket_result,
        write_test_result=write_result,
        read_test_result=read_result,
        modify_test_result=modify_result,
        delete_test_result=delete_result,
    )


def _run(check: Callable[[], str], *, skip: bool) -> StorageTestResult:
    if skip:
        return StorageTestResult(passed=False, message="not run: an earlier check failed")
    try:
        return StorageTestResult(passed=True, message=check())
    except OSError as exc:
        return StorageTestResult(passed=False, message=exc.strerror or str(exc))
