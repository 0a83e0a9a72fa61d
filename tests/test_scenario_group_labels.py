"""The `group` label: every live series of a scenario run is one per scenario group (what
`sum()` adds up to the run), report.json has each group's metrics and each expectation its
groups, samples.csv a group column."""

from __future__ import annotations

import csv
import io

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agent.scenario.expect import evaluate
from agent.scenario.live import LiveSnapshot, _SnapshotCollector, combine, snapshot_of_results
from agent.scenario.report.json_report import build_json
from agent.scenario.report.samples_csv import render_samples_csv
from agent.scenario.results import ErrorRecord, Sample
from tests.scenario_results_support import run, scenario

LABELS = {"run": "20261207-180000", "scenario": "two-party", "phase": ""}


def exposition(snapshot: LiveSnapshot) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    collector = _SnapshotCollector()
    collector.snapshot = snapshot
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def of(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> list[float]:
    return [
        value
        for (sample, have), value in found.items()
        if sample == name and labels.items() <= dict(have).items()
    ]


def test_live_series_are_one_per_group_and_add_up_to_the_run() -> None:
    result = run()  # agent-0 and customer-0, each viewing the other
    result.participants[0].errors.append(ErrorRecord(t=3.0, message="refused"))
    snapshot = snapshot_of_results(
        result.participants,
        present=2,
        run_errors=1,
        labels=LABELS,
        present_by_group={"agent": 1, "customer": 1, "observer": 0},
        end=22.0,
    )
    found = exposition(snapshot)
    assert of(found, "auvious_agent_participants", group="agent") == [1.0]
    assert of(found, "auvious_agent_participants", group="observer") == [0.0]
    assert sum(of(found, "auvious_agent_participants")) == 2.0
    assert of(found, "auvious_agent_errors_total", group="agent") == [1.0]
    assert of(found, "auvious_agent_errors_total", group="") == [1.0]  # the run's own
    assert sum(of(found, "auvious_agent_errors_total")) == snapshot.errors == 2
    joins = of(found, "auvious_agent_join_time_seconds_count", group="customer")
    assert joins == [1.0]
    # Every series keeps the run's labels; the health stays per process, with no group.
    assert all(dict(labels)["scenario"] == "two-party" for _, labels in found)
    assert not any(
        "group" in dict(labels) for name, labels in found if name.startswith("auvious_agent_loop")
    )

    # Processes' snapshots add up group by group.
    both = combine([snapshot, snapshot])
    assert both.groups["agent"].participants == 2 and both.groups["observer"].participants == 0
    assert sum(of(exposition(both), "auvious_agent_packets_received_total")) == 2 * sum(
        of(found, "auvious_agent_packets_received_total")
    )


def test_a_crowd_without_groups_serves_one_series_for_the_run() -> None:
    snapshot = snapshot_of_results(run().participants, present=2, labels=LABELS)
    found = exposition(snapshot)
    assert of(found, "auvious_agent_participants") == [2.0]
    assert not any("group" in dict(labels) for _, labels in found)


def test_report_json_has_each_groups_metrics_and_each_expectations_groups() -> None:
    result = run()
    slow = result.participants[1].streams[1]  # the customer's view of the agent
    slow.delay = [Sample(t=s.t, value=0.9) for s in slow.delay]
    chosen = scenario(
        {
            "delay": [{"p50": "< 500ms"}, {"scope": {"group": "agent"}, "p50": "< 500ms"}],
        }
    )
    document = build_json(chosen, result, evaluate(chosen, result))
    groups = document["groups"]
    assert set(groups) == {"agent", "customer"}
    assert groups["agent"]["participants"] == 1
    assert groups["customer"]["metrics"]["delay"]["p50"] == pytest.approx(0.9)
    assert groups["agent"]["metrics"]["delay"]["p50"] < 0.2
    cases = {case["name"]: case for case in document["expectations"]}
    whole, agent = cases["delay p50 < 500ms"], cases["delay [group=agent] p50 < 500ms"]
    assert whole["group"] is None and agent["group"] == ["agent"]
    assert whole["by_group"]["customer"] == pytest.approx(0.9)
    assert whole["passed"] is False and agent["passed"] is True
    assert whole["message"].endswith("(by group: agent 99ms, customer 900ms)")


def test_samples_csv_names_each_rows_group() -> None:
    text = render_samples_csv(run())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {(row["participant"], row["group"]) for row in rows} == {
        ("agent-0", "agent"),
        ("customer-0", "customer"),
    }
