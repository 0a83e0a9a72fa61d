"""The load generator's own health, measured in every process that runs participants.

A run whose participants' process was saturated measures that process, not the platform: a
late event loop delays every packet it receives and sends, so frame rates drop, freezes and
loss appear, and the report would blame the platform. So every run samples, per process:
- event-loop lag: how late a timer of `LAG_EVERY` fires (sampled, p50/p99/max), and how much
  of that lateness the process caused itself ("own" lag): the lateness less the time the
  loop's thread spent runnable but waiting for a CPU that other processes held (the kernel's
  run-queue wait, `/proc/thread-self/schedstat`). A busy host makes timers late too, and that
  is reported (`cpu_wait_share`), but it does not say the load generator was saturated;
- CPU share: process CPU (all threads) per wall second, in cores;
- UDP receive drops: the kernel's per-socket drop counters (`/proc/net/udp`, `udp6`) of this
  process's sockets, and the host's `RcvbufErrors`/`InErrors` (`/proc/net/snmp`, `snmp6`),
  which count every process of the host (or network namespace);
- drift (issue 16): resident memory, open file descriptors, threads, asyncio tasks and peer
  connections every `DRIFT_EVERY` seconds of the measured part, for the expectations that
  bound their growth (`memory_slope`, `fds_growth`, ...).
What counts as saturated is `agent.scenario.health_verdict`'s; this module only measures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from agent.participant.drift import ResourceSample, sample
from agent.scenario.health_verdict import assess_process
from agent.scenario.results import PageHealth, ProcessHealth, Sample

__all__ = [
    "CPU_EVERY",
    "LAG_EVERY",
    "HealthNow",
    "HealthSampler",
    "host_udp_errors",
    "runqueue_wait",
    "socket_drops",
]

LAG_EVERY = 0.01
"""Seconds between two loop-lag probes (100 timers a second, a negligible cost). A stall of the
loop yields one late probe however long it lasts, so the rate sets what p99 means: at 10 ms, a
loop is past a p99 of 50 ms when it stalls that long about once in every second of the run,
while the odd stall of a join or a browser launch stays below it."""
CPU_EVERY = 1.0
"""Seconds of one CPU-share sample (and one reading of the kernel's UDP counters)."""
STARTUP = 2.0
"""Seconds at the start of a run that the figures leave out (at least; the expectations'
warm-up if longer): the process imports the call stack and sets up its first calls then."""
DRIFT_EVERY = 5.0
"""Seconds between two drift samples (memory, descriptors, threads, tasks, peer connections)."""
RECENT = 10.0
"""Seconds of lag samples behind the live figures (`HealthNow`)."""
SATURATED_CPU = 0.95
"""CPU share (cores) at which a second counts as saturated: the loop runs on one core."""
PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class HealthNow:
    """One process's health now, for the live metrics (picklable: workers send it)."""

    loop_lag_p99: float
    loop_lag_max: float
    cpu: float
    udp_drops: int | None
    saturated: bool
    """Saturated so far, by the same rule as the final verdict."""


class HealthSampler:
    """Samples this process while the run goes on: `async with HealthSampler(...)`.

    `clock` gives the run's time (seconds since it started), so the CPU and lag series share
    the report's axis. The figures (percentiles, shares) leave out the run's first
    `max(STARTUP, warmup)` seconds, as the expectations leave out their warm-up, unless the
    run was shorter; the per-second series keep them. `page_cpu` (optional) gives browser
    pages' CPU shares by participant, sampled with the process's CPU."""

    def __init__(
        self,
        process: str,
        clock: Callable[[], float],
        warmup: float = 0.0,
        page_cpu: Callable[[], Awaitable[dict[str, float]]] | None = None,
        peer_connections: Callable[[], int] = lambda: 0,
    ) -> None:
        self.process = process
        self.peer_connections = peer_connections
        self.clock = clock
        self.judged_from = max(STARTUP, warmup)
        self.judged_until: float | None = None
        """Set by `measured_until` when the run stops measuring (everyone leaves then)."""
        self.page_cpu = page_cpu
        self._lags = _Histogram()
        self._own_lags = _Histogram()
        self._all_lags = _Histogram()
        self._all_own_lags = _Histogram()
        """Every probe's lag, for a run that ended before it was judged."""
        self._waits: list[tuple[float, float]] = []
        self._recent: deque[tuple[float, float]] = deque()
        self._cpu: list[Sample] = []
        self._lag_series: list[Sample] = []
        self._pages: dict[str, list[tuple[float, float]]] = {}
        self._drops: dict[int, int] = {}
        self._host0 = host_udp_errors()
        self._host = self._host0
        self._started = time.monotonic()
        self._ended: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._drift: list[tuple[float, ResourceSample]] = []

    async def __aenter__(self) -> HealthSampler:
        loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        self._tasks = [
            loop.create_task(self._probe_lag(), name="health-lag"),
            loop.create_task(self._probe_cpu(), name="health-cpu"),
            loop.create_task(self._probe_drift(), name="health-drift"),
        ]
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def measured_until(self) -> None:
        """The run's measured part ends now: the figures leave out what follows (leaving,
        closing), as the expectations do; the per-second series keep it."""
        if self.judged_until is None:
            self.judged_until = self.clock()
            self._sample_drift()  # the last drift sample: what the measured part ended with

    async def stop(self) -> None:
        if self._ended is not None:
            return
        self._ended = time.monotonic()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._read_udp()

    async def _probe_lag(self) -> None:
        second_start, worst = time.monotonic(), 0.0
        while True:
            waited = runqueue_wait()
            planned = time.monotonic() + LAG_EVERY
            await asyncio.sleep(LAG_EVERY)
            now = time.monotonic()
            lag = max(0.0, now - planned)
            t = self.clock()
            judged = self.judged_from <= t and (self.judged_until is None or t <= self.judged_until)
            if lag > 0 and waited is not None:
                lag_own = max(0.0, lag - ((runqueue_wait() or waited) - waited))
            else:
                lag_own = lag
            for histogram, value in ((self._all_lags, lag), (self._all_own_lags, lag_own)):
                histogram.add(value)
            if judged:
                self._lags.add(lag)
                self._own_lags.add(lag_own)
            self._recent.append((now, lag))
            while self._recent and self._recent[0][0] < now - RECENT:
                self._recent.popleft()
            worst = max(worst, lag)
            if now - second_start >= CPU_EVERY:
                self._lag_series.append(Sample(t=round(self.clock(), 3), value=worst))
                second_start, worst = now, 0.0

    def _sample_drift(self) -> None:
        self._drift.append((round(self.clock(), 3), sample(self.peer_connections())))

    async def _probe_drift(self) -> None:
        while self.judged_until is None:
            self._sample_drift()
            await asyncio.sleep(DRIFT_EVERY)

    async def _probe_cpu(self) -> None:
        wall0, cpu0, wait0 = time.monotonic(), time.process_time(), runqueue_wait()
        while True:
            await asyncio.sleep(CPU_EVERY)
            wall1, cpu1, wait1 = time.monotonic(), time.process_time(), runqueue_wait()
            if wall1 > wall0:
                t = round(self.clock(), 3)
                share = (cpu1 - cpu0) / (wall1 - wall0)
                self._cpu.append(Sample(t=t, value=round(share, 4)))
                if wait0 is not None and wait1 is not None:
                    self._waits.append((t, (wait1 - wait0) / (wall1 - wall0)))
            wall0, cpu0, wait0 = wall1, cpu1, wait1
            self._read_udp()
            if self.page_cpu is not None:
                t = self.clock()
                for name, value in (await self.page_cpu()).items():
                    self._pages.setdefault(name, []).append((t, value))

    def _read_udp(self) -> None:
        for inode, drops in socket_drops().items():
            self._drops[inode] = max(drops, self._drops.get(inode, 0))
        self._host = host_udp_errors()

    @property
    def udp_drops(self) -> int | None:
        return sum(self._drops.values()) if PROC.is_dir() else None

    def now(self) -> HealthNow:
        recent = sorted(lag for _, lag in self._recent)
        return HealthNow(
            loop_lag_p99=_percentile(recent, 0.99),
            loop_lag_max=recent[-1] if recent else 0.0,
            cpu=self._cpu[-1].value if self._cpu else 0.0,
            udp_drops=self.udp_drops,
            saturated=bool(assess_process(self.summary(series=False))),
        )

    def summary(self, *, series: bool = True) -> ProcessHealth:
        """What this process measured over the run (so far, while it goes on); without the
        per-second `series` for the live figures."""
        end = self._ended if self._ended is not None else time.monotonic()
        lags, own = (
            (self._lags, self._own_lags)
            if self._lags.count
            else (
                self._all_lags,
                self._all_own_lags,
            )
        )
        shares = self._judged([(s.t, s.value) for s in self._cpu])
        waits = self._judged(self._waits)
        host = _difference(self._host, self._host0)
        return ProcessHealth(
            process=self.process,
            host=socket.gethostname(),
            pid=os.getpid(),
            seconds=round(end - self._started, 3),
            lag_samples=lags.count,
            loop_lag_p50=lags.percentile(0.5),
            loop_lag_p99=lags.percentile(0.99),
            loop_lag_max=lags.max,
            own_lag_p99=own.percentile(0.99),
            cpu_wait_share=round(statistics.fmean(waits), 4) if waits else None,
            cpu_mean=round(statistics.fmean(shares), 4) if shares else 0.0,
            cpu_max=max(shares, default=0.0),
            cpu_saturated_share=_share_at_least(shares, SATURATED_CPU),
            udp_socket_drops=self.udp_drops,
            host_udp_rcvbuf_errors=None if host is None else host[0],
            host_udp_in_errors=None if host is None else host[1],
            cpu=list(self._cpu) if series else [],
            loop_lag=list(self._lag_series) if series else [],
            judged=self._lags.count > 0,
            **(_drift_series(self._drift) if series else {}),
            pages=[
                PageHealth(
                    participant=name,
                    cpu_mean=round(statistics.fmean(values), 4),
                    cpu_max=max(values),
                    cpu_saturated_share=_share_at_least(values, SATURATED_CPU),
                )
                for name, values in ((n, self._judged(v)) for n, v in sorted(self._pages.items()))
                if values
            ],
        )

    def _judged(self, timed: list[tuple[float, float]]) -> list[float]:
        """The values from `judged_from` to `judged_until`; all of them for a run that ended
        before it was judged."""
        until = self.judged_until if self.judged_until is not None else float("inf")
        return [v for t, v in timed if self.judged_from <= t <= until] or [v for _, v in timed]


class _Histogram:
    """Lags in `RESOLUTION` buckets up to `SPAN` (beyond: the last bucket), so an hour of
    probes costs a few kilobytes and a percentile is one pass over the buckets. Percentiles
    are a bucket's upper edge (at most `RESOLUTION` high), the maximum exact."""

    RESOLUTION = 0.0005
    SPAN = 2.0

    def __init__(self) -> None:
        self.counts = [0] * (round(self.SPAN / self.RESOLUTION) + 1)
        self.count = 0
        self.max = 0.0

    def add(self, value: float) -> None:
        index = min(len(self.counts) - 1, int(value / self.RESOLUTION))
        self.counts[index] += 1
        self.count += 1
        self.max = max(self.max, value)

    def percentile(self, q: float) -> float:
        """Nearest rank; 0 for none."""
        if not self.count:
            return 0.0
        rank = min(self.count, max(1, round(q * self.count)))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return min(self.max, (index + 1) * self.RESOLUTION)
        return self.max


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted values; 0 for none."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _share_at_least(values: list[float], limit: float) -> float:
    return round(sum(1 for v in values if v >= limit) / len(values), 4) if values else 0.0


def _difference(
    now: tuple[int, int] | None, before: tuple[int, int] | None
) -> tuple[int, int] | None:
    if now is None or before is None:
        return None
    return max(0, now[0] - before[0]), max(0, now[1] - before[1])


def runqueue_wait(proc: Path = PROC) -> float | None:
    """Seconds the calling thread has been runnable but waiting for a CPU (Linux schedstat;
    None where the kernel does not tell)."""
    try:
        return int((proc / "thread-self" / "schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def socket_drops(proc: Path = PROC) -> dict[int, int]:
    """Kernel drop counters of this process's UDP sockets, by socket inode (Linux; else {})."""
    ours: set[int] = set()
    with contextlib.suppress(OSError):
        for fd in os.scandir(proc / "self" / "fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    ours.add(int(target[8:-1]))
    drops: dict[int, int] = {}
    for table in ("udp", "udp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            if len(fields) >= 13 and int(fields[9]) in ours:
                drops[int(fields[9])] = int(fields[12])
    return drops


def host_udp_errors(proc: Path = PROC) -> tuple[int, int] | None:
    """The host's UDP (v4 + v6) receive-buffer errors and input errors so far (Linux; else
    None). Every process of the host (network namespace) counts here, not only this one."""
    rcvbuf = errors = 0
    try:
        lines = (proc / "net" / "snmp").read_text().splitlines()
    except OSError:
        return None
    udp = [line.split()[1:] for line in lines if line.startswith("Udp:")]
    if len(udp) >= 2:
        counters = dict(zip(udp[0], udp[1], strict=False))
        rcvbuf += int(counters.get("RcvbufErrors", 0))
        errors += int(counters.get("InErrors", 0))
    with contextlib.suppress(OSError):
        for line in (proc / "net" / "snmp6").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "Udp6RcvbufErrors":
                rcvbuf += int(value.strip())
            elif name == "Udp6InErrors":
                errors += int(value.strip())
    return rcvbuf, errors


def _drift_series(drift: list[tuple[float, ResourceSample]]) -> dict[str, list[Sample]]:
    """The drift samples as `ProcessHealth`'s series (memory in MB)."""
    fields: dict[str, Callable[[ResourceSample], float]] = {
        "resident_memory_mb": lambda r: round(r.rss_bytes / 1e6, 3),
        "open_fds": lambda r: float(r.fds),
        "threads": lambda r: float(r.threads),
        "asyncio_tasks": lambda r: float(r.tasks),
        "peer_connections": lambda r: float(r.peer_connections),
    }
    return {name: [Sample(t=t, value=value(r)) for t, r in drift] for name, value in fields.items()}
