"""The scenario language: what a YAML scenario file may say, as strict pydantic models.

Every model forbids unknown keys so a misspelled key is an error, not a silently ignored
line. Cross-references (a `view` naming a group, an `after` naming a step) need the whole
file and are checked in `agent.scenario.checks`. Strings may carry templates (`${index}`,
`${group}`, `${env.NAME}`, `${vars.x}`, `${row.col}`), rendered per participant at run time
by `agent.scenario.templating`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Generic, Literal, Self, TypeVar
from urllib.parse import SplitResult, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from agent.api.models.ratings import FeedbackItem, FeedbackType
from agent.scenario.compare import parse_tolerance
from agent.scenario.metrics import METRICS
from agent.scenario.network import NetworkSetting
from agent.scenario.units import (
    Bitrate,
    BitrateThreshold,
    CountThreshold,
    Duration,
    LevelThreshold,
    RateThreshold,
    RatioThreshold,
    ScoreThreshold,
    TimeThreshold,
)

__all__ = [
    "ExpectCondition",
    "ExpectSpec",
    "ParticipantGroup",
    "Phase",
    "Scenario",
    "ServerSpec",
    "Step",
    "StreamSpec",
    "WaitCondition",
    "check_base_url",
    "scenario_json_schema",
]


class StrictModel(BaseModel):
    """Unknown keys are errors; inputs never echo into errors (they may hold secrets)."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        hide_input_in_errors=True,
        frozen=True,
    )


NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]*$"
GroupName = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
StepId = Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
EventType = Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*Event$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _reject_secret(value: Any) -> Any:
    # The message never contains the value: it is a secret that must not reach a log.
    raise ValueError(
        "a secret must not be written in the file: put it in an environment "
        "variable and name that variable here with `client_secret_env`"
    )


RejectedSecret = SkipJsonSchema[Annotated[None, BeforeValidator(_reject_secret)]]
"""Accepted by no value: a literal secret key gets a clear error instead of "unknown key"."""


class _ClientCredentials(StrictModel):
    client_id: str | None = None
    """The OAuth client id (not a secret; may be a template such as `${row.client_id}`)."""
    client_id_env: EnvName | None = None
    """The environment variable holding the client id, instead of `client_id`."""
    client_secret_env: EnvName | None = None
    """The environment variable holding the client secret."""
    client_secret: RejectedSecret = Field(default=None, exclude=True)
    password: RejectedSecret = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _one_client_id(self) -> Self:
        if self.client_id is not None and self.client_id_env is not None:
            raise ValueError("give either client_id or client_id_env, not both")
        return self


BASE_URL_PATTERN = r"^https?://[^\s/]+"


def check_base_url(url: str) -> str:
    """A platform's base URL as `server.url` and `--server` take it: http or https, a host and
    maybe a port (the API's paths are added to it)."""
    parts = urlsplit(url)
    if not url.startswith(("http://", "https://")):
        problem = "it does not start with http:// or https://"
    elif not parts.hostname:
        problem = "it has no host name"
    elif any(character.isspace() for character in url):
        problem = "it contains a space"
    elif not _port_ok(parts):
        problem = "its port is not a number from 0 to 65535"
    else:
        return url
    raise ValueError(f"{url!r} is not a platform URL: {problem} (e.g. https://auvious.example.com)")


def _port_ok(parts: SplitResult) -> bool:
    try:
        return parts.port is None or parts.port >= 0
    except ValueError:  # not a number, or out of range
        return False


class ServerSpec(_ClientCredentials):
    """A running Auvious platform; omit `server` to run against the embedded local one.

    The CLI's `--server`, `--client-id` and `--client-secret-env` override these."""

    url: Annotated[str, Field(pattern=BASE_URL_PATTERN), AfterValidator(check_base_url)]
    """Base URL of the platform, e.g. https://auvious.example.com."""
    organization_id: str | None = None
    verify_tls: Literal[True] = True
    """Certificates are always verified; `false` is refused, not silently ignored (the
    client, the event channel and every participant would all have to skip it)."""

    @model_validator(mode="before")
    @classmethod
    def _tls_verified(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("verify_tls") is False:
            raise ValueError(
                "verify_tls: false is not supported: the platform's certificate is always "
                "verified (trust a private CA with SSL_CERT_FILE instead)"
            )
        return data


class Credentials(_ClientCredentials):
    """How participants of an agent group log in (client_credentials grant), when not with
    the server's credentials: a client of their own, so both its id and its secret."""

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.client_id is None and self.client_id_env is None:
            raise ValueError("credentials need a client_id (or client_id_env)")
        if self.client_secret_env is None:
            raise ValueError("credentials need client_secret_env: the variable with the secret")
        return self


class StreamType(StrEnum):
    MIC = "MIC"
    CAM = "CAM"
    SCREEN = "SCREEN"
    MIC_AND_CAM = "MIC_AND_CAM"


VIDEO_CODECS = ("VP8", "H264")
AUDIO_CODECS = ("opus",)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SOURCE_KEYWORDS = ("synthetic", "black", "silence", "speech")


class SpeechSpec(StrictModel):
    """What a `source: speech` stream says: `lines` (or the lines of `file`), in order, by
    espeak-ng with `voice` (`espeak-ng --voices`; `en-us+klatt` is the one PocketSphinx
    understands best). More can be said with `say` steps."""

    lines: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    file: str | None = None
    """A UTF-8 text file, one utterance per non-empty line, relative to the scenario file."""
    voice: Annotated[str, Field(min_length=1)] = "en-us+klatt"
    words_per_minute: Annotated[int, Field(ge=80, le=450)] = 175
    start: Duration = 1.0
    """Silence after the stream is published, before the first line."""
    pause: Duration = 1.0
    """Silence between lines."""

    @model_validator(mode="after")
    def _lines_or_file(self) -> Self:
        if self.lines and self.file is not None:
            raise ValueError("give `lines` or a `file`, not both")
        return self


class StreamKinds(StrictModel):
    """What a published stream of `type` carries."""

    type: StreamType

    @property
    def has_video(self) -> bool:
        return self.type is not StreamType.MIC

    @property
    def has_audio(self) -> bool:
        return self.type in (StreamType.MIC, StreamType.MIC_AND_CAM)


class StreamSpec(StreamKinds):
    """One stream a participant publishes."""

    name: StepId | None = None
    """How steps refer to this stream (`publish: {streams: [main]}`); defaults to the type
    in lower case (`cam`, `mic_and_cam`)."""
    source: Annotated[str, Field(min_length=1)] = "synthetic"
    """`synthetic` (timecoded test pattern and tone), `black`, `silence`, `speech` (what
    `speech` says, and `say` steps; synthetic video), an image file (.png/.jpg: a still
    picture) or a media file, relative to the scenario file."""
    speech: SpeechSpec | None = None
    """With `source: speech`: the lines, voice and pacing."""
    resolution: Annotated[str, Field(pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")] | None = None
    """Video size as WIDTHxHEIGHT, e.g. 640x480."""
    fps: Annotated[float, Field(gt=0, le=120)] | None = None
    bitrate: Bitrate | None = None
    """Maximum video bitrate, e.g. 800k: sent with publishStream; the platform caps the
    sender (REMB). An agent's VP8 encoder (aiortc) does not go below 250k."""
    codec: Literal["VP8", "H264", "opus"] | None = None
    """The video codec offered (one per participant); audio is always Opus."""
    metadata: dict[str, Any] | None = None
    """Stream metadata sent with publishStream."""
    encoder: Literal["shared", "own"] = "shared"
    """`shared`: the streams of one profile (source, resolution, fps, bitrate, codec) in a
    process are encoded once and packetized once; a participant that mutes, switches camera,
    turns its torch on or changes bitrate gets its own encoder from then on. `own`: an
    encoder per participant from the start (aiortc's, adapting to the platform's REMB)."""

    @property
    def key(self) -> str:
        return self.name or self.type.value.lower()

    @property
    def is_image(self) -> bool:
        return self.source.lower().endswith(IMAGE_SUFFIXES)

    @property
    def is_file(self) -> bool:
        return self.source not in SOURCE_KEYWORDS

    @model_validator(mode="after")
    def _fits_type(self) -> Self:
        if self.codec in VIDEO_CODECS and not self.has_video:
            raise ValueError(
                f"codec {self.codec} is a video codec; a {self.type} stream has no video"
            )
        if self.codec in AUDIO_CODECS and self.type in (StreamType.CAM, StreamType.SCREEN):
            raise ValueError(
                f"codec {self.codec} is an audio codec; a {self.type} stream has no audio"
            )
        if self.source == "speech" and not self.has_audio:
            raise ValueError(f"source speech is audio; a {self.type} stream has none")
        if self.speech is not None and self.source != "speech":
            raise ValueError("`speech` goes with `source: speech`")
        if self.source == "silence" and self.has_video:
            raise ValueError(f"source silence has no video; a {self.type} stream needs video")
        if self.source == "black" and not self.has_video:
            raise ValueError(
                "source black is video; a MIC stream needs `synthetic`, `silence`, `speech` or"
                " a file"
            )
        if not self.has_video and (self.resolution or self.fps):
            raise ValueError("resolution and fps apply to video; a MIC stream has none")
        if self.is_image and self.resolution:
            raise ValueError("an image is sent at its own size: leave out `resolution`")
        if self.is_file and not self.is_image and (self.resolution or self.fps):
            raise ValueError(
                "a media file plays at its own size and frame rate: leave out `resolution` "
                "and `fps`"
            )
        return self


PolicyAction = Literal["answer", "ignore", "delay", "fail"]


def _policy_shorthand(value: Any) -> Any:
    """`snapshot: ignore` means `snapshot: {action: ignore}`."""
    if isinstance(value, str):
        return {"action": value}
    if not isinstance(value, Mapping | ResponsePolicy):
        raise ValueError("a policy is answer, ignore, delay or fail, or {action: ..., delay: ...}")
    return value


class ResponsePolicy(StrictModel):
    """How a participant answers snapshot or camera requests sent to it."""

    action: PolicyAction = "answer"
    """answer at once, ignore (never answer), delay (answer after `delay`), fail (answer
    that it failed)."""
    delay: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _delay_implies_action(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "delay" in data and "action" not in data:
            return {**data, "action": "delay"}
        return data

    @model_validator(mode="after")
    def _delay_given(self) -> Self:
        if self.action == "delay" and self.delay is None:
            raise ValueError("action delay needs a `delay` (e.g. delay: 2s)")
        if self.action != "delay" and self.delay is not None:
            raise ValueError(f"`delay` applies to action delay, not {self.action}")
        return self


Policy = Annotated[
    ResponsePolicy,
    BeforeValidator(_policy_shorthand, json_schema_input_type=PolicyAction | ResponsePolicy),
]


def _view_shorthand(value: Any) -> Any:
    """One clear error for a bad `view`, instead of one per member of the union."""
    if value in ("all", "none"):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise ValueError("view is `all`, `none` or a list of participant group names")


ViewTargets = Annotated[
    Literal["all", "none"] | list[GroupName],
    BeforeValidator(_view_shorthand),
]


class ReceiveSpec(StrictModel):
    """How much of what it views a participant decodes: the cost of a viewer against what
    can be measured. `light` counts encoded frames (fps, freezes, first frame) and fits
    hundreds of viewers; end-to-end `delay` needs the timecodes, so decoded media."""

    video: Literal["light", "decode", "sampled"] = "light"
    """sampled: decode only keyframes, one asked for every `sample_interval`."""
    audio: Literal["light", "decode"] = "light"
    sample_interval: Annotated[Duration, Field(gt=0)] = 1.0

    @property
    def measures_delay(self) -> bool:
        return self.video != "light" or self.audio == "decode"


class RecordSpec(StrictModel):
    """Record what this participant receives (recording decodes what it records)."""

    path: str = "recordings/${group}-${index}"
    """Directory for the recordings, relative to the report directory; a template."""
    audio: bool = True
    """Record received audio (.wav)."""
    video: bool = True
    """Record received video (.mp4)."""

    @model_validator(mode="after")
    def _records_something(self) -> Self:
        if not (self.audio or self.video):
            raise ValueError("audio and video both false records nothing: use `record: false`")
        return self

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(kind for kind in ("audio", "video") if getattr(self, kind))


def _record_shorthand(value: Any) -> Any:
    """`record: true` records with the defaults; `record: false` records nothing."""
    if value is True:
        return {}
    if value is False:
        return None
    return value


Record = Annotated[
    RecordSpec | None,
    BeforeValidator(_record_shorthand, json_schema_input_type=bool | RecordSpec),
]


class DataSource(StrictModel):
    """A CSV file whose rows fill `${row.column}` templates, one row per participant."""

    file: Annotated[str, Field(min_length=1)]
    """Path of the CSV file, relative to the scenario file; the first line names columns."""
    mode: Literal["sequential", "random"] = "sequential"
    """sequential: participant n takes row n (wrapping around); random: any row."""


# --- timeline steps ------------------------------------------------------------------


class _Step(StrictModel):
    id: StepId | None = None
    """A name other steps can wait for with `after`."""
    at: Duration | None = None
    """When to run, counted from the participant's arrival; default: after the previous step."""
    after: str | None = None
    """Run once this happens: an event type (`ConferenceStreamPublishedEvent`), a step id of
    this group (`joined`) or of another (`agents.joined`)."""

    @model_validator(mode="after")
    def _one_trigger(self) -> Self:
        if self.at is not None and self.after is not None:
            raise ValueError("give either `at` or `after`, not both")
        return self


class RegisterStep(_Step):
    """Register a user endpoint (`keepAliveSeconds`) and keep it alive; connect the event
    channel."""

    do: Literal["register"]
    keep_alive: Duration = 30.0
    """The endpoint's keepAliveSeconds."""


class UnregisterStep(_Step):
    """Unregister the endpoint."""

    do: Literal["unregister"]


class JoinStep(_Step):
    """Join the group's conference (or `conference`, a template) and read the simple view."""

    do: Literal["join"]
    conference: str | None = None
    """Join this conference (a template) instead of the group's."""


class LeaveStep(_Step):
    """Close peer connections, unpublish, stop viewing, leave."""

    do: Literal["leave"]


class _StreamsStep(_Step):
    streams: list[StepId] | None = None
    """Names of the group's `publish` streams; default: all of them."""


class PublishStep(_StreamsStep):
    """Publish the named `publish` streams (default: all of the group's)."""

    do: Literal["publish"]


class UnpublishStep(_StreamsStep):
    """Stop publishing them (default: all)."""

    do: Literal["unpublish"]


class ViewStep(_Step):
    """View those groups' streams (`all`, or group names) published now, waiting until they
    flow, and from now on."""

    do: Literal["view"]
    of: ViewTargets = "all"
    """Whose streams: all, or a list of participant group names."""


class StopViewStep(_Step):
    """Stop viewing them."""

    do: Literal["stop_view"]
    of: ViewTargets = "all"


class _MuteStep(_StreamsStep):
    media: Literal["audio", "video"]
    """Sets (mute) or removes (unmute) the conference metadata TRACK_MUTED/{media}/{stream}."""


class MuteStep(_MuteStep):
    """Set conference metadata `TRACK_MUTED/{media}/{streamId}`; the track then sends black
    or silence, as a browser does (and stops sharing its profile's encoder)."""

    do: Literal["mute"]


class UnmuteStep(_MuteStep):
    """Remove that metadata; the track sends its source again."""

    do: Literal["unmute"]


class MetadataStep(_Step):
    """Set or remove a conference metadata key, or a stream's metadata with `stream`."""

    do: Literal["metadata"]
    key: Annotated[str, Field(min_length=1)]
    value: Any = None
    remove: bool = False
    stream: StepId | None = None

    @model_validator(mode="after")
    def _value_or_remove(self) -> Self:
        if self.remove and self.value is not None:
            raise ValueError("a metadata step either sets a `value` or has `remove: true`")
        if not self.remove and self.value is None:
            raise ValueError("a metadata step needs a `value` (or `remove: true`)")
        return self


class BitrateStep(_StreamsStep):
    """Change the maximum video bitrate (the stream gets its own encoder, which follows it)."""

    do: Literal["bitrate"]
    bitrate: Bitrate
    """The new maximum video bitrate, e.g. 300k, through the platform, which caps the sender
    (REMB). An agent's VP8 encoder (aiortc) does not go below 250k."""


class _TargetedStep(_Step):
    target: GroupName
    """The group whose participants in the same conference receive the request."""
    index: Annotated[int, Field(ge=0)] | None = None
    """Only the target group's participant with this index; default: each of them."""


class RequestSnapshotStep(_TargetedStep):
    """Request a snapshot of the target group's participants in the same conference; counted
    as unanswered after `timeout`."""

    do: Literal["request_snapshot"]
    snapshot_type: Annotated[str, Field(min_length=1)] = "CAM"
    timeout: Duration = 30.0
    """How long to wait for the snapshot before counting the request as unanswered."""


class ApproveStep(_Step):
    """Approve the snapshots this participant received (the `last` or `all`)."""

    do: Literal["approve"]
    snapshot: Literal["last", "all"] = "last"


class DiscardStep(_Step):
    """Discard them."""

    do: Literal["discard"]
    snapshot: Literal["last", "all"] = "last"


class CameraRequestStep(_TargetedStep):
    """Ask the target to switch camera or torch; waits for the processed answer."""

    do: Literal["camera_request"]
    request: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")] = "CAMERA_SWITCH"
    """CAMERA_SWITCH, FLASH_ON, FLASH_OFF (the platform accepts others)."""
    timeout: Duration = 30.0


class SendEventStep(_Step):
    """Send a custom event to the conference or to one group's participants."""

    do: Literal["send_event"]
    type: EventType
    """The event type, in the platform's form: capitalised, ending in Event."""
    to: GroupName | Literal["conference"] = "conference"
    data: dict[str, Any] = Field(default_factory=dict)
    qos: Literal["BEST_EFFORT", "AT_LEAST_ONCE"] = "BEST_EFFORT"


class FeedbackSpec(StrictModel):
    """One answered question of a rating (seed 000)."""

    question: str
    type: FeedbackType
    answer: str | None = None
    rating: int | None = None
    choice: str | None = None
    choices: list[str] | None = None

    @model_validator(mode="after")
    def _within_limits(self) -> Self:
        # The wire model knows each type's limits; one rule for the file and the wire.
        FeedbackItem.model_validate(self.model_dump(exclude_none=True))
        return self


class RateStep(_Step):
    """Rate the conference (seed 000 ratings): at least one of `rating` (1..5), `comment`,
    `feedback` (a list of `{question, type, answer/rating/choice/choices}`)."""

    do: Literal["rate"]
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    comment: str | None = None
    feedback: list[FeedbackSpec] | None = None

    @model_validator(mode="after")
    def _has_content(self) -> Self:
        if self.rating is None and not self.comment and not self.feedback:
            raise ValueError("a rate step needs at least one of rating, comment or feedback")
        return self


class CreateInteractionStep(_Step):
    """Create an interaction (seed 001)."""

    do: Literal["create_interaction"]
    interaction_id: str | None = None
    """A template; default: the platform chooses."""
    type: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class UpdateInteractionStep(_Step):
    """Update the interaction this participant created last, or `interaction_id`."""

    do: Literal["update_interaction"]
    interaction_id: str | None = None
    type: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


def _upper_case(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


class ComposeStep(_Step):
    """Request a composition of the conversation's recordings (seed 003): a VIDEO (MP4, the
    publishers in a GRID, the audio mixed) or an AUDIO (MP3) one. With `wait`, poll until it is
    done (it must end COMPLETED); with `download`, fetch it through its signed URL (no token)
    into the report directory (`compositions/`) and check that it decodes with the requested
    codecs, size and the recorded duration. With `check_tiles` (VIDEO), also read each
    publisher's timecode in its tile while it was published (the Recorder API's times, by the
    composer's rule: from publish or first frame, whichever came first, to unpublish or last
    frame, whichever came last): at least 80% of the frames read, the median delay within 1 s
    of capture, each frame within 0.6 s of that median (a live call: its publishers' loop may
    stall a few frames on a loaded machine), no tile frozen over 0.5 s, and the mixed audio
    within 0.1 s of the pictures. Frames within 0.2 s of a layout change are not judged, nor
    used to tell a tile's picture shape."""

    do: Literal["compose"]
    conversation: str | None = None
    """The conversation (a template); default: the interaction this participant created last,
    else its conference."""
    type: Annotated[Literal["VIDEO", "AUDIO"], BeforeValidator(_upper_case)] = "VIDEO"
    resolution: str = "320x240"
    priority: int = 1
    """Higher runs first."""
    name: str | None = None
    """A template; default: `<participant>-<type>`."""
    wait: bool = True
    timeout: Duration = 300.0
    """How long to wait for it (queued, waiting for the recording, rendering)."""
    download: bool = True
    inline: bool = False
    """Download through the inline (player) URL rather than the attachment one."""
    check_tiles: bool = False
    """VIDEO, downloaded: also read each publisher's timecode in its tile while its stream was
    published (as the Recorder API reports it), check that no tile freezes and that the mixed
    audio lines up with the pictures. Needs publishers with timecodes and tone marks (the
    synthetic sources)."""


class CancelCompositionStep(_Step):
    """Cancel the composition this participant requested last (it must be queued or running)."""

    do: Literal["cancel_composition"]


class ReexecuteCompositionStep(_Step):
    """Run the composition this participant requested last again (same id); with `wait`, until
    it is COMPLETED again."""

    do: Literal["reexecute_composition"]
    priority: int = 1
    wait: bool = True
    timeout: Duration = 300.0


class DeleteCompositionStep(_Step):
    """Delete the composition this participant requested last, and its file (SUPERVISOR)."""

    do: Literal["delete_composition"]


class StartRecordingStep(_Step):
    """Start the platform's recorder on this participant's conference (Recorder API, seed
    004), wait until it records, and with `indicator` set the conference's `RECORDER` metadata
    to `{"on":true}` as the platform's clients do (the recorder itself never sets it)."""

    do: Literal["start_recording"]
    conversation: str | None = None
    """The conversation the recording belongs to (a template); default: the interaction this
    participant created last, else the conference id."""
    audio: bool = True
    video: bool = True
    application: Annotated[str, Field(min_length=1)] = "auvious-agent"
    """The `applicationId` sent with the request."""
    indicator: bool = True
    timeout: Duration = 10.0
    """How long the recorder may take to become ACTIVE."""


class StopRecordingStep(_Step):
    """Stop the recorder this participant started (the platform answers once the files are
    complete), read back what it recorded for the `recordings_complete` condition, and with
    `indicator` set `RECORDER` to `{"on":false}`."""

    do: Literal["stop_recording"]
    indicator: bool = True
    timeout: Duration = 30.0


class ChatStep(_Step):
    """Add a chat line from this participant to the recording's transcript (the recorder
    this participant started, else the conversation's active one)."""

    do: Literal["chat"]
    text: Annotated[str, Field(min_length=1)]
    """The line (a template)."""
    display_name: str | None = None
    """Shown with the line (a template); default: the participant's name."""
    conversation: str | None = None
    """Whose active recording (a template); default as for `start_recording`."""


WaitCondition = Literal["everyone_joined", "receiving_every_publisher", "snapshot_acquired"]


class WaitForStep(_Step):
    """Wait for an event type heard `count` times since arrival, a step id (`group.step`: a
    participant of that group in the same call) or a condition: `everyone_joined`,
    `receiving_every_publisher` (at least one stream, and media from every publisher
    viewed), `snapshot_acquired`; exactly one of `event` and `condition`. A timeout is an
    error."""

    do: Literal["wait_for"]
    event: str | None = None
    """An event type, or a step id (`agents.joined`) as in `after`."""
    condition: WaitCondition | None = None
    count: Annotated[int, Field(ge=1)] = 1
    """How many such events to wait for."""
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _event_or_condition(self) -> Self:
        if (self.event is None) == (self.condition is None):
            raise ValueError("wait_for needs exactly one of `event` or `condition`")
        return self


class SleepStep(_Step):
    """Pause."""

    do: Literal["sleep"]
    duration: Duration


class ThinkStep(_Step):
    """Pause a random time between `min` and `max`, like a person would (`seed` makes it
    repeatable)."""

    do: Literal["think"]
    min: Duration
    max: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError("think needs min <= max")
        return self


class SayStep(_Step):
    """Say `text` (espeak-ng) on a `source: speech` stream: `stream` (its name), or the
    participant's first. Waits until it has been said unless `wait: false`."""

    do: Literal["say"]
    text: Annotated[str, Field(min_length=1)]
    stream: StepId | None = None
    wait: bool = True


class RepeatStep(_Step):
    """Run `steps` `count` times, or until `duration` has passed (whichever comes first);
    inside, `at` counts from the start of each round. A round in which every step failed
    stops the repeat."""

    do: Literal["repeat"]
    count: Annotated[int, Field(ge=1)] | None = None
    duration: Duration | None = None
    steps: Annotated[list[Step], Field(min_length=1)]

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.count is None and self.duration is None:
            raise ValueError("repeat needs a `count`, a `duration` or both")
        return self


Step = Annotated[
    RegisterStep
    | UnregisterStep
    | JoinStep
    | LeaveStep
    | PublishStep
    | UnpublishStep
    | ViewStep
    | StopViewStep
    | MuteStep
    | UnmuteStep
    | MetadataStep
    | BitrateStep
    | RequestSnapshotStep
    | ApproveStep
    | DiscardStep
    | CameraRequestStep
    | SendEventStep
    | RateStep
    | CreateInteractionStep
    | UpdateInteractionStep
    | ComposeStep
    | CancelCompositionStep
    | ReexecuteCompositionStep
    | DeleteCompositionStep
    | StartRecordingStep
    | StopRecordingStep
    | ChatStep
    | WaitForStep
    | SleepStep
    | ThinkStep
    | SayStep
    | RepeatStep,
    Field(discriminator="do"),
]
"""One timeline step; `do` says which."""

RepeatStep.model_rebuild()


# --- participants, load, expectations ------------------------------------------------


class TranscribeSpec(StrictModel):
    """Transcribe the audio of every stream the participant views: time-stamped segments in
    `transcripts/` next to the report (JSON and WebVTT), `word_error_rate` against what
    speaking participants said, `transcript_latency`, `response_latency`. Decodes audio."""

    engine: Literal["pocketsphinx", "vosk", "faster-whisper", "whisper.cpp"] = "pocketsphinx"
    """pocketsphinx: its US English model ships in the package. The others need `model`."""
    model: str | None = None
    """A local model (directory, or ggml file for whisper.cpp), relative to the scenario
    file; nothing is downloaded."""
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    """Worker processes for this participant's transcription."""
    queue_limit: Annotated[int, Field(ge=1, le=1000)] = 4
    """Utterances of one stream waiting for a worker; beyond, the oldest is dropped."""


class ParticipantGroup(StrictModel):
    """`count` participants alike: each gets `${index}` 0..count-1 in its templates."""

    name: GroupName
    kind: Literal["agent", "browser"] = "agent"
    """agent: this tool's own participant (aiortc); browser: headless Chromium on the
    platform's client page, publishing MIC_AND_CAM from its fake devices and viewing all."""
    codec: Literal["VP8", "H264"] | None = None
    """Browser groups only: the video codec the browser offers (agents set it per stream)."""
    count: Annotated[int, Field(ge=1, le=100_000)] = 1
    """Participants of this group per arrival (one arrival without `phases`)."""
    role: Literal["agent", "customer"] = "agent"
    """agent: logs in with client credentials; customer: with a ticket."""
    credentials: Credentials | None = None
    """Agents only; default: the server's credentials (CLI, environment or embedded)."""
    ticket: str | None = None
    """Customers only, a template (e.g. `${row.ticket}`); default: a ticket created for the
    participant's conference."""
    display_name: str | None = None
    """A template, e.g. `${group} ${index}`."""
    conference: Annotated[str, Field(min_length=1)] = "main"
    """A template naming the conference: participants whose names render alike share one."""
    data: DataSource | None = None
    """Rows for `${row.col}`; default: the scenario's `data`."""
    start: Duration = 0.0
    """Delay of this group's first participant after its arrival."""
    stagger: Duration = 0.0
    """Delay between consecutive participants of this group."""
    publish: list[StreamSpec] = Field(default_factory=list)
    view: ViewTargets = "all"
    """Whose streams to view on joining: all, none or a list of group names."""
    receive: ReceiveSpec = ReceiveSpec()
    network: NetworkSetting | None = None
    """This group's links: a preset's name, a profile and schedule, or a list by `index`
    (`agent.scenario.network`); default: the host's own network, unimpaired."""
    record: Record = None
    snapshot: Policy = ResponsePolicy()
    camera: Policy = ResponsePolicy()
    transcribe: TranscribeSpec | None = None
    timeline: list[Step] | None = None
    """Default: register, join, publish, view as set above, stay until the run ends, leave."""

    @model_validator(mode="after")
    def _login_fits_role(self) -> Self:
        if self.role == "customer" and self.credentials is not None:
            raise ValueError("customers log in with a `ticket`, not `credentials`")
        if self.role == "agent" and self.ticket is not None:
            raise ValueError("agents log in with `credentials`, not a `ticket`")
        if self.kind == "browser" and self.transcribe is not None:
            raise ValueError("`transcribe` is for agent participants, not browsers")
        return self

    @property
    def joins(self) -> bool:
        """Whether its participants should join: the default timeline does, else one with a
        `join` step (in a `repeat` too); one that did not was stopped by the run's end."""
        return self.timeline is None or _has_join(self.timeline)


def _has_join(steps: Sequence[object]) -> bool:
    return any(
        isinstance(step, JoinStep) or (isinstance(step, RepeatStep) and _has_join(step.steps))
        for step in steps
    )


class Phase(StrictModel):
    """A stretch of load: arrivals per second, optionally ramping, with a ceiling.

    Each arrival brings one set of every participant group (its `count` each), so a
    two-group scenario with `conference: room-${arrival}` makes one new call per arrival."""

    name: str | None = None
    duration: Duration
    arrival_rate: Annotated[float, Field(ge=0)] | None = None
    """Arrivals per second at the start of the phase."""
    ramp_to: Annotated[float, Field(ge=0)] | None = None
    """Arrivals per second at the end of the phase, ramping linearly from `arrival_rate`."""
    arrival_count: Annotated[int, Field(ge=0)] | None = None
    """Arrivals spread evenly over the phase, instead of a rate."""
    max_concurrent: Annotated[int, Field(ge=1)] | None = None
    """Participants present at once; arrivals beyond it are skipped and counted."""

    @model_validator(mode="after")
    def _one_rate(self) -> Self:
        if self.arrival_rate is not None and self.arrival_count is not None:
            raise ValueError("give either arrival_rate or arrival_count, not both")
        if self.ramp_to is not None and self.arrival_rate is None:
            raise ValueError("ramp_to ramps from arrival_rate, which is missing")
        return self


T = TypeVar("T")


class Scope(StrictModel):
    """Which values of a metric a threshold is about: those of some groups, stream types,
    phases, or a time window of the run (all given must hold)."""

    group: str | list[str] | None = None
    """Participant groups whose values count (a viewed stream's viewer, a join's joiner)."""
    stream: StreamType | list[StreamType] | None = None
    """Stream types (`MIC`, `CAM`, `SCREEN`, `MIC_AND_CAM`) whose values count."""
    phase: str | list[str] | None = None
    """Phases (by name) within which a value was measured."""
    window: tuple[Duration, Duration] | None = None
    """[from, to]: seconds since the run started within which a value was measured."""

    @field_validator("window")
    @classmethod
    def _window_in_order(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and value[1] <= value[0]:
            raise ValueError(
                f"the window [{value[0]:g}s, {value[1]:g}s] ends before it starts: "
                "give [from, to] in seconds since the run's start"
            )
        return value

    def text(self) -> str:
        parts = [
            f"{name}={value if isinstance(value, str) else ','.join(map(str, value))}"
            for name, value in (
                ("group", self.group),
                ("stream", self.stream),
                ("phase", self.phase),
                ("window", None if self.window is None else [f"{t:g}s" for t in self.window]),
            )
            if value is not None
        ]
        return "[" + " ".join(parts) + "]"


class Thresholds(StrictModel, Generic[T]):
    """Thresholds on one metric, per aggregate, e.g. `{p95: "< 1s", max: "< 3s"}`; a list
    of them sets thresholds on several `scope`s of one metric."""

    scope: Scope | None = None
    """Only the values in this scope count; default: every value of the run."""

    min: T | None = None
    max: T | None = None
    mean: T | None = None
    p50: T | None = None
    p90: T | None = None
    p95: T | None = None
    p99: T | None = None
    total: T | None = None
    count: CountThreshold | None = None
    """How many values were measured."""
    overall: T | None = None
    """The pooled figure: total for counts, lost over all packets for ratios, else mean."""

    def items(self) -> list[tuple[str, Any]]:
        """(aggregate, threshold) pairs that are set, in declaration order."""
        return [
            (name, getattr(self, name))
            for name in type(self).model_fields
            if name != "scope" and getattr(self, name) is not None
        ]


class TimeThresholds(Thresholds[TimeThreshold]):
    """Thresholds in time: "< 1s", "<= 200ms"."""


class RateThresholds(Thresholds[RateThreshold]):
    """Thresholds on a rate: "> 20"."""


class RatioThresholds(Thresholds[RatioThreshold]):
    """Thresholds on a fraction: "< 1%" or "< 0.01"."""


class CountThresholds(Thresholds[CountThreshold]):
    """Thresholds on a count: "== 0"."""


class BitrateThresholds(Thresholds[BitrateThreshold]):
    """Thresholds on a bitrate: "> 300k"."""


class LevelThresholds(Thresholds[LevelThreshold]):
    """Thresholds on a sound level: "> -40dBFS"."""


class ScoreThresholds(Thresholds[ScoreThreshold]):
    """Thresholds on a quality score (PSNR dB, MOS): "> 30"."""


ExpectCondition = Literal[
    "every_viewer_received_every_publisher",
    "every_participant_joined",
    "every_snapshot_answered",
    "compositions_completed",
    "composition_media_valid",
    "recordings_complete",
    "no_errors",
]


def _describe_metrics(schema: dict[str, Any]) -> None:
    """Metric descriptions in the schema come from the one registry of metrics."""
    properties = schema.get("properties", {})
    for name, metric in METRICS.items():
        if name in properties:
            properties[name]["description"] = f"{metric.description} ({metric.quantity})"


class ExpectSpec(StrictModel):
    """What must hold for the run to pass; each threshold and condition is one test case."""

    model_config = ConfigDict(json_schema_extra=_describe_metrics)

    warmup: Duration = 0.0
    """Measurements of a stream within this long after its start are not counted."""
    tolerance: dict[str, str] = Field(default_factory=dict)
    """Per metric, how much worse `auvious-agent compare` lets it get against a baseline:
    "20%" of the baseline, or an amount in the metric's unit ("50ms")."""
    coverage: Annotated[float, Field(ge=0, le=1)] = 1.0
    """The share (a fraction, 0..1) of the streams that should have a value of a per-stream
    metric (`packet_loss`: every viewed stream that received anything) a threshold on it must
    cover; below it, the threshold fails and names the streams without a value."""
    conditions: list[ExpectCondition] = Field(default_factory=list)
    join_time: TimeThresholds | list[TimeThresholds] | None = None
    publish_time: TimeThresholds | list[TimeThresholds] | None = None
    view_time: TimeThresholds | list[TimeThresholds] | None = None
    first_frame_time: TimeThresholds | list[TimeThresholds] | None = None
    video_fps: RateThresholds | list[RateThresholds] | None = None
    delay: TimeThresholds | list[TimeThresholds] | None = None
    video_psnr: ScoreThresholds | list[ScoreThresholds] | None = None
    video_ssim: RatioThresholds | list[RatioThresholds] | None = None
    audio_mos: ScoreThresholds | list[ScoreThresholds] | None = None
    audio_concealed: RatioThresholds | list[RatioThresholds] | None = None
    bitrate: BitrateThresholds | list[BitrateThresholds] | None = None
    bitrate_sent: BitrateThresholds | list[BitrateThresholds] | None = None
    jitter: TimeThresholds | list[TimeThresholds] | None = None
    audio_level: LevelThresholds | list[LevelThresholds] | None = None
    av_sync: TimeThresholds | list[TimeThresholds] | None = None
    freeze_count: CountThresholds | list[CountThresholds] | None = None
    freeze_total: TimeThresholds | list[TimeThresholds] | None = None
    packet_loss: RatioThresholds | list[RatioThresholds] | None = None
    packets_lost: CountThresholds | list[CountThresholds] | None = None
    snapshot_round_trip: TimeThresholds | list[TimeThresholds] | None = None
    camera_round_trip: TimeThresholds | list[TimeThresholds] | None = None
    recording_start_time: TimeThresholds | list[TimeThresholds] | None = None

    composition_time: TimeThresholds | list[TimeThresholds] | None = None
    composition_queue_time: TimeThresholds | list[TimeThresholds] | None = None
    media_gap: TimeThresholds | list[TimeThresholds] | None = None
    word_error_rate: RatioThresholds | list[RatioThresholds] | None = None
    transcript_latency: TimeThresholds | list[TimeThresholds] | None = None
    response_latency: TimeThresholds | list[TimeThresholds] | None = None
    error_count: CountThresholds | list[CountThresholds] | None = None
    error_rate: RatioThresholds | list[RatioThresholds] | None = None
    memory_slope: CountThresholds | list[CountThresholds] | None = None
    fds_growth: CountThresholds | list[CountThresholds] | None = None
    threads_growth: CountThresholds | list[CountThresholds] | None = None
    tasks_growth: CountThresholds | list[CountThresholds] | None = None
    peer_connections_growth: CountThresholds | list[CountThresholds] | None = None

    @field_validator("tolerance")
    @classmethod
    def _tolerances_parse(cls, value: dict[str, str]) -> dict[str, str]:
        for metric, text in value.items():
            parse_tolerance(metric, text)
        return value

    def thresholds(self) -> list[tuple[str, Thresholds[Any]]]:
        """(metric, thresholds) for each metric the file sets, each scope on its own."""
        found: list[tuple[str, Thresholds[Any]]] = []
        for name in METRICS:
            value = getattr(self, name)
            for one in value if isinstance(value, list) else [value]:
                if isinstance(one, Thresholds):
                    found.append((name, one))
        return found


_metric_fields = set(ExpectSpec.model_fields) - {"warmup", "coverage", "tolerance", "conditions"}
if _metric_fields != set(METRICS):  # pragma: no cover - a programming error, caught at import
    raise RuntimeError(f"expect fields and METRICS differ: {_metric_fields ^ set(METRICS)}")


EXTENSION_PREFIX = "x-"


def _allow_extension_keys(schema: dict[str, Any]) -> None:
    schema["patternProperties"] = {f"^{EXTENSION_PREFIX}": {}}


class Scenario(StrictModel):
    """A scenario file: who takes part, what each does when, what load, and what must hold."""

    model_config = ConfigDict(json_schema_extra=_allow_extension_keys)

    name: Annotated[str, Field(min_length=1)]
    description: str | None = None
    server: ServerSpec | None = None
    """Omit to run against the embedded local platform."""
    duration: Duration | None = None
    """How long the run lasts without `phases`; default: until every timeline is done."""
    timeout: Annotated[Duration, Field(gt=0)] = 600.0
    """Without `duration` or `phases`, the run fails (and everyone leaves) if its timelines
    are not all done after this long: an `after` that never fires must not run forever.
    Not scaled by --time-scale."""
    seed: int | None = None
    """Seed for random choices (think times, random data rows), for repeatable runs."""
    vars: dict[Annotated[str, Field(pattern=NAME_PATTERN)], str | int | float | bool] = Field(
        default_factory=dict
    )
    """Values for `${vars.name}` templates."""
    data: DataSource | None = None
    """Default CSV rows for every group's `${row.col}` templates."""
    participants: Annotated[list[ParticipantGroup], Field(min_length=1)]
    phases: list[Phase] = Field(default_factory=list)
    """Load phases one after another; without them there is one arrival at the start."""
    expect: ExpectSpec | None = None

    _path: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _drop_extension_keys(cls, data: Any) -> Any:
        """Top-level keys starting with `x-` are ignored: a place to keep YAML anchors."""
        if isinstance(data, Mapping):
            return {
                key: value
                for key, value in data.items()
                if not (isinstance(key, str) and key.startswith(EXTENSION_PREFIX))
            }
        return data

    @property
    def path(self) -> str | None:
        """The file this scenario was loaded from; relative paths in it are relative to it."""
        return self._path

    def group(self, name: str) -> ParticipantGroup | None:
        return next((group for group in self.participants if group.name == name), None)

    def receive(self, group: ParticipantGroup) -> ReceiveSpec:
        """What `group` decodes: its `receive`; left out, light, or what the expectations
        need: sampled video for a `delay` or `av_sync` (one keyframe decoded per second
        measures it for a fraction of full decoding), decoded audio for an `audio_level`,
        `av_sync`, `audio_mos` or `audio_concealed` (Opus decoding is cheap beside video's)."""
        expect = self.expect
        if "receive" in group.model_fields_set or expect is None:
            return group.receive
        update: dict[str, str] = {}
        if expect.delay is not None or expect.av_sync is not None:
            update["video"] = "sampled"
        audio_needs = (expect.audio_level, expect.av_sync, expect.audio_mos, expect.audio_concealed)
        if any(need is not None for need in audio_needs):
            update["audio"] = "decode"
        return group.receive.model_copy(update=update) if update else group.receive


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file, for editors (yaml-language-server) and tools."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "auvious-agent scenario"
    return schema


def dump_json_schema() -> str:
    return json.dumps(scenario_json_schema(), indent=2, sort_keys=False)
