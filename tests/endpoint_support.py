"""Shared by the tests of `auvious-agent endpoint` as a separate process (started as systemd
would, watched through its health port)."""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp

from tests.serve_support import CHECKOUT_CLI

HEALTH = re.compile(r"health on (http://\S+) ")


class EndpointProcess:
    """A running `endpoint` command: its health URL and its log lines so far."""

    def __init__(self, process: asyncio.subprocess.Process, health: str) -> None:
        self.process = process
        self.health = health
        self.lines: list[str] = []

    async def get(self, path: str) -> tuple[int, Any]:
        """`/readyz`, `/healthz` (JSON) or `/metrics` (text): status and body."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{self.health}{path}", timeout=aiohttp.ClientTimeout(total=5)) as answer,
        ):
            body = await answer.text() if path == "/metrics" else await answer.json()
            return answer.status, body

    async def ready(self, within: float, **expected: Any) -> dict[str, Any]:
        """Wait until `/readyz` answers 200 with `expected` fields; its body."""
        body: Any = None
        try:
            async with asyncio.timeout(within):
                while True:
                    with suppress(aiohttp.ClientError, TimeoutError):
                        status, body = await self.get("/readyz")
                        if status == 200 and all(body.get(k) == v for k, v in expected.items()):
                            return dict(body)
                    await asyncio.sleep(0.2)
        except TimeoutError:
            raise AssertionError(f"not ready in {within} s: {body}; log: {self.lines}") from None

    async def not_ready(self, within: float) -> dict[str, Any]:
        async with asyncio.timeout(within):
            while True:
                status, body = await self.get("/readyz")
                if status == 503:
                    return dict(body)
                await asyncio.sleep(0.1)


@asynccontextmanager
async def endpoint_process(
    file: Path, env: dict[str, str], *args: str, startup_timeout: float = 30.0
) -> AsyncIterator[EndpointProcess]:
    """`auvious-agent endpoint FILE --health-port 0`; SIGTERM at the end if still running."""
    process = await asyncio.create_subprocess_exec(
        *CHECKOUT_CLI,
        "endpoint",
        str(file),
        "--health-port",
        "0",
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(startup_timeout):
        while not (match := HEALTH.search(" ".join(lines))):
            line = await process.stderr.readline()
            assert line, f"endpoint exited early: {lines}"
            lines.append(line.decode().rstrip())
    running = EndpointProcess(process, match.group(1))
    running.lines = lines

    async def drain() -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            lines.append(line.decode().rstrip())

    draining = asyncio.get_running_loop().create_task(drain())
    try:
        yield running
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                await process.wait()
        await draining
