"""The report's network section: each shaped or quality-scoring participant's received
quality, loss and bitrate over time, with its impairment schedule shaded on the time axis
(`agent.network`; docs/network.md), so a dip lines up with the profile that caused it."""

from __future__ import annotations

from collections.abc import Sequence

from agent.scenario.report.svg import Series, Shade, line_chart
from agent.scenario.results import ParticipantResult, RunResult, Sample, StreamDirection

__all__ = ["MAX_PARTICIPANTS", "network_shades", "render_network"]

MAX_PARTICIPANTS = 12
"""Participants charted at most (the shaped ones first); report.json has every series."""

IMPAIRED = ("#fee2e2", "#ffedd5")
"""Tints of the impaired stretches (warm, unlike the phases' cool ones)."""

_CHARTS = (
    ("psnr", "Video PSNR", "dB", 1.0),
    ("mos", "Audio MOS", "MOS", 1.0),
    ("loss", "Packet loss", "% lost", 100.0),
    ("bitrate", "Bitrate", "kbit/s", 1e-3),
)


def network_shades(participant: ParticipantResult, end: float) -> list[Shade]:
    """The stretches of the run during which the participant's link was not ideal, labelled
    with the profile's name."""
    if participant.network is None:
        return []
    changes = sorted(participant.network.changes, key=lambda change: change.t)
    shades: list[Shade] = []
    for number, change in enumerate(changes):
        until = changes[number + 1].t if number + 1 < len(changes) else end
        if change.profile != "ideal" and until > change.t:
            color = IMPAIRED[len(shades) % len(IMPAIRED)]
            shades.append(Shade(change.t, until, change.profile, color))
    return shades


def _series(participant: ParticipantResult, attribute: str, scale: float) -> list[Series]:
    found = []
    for stream in participant.streams:
        if stream.direction is StreamDirection.VIEW:
            samples: list[Sample] = getattr(stream, attribute)
            if samples:
                points = [(s.t, s.value * scale) for s in samples]
                found.append(Series(stream.label, points))
    return found


def _charted(result: RunResult) -> list[ParticipantResult]:
    def scored(participant: ParticipantResult) -> bool:
        return any(s.psnr or s.mos for s in participant.streams)

    shaped = [p for p in result.participants if p.network is not None]
    others = [p for p in result.participants if p.network is None and scored(p)]
    return (shaped + others)[:MAX_PARTICIPANTS]


def render_network(result: RunResult) -> str | None:
    """The section's body, or None when no participant was shaped or scored quality."""
    charted = _charted(result)
    if not charted:
        return None
    span = (0.0, result.duration)
    parts = []
    for participant in charted:
        shades: Sequence[Shade] = network_shades(participant, result.duration)
        charts = [
            line_chart(
                series,
                f"{participant.name}: {what}",
                y_label=unit,
                shades=shades,
                x_span=span,
                height=180,
            )
            for attribute, what, unit, scale in _CHARTS
            if (series := _series(participant, attribute, scale))
        ]
        if charts:
            parts.append('<div class="charts">' + "\n".join(charts) + "</div>")
    left_out = len([p for p in result.participants if p.network is not None]) - len(charted)
    if left_out > 0:
        parts.append(f"<p>{left_out} more shaped participants: see report.json.</p>")
    return "\n".join(parts) if parts else None
