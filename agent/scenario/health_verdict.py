"""Whether a run measured the platform or its own load generator.

A process that ran participants was saturated when its event loop fired timers late by its
own doing (own lag p99 over `MAX_LAG_P99`: its callbacks ran long, or its threads held the
GIL), or when it used >= 95% of a core for more than `MAX_SATURATED_SHARE`
of the run, or when a browser page it drove did. Such a run is invalid: its failures (and
its passes) say nothing about the platform. A clean run reports the same figures as headroom.

Timers late because the host gave the CPU to other processes (its run queue) are a warning,
not a verdict: the figures may be distorted by whatever else runs there, and the report says
so, but the load generator itself had room.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from agent.scenario.results import ProcessHealth

__all__ = [
    "MAX_LAG_P99",
    "MAX_SATURATED_SHARE",
    "HealthVerdict",
    "assess",
    "assess_process",
    "headroom",
    "host_warning",
]

MAX_LAG_P99 = 0.050
"""Seconds: a loop whose timers are later than this 1% of the time delays media visibly."""
MAX_SATURATED_SHARE = 0.10
"""Share of the run's seconds a process (or page) may spend at >= 95% of a core."""
INVALID = "invalid: the load generator was the bottleneck"


@dataclass(frozen=True)
class HealthVerdict:
    """`valid` False: the run is invalid; `problems` says which process and why."""

    valid: bool
    problems: list[str] = field(default_factory=list)
    headroom: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """The host was busy: timers were late waiting for a CPU other processes held."""
    measured: bool = True
    """False for a result without health figures (e.g. a report of an older version)."""

    @property
    def message(self) -> str:
        if not self.measured:
            return "the load generator's health was not measured" + "".join(
                f" ({warning})" for warning in self.warnings
            )
        if not self.valid:
            return f"{INVALID}: " + "; ".join(self.problems)
        text = "the load generator had headroom: " + "; ".join(self.headroom)
        return text + "".join(f"; warning: {warning}" for warning in self.warnings)


def assess_process(health: ProcessHealth) -> list[str]:
    """Why this process was saturated; empty when it was not (or was not judged)."""
    if not health.judged:
        return []
    name = f"process {health.process} (pid {health.pid} on {health.host})"
    problems = []
    if health.own_lag_p99 > MAX_LAG_P99:
        problems.append(
            f"{name}: event-loop lag p99 {1000 * health.own_lag_p99:.0f} ms of its own "
            f"> {1000 * MAX_LAG_P99:.0f} ms (max {1000 * health.loop_lag_max:.0f} ms)"
        )
    if health.cpu_saturated_share > MAX_SATURATED_SHARE:
        problems.append(
            f"{name}: CPU >= 95% of a core for {100 * health.cpu_saturated_share:.0f}% "
            f"of the run (> {100 * MAX_SATURATED_SHARE:.0f}%)"
        )
    for page in health.pages:
        if page.cpu_saturated_share > MAX_SATURATED_SHARE:
            problems.append(
                f"{name}: the page of {page.participant} used >= 95% of a core for "
                f"{100 * page.cpu_saturated_share:.0f}% of the run"
            )
    return problems


def host_warning(health: ProcessHealth) -> str | None:
    """Why the figures may be distorted by the host, though the process had room; or None."""
    if health.loop_lag_p99 <= MAX_LAG_P99 or health.own_lag_p99 > MAX_LAG_P99:
        return None
    waiting = "" if health.cpu_wait_share is None else f" {100 * health.cpu_wait_share:.0f}% of"
    return (
        f"process {health.process}: event-loop lag p99 {1000 * health.loop_lag_p99:.0f} ms, "
        f"waiting for a CPU{waiting} the time: other processes on the host were busy"
    )


def headroom(health: ProcessHealth) -> str:
    """The figures of one process in one line, as reports show them."""
    drops = "" if health.udp_socket_drops is None else f", UDP drops {health.udp_socket_drops}"
    return (
        f"process {health.process}: loop lag p50 {1000 * health.loop_lag_p50:.1f} ms, "
        f"p99 {1000 * health.loop_lag_p99:.1f} ms (own {1000 * health.own_lag_p99:.1f} ms), "
        f"max {1000 * health.loop_lag_max:.0f} ms; "
        f"CPU mean {100 * health.cpu_mean:.0f}%, max {100 * health.cpu_max:.0f}% of a core"
        f"{drops}"
    )


def assess(processes: Sequence[ProcessHealth]) -> HealthVerdict:
    """The run's verdict over every process that ran participants."""
    if not processes:
        return HealthVerdict(valid=True, measured=False)
    if not any(health.judged for health in processes):
        return HealthVerdict(
            valid=True, measured=False, warnings=["the run ended during its startup"]
        )
    problems = [problem for health in processes for problem in assess_process(health)]
    return HealthVerdict(
        valid=not problems,
        problems=problems,
        headroom=[headroom(health) for health in processes],
        warnings=[w for w in map(host_warning, processes) if w is not None],
    )
