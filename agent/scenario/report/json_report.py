"""The JSON report: verdicts, every metric with percentiles overall, per scenario group and
per participant, and the raw result so other tools can recompute anything."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from agent.scenario.expect import Evaluation
from agent.scenario.model import Scenario
from agent.scenario.report.summary import metric_table
from agent.scenario.results import RunResult

__all__ = ["build_json", "dump_json", "render_json"]

FORMAT_VERSION = 1


def build_json(scenario: Scenario, result: RunResult, evaluation: Evaluation) -> dict[str, Any]:
    warmup = scenario.expect.warmup if scenario.expect else 0.0
    table = metric_table(result, warmup)
    participants = []
    for participant in result.participants:
        name = participant.name
        streams = [
            {
                **stream.model_dump(
                    mode="json",
                    include={
                        "stream_id",
                        "earlier_ids",
                        "direction",
                        "stream_type",
                        "publisher",
                        "viewer_id",
                        "started_at",
                        "ended_at",
                        "frames",
                        "packets_received",
                        "packets_lost",
                        "frames_decoded",
                    },
                ),
                "metrics": table.summaries(name, stream.stream_id),
            }
            for stream in participant.streams
        ]
        participants.append(
            {
                **participant.model_dump(
                    mode="json", exclude={"streams", "steps", "snapshots", "camera_requests"}
                ),
                "metrics": table.summaries(name),
                "streams": streams,
            }
        )
    return {
        "format": FORMAT_VERSION,
        "scenario": scenario.name,
        "file": scenario.path,
        "description": scenario.description,
        "passed": evaluation.passed,
        "started_at": result.started_at.isoformat(),
        "duration": result.duration,
        "interrupted": result.interrupted,
        "skipped_arrivals": result.skipped_arrivals,
        "warmup": warmup,
        "tolerance": scenario.expect.tolerance if scenario.expect else {},
        "expectations": [dataclasses.asdict(e) for e in evaluation.expectations],
        "load_generator": load_generator(evaluation),
        "metrics": table.summaries(),
        "groups": {
            group.name: {
                "participants": sum(1 for p in result.participants if p.group == group.name),
                "metrics": table.summaries(group=group.name),
            }
            for group in scenario.participants
        },
        "participants": participants,
        "result": result.model_dump(mode="json"),
    }


def load_generator(evaluation: Evaluation) -> dict[str, Any]:
    """`valid` False: the run is invalid, the load generator was the bottleneck (`problems`);
    `warnings`: the host was busy with other processes. Per-process figures: `result.health`."""
    verdict = evaluation.load_generator
    return {
        "valid": verdict.valid,
        "measured": verdict.measured,
        "message": verdict.message,
        "problems": verdict.problems,
        "headroom": verdict.headroom,
        "warnings": verdict.warnings,
    }


def render_json(scenario: Scenario, result: RunResult, evaluation: Evaluation) -> str:
    return dump_json(build_json(scenario, result, evaluation))


def dump_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, allow_nan=False)
