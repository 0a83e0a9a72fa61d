"""Steps on the platform's recorder (Recorder API, seed 004): start and stop recording the
participant's conference, and add chat lines to the recording's transcript.

Starting sets the conference's `RECORDER` metadata (`{"on":true}`) once the recorder is
ACTIVE, and stopping sets it off, as the platform's own clients do: the recorder never
touches conference metadata. Stopping reads the recording back into the participant's result
(`recordings`), which the `recordings_complete` condition judges."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from agent.api.models.base import WireInstant
from agent.api.models.recorder import (
    AddChatTranscriptCmd,
    ChatTranscriptEntry,
    RecorderState,
    RecordingDataEvent,
    StartRecording,
)
from agent.scenario.model import ChatStep, StartRecordingStep, StopRecordingStep
from agent.scenario.results import RecordedTrackResult, RoundTrip
from agent.scenario.run_actor import Actor
from agent.scenario.steps import action
from agent.scenario.surface import StepFailed
from agent.scenario.templating import render

__all__: list[str] = []

RECORDER_KEY = "RECORDER"
"""The conference metadata participants see as the recording indicator (PROTOCOL.md)."""


def _conversation(actor: Actor, given: str | None, conference_id: str) -> str:
    if given:
        return render(given, actor.template)
    return actor.interaction_id or conference_id


@action(StartRecordingStep)
async def start_recording(actor: Actor, step: StartRecordingStep) -> None:
    participant, conference_id, _ = actor.require_joined()
    if actor.recording is not None:
        raise StepFailed(f"already recording (recorder {actor.recording.recorder_id})")
    recorder = participant.api.recorder
    t = actor.run.clock.now()
    asked = time.monotonic()
    started = await recorder.start(
        StartRecording(
            application_id=step.application,
            conference_id=conference_id,
            conversation_id=_conversation(actor, step.conversation, conference_id),
            audio=step.audio,
            video=step.video,
        )
    )
    triple = _triple(started)
    try:
        await recorder.wait_state(*triple, [RecorderState.ACTIVE], within=step.timeout)
    except (TimeoutError, RuntimeError) as exc:
        actor.result.recording_starts.append(RoundTrip(t=t, succeeded=False))
        raise StepFailed(str(exc)) from None
    took = time.monotonic() - asked
    actor.result.recording_starts.append(RoundTrip(t=t, target=triple[1], round_trip=took))
    actor.recording = started
    if step.indicator:
        await actor.set_metadata(RECORDER_KEY, {"on": True}, remove=False)


@action(StopRecordingStep)
async def stop_recording(actor: Actor, step: StopRecordingStep) -> None:
    participant, _, _ = actor.require_joined()
    if actor.recording is None:
        raise StepFailed("no recording to stop: a `start_recording` step must come first")
    triple = _triple(actor.recording)
    recorder = participant.api.recorder
    try:
        async with asyncio.timeout(step.timeout):
            await recorder.stop(*triple)
    except TimeoutError:
        raise StepFailed(f"the recorder did not stop within {step.timeout:g} s") from None
    actor.recording = None
    if step.indicator:
        await actor.set_metadata(RECORDER_KEY, {"on": False}, remove=False)
    # The conversation's view has each stream's published interval (the recorder's own view
    # does not); its recordings and streams come in the platform's order.
    conversation = await recorder.conversation(triple[0])
    for recording in conversation.recordings or []:
        if recording.recorder_id != triple[1]:
            continue
        for stream in recording.streams or []:
            for track in stream.tracks or []:
                size = track.storage.size if track.storage else None
                actor.result.recordings.append(
                    RecordedTrackResult(
                        recorder=triple[1],
                        user=stream.user_id,
                        kind=str(track.type or "?"),
                        published=_seconds(stream.started, stream.stopped),
                        recorded=_seconds(track.started, track.stopped),
                        size=int(size) if size and size.isdigit() else None,
                    )
                )


@action(ChatStep)
async def chat(actor: Actor, step: ChatStep) -> None:
    participant, conference_id, _ = actor.require_joined()
    recorder = participant.api.recorder
    recording = actor.recording
    if recording is None:
        conversation = _conversation(actor, step.conversation, conference_id)
        recording = await recorder.active(conversation)
        if recording is None:
            raise StepFailed(f"conversation {conversation} has no active recording")
    conversation_id, recorder_id, instance_id = _triple(recording)
    user_id = participant.user_id
    if user_id is None:
        raise StepFailed("not logged in")
    name = render(step.display_name, actor.template) if step.display_name else actor.name
    await recorder.add_chat_transcript(
        AddChatTranscriptCmd(
            conversation_id=conversation_id,
            recorder_id=recorder_id,
            instance_id=instance_id,
            chat_transcript_list=[
                ChatTranscriptEntry(
                    time_stamp=datetime.now(UTC),
                    transcript=render(step.text, actor.template),
                    user_id=user_id,
                    user_display_name=name,
                )
            ],
        )
    )


def _triple(event: RecordingDataEvent) -> tuple[str, str, str]:
    if not (event.conversation_id and event.recorder_id and event.instance_id):
        raise StepFailed("the recorder answered without conversationId/recorderId/instanceId")
    return event.conversation_id, event.recorder_id, event.instance_id


def _seconds(start: WireInstant | None, end: WireInstant | None) -> float | None:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max(0.0, (end - start).total_seconds())
    return None
