"""Endpoint lifecycle, conference state, publisher and viewer."""

from agent.participant.participant import (
    Participant,
    ParticipantMeasurements,
    RemoteStream,
    ViewWatcher,
)
from agent.participant.policy import Reception, ResumePolicy, RetryPolicy, ViewPolicy
from agent.participant.publisher import Publisher, PublisherMeasurements, synthetic_tracks
from agent.participant.records import StepRecord, Timeline
from agent.participant.sinks import TrackMeasurements
from agent.participant.supervised import StreamState
from agent.participant.viewer import Viewer, ViewerMeasurements

__all__ = [
    "Participant",
    "ParticipantMeasurements",
    "Publisher",
    "PublisherMeasurements",
    "Reception",
    "RemoteStream",
    "ResumePolicy",
    "RetryPolicy",
    "StepRecord",
    "StreamState",
    "Timeline",
    "TrackMeasurements",
    "ViewPolicy",
    "ViewWatcher",
    "Viewer",
    "ViewerMeasurements",
    "synthetic_tracks",
]
