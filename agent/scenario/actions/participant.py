"""Steps on the participant itself: its endpoint, its conference, its streams, whom it views."""

from __future__ import annotations

from agent.scenario.model import (
    BitrateStep,
    JoinStep,
    LeaveStep,
    MetadataStep,
    MuteStep,
    PublishStep,
    RegisterStep,
    StopViewStep,
    UnmuteStep,
    UnpublishStep,
    UnregisterStep,
    ViewStep,
)
from agent.scenario.run_actor import Actor
from agent.scenario.steps import action
from agent.scenario.surface import StepSurface

__all__: list[str] = []


@action(RegisterStep, browser=True)
async def _register(actor: StepSurface, step: RegisterStep) -> None:
    await actor.register(step.keep_alive)


@action(UnregisterStep, browser=True)
async def _unregister(actor: StepSurface, step: UnregisterStep) -> None:
    await actor.unregister()


@action(JoinStep, browser=True)
async def _join(actor: StepSurface, step: JoinStep) -> None:
    await actor.join(step.conference)


@action(LeaveStep, browser=True)
async def _leave(actor: StepSurface, step: LeaveStep) -> None:
    await actor.leave()


@action(PublishStep, browser=True)
async def _publish(actor: StepSurface, step: PublishStep) -> None:
    await actor.publish(step.streams)


@action(UnpublishStep)
async def _unpublish(actor: Actor, step: UnpublishStep) -> None:
    await actor.unpublish(step.streams)


@action(ViewStep)
async def _view(actor: Actor, step: ViewStep) -> None:
    await actor.view(step.of)


@action(StopViewStep)
async def _stop_view(actor: Actor, step: StopViewStep) -> None:
    await actor.stop_view(step.of)


@action(MuteStep)
async def _mute(actor: Actor, step: MuteStep) -> None:
    await _set_muted(actor, step, muted=True)


@action(UnmuteStep)
async def _unmute(actor: Actor, step: UnmuteStep) -> None:
    await _set_muted(actor, step, muted=False)


async def _set_muted(actor: Actor, step: MuteStep | UnmuteStep, muted: bool) -> None:
    """As a browser: the local track sends black or silence, and the others are told with
    conference metadata `TRACK_MUTED/{media}/{streamId}` (PROTOCOL.md, 9)."""
    stream_ids = actor.stream_ids(step.streams)
    await actor.mute(step.streams, step.media, muted=muted)
    for stream_id in stream_ids:
        key = f"TRACK_MUTED/{step.media}/{stream_id}"
        await actor.set_metadata(key, "true", remove=not muted)


@action(MetadataStep)
async def _metadata(actor: Actor, step: MetadataStep) -> None:
    if step.stream is not None:
        await actor.set_stream_metadata(step.stream, step.key, step.value, step.remove)
    else:
        await actor.set_metadata(step.key, step.value, step.remove)


@action(BitrateStep)
async def _bitrate(actor: Actor, step: BitrateStep) -> None:
    await actor.set_bitrate(step.streams, step.bitrate)
