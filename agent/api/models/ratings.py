"""Ratings (`/ratings...`), in their seed 000 form (v1.9.7): feedback items and `userRole`."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, Field, JsonValue, model_validator

from agent.api.models.base import OpenEnum, WireDatetime, WireModel
from agent.api.models.common import SessionType, UserRole

__all__ = [
    "ANSWER_FIELD",
    "CreateRatingWebCommand",
    "CreatingRatingWebResponse",
    "FeedbackItem",
    "FeedbackType",
    "Rating",
]


class FeedbackType(StrEnum):
    TEXT_300 = "TEXT_300"
    TEXT_1000 = "TEXT_1000"
    RATING_1_5 = "RATING_1_5"
    RATING_1_10 = "RATING_1_10"
    SINGLE_CHOICE = "SINGLE_CHOICE"
    MULTIPLE_CHOICE = "MULTIPLE_CHOICE"


_TEXT_LIMIT = {FeedbackType.TEXT_300: 300, FeedbackType.TEXT_1000: 1000}
_RATING_LIMIT = {FeedbackType.RATING_1_5: 5, FeedbackType.RATING_1_10: 10}


ANSWER_FIELD: dict[FeedbackType, str] = {
    FeedbackType.TEXT_300: "answer",
    FeedbackType.TEXT_1000: "answer",
    FeedbackType.RATING_1_5: "rating",
    FeedbackType.RATING_1_10: "rating",
    FeedbackType.SINGLE_CHOICE: "choice",
    FeedbackType.MULTIPLE_CHOICE: "choices",
}
"""The field that holds an item's answer, by its type: the platform requires it filled."""

_FILLED: dict[str, dict[str, JsonValue]] = {
    "answer": {"type": "string", "minLength": 1},
    "rating": {"type": "integer"},
    "choice": {"type": "string", "minLength": 1},
    "choices": {"type": "array", "minItems": 1},
}


def _rules_by_type() -> JsonValue:
    """The answer field each type requires, with `_TEXT_LIMIT` and `_RATING_LIMIT`, as JSON
    Schema conditionals on `type` (what the platform checks, stated in its document)."""
    rules: list[JsonValue] = [{"properties": {"type": {"type": "string"}}}]  # not null
    for kind, field in ANSWER_FIELD.items():
        answer = dict(_FILLED[field])
        if kind in _TEXT_LIMIT:
            answer["maxLength"] = _TEXT_LIMIT[kind]
        if kind in _RATING_LIMIT:
            answer.update(minimum=1, maximum=_RATING_LIMIT[kind])
        rules.append(
            {
                "if": {"properties": {"type": {"const": kind.value}}, "required": ["type"]},
                "then": {"required": [field], "properties": {field: answer}},
            }
        )
    return rules


class FeedbackItem(WireModel):
    """One answered question; which answer field applies depends on `type`.

    The type names carry their limits (300 characters, a 1-5 scale, ...), so they are
    enforced here for both the client building and the server receiving an item, and stated
    in its JSON Schema (a `type`, and one `if`/`then` per type) for clients generated from the
    document."""

    model_config = ConfigDict(json_schema_extra={"required": ["type"], "allOf": _rules_by_type()})

    question: str | None = None
    type: FeedbackType | None = None
    choices: list[str] | None = None
    choice: str | None = None
    answer: str | None = None
    rating: int | None = None

    @model_validator(mode="after")
    def _within_type_limits(self) -> Self:
        if self.type in _TEXT_LIMIT and self.answer is not None:
            limit = _TEXT_LIMIT[self.type]
            if len(self.answer) > limit:
                raise ValueError(f"answer of a {self.type} item exceeds {limit} characters")
        if self.type in _RATING_LIMIT and self.rating is not None:
            top = _RATING_LIMIT[self.type]
            if not 1 <= self.rating <= top:
                raise ValueError(f"rating of a {self.type} item must be 1..{top}")
        return self


class CreateRatingWebCommand(WireModel):
    """`POST /ratings`; at least one of `rating`, `feedback`, `comment` must be given."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["rating"], "properties": {"rating": {"type": "integer"}}},
                {
                    "required": ["feedback"],
                    "properties": {"feedback": {"type": "array", "minItems": 1}},
                },
                {
                    "required": ["comment"],
                    "properties": {"comment": {"type": "string", "minLength": 1}},
                },
            ]
        }
    )

    user_endpoint_id: str | None = None
    session_type: SessionType
    session_id: str
    rating: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = None
    feedback: list[FeedbackItem] | None = None
    interaction_id: str | None = None

    @model_validator(mode="after")
    def _has_content(self) -> Self:
        if self.rating is None and not self.feedback and not self.comment:
            raise ValueError("provide at least one of rating, feedback or comment")
        return self


class CreatingRatingWebResponse(WireModel):
    id: str | None = None


class Rating(WireModel):
    """`GET /ratings/interactions/{id}` and `/ratings/conferences/{id}` answer lists of these."""

    id: str | None = None
    user_id: str | None = None
    user_endpoint_id: str | None = None
    user_role: OpenEnum[UserRole] | None = None
    organization_id: str | None = None
    interaction_id: str | None = None
    session_type: OpenEnum[SessionType] | None = None
    session_id: str | None = None
    score: int | None = None
    comment: str | None = None
    feedback: list[FeedbackItem] | None = None
    created_at: WireDatetime | None = None
