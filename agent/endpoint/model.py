"""What an endpoint file may say (`auvious-agent endpoint FILE`), as strict pydantic models.

Read with the scenario files' loader, so a mistake is named by file, line, column and field.
Secrets are never written in the file: the client secret and the ticket come from
environment variables the file names."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from agent.scenario.model import (
    NAME_PATTERN,
    EnvName,
    Policy,
    RejectedSecret,
    ResponsePolicy,
    ServerSpec,
    StreamKinds,
    StreamType,
    StrictModel,
)
from agent.scenario.units import Bitrate, Duration

__all__ = ["DeviceSpec", "EndpointSpec", "InvitationSpec", "PublishSpec"]

OptionValue = str | int | float


class DeviceSpec(StrictModel):
    """A capture device PyAV (FFmpeg) opens: `format` is the input device (v4l2, alsa, pulse,
    avfoundation, dshow, lavfi), `device` its name (/dev/video0, default, "0", a lavfi graph),
    `options` the device's own options (video_size: 1280x720, framerate: 30, ...)."""

    device: Annotated[str, Field(min_length=1)]
    format: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    options: dict[str, OptionValue] = Field(default_factory=dict)

    @field_validator("format")
    @classmethod
    def _available(cls, value: str) -> str:
        """An input this machine's FFmpeg lacks fails here, not weeks later at a reopen."""
        import av  # only when a device is named: checking a file stays light otherwise

        names = {alias for entry in av.formats_available for alias in entry.split(",")}
        if value not in names:
            devices = ("alsa", "avfoundation", "dshow", "lavfi", "oss", "pulse", "v4l2")
            here = sorted(name for name in names if name in devices)
            raise ValueError(
                f"input format {value!r} is not in this PyAV's FFmpeg; here: {', '.join(here)}"
            )
        return value


VideoSource = Literal["synthetic", "black"] | DeviceSpec
"""`synthetic`: the timecoded test pattern; `black`; or a capture device."""
AudioSource = Literal["synthetic", "silence"] | DeviceSpec
"""`synthetic`: a tone with timing marks; `silence`; or a capture device."""


class PublishSpec(StreamKinds):
    """The one stream the endpoint publishes while in a conference."""

    type: StreamType = StreamType.MIC_AND_CAM
    camera: VideoSource = "synthetic"
    second_camera: VideoSource | None = None
    """The camera a CAMERA_SWITCH request switches to (and back); none: the request is
    answered as failed."""
    microphone: AudioSource = "synthetic"
    resolution: Annotated[str, Field(pattern=r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")] = "640x360"
    """The size sent (device pictures are scaled to it)."""
    fps: Annotated[float, Field(gt=0, le=60)] = 30.0
    bitrate: Bitrate | None = None
    metadata: dict[str, Any] | None = None

    @property
    def size(self) -> tuple[int, int]:
        width, height = self.resolution.split("x")
        return int(width), int(height)

    @model_validator(mode="after")
    def _even_size(self) -> Self:
        width, height = self.size
        if width % 2 or height % 2:
            raise ValueError(f"resolution {self.resolution}: width and height must be even")
        return self


class InvitationSpec(StrictModel):
    """Which invitations (`EndpointInvitationEvent`, docs/endpoint.md) the endpoint follows."""

    accept: bool = True
    from_users: list[Annotated[str, Field(min_length=1)]] | None = None
    """User ids whose invitations count (their `sentBy.userId`); none: any user the platform
    lets reach this endpoint (its own organization)."""


class EndpointSpec(StrictModel):
    """One long-lived endpoint: how it logs in, what it publishes, how it answers requests."""

    name: Annotated[str, Field(pattern=NAME_PATTERN, max_length=64)]
    """How logs, metrics and records name it."""
    server: ServerSpec
    """The platform and, for login by client credentials, the client (`client_id` or
    `client_id_env`, `client_secret_env`)."""
    ticket_env: EnvName | None = None
    """Log in as a customer with the ticket in this environment variable instead; the
    endpoint then joins the ticket's conference."""
    ticket: RejectedSecret = Field(default=None, exclude=True)
    display_name: str | None = None
    """Sent as participant metadata (`name`) when joining, for the others to show."""
    conference: Annotated[str, Field(min_length=1)] | None = None
    """A conference id to join at start (and rejoin after a resume); none: wait for an
    invitation (or the ticket's conference)."""
    keep_alive: Duration = 30.0
    """The registration's keepalive period (seconds, or 30s, 2m)."""
    publish: PublishSpec | None = PublishSpec()
    """None (`publish: null`): publish nothing, only view."""
    view: Literal["all", "none"] = "all"
    """View the others' streams (counted, not decoded) or none."""
    torch: Literal["simulate", "refuse"] = "simulate"
    """FLASH_ON/FLASH_OFF: `simulate` brightens the picture sent (and marks it), `refuse`
    answers them as failed (this endpoint has no torch)."""
    snapshot: Policy = ResponsePolicy()
    """How snapshot requests are answered: answer, ignore, fail, or {delay: 2s}."""
    camera_requests: Policy = ResponsePolicy()
    """How camera requests (CAMERA_SWITCH, FLASH_ON, FLASH_OFF) are answered."""
    invitations: InvitationSpec = InvitationSpec()
    give_up_after: Duration | None = None
    """Stop trying to come back after this long (exit code 3); none: keep trying for ever."""

    @model_validator(mode="after")
    def _one_login(self) -> Self:
        if self.ticket_env is not None and (
            self.server.client_id is not None or self.server.client_id_env is not None
        ):
            raise ValueError("log in with a ticket (`ticket_env`) or a client, not both")
        if self.ticket_env is not None and self.conference is not None:
            raise ValueError("a ticket names its conference: leave out `conference`")
        if self.keep_alive < 1:
            raise ValueError("keep_alive must be at least 1 second")
        return self
