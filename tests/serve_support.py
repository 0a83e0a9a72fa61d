"""Shared by the tests of `auvious-agent serve` as a separate process (started as a user
would, read from its output)."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

STARTED = re.compile(r"Auvious platform at (http://\S+)")


CHECKOUT_CLI = (sys.executable, "-m", "agent.cli")


@asynccontextmanager
async def serve(
    *args: str, cli: Sequence[str] = CHECKOUT_CLI, cwd: Path | None = None
) -> AsyncIterator[tuple[str, list[str]]]:
    """Run `serve` on an ephemeral port; yields its base URL and the stdout lines so far.

    `cli` is the command (default: this checkout's, in this interpreter), `cwd` where it runs."""
    async with serve_process(*args, cli=cli, cwd=cwd) as (url, lines, process):
        yield url, lines
    assert process.returncode == 0


@asynccontextmanager
async def serve_process(
    *args: str,
    cli: Sequence[str] = CHECKOUT_CLI,
    cwd: Path | None = None,
    startup_timeout: float = 30.0,
    stderr: Path | None = None,
) -> AsyncIterator[tuple[str, list[str], asyncio.subprocess.Process]]:
    """`serve` with its process, for the tests that kill it; interrupted at the end if alive.
    `stderr` (appended to) keeps its log, which is dropped by default."""
    log = stderr.open("ab") if stderr is not None else None
    process = await asyncio.create_subprocess_exec(
        *cli,
        "serve",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL if log is None else log,
        cwd=cwd,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(startup_timeout):
            while not (match := STARTED.search(" ".join(lines))):
                line = await process.stdout.readline()
                assert line, f"serve exited early: {lines}"
                lines.append(line.decode().rstrip())
        # The lines printed right after the address (data dir, clients).
        for _ in range(2):
            async with asyncio.timeout(5):
                lines.append((await process.stdout.readline()).decode().rstrip())
        yield match.group(1), lines, process
    finally:
        try:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
                async with asyncio.timeout(15):
                    await process.wait()
        finally:
            if log is not None:
                log.close()
