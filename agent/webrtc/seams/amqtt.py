"""amqtt's broker: its subscription table, iterated over a copy.

amqtt walks the table (topic filter -> sessions) across awaits (topic filtering while it
broadcasts, retained messages when a session returns); a client subscribing or leaving
meanwhile raised "dictionary changed size during iteration", and the event never reached the
matching subscriptions not yet visited. `iterate_subscriptions_over_copies(broker)` gives a
broker, before it starts, a table whose iteration walks a snapshot.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator
from typing import Any

from agent.webrtc.seams.private import reaches, write
from agent.webrtc.seams.versions import check

__all__ = ["iterate_subscriptions_over_copies"]

(_SUBSCRIPTIONS,) = reaches("amqtt.broker.Broker", "instance", "_subscriptions")


class _Subscriptions(dict[str, list[tuple[Any, int]]]):
    """amqtt's subscription table, iterated over a copy."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(dict.keys(self)))

    def items(self) -> ItemsView[str, list[tuple[Any, int]]]:  # type: ignore[override]
        return {topic: list(sessions) for topic, sessions in dict.items(self)}.items()


def iterate_subscriptions_over_copies(broker: Any) -> None:
    """Replace a new (not yet started, so empty) amqtt `Broker`'s subscription table."""
    check("amqtt")
    write(broker, _SUBSCRIPTIONS, _Subscriptions())
