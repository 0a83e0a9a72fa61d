"""Ratings (`/rtc-api/ratings...`) in their seed 000 form: score, comment, feedback items and
the rater's main role (`userRole`).

A rating belongs to the rater's organization and is read by interaction or by conference (its
`sessionId`); customers read back only their own.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from agent.api.models.common import UserRole
from agent.api.models.ratings import (
    ANSWER_FIELD,
    CreateRatingWebCommand,
    CreatingRatingWebResponse,
    FeedbackItem,
    FeedbackType,
    Rating,
)
from server import storage
from server.auth.caller import CALLER_KEY, Caller
from server.errors import BadRequest
from server.http import json_response
from server.interactions import confine_customer
from server.openapi import operation
from server.storage import Condition, Query, epoch_ms, utc_now

RATING = "rating"


def _check_feedback(items: list[FeedbackItem]) -> None:
    """Each item needs a type and the answer field its type names (the model checks limits)."""
    for index, item in enumerate(items):
        where = f"feedback.{index}"
        if item.type is None:
            raise BadRequest(f"{where}.type: required (one of {', '.join(FeedbackType)})")
        field = ANSWER_FIELD[item.type]
        if getattr(item, field) in (None, "", []):
            raise BadRequest(f"{where}.{field}: required for a {item.type} item")


def main_role(caller: Caller) -> UserRole:
    """The seed's `userRole`: CUSTOMER or AGENT (SUPERVISOR counts as AGENT); SERVICE when it
    is the caller's only kind of role."""
    if caller.has_role("CUSTOMER"):
        return UserRole.CUSTOMER
    if caller.has_role("AGENT", "SUPERVISOR", "ADMIN"):
        return UserRole.AGENT
    return UserRole.SERVICE


@operation("Rate a call or conference", response=CreatingRatingWebResponse)
async def create_rating(request: web.Request, body: CreateRatingWebCommand) -> web.Response:
    caller = request[CALLER_KEY]
    _check_feedback(body.feedback or [])
    confine_customer(
        request, caller, conference_id=body.session_id, interaction_id=body.interaction_id
    )
    organization = caller.organization_for((body.model_extra or {}).get("organizationId"))
    now = utc_now()
    rating = Rating(
        id=str(uuid.uuid4()),
        user_id=caller.user_id,
        user_endpoint_id=body.user_endpoint_id,
        user_role=main_role(caller),
        organization_id=organization,
        interaction_id=body.interaction_id,
        session_type=body.session_type,
        session_id=body.session_id,
        score=body.rating,
        comment=body.comment,
        feedback=body.feedback,
        created_at=now,
    )
    assert rating.id is not None
    storage.storage_of(request).records.insert(
        RATING, rating.id, organization, epoch_ms(now), rating.to_wire()
    )
    return json_response(CreatingRatingWebResponse(id=rating.id))


def _find(request: web.Request, path: str, value: str) -> web.Response:
    caller = request[CALLER_KEY]
    conditions = [Condition(path, "=", value)]
    if caller.is_customer:
        conditions.append(Condition("$.userId", "=", caller.user_id))
    records = storage.storage_of(request).records.find(
        RATING, Query(organization_id=caller.organization, conditions=conditions)
    )
    return json_response([Rating.model_validate(r.body) for r in records])


@operation("The ratings of an interaction", response=list[Rating], errors=(400,))
async def ratings_by_interaction(request: web.Request) -> web.Response:
    return _find(request, "$.interactionId", request.match_info["interactionId"])


@operation("The ratings of a conference (ratings whose sessionId is it)", response=list[Rating])
async def ratings_by_conference(request: web.Request) -> web.Response:
    return _find(request, "$.sessionId", request.match_info["conferenceId"])


def setup(app: web.Application) -> None:
    storage.install(app)
    app.router.add_post("/rtc-api/ratings", create_rating)
    app.router.add_get("/rtc-api/ratings/interactions/{interactionId}", ratings_by_interaction)
    app.router.add_get("/rtc-api/ratings/conferences/{conferenceId}", ratings_by_conference)
