"""How a participant answers the snapshot and camera requests sent to it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ResponseAction", "ResponsePolicy", "response_policy"]


class ResponseAction(StrEnum):
    """The scenario language's names (`snapshot: answer`, `camera: {action: delay, ...}`)."""

    ANSWER = "answer"
    IGNORE = "ignore"
    """Never answer: the requester sees its wait run out, as with a phone that is away."""
    DELAY = "delay"
    """Answer after `delay` seconds, as a phone busy with its camera."""
    FAIL = "fail"
    """A camera that does not work. A camera request is answered `succeeded: false`; a
    snapshot request gets nothing, because the platform has no way to report a failed
    capture (its acquire only takes an image): the requester's wait runs out."""


@dataclass(frozen=True, slots=True)
class ResponsePolicy:
    action: ResponseAction = ResponseAction.ANSWER
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.delay < 0:
            raise ValueError(f"delay must not be negative, got {self.delay}")
        if self.action is ResponseAction.DELAY and self.delay == 0:
            raise ValueError("action delay needs a positive delay")


def response_policy(action: str, delay: float | None) -> ResponsePolicy:
    """The policy a file's `snapshot:`/`camera:` answer says (a scenario's, an endpoint's)."""
    return ResponsePolicy(ResponseAction(action), delay or 0.0)
