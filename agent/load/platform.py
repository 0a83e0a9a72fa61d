"""The local platform in its own process (`auvious-agent serve`), so a load test measures the
agent's CPU apart from the platform's.

The development client the platform prints once at startup is the login; its secret is kept
in a `SecretStr` and never printed again.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import re
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from agent.api.auth import ClientCredentials

__all__ = ["LocalPlatform", "PlatformError", "process_cpu_seconds", "serve_platform"]

STARTED = re.compile(r"Auvious platform at (http://\S+)")
DEV_CLIENT = re.compile(r"development client: id=(\S+) secret=(\S+) ")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
PR_SET_PDEATHSIG = 1
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


class PlatformError(RuntimeError):
    """The platform process did not start (or said nothing we could use)."""


@dataclass(frozen=True)
class LocalPlatform:
    base_url: str
    client_id: str
    client_secret: SecretStr
    pid: int

    def credentials(self) -> ClientCredentials:
        """A fresh login (token providers belong to one client each)."""
        return ClientCredentials(self.client_id, self.client_secret.get_secret_value())

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process, all its threads (Linux `/proc/PID/stat`)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


@asynccontextmanager
async def serve_platform() -> AsyncIterator[LocalPlatform]:
    """`auvious-agent serve` on an ephemeral port with a throwaway data directory; stopped
    (SIGINT, then killed if it hangs) on exit. Its request log is not kept: at hundreds of
    participants it would cost the platform more than the requests."""
    with tempfile.TemporaryDirectory(prefix="auvious-load-") as data_dir:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "agent.cli",
            "serve",
            "--port",
            "0",
            "--data-dir",
            data_dir,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C must not stop it under the workers
            preexec_fn=_die_with_parent,
        )
        try:
            yield await _started(process)
        finally:
            await _stop(process)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the process that started it dies (Linux), so a
    killed load run leaves no platform behind. Only a foreign call happens here: the library
    was loaded before the fork."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


async def _started(process: asyncio.subprocess.Process) -> LocalPlatform:
    assert process.stdout is not None
    base_url: str | None = None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            while True:
                line = (await process.stdout.readline()).decode()
                if not line:
                    raise PlatformError(f"serve exited early (code {await process.wait()})")
                if base_url is None and (started := STARTED.search(line)):
                    base_url = started.group(1)
                elif base_url is not None and (client := DEV_CLIENT.search(line)):
                    return LocalPlatform(
                        base_url, client.group(1), SecretStr(client.group(2)), process.pid
                    )
    except TimeoutError:
        raise PlatformError(f"serve printed no address and client in {START_TIMEOUT} s") from None


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        async with asyncio.timeout(STOP_TIMEOUT):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
