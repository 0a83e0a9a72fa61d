"""The report's network section: quality, loss and bitrate over time per shaped participant,
with its impairment schedule shaded (no browser: the SVG's shapes and titles are read)."""

from __future__ import annotations

import re

from agent.scenario.expect import evaluate
from agent.scenario.report.html import render_html
from agent.scenario.report.network import network_shades, render_network
from agent.scenario.results import NetworkChange, NetworkRecord, Sample
from tests.scenario_results_support import participant, run, scenario

SCHEDULE = NetworkRecord(
    changes=[
        NetworkChange(t=0.0, profile="ideal"),
        NetworkChange(t=4.0, profile="3g"),
        NetworkChange(t=9.0, profile="outage"),
        NetworkChange(t=12.0, profile="3g"),
    ]
)


def test_the_schedule_is_shaded_on_each_chart_of_the_shaped_participant() -> None:
    shaped = participant("customer-0", "agent-0", 0.6, network=SCHEDULE)
    (view,) = [s for s in shaped.streams if s.direction.value == "view"]
    view.mos = [Sample(t=8.0, value=3.9), Sample(t=18.0, value=2.1)]
    view.loss = [Sample(t=1.0 + s, value=0.3 if 9 <= s < 12 else 0.0) for s in range(20)]
    result = run(participants=[participant("agent-0", "customer-0", 0.4), shaped])

    shades = network_shades(shaped, result.duration)
    assert [(s.start, s.end, s.label) for s in shades] == [
        (4.0, 9.0, "3g"),
        (9.0, 12.0, "outage"),
        (12.0, result.duration, "3g"),
    ]
    page = render_html(scenario({}), result, evaluate(scenario({}), result))
    section = page[page.index('id="network"') :]
    section = section[: section.index("</section>")]
    charts = re.findall(r'<svg[^>]*aria-label="([^"]+)"', section)
    assert charts[:4] == [
        f"customer-0: {what}" for what in ("Video PSNR", "Audio MOS", "Packet loss", "Bitrate")
    ]
    assert section.count("outage: 9s to 12s") == 4  # one shade per chart of customer-0
    # An unshaped participant that scored quality comes after the shaped ones, unshaded.
    assert "agent-0: Video PSNR" in charts[4:]
    # The participant's own section shades its sparklines with the same schedule.
    details = page[page.index('id="participant-details"') :]
    assert 'fill="#fee2e2"' in details


def test_no_section_without_shaping_or_quality_scores() -> None:
    result = run()
    for one in result.participants:
        for stream in one.streams:
            stream.psnr, stream.mos = [], []
    assert render_network(result) is None
    assert network_shades(result.participants[0], result.duration) == []


def test_a_shade_at_a_measured_time_says_it_in_tenths() -> None:
    """A profile applied when the participant joined (0.659181 s) was titled `custom:
    0.659181s to 20.2415s`: times in a report read to the tenth, as elsewhere."""
    from agent.scenario.report.svg import Series, Shade, line_chart

    points = [(float(t), 800.0) for t in range(21)]
    chart = line_chart(
        [Series("customer-0", points)], "Bitrate", shades=[Shade(0.659181, 20.2415, "custom")]
    )
    assert "custom: 0.7s to 20.2s" in chart
