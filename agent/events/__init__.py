"""The MQTT-over-WebSocket event channel client and conference event ordering."""

from agent.events.channel import (
    Backoff,
    ChannelError,
    EventChannel,
    EventStream,
    RefreshNotifier,
    TokenSource,
    channel_url,
    endpoint_topic,
)
from agent.events.ordering import ConferenceSequence, EventOrdering, FetchSince

__all__ = [
    "Backoff",
    "ChannelError",
    "ConferenceSequence",
    "EventChannel",
    "EventOrdering",
    "EventStream",
    "FetchSince",
    "RefreshNotifier",
    "TokenSource",
    "channel_url",
    "endpoint_topic",
]
