"""The endpoint as a service: started (retried while the platform is not there yet), watched,
reported to systemd and `--health-port`, and stopped cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping

from agent.api.errors import ApiError
from agent.endpoint.health import HealthServer
from agent.endpoint.runner import Endpoint, Readiness
from agent.endpoint.systemd import notify, watchdog_interval
from agent.events.channel import ChannelError
from agent.participant.records import describe

__all__ = ["StartRefused", "serve_endpoint"]

log = logging.getLogger(__name__)

START_INITIAL = 0.5
START_MAXIMUM = 15.0
TICK = 1.0
"""Seconds between looks at the endpoint's state (readiness, systemd status)."""


class StartRefused(Exception):
    """The platform refused the endpoint for good (bad credentials, a forbidden conference):
    retrying will not help, the file or the secret must change."""


def _transient(error: BaseException) -> bool:
    """Worth retrying: no answer, the platform failing or restarting, a timeout."""
    if isinstance(error, ApiError):
        return error.status is None or error.status >= 500 or error.status in (404, 408, 429)
    return isinstance(error, ConnectionError | TimeoutError | ChannelError | OSError)


async def _started(make: Callable[[], Endpoint], stop: asyncio.Event) -> Endpoint | None:
    """A started endpoint: a fresh one per attempt, with backoff, until it starts, the
    platform refuses it (StartRefused) or `stop` is set (None)."""
    attempt = 0
    while not stop.is_set():
        endpoint = make()
        try:
            await endpoint.start()
            return endpoint
        except Exception as error:
            with contextlib.suppress(Exception):
                await endpoint.close()
            if not _transient(error):
                raise StartRefused(describe(error)) from error
            wait = min(START_INITIAL * 2 ** min(attempt, 16), START_MAXIMUM)
            attempt += 1
            log.warning("starting failed: %s; trying again in %.1f s", describe(error), wait)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
    return None


def _status(state: Readiness) -> str:
    if state.ready:
        where = state.conference_id
        return f"ready, in conference {where}" if where else "ready, waiting for an invitation"
    missing = [
        name
        for name, ok in (
            ("registration", state.registered),
            ("event channel", state.channel_connected),
            ("conference", state.in_conference),
            ("devices", state.devices),
        )
        if not ok
    ]
    return "not ready: " + ", ".join(missing) + (f" ({state.lost})" if state.lost else "")


async def serve_endpoint(
    make: Callable[[], Endpoint],
    stop: asyncio.Event,
    *,
    health: HealthServer | None = None,
    env: Mapping[str, str] = os.environ,
) -> int:
    """Run until `stop` (SIGTERM): 0 after a clean stop, 3 when the endpoint gave up coming
    back (its `give_up_after`); StartRefused when the platform refused it. `health` (not
    started) serves the endpoint's state from the start on."""
    if health is not None:
        await health.start()
        log.info("health on http://%s:%d (/healthz, /readyz, /metrics)", health.host, health.port)
    endpoint: Endpoint | None = None
    code = 0
    try:
        endpoint = await _started(make, stop)
        if endpoint is None:
            return 0
        if health is not None:
            health.endpoint = endpoint
        code = await _watch(endpoint, stop, env)
    finally:
        notify("STOPPING=1", env)
        if endpoint is not None:
            try:
                await endpoint.close()
            except Exception as error:
                log.warning("leaving cleanly failed: %s", describe(error))
        if health is not None:
            await health.stop()
    return code


async def _watch(endpoint: Endpoint, stop: asyncio.Event, env: Mapping[str, str]) -> int:
    watchdog = watchdog_interval(env)
    tick = min(TICK, watchdog) if watchdog else TICK
    notify("READY=1\nSTATUS=started", env)
    status = ""
    while not stop.is_set():
        if endpoint.participant.gave_up:
            log.error("%s: gave up coming back: %s", endpoint.spec.name, endpoint.participant.lost)
            return 3
        now = _status(endpoint.readiness())
        if now != status:
            status = now
            log.info("%s: %s", endpoint.spec.name, status)
            notify(f"STATUS={status}", env)
        if watchdog:
            notify("WATCHDOG=1", env)
        try:
            await endpoint.repair()
        except (ApiError, ConnectionError, TimeoutError, RuntimeError) as error:
            log.warning("%s: publishing again failed: %s", endpoint.spec.name, describe(error))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), tick)
    return 0
