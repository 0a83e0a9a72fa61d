"""Speech-to-text for received audio: engines behind one interface, run off the event loop,
segments on the call's clock, transcript files and checks on what was understood."""

from media.transcription.engines import (
    ENGINES,
    EngineSpec,
    PocketSphinx,
    Recognized,
    SpeechToText,
    Word,
)
from media.transcription.stream import Segment, TranscribedStream, TranscriptionPool
from media.transcription.transcriber import Transcriber

__all__ = [
    "ENGINES",
    "EngineSpec",
    "PocketSphinx",
    "Recognized",
    "Segment",
    "SpeechToText",
    "TranscribedStream",
    "Transcriber",
    "TranscriptionPool",
    "Word",
]
