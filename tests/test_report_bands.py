"""The pieces of the report at scale, without a browser: percentile bands over time, the
streams named over them, the worst-streams ranking, the size of the paged sections."""

from __future__ import annotations

import pytest

from agent.scenario.expect import evaluate
from agent.scenario.report.bands import outliers, percentile_bands
from agent.scenario.report.html import render_html
from agent.scenario.report.people import MAX_STREAMS, PAGE, participants_over_time
from agent.scenario.report.summary import metric_table
from agent.scenario.report.svg import Series, band_chart, line_chart
from agent.scenario.report.worst import rank_streams
from agent.scenario.results import PhaseRecord
from tests.scenario_results_support import EXPECT, run, scenario


def crowd(count: int, seconds: int = 10) -> list[Series]:
    """`count` streams around 20 fps (0.1 apart); the one at the p50 stops from 4 s to 7 s."""
    series = [
        Series(f"s{n}", [(t + 0.5, 20.0 + 0.1 * (n - count // 2)) for t in range(seconds)])
        for n in range(count)
    ]
    middle = series[count // 2]
    stopped = [(t, 0.0 if 4 <= t < 7 else v) for t, v in middle.points]
    return [*series[: count // 2], Series("stopped", stopped), *series[count // 2 + 1 :]]


def test_bands_are_percentiles_across_streams_per_stretch() -> None:
    bands = percentile_bands(crowd(21), (0.0, 10.0))
    assert len(bands) == 10 and all(b.count == 21 for b in bands)
    first = bands[0]
    assert (first.start, first.end) == (0.0, 1.0)
    assert (first.p5, first.p50, first.p95) == pytest.approx((19.1, 20.0, 20.9))
    # A stream samples twice in a stretch: it counts once, as its mean.
    twice = percentile_bands(
        [Series("a", [(0.2, 2.0), (0.7, 4.0)]), Series("b", [(0.5, 9.0)])], (0, 1)
    )
    assert (twice[0].p5, twice[0].count) == (3.0 + 0.05 * 6.0, 2)
    # A long run keeps at most 150 stretches; a stretch no stream reached is a gap.
    long = percentile_bands([Series("a", [(t, 1.0) for t in range(0, 3000, 7)])], (0.0, 3000.0))
    assert len(long) <= 150
    gap = percentile_bands([Series("a", [(0.5, 1.0), (5.5, 1.0)])], (0.0, 10.0))
    assert [b.start for b in gap] == [0.0, 5.0]
    chart = band_chart(gap, "t", 1)
    assert chart.count('class="median"') == 2  # two runs: not bridged across the gap


def test_the_stream_furthest_below_the_crowd_is_named_first() -> None:
    series = crowd(21)
    named = outliers(series, percentile_bands(series, (0.0, 10.0)), worse_low=True)
    # The stopped stream sits in the middle of the crowd but lost 3 s: named before the
    # lowest, a little low all along.
    assert [s.label for s in named] == ["stopped", "s0", "s1"]
    flat = [Series(f"s{n}", [(0.5, 5.0)]) for n in range(12)]
    assert outliers(flat, percentile_bands(flat, (0.0, 1.0)), worse_low=True) == []


def test_worst_streams_rank_by_their_worst_criterion() -> None:
    result = run()
    slow = result.participants[1].streams[1]
    slow.delay = [s.model_copy(update={"value": s.value + 1.0}) for s in slow.delay]
    ranked = rank_streams(result, metric_table(result, 0.0))
    assert [(r.participant.name, r.reason) for r in ranked] == [
        ("customer-0", "delay"),
        ("agent-0", "video_fps"),
    ]
    assert ranked[0].figures["freeze_total"] == 0.5


def test_participants_over_time_steps_and_shades_on_every_axis() -> None:
    result = run()
    arrived, present = participants_over_time(result)
    assert arrived.points[-1] == (22.0, 0.0)  # both left at 21 s
    assert max(y for _, y in present.points) == 2.0
    assert (0.4, 1.0) in present.points and (0.9, 2.0) in present.points
    phased = result.model_copy(
        update={
            "phases": [
                PhaseRecord(name="one", start=0, end=10),
                PhaseRecord(name="two", start=10, end=22),
            ]
        }
    )
    sc = scenario(EXPECT)
    page = render_html(sc, phased, evaluate(sc, phased))
    plots = page[page.index('<section id="plots">') : page.index('<section id="worst-streams">')]
    # participants over time, fps, delay, bitrate, jitter, audio level, A/V offset, the
    # timeline: every time axis is shaded.
    assert plots.count('class="shade"') == 2 * 8


def test_participant_sections_are_paged_past_a_page() -> None:
    result = run()
    many = [
        p.model_copy(update={"name": f"{p.group}-{n}", "index": n})
        for n in range(PAGE + 10)
        for p in result.participants[:1]
    ]
    crowded = result.model_copy(update={"participants": many})
    sc = scenario({})
    page = render_html(sc, crowded, evaluate(sc, crowded))
    assert page.count('<details class="page">') == 2
    assert page.count('<details class="participant">') == PAGE + 10
    assert f'id="p-agent-{PAGE + 9}"' in page and f'href="#p-agent-{PAGE + 9}"' in page


def test_a_section_lists_the_published_and_the_worst_received_streams() -> None:
    result = run()
    agent = result.participants[0]
    publish, view = agent.streams
    views = [
        view.model_copy(
            update={"stream_id": f"s-{n}", "publisher": f"p-{n}", "packets_lost": 100 * n}
        )
        for n in range(MAX_STREAMS + 5)
    ]
    crowded = result.model_copy(
        update={"participants": [agent.model_copy(update={"streams": [publish, *views]})]}
    )
    sc = scenario({})
    page = render_html(sc, crowded, evaluate(sc, crowded))
    section = page[page.index('id="p-agent-0"') :]
    section = section[: section.index("</details>")]
    assert section.count("<tr>") == 1 + MAX_STREAMS  # the header row, then the streams
    assert "→ MIC_AND_CAM" in section  # the published stream first
    lossiest = f"← p-{MAX_STREAMS + 4} MIC_AND_CAM"
    assert lossiest in section and "← p-0 MIC_AND_CAM" not in section
    assert "… and 6 more streams" in section


def test_a_step_down_is_drawn_as_a_step() -> None:
    steps = Series("n", [(0.0, 0.0), (1.0, 0.0), (1.0, 2.0), (3.0, 2.0), (3.0, 1.0), (4.0, 1.0)])
    chart = line_chart([steps], "steps", x_span=(0.0, 4.0))
    drawn = chart[chart.index('points="') + 8 :]
    xs = [float(point.split(",")[0]) for point in drawn[: drawn.index('"')].split()]
    ys = [float(point.split(",")[1]) for point in drawn[: drawn.index('"')].split()]
    assert xs == sorted(xs)
    assert ys[3] < ys[4]  # at 3 s: from 2 down to 1 (a larger y is lower), not up and back
