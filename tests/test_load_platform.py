"""The local platform in its own process for load runs: its development client logs in, the
secret stays out of reprs, and the platform does not outlive a coordinator that is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from agent.api.client import AuviousClient
from agent.load import serve_platform
from agent.load.platform import process_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent


async def test_the_platform_process_serves_its_development_client() -> None:
    async with serve_platform() as local:
        secret = local.client_secret.get_secret_value()
        assert secret and secret not in repr(local)
        client = AuviousClient(local.base_url, local.credentials())
        try:
            claims = await client.claims()
        finally:
            await client.close()
        assert claims.sub
        assert process_cpu_seconds(local.pid) > 0
        pid = local.pid
    await asyncio.sleep(0.2)
    assert not _alive(pid), "the platform outlived its context"


def test_a_killed_coordinator_takes_its_platform_with_it() -> None:
    child = textwrap.dedent(
        """
        import asyncio, sys
        from agent.load import serve_platform

        async def main() -> None:
            async with serve_platform() as local:
                print(local.pid, flush=True)
                await asyncio.sleep(600)

        asyncio.run(main())
        """
    )
    coordinator = subprocess.Popen(
        [sys.executable, "-c", child], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert coordinator.stdout is not None
        line = coordinator.stdout.readline()
        assert line.strip().isdigit(), line
        platform_pid = int(line)
        assert _alive(platform_pid)
        coordinator.send_signal(signal.SIGKILL)  # no cleanup code runs
        coordinator.wait(10)
        deadline = time.monotonic() + 20
        while _alive(platform_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(platform_pid), "the platform outlived a killed coordinator"
    finally:
        if coordinator.poll() is None:
            coordinator.kill()


def _alive(pid: int) -> bool:
    """Running and not a zombie (an exited child of init is reaped soon after)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
