"""The platform's word on each participant's network: `ConferenceNetworkIndicatorUpdatedEvent`.

The router hears how every viewer's link is from RTCP: each receiver report the viewer sends
about the router's RTP gives the interarrival jitter and the fraction lost, and with its
LSR/DLSR the round-trip time (`Router.link_reports`). Per endpoint, the links of its views
are averaged and graded; a SICK participant (missed keepalives) is BAD whatever its links.

Thresholds (one-way media figures; ITU-T G.114 puts 150 ms one way as good, 400 ms as the
limit for conversation; loss above a few percent shows as artefacts even with NACK/FEC):

| grade      | jitter      | round trip  | loss       |
| ---------- | ----------- | ----------- | ---------- |
| OPTIMAL    | < 30 ms     | < 300 ms    | < 2 %      |
| SUBOPTIMAL | otherwise   | otherwise   | otherwise  |
| BAD        | >= 100 ms   | >= 800 ms   | >= 10 %    |

(any one figure in BAD's range makes the grade BAD; all in OPTIMAL's make it OPTIMAL).
`averageNetworkQuality` is the mean of the grades' scores (OPTIMAL 3, SUBOPTIMAL 2, BAD 1),
per endpoint and, at the top of the event, over the conference's graded endpoints.
"""

from __future__ import annotations

from statistics import fmean

from agent.api.models.events import NetworkGrade, ParticipantNetworkIndicator
from server.media.contract import LinkReport

__all__ = ["SCORES", "grade", "indicator"]

OPTIMAL_BELOW = (0.030, 0.300, 0.02)
"""(jitter s, round trip s, fraction lost) all below these: OPTIMAL."""
BAD_FROM = (0.100, 0.800, 0.10)
"""Any of (jitter s, round trip s, fraction lost) at or above these: BAD."""
SCORES = {NetworkGrade.OPTIMAL: 3.0, NetworkGrade.SUBOPTIMAL: 2.0, NetworkGrade.BAD: 1.0}


def grade(jitter: float | None, rtt: float | None, lost: float | None) -> NetworkGrade:
    figures = (jitter, rtt, lost)
    if any(f is not None and f >= bad for f, bad in zip(figures, BAD_FROM, strict=True)):
        return NetworkGrade.BAD
    if all(f is None or f < ok for f, ok in zip(figures, OPTIMAL_BELOW, strict=True)):
        return NetworkGrade.OPTIMAL
    return NetworkGrade.SUBOPTIMAL


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return fmean(known) if known else None


def indicator(links: list[LinkReport], sick: bool) -> ParticipantNetworkIndicator | None:
    """One endpoint's indicator from its links' reports (None: nothing reported, healthy)."""
    jitter = _mean([link.jitter for link in links])
    rtt = _mean([link.rtt for link in links])
    lost = _mean([link.fraction_lost for link in links])
    if not sick and jitter is None and rtt is None and lost is None:
        return None
    verdict = NetworkGrade.BAD if sick else grade(jitter, rtt, lost)
    return ParticipantNetworkIndicator(
        average_jitter=jitter,
        average_rtt=rtt,
        average_network_quality=SCORES[verdict],
        grade=verdict,
    )
