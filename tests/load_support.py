"""Shared by the load tests: a small scenario of two calls (one per arrival, so two shards
get one call each), tiny video so it stays cheap on a shared machine."""

from typing import Any


def calling(name: str, *, fps: int = 15, bitrate: str = "150k") -> str:
    """One scenario participant (YAML, under `participants:`) in `call-${arrival}` that
    publishes tiny A/V and views everyone else."""
    return f"""  - name: {name}
    role: agent
    conference: call-${{arrival}}
    publish:
      - type: MIC_AND_CAM
        resolution: 160x90
        fps: {fps}
        bitrate: {bitrate}
    view: all
"""


SCENARIO = (
    """
name: two-calls
seed: 7
duration: 8s
phases:
  - name: arrive
    duration: 2s
    arrival_count: 2
  - name: talk
    duration: 6s
    arrival_count: 0
participants:
"""
    + calling("agent")
    + calling("peer")
    + """expect:
  conditions:
    - every_participant_joined
    - every_viewer_received_every_publisher
"""
)


def audio_call(name: str, seconds: int = 5) -> str:
    """An agent and a customer in one call, microphone only (the cheapest media), each
    viewing the other; it expects both to join and no errors."""
    return f"""
name: {name}
duration: {seconds}s
participants:
  - name: agent
    publish: [{{type: MIC}}]
    view: all
  - name: customer
    role: customer
    publish: [{{type: MIC}}]
    view: all
expect:
  conditions: [every_participant_joined, no_errors]
"""


def health_processes(report: dict[str, Any]) -> list[str]:
    """The processes whose own health a merged report carries (each worker's, shard's or
    Ray actor's figures travel with its results), sorted; each must be a separate process."""
    figures = report["result"]["health"]
    assert len({(h["host"], h["pid"]) for h in figures}) == len(figures), figures
    return sorted(h["process"] for h in figures)
