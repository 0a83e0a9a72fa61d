"""Durations, bitrates and threshold comparisons as a scenario writes them.

One parser per quantity, used by every field that takes it, so "500ms" means the same
in a step, a phase and an expectation."""

from __future__ import annotations

import math
import re
from enum import StrEnum
from functools import partial
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

__all__ = [
    "Bitrate",
    "BitrateThreshold",
    "CountThreshold",
    "Duration",
    "LevelThreshold",
    "Quantity",
    "RateThreshold",
    "RatioThreshold",
    "ScoreThreshold",
    "Threshold",
    "TimeThreshold",
    "format_quantity",
    "parse_bitrate",
    "parse_duration",
    "parse_threshold",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_BITRATE = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([kKmMgG])?(?:bps|bit/s)?\s*$")
_BITRATE_UNITS = {"k": 1e3, "m": 1e6, "g": 1e9, None: 1.0}

DURATION_PATTERN = r"^\s*(\d+(\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$"
BITRATE_PATTERN = r"^\s*(\d+(\.\d+)?|\.\d+)\s*([kKmMgG])?(bps|bit/s)?\s*$"


def _reject_bool(value: Any, what: str) -> None:
    # YAML reads `yes`/`on` as booleans, and bool is an int in Python: never a quantity.
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {what}")


def parse_duration(value: Any) -> float:
    """Seconds from a number of seconds or "500ms" / "5s" / "2m" / "1h"."""
    hint = 'use a number of seconds or a string like "500ms", "5s", "2m", "1h"'
    _reject_bool(value, "a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration: {hint}")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"a duration must be a number or a string: {hint}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration: it must be a finite value >= 0")
    return seconds


def parse_bitrate(value: Any) -> float:
    """Bits per second from a number or "800k" / "1.5M" (an optional "bps" or "bit/s"
    suffix: "800kbit/s")."""
    hint = 'use a number of bits per second or a string like "800k", "1.5M"'
    _reject_bool(value, "a bitrate")
    if isinstance(value, int | float):
        bps = float(value)
    elif isinstance(value, str):
        match = _BITRATE.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a bitrate: {hint}")
        unit = match.group(2).lower() if match.group(2) else None
        bps = float(match.group(1)) * _BITRATE_UNITS[unit]
    else:
        raise ValueError(f"a bitrate must be a number or a string: {hint}")
    if not math.isfinite(bps) or bps <= 0:
        raise ValueError(f"{value!r} is not a bitrate: it must be a finite value > 0")
    return bps


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": DURATION_PATTERN},
            ],
            "description": 'Seconds, or a string such as "500ms", "5s", "2m", "1h".',
        }
    ),
]
"""Seconds, written as a number or with a unit."""

Bitrate = Annotated[
    float,
    BeforeValidator(parse_bitrate),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": BITRATE_PATTERN},
            ],
            "description": 'Bits per second, or a string such as "800k", "1.5M".',
        }
    ),
]
"""Bits per second, written as a number or with k/M/G."""


class Quantity(StrEnum):
    """What a metric measures; decides which units its thresholds may be written in."""

    TIME = "time"
    RATE = "rate"
    RATIO = "ratio"
    COUNT = "count"
    BITRATE = "bitrate"
    LEVEL = "level"
    """A sound level in dBFS (0 is full scale, so levels are negative)."""
    SCORE = "score"
    """A quality score (PSNR in dB, a MOS): a plain number, higher is better, pooled as the
    mean."""


Operator = Literal["<", "<=", ">", ">=", "=="]

_THRESHOLD = re.compile(r"^\s*(<=|>=|==|<|>)\s*(\S.*?)\s*$")
THRESHOLD_PATTERN = r"^\s*(<=|>=|==|<|>)\s*\S.*$"


class Threshold(BaseModel):
    """A comparison such as "< 1s": the value is in base units (seconds, fraction, bps)."""

    model_config = ConfigDict(frozen=True)

    op: Operator
    value: float
    text: str

    def holds(self, measured: float) -> bool:
        match self.op:
            case "<":
                return measured < self.value
            case "<=":
                return measured <= self.value
            case ">":
                return measured > self.value
            case ">=":
                return measured >= self.value
            case "==":
                return math.isclose(measured, self.value, rel_tol=1e-9, abs_tol=1e-12)

    def __str__(self) -> str:
        return self.text


def _parse_ratio(text: str) -> float:
    if text.endswith("%"):
        return float(text[:-1].strip()) / 100.0
    fraction = float(text)
    if not 0.0 <= fraction <= 1.0:
        # "< 2" meant 2%, and as a fraction it is 200%: a threshold that cannot fail.
        raise ValueError(f"{text} is not a fraction between 0 and 1")
    return fraction


def _parse_plain(text: str) -> float:
    return float(text)


def _signed(parse: Any) -> Any:
    """`parse` for a value that may be negative (an A/V offset: sound ahead of the picture)."""

    def signed(text: str) -> float:
        if text.startswith("-"):
            return -float(parse(text[1:].strip()))
        return float(parse(text))

    return signed


_LEVEL = re.compile(r"^\s*([-+]?(?:\d+(?:\.\d+)?|\.\d+))\s*(dBFS|dB)\s*$", re.IGNORECASE)


def _parse_level(text: str) -> float:
    """dBFS from "-40dBFS" (or "-40 dB"); a bare number is refused like any unitless one."""
    match = _LEVEL.match(text)
    if match is None:
        raise ValueError(f"{text} is not a level in dBFS")
    return float(match.group(1))


def _with_unit(parse: Any, units: str) -> Any:
    """`parse`, refusing a bare number: "< 800" for a delay would silently mean 800 s."""

    def strict(text: str) -> float:
        try:
            float(text)
        except ValueError:
            return float(parse(text))
        raise ValueError(f"{text} has no unit (accepted: {units})")

    return strict


_UNIT_PARSERS = {
    Quantity.TIME: (
        _signed(_with_unit(parse_duration, "ms, s, m, h")),
        'a duration with a unit (ms, s, m, h), such as "200ms", "1s" or "-50ms"',
    ),
    Quantity.RATE: (_parse_plain, "a number"),
    Quantity.RATIO: (
        _parse_ratio,
        'a percentage such as "1%" or a plain fraction between 0 and 1 such as 0.01',
    ),
    Quantity.COUNT: (_parse_plain, "a number"),
    Quantity.BITRATE: (
        _with_unit(parse_bitrate, "bps, k, M, G"),
        'a bitrate with a unit (bps, k, M, G), such as "500k", "500kbit/s" or "1.5M"',
    ),
    Quantity.LEVEL: (_parse_level, 'a level with a unit (dBFS), such as "-40dBFS"'),
    Quantity.SCORE: (_parse_plain, "a number"),
}


def parse_threshold(value: Any, quantity: Quantity) -> Threshold:
    """A threshold like "< 1s" or ">= 99%", its value read in the units of `quantity`."""
    if isinstance(value, Threshold):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f'a threshold is a string with a comparison and a value, such as "< 1s"; '
            f"got {type(value).__name__}"
        )
    match = _THRESHOLD.match(value)
    if match is None:
        raise ValueError(
            f'{value!r} is not a threshold: start with <, <=, >, >= or == (e.g. "< 1s")'
        )
    op, amount = match.group(1), match.group(2)
    parse, expected = _UNIT_PARSERS[quantity]
    try:
        number = parse(amount)
    except ValueError:
        raise ValueError(f"{value!r}: {amount!r} is not {expected}") from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r}: the value must be finite")
    return Threshold(op=cast(Operator, op), value=number, text=f"{op} {amount}")


def _threshold(quantity: Quantity) -> Any:
    """The annotation metadata of a threshold on a metric of `quantity`."""
    return (
        BeforeValidator(partial(parse_threshold, quantity=quantity)),
        PlainSerializer(str, return_type=str),
        WithJsonSchema({"type": "string", "pattern": THRESHOLD_PATTERN}),
    )


TimeThreshold = Annotated[Threshold, *_threshold(Quantity.TIME)]
RateThreshold = Annotated[Threshold, *_threshold(Quantity.RATE)]
RatioThreshold = Annotated[Threshold, *_threshold(Quantity.RATIO)]
CountThreshold = Annotated[Threshold, *_threshold(Quantity.COUNT)]
BitrateThreshold = Annotated[Threshold, *_threshold(Quantity.BITRATE)]
LevelThreshold = Annotated[Threshold, *_threshold(Quantity.LEVEL)]
ScoreThreshold = Annotated[Threshold, *_threshold(Quantity.SCORE)]


def format_quantity(value: float, quantity: Quantity) -> str:
    """A measured value for people: "480ms", "24.5", "1.2%", "812k", "-21.3dBFS"."""
    if not math.isfinite(value):
        return str(value)
    match quantity:
        case Quantity.TIME:
            if abs(value) < 1.0:
                return f"{value * 1000:.0f}ms"
            return f"{value:.2f}s"
        case Quantity.RATIO:
            return f"{value * 100:.2f}%"
        case Quantity.BITRATE:
            if abs(value) >= 1e6:
                return f"{value / 1e6:.2f}M"
            return f"{value / 1e3:.0f}k"
        case Quantity.COUNT:
            return f"{value:g}"
        case Quantity.LEVEL:
            return f"{value:.1f}dBFS"
        case Quantity.SCORE:
            return f"{value:.3g}"
        case _:
            return f"{value:.1f}"
