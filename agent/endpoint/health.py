"""`--health-port`: `/healthz` (alive), `/readyz` (ready to be called) and `/metrics`
(Prometheus) of one running endpoint, for a supervisor, a load balancer or Kubernetes."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agent.endpoint.runner import Endpoint
from agent.participant.drift import sample
from agent.scenario.live import CONTENT_TYPE, PREFIX

__all__ = ["HealthServer"]

NAME = f"{PREFIX}_endpoint"


class HealthServer:
    """Serves the state of `endpoint()` (None while the endpoint is starting) on
    `host:port` (port 0 picks one; `port` says which once started)."""

    def __init__(self, endpoint: Endpoint | None, port: int, host: str = "127.0.0.1") -> None:
        self.endpoint = endpoint
        self.host, self.port = host, port
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_EndpointCollector(self))
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, _: web.Request) -> web.Response:
        """Alive: the process answers, and its participant has not given up coming back."""
        endpoint = self.endpoint
        if endpoint is not None and endpoint.participant.gave_up:
            body = {"alive": False, "lost": endpoint.participant.lost}
            return web.json_response(body, status=503)
        return web.json_response({"alive": True})

    async def _readyz(self, _: web.Request) -> web.Response:
        endpoint = self.endpoint
        if endpoint is None:
            return web.json_response({"ready": False, "starting": True}, status=503)
        state = endpoint.readiness()
        return web.json_response(state.to_dict(), status=200 if state.ready else 503)

    async def _metrics(self, _: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self._registry), headers={"Content-Type": CONTENT_TYPE}
        )


class _EndpointCollector(Collector):
    def __init__(self, server: HealthServer) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        endpoint = self.server.endpoint
        if endpoint is None:
            yield GaugeMetricFamily(f"{NAME}_ready", "1 when /readyz answers 200", value=0)
            return
        participant = endpoint.participant
        state = endpoint.readiness()
        gauges = {
            "ready": (state.ready, "1 when /readyz answers 200"),
            "registered": (state.registered, "1 while the platform knows the endpoint"),
            "channel_connected": (state.channel_connected, "1 while the event channel is up"),
            "in_conference": (
                state.in_conference,
                "1 while in the conference it should be in, publishing (or it should be in none)",
            ),
            "peer_connections": (participant.peer_connection_count(), "Open peer connections"),
            "keepalive_failures": (
                participant.keepalive_failures,
                "Keepalives unanswered or refused since the last one answered",
            ),
        }
        for name, (value, text) in gauges.items():
            yield GaugeMetricFamily(f"{NAME}_{name}", text, value=float(value))
        counters = {
            "resumes": (participant.resumes, "Resumes that brought the endpoint back"),
            "keepalives": (participant.keepalives, "Keepalives the platform answered"),
            "invitations": (endpoint.invitations, "Invitations followed"),
            "invitations_refused": (endpoint.refused_invitations, "Invitations refused"),
        }
        target = endpoint.target
        if target is not None:
            counters["snapshots_answered"] = (len(target.acquired), "Snapshots acquired")
            counters["camera_requests_answered"] = (
                len(target.camera_answers),
                "Camera requests answered (succeeded or not)",
            )
        for name, (value, text) in counters.items():
            yield CounterMetricFamily(f"{NAME}_{name}", text, value=float(value))
        now = sample(participant.peer_connection_count())
        process = {
            "resident_memory_bytes": (now.rss_bytes, "Resident memory of the process"),
            "open_fds": (now.fds, "Open file descriptors"),
            "threads": (now.threads, "Threads"),
            "asyncio_tasks": (now.tasks, "asyncio tasks of the event loop"),
        }
        for name, (value, text) in process.items():
            yield GaugeMetricFamily(f"{NAME}_{name}", text, value=float(value))
        slope = endpoint.drift.slope_per_hour("rss_bytes")
        if slope is not None:
            yield GaugeMetricFamily(
                f"{NAME}_resident_memory_slope_bytes_per_hour",
                "Least-squares slope of resident memory over the samples so far",
                value=slope,
            )
        devices = endpoint.media.devices() if endpoint.media else []
        if devices:
            live = GaugeMetricFamily(
                f"{NAME}_device_live", "1 while the capture device delivers", labels=["device"]
            )
            losses = CounterMetricFamily(
                f"{NAME}_device_losses", "Times the capture device was lost", labels=["device"]
            )
            for device in devices:
                label = f"{device.input_format}:{device.device}"
                live.add_metric([label], float(device.error is None))
                losses.add_metric([label], float(device.losses))
            yield live
            yield losses
