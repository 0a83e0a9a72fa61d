"""Steps that address others or the platform's records: snapshot and camera requests,
approving and discarding, custom events, ratings and interactions.

Round trips go into the requester's `ParticipantResult` (`snapshots`, `camera_requests`);
an unanswered request is a round trip without a time and a failed step."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from agent.api.models import CreateRatingWebCommand
from agent.api.models.common import SessionType
from agent.api.models.conferences import EventQos, SendEventToConferenceWebCommand
from agent.api.models.interactions import CreateInteractionWebCommand, UpdateInteractionWebCommand
from agent.api.models.ratings import FeedbackItem
from agent.api.models.registrations import SendEventToUserWebCommand
from agent.scenario.model import (
    ApproveStep,
    CameraRequestStep,
    CreateInteractionStep,
    DiscardStep,
    RateStep,
    RequestSnapshotStep,
    SendEventStep,
    UpdateInteractionStep,
)
from agent.scenario.results import RoundTrip
from agent.scenario.run_actor import Actor
from agent.scenario.steps import action
from agent.scenario.surface import StepFailed, StepSurface
from agent.scenario.templating import render, render_value
from agent.snapshot import Endpoint, SnapshotRequester

__all__: list[str] = []


def _requester(actor: Actor) -> SnapshotRequester:
    actor.require_joined()
    if actor.requester is None:
        raise StepFailed("not registered")
    return actor.requester


def _targets(actor: Actor, group: str, index: int | None) -> list[StepSurface]:
    """The participants of `group` in `actor`'s call that can be asked now."""
    found = [
        other
        for other in actor.run.roster.peers(actor)
        if other.group.name == group
        and (index is None or other.plan.index == index)
        and other.endpoint_id is not None
    ]
    if not found:
        which = f"{group}-{index}" if index is not None else f"group {group}"
        raise StepFailed(f"no participant of {which} is registered in this call")
    return found


@action(RequestSnapshotStep)
async def request_snapshot(actor: Actor, step: RequestSnapshotStep) -> None:
    requester = _requester(actor)
    targets = _targets(actor, step.target, step.index)
    t = actor.run.clock.now()
    results = await asyncio.gather(
        *(
            requester.request(
                Endpoint(target.user_id, target.endpoint_id),
                snapshot_type=step.snapshot_type,
                within=step.timeout,
            )
            for target in targets
        )
    )
    missing = []
    for target, result in zip(targets, results, strict=True):
        actor.result.snapshots.append(
            RoundTrip(
                t=t,
                target=target.name,
                round_trip=result.round_trip_s,
                succeeded=result.acquired,
            )
        )
        if result.acquired:
            actor.undecided.append(result)
            actor.snapshots_acquired += 1
        else:
            missing.append(f"{target.name}: {result.problem or 'not acquired'}")
    if missing:
        raise StepFailed(f"snapshot not acquired from {'; '.join(missing)}")


@action(ApproveStep)
async def approve(actor: Actor, step: ApproveStep) -> None:
    await _decide(actor, step)


@action(DiscardStep)
async def discard(actor: Actor, step: DiscardStep) -> None:
    await _decide(actor, step)


async def _decide(actor: Actor, step: ApproveStep | DiscardStep) -> None:
    requester = _requester(actor)
    if not actor.undecided:
        raise StepFailed(f"no acquired snapshot to {step.do}")
    chosen = list(actor.undecided) if step.snapshot == "all" else [actor.undecided[-1]]
    for result in chosen:
        actor.undecided.remove(result)
        if isinstance(step, ApproveStep):
            await requester.approve(result)
        else:
            await requester.discard(result)


@action(CameraRequestStep)
async def camera_request(actor: Actor, step: CameraRequestStep) -> None:
    requester = _requester(actor)
    targets = _targets(actor, step.target, step.index)
    t = actor.run.clock.now()
    results = await asyncio.gather(
        *(
            requester.camera_request(
                Endpoint(target.user_id, target.endpoint_id), step.request, within=step.timeout
            )
            for target in targets
        )
    )
    problems = []
    for target, result in zip(targets, results, strict=True):
        actor.result.camera_requests.append(
            RoundTrip(
                t=t,
                target=target.name,
                round_trip=result.round_trip_s,
                succeeded=bool(result.succeeded),
            )
        )
        if result.round_trip_s is None:
            problems.append(f"{target.name}: not processed within {step.timeout:g} s")
        elif not result.succeeded:
            reason = result.additional_information or "no reason given"
            problems.append(f"{target.name}: {step.request} failed ({reason})")
    if problems:
        raise StepFailed("; ".join(problems))


def _event_body(actor: Actor, step: SendEventStep) -> dict[str, Any]:
    data = render_value(step.data, actor.template)
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {**data, "type": step.type, "timestamp": stamp}


@action(SendEventStep)
async def send_event(actor: Actor, step: SendEventStep) -> None:
    """Custom events go out through the run's service login: the platform lets only
    SERVICE callers send to a conference, and to another user's endpoints."""
    _, conference_id, _ = actor.require_joined()
    admin = actor.run.platform.admin
    body = _event_body(actor, step)
    if step.to == "conference":
        await admin.conferences.send_event(
            SendEventToConferenceWebCommand(
                conference_id=conference_id, qos=EventQos(step.qos), event=body
            )
        )
        return
    organization = (await admin.claims()).organization or actor.run.platform.organization_id
    if organization is None:
        raise StepFailed("the run's login names no organization to send events in")
    for target in _targets(actor, step.to, None):
        assert target.user_id is not None
        await admin.registrations.send_event(
            SendEventToUserWebCommand(
                user_id=target.user_id,
                organization_id=organization,
                user_endpoint_id=target.endpoint_id,
                event=body,
                qos=1 if step.qos == "AT_LEAST_ONCE" else 0,
            )
        )


@action(RateStep)
async def rate(actor: Actor, step: RateStep) -> None:
    participant, conference_id, endpoint_id = actor.require_joined()
    feedback = [
        FeedbackItem.model_validate(item.model_dump(exclude_none=True))
        for item in step.feedback or []
    ]
    await participant.api.ratings.create(
        CreateRatingWebCommand(
            user_endpoint_id=endpoint_id,
            session_type=SessionType.CONFERENCE,
            session_id=conference_id,
            rating=step.rating,
            comment=render(step.comment, actor.template) if step.comment else None,
            feedback=feedback or None,
            interaction_id=actor.interaction_id,
        )
    )


@action(CreateInteractionStep)
async def create_interaction(actor: Actor, step: CreateInteractionStep) -> None:
    participant = actor.require()
    answer = await participant.api.interactions.create(
        CreateInteractionWebCommand(
            interaction_id=render(step.interaction_id, actor.template)
            if step.interaction_id
            else None,
            type=step.type,
            data=render_value(step.data, actor.template) or None,
            organization_id=actor.run.platform.organization_id,
        )
    )
    if not answer.interaction_id:
        raise StepFailed("createInteraction answered without an interaction id")
    actor.interaction_id = answer.interaction_id


@action(UpdateInteractionStep)
async def update_interaction(actor: Actor, step: UpdateInteractionStep) -> None:
    participant = actor.require()
    interaction_id = (
        render(step.interaction_id, actor.template) if step.interaction_id else actor.interaction_id
    )
    if interaction_id is None:
        raise StepFailed("no interaction to update: create one first or give interaction_id")
    await participant.api.interactions.update(
        interaction_id,
        UpdateInteractionWebCommand(
            type=step.type, data=render_value(step.data, actor.template) or None
        ),
    )
