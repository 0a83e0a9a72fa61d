"""Durations, bitrates and thresholds: one parser each, used by every field."""

from __future__ import annotations

import pytest

from agent.scenario.units import (
    Quantity,
    format_quantity,
    parse_bitrate,
    parse_duration,
    parse_threshold,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("5s", 5.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        (3, 3.0),
        (0.25, 0.25),
        (" 10 ms ", 0.01),
        ("7", 7.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["5 sec", "10x", "-1s", "", "s", True, None, [1], -2])
def test_bad_durations_say_what_is_expected(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "bps"),
    [("800k", 800_000), ("1.5M", 1_500_000), ("300kbps", 300_000), (64000, 64000), ("2G", 2e9)],
)
def test_bitrates(text: object, bps: float) -> None:
    assert parse_bitrate(text) == pytest.approx(bps)


@pytest.mark.parametrize("bad", ["fast", "0", "12 q", False, 0, -5])
def test_bad_bitrates(bad: object) -> None:
    with pytest.raises(ValueError, match="bitrate"):
        parse_bitrate(bad)


def test_thresholds_read_values_in_the_metric_units() -> None:
    assert parse_threshold("< 1s", Quantity.TIME).value == 1.0
    assert parse_threshold("<= 200ms", Quantity.TIME).value == pytest.approx(0.2)
    assert parse_threshold("< 1%", Quantity.RATIO).value == pytest.approx(0.01)
    assert parse_threshold("< 0.02", Quantity.RATIO).value == pytest.approx(0.02)
    assert parse_threshold("> 300k", Quantity.BITRATE).value == 300_000
    rate = parse_threshold(">20", Quantity.RATE)
    assert (rate.op, rate.value, str(rate)) == (">", 20.0, "> 20")


def test_threshold_comparisons() -> None:
    below = parse_threshold("< 1s", Quantity.TIME)
    assert below.holds(0.99) and not below.holds(1.0)
    at_most = parse_threshold("<= 1s", Quantity.TIME)
    assert at_most.holds(1.0) and not at_most.holds(1.01)
    assert parse_threshold("> 20", Quantity.RATE).holds(20.5)
    assert not parse_threshold(">= 20", Quantity.RATE).holds(19.9)
    assert parse_threshold("== 0", Quantity.COUNT).holds(0.0)
    assert not parse_threshold("== 0", Quantity.COUNT).holds(1.0)


@pytest.mark.parametrize(
    ("text", "quantity", "match"),
    [
        ("1s", Quantity.TIME, "start with"),
        ("< fast", Quantity.RATE, "not a number"),
        ("< 1 sec", Quantity.TIME, "not a duration"),
        ("< 1x%", Quantity.RATIO, "percentage"),
        (5, Quantity.COUNT, "string"),
    ],
)
def test_bad_thresholds(text: object, quantity: Quantity, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_threshold(text, quantity)


def test_format_quantity() -> None:
    assert format_quantity(0.48, Quantity.TIME) == "480ms"
    assert format_quantity(2.5, Quantity.TIME) == "2.50s"
    assert format_quantity(0.012, Quantity.RATIO) == "1.20%"
    assert format_quantity(812_000, Quantity.BITRATE) == "812k"
    assert format_quantity(24.46, Quantity.RATE) == "24.5"


@pytest.mark.parametrize(
    ("text", "quantity", "accepted"),
    [
        ("< 800", Quantity.TIME, "ms, s, m, h"),  # was read as 800 s: could never fail
        ("< 0.8", Quantity.TIME, "ms, s, m, h"),
        ("> 300000", Quantity.BITRATE, "bps, k, M, G"),
        ("< 2", Quantity.RATIO, "between 0 and 1"),  # was read as 200%
        ("> -40", Quantity.LEVEL, "dBFS"),
        ("> -40 dBm", Quantity.LEVEL, "dBFS"),
        ("> -50", Quantity.TIME, "ms, s, m, h"),  # a signed time needs its unit too
    ],
)
def test_a_number_without_its_unit_is_refused_with_the_units_accepted(
    text: str, quantity: Quantity, accepted: str
) -> None:
    with pytest.raises(ValueError, match=accepted):
        parse_threshold(text, quantity)


def test_units_that_say_what_they_mean_are_read() -> None:
    assert parse_threshold("> 300000bps", Quantity.BITRATE).value == 300_000
    assert parse_threshold("< 1", Quantity.RATIO).value == 1.0
    assert parse_threshold(">= 3", Quantity.COUNT).value == 3.0


def test_levels_offsets_and_kbit_per_second_are_read() -> None:
    assert parse_threshold("> -40dBFS", Quantity.LEVEL).value == -40.0
    assert parse_threshold("> -40 dB", Quantity.LEVEL).value == -40.0
    assert parse_threshold("> -50ms", Quantity.TIME).value == pytest.approx(-0.05)
    assert parse_threshold("> 500kbit/s", Quantity.BITRATE).value == 500_000
    assert format_quantity(-21.34, Quantity.LEVEL) == "-21.3dBFS"
