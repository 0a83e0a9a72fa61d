"""Many streams' samples reduced to percentile bands over time, and the streams that fell
furthest out of them: what a report draws when one line per stream would be a tangle."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence

from agent.scenario.metrics import percentile
from agent.scenario.report.svg import Band, Series

__all__ = ["MAX_BUCKETS", "MAX_LINES", "outliers", "percentile_bands"]

MAX_LINES = 10
"""Up to this many streams a chart draws one line each (one colour each); beyond, bands."""

MAX_BUCKETS = 150
"""Time stretches per band chart at most: a long run's bands stay as light as a short one's."""

MIN_STEP = 1.0
"""Seconds per stretch at least: the samplers report about once a second."""


def percentile_bands(
    series: Sequence[Series], span: tuple[float, float], buckets: int = MAX_BUCKETS
) -> list[Band]:
    """p5, p25, p50, p75 and p95 across `series` in each stretch of `span`; each series
    counts once per stretch (the mean of its samples there), so a chatty stream does not
    outweigh a quiet one. Stretches no series reached are left out (a gap)."""
    start, end = span
    step = max(MIN_STEP, (end - start) / max(buckets, 1))
    per_bucket: dict[int, list[float]] = defaultdict(list)
    for one in series:
        sums: dict[int, list[float]] = defaultdict(list)
        for t, value in one.points:
            sums[max(0, math.floor((t - start) / step))].append(value)
        for bucket, values in sums.items():
            per_bucket[bucket].append(math.fsum(values) / len(values))
    bands = []
    for bucket in sorted(per_bucket):
        values = per_bucket[bucket]
        low = start + bucket * step
        p5, p25, p50, p75, p95 = (percentile(values, q) for q in (5, 25, 50, 75, 95))
        bands.append(Band(low, low + step, p5, p25, p50, p75, p95, len(values)))
    return bands


def outliers(
    series: Sequence[Series], bands: Sequence[Band], worse_low: bool, count: int = 3
) -> list[Series]:
    """The `count` series furthest on the bad side of the crowd: by how much, summed over
    time, they fell below the p50 of their stretch (above it, when high is bad). A stream
    that stopped for 15 s outranks one a little low all along; one the crowd shares does
    not stand out."""
    starts = [band.start for band in bands]

    def shortfall(one: Series) -> float:
        total = 0.0
        for t, value in one.points:
            at = bisect_right(starts, t) - 1
            if at < 0:
                continue
            median = bands[at].p50
            total += max(0.0, median - value if worse_low else value - median)
        return total

    scored = [(shortfall(one), one) for one in series if one.points]
    scored.sort(key=lambda item: item[0], reverse=True)
    return [one for score, one in scored[:count] if score > 0]
