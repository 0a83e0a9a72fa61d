"""A group's `network:` as a scenario writes it, and the participant's shaper made from it.

    network: 3g                       # a preset (agent.network.PRESETS)
    network:
      profile: {preset: 4g, down: {loss: 3%}}   # a preset with one direction changed
      schedule:
        - {at: 30s, profile: lossy-wifi}
        - {at: 60s, outage: 5s}
    network:                          # per index: the first entry whose `index` matches
      - {index: [0, 1], profile: satellite}
      - {profile: ideal}

Flat impairment keys (`delay`, `loss`, ...) apply to both directions; `up` (what the
participant sends) and `down` (what it receives) override them per direction. Times in the
schedule count from the run's start and follow `--time-scale`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)

from agent.network import (
    OUTAGE,
    PRESETS,
    Bursts,
    Impairment,
    NetworkProfile,
    ProfileChange,
    preset,
)
from agent.scenario.units import Bitrate, Duration

if TYPE_CHECKING:
    from agent.network.shaper import NetworkShaper

__all__ = ["NetworkSetting", "NetworkSpec", "network_for", "shaper_for"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _percent(value: Any) -> Any:
    """`3%` or 0.03."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage") from None
    return value


_PERCENT_SCHEMA = {
    "anyOf": [
        {"type": "number", "minimum": 0, "maximum": 1},
        {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
    ]
}
Probability = Annotated[
    float, BeforeValidator(_percent), Field(ge=0, le=1), WithJsonSchema(_PERCENT_SCHEMA)
]
"""A probability: 0.03 or "3%"."""


class BurstsSpec(_Strict):
    """Gilbert-Elliott loss: `p` good->bad, `r` bad->good per packet (bursts of 1/r)."""

    p: Probability
    r: Annotated[
        float, BeforeValidator(_percent), Field(gt=0, le=1), WithJsonSchema(_PERCENT_SCHEMA)
    ]
    loss_bad: Probability = 1.0
    loss_good: Probability = 0.0


class ImpairmentSpec(_Strict):
    """One direction: see `agent.network.Impairment`."""

    delay: Duration | None = None
    jitter: Duration | None = None
    reorder: bool | None = None
    loss: Probability | None = None
    bursts: BurstsSpec | None = None
    rate: Bitrate | None = None
    queue: Duration | None = None

    def over(self, base: Impairment) -> Impairment:
        """`base` with the keys this spec sets."""
        values: dict[str, Any] = {
            name: getattr(base, name)
            for name in ("delay", "jitter", "reorder", "loss", "bursts", "rate", "queue")
        }
        for name in ImpairmentSpec.model_fields:
            if name in self.model_fields_set:
                value = getattr(self, name)
                if name == "bursts" and value is not None:
                    value = Bursts(value.p, value.r, value.loss_bad, value.loss_good)
                values[name] = value
        return Impairment(**values)


def _known_preset(name: str) -> str:
    preset(name)  # ValueError naming the known presets
    return name


PresetName = Annotated[str, AfterValidator(_known_preset)]


class ProfileSpec(ImpairmentSpec):
    """A profile: an optional `preset`, flat keys for both directions, then `up`/`down`."""

    preset: PresetName | None = None
    name: str | None = None
    up: ImpairmentSpec | None = None
    down: ImpairmentSpec | None = None

    def profile(self) -> NetworkProfile:
        base = preset(self.preset) if self.preset else PRESETS["ideal"]
        up, down = self.over(base.up), self.over(base.down)
        if self.up is not None:
            up = self.up.over(up)
        if self.down is not None:
            down = self.down.over(down)
        changed = (up, down) != (base.up, base.down)
        default = "custom" if not self.preset else f"{self.preset}*" if changed else self.preset
        return NetworkProfile(self.name or default, up, down)


Profile = PresetName | ProfileSpec


def _profile(spec: Profile) -> NetworkProfile:
    return preset(spec) if isinstance(spec, str) else spec.profile()


class ChangeSpec(_Strict):
    """At `at` the link becomes `profile` (for `duration` if given), or goes down for
    `outage`."""

    at: Duration
    profile: Profile | None = None
    duration: Duration | None = None
    outage: Duration | None = None

    @model_validator(mode="after")
    def _one_change(self) -> Self:
        if (self.profile is None) == (self.outage is None):
            raise ValueError("a schedule entry has either `profile` or `outage`")
        if self.outage is not None and self.duration is not None:
            raise ValueError("an `outage` is its own duration: drop `duration`")
        return self

    def change(self, scale: float) -> ProfileChange:
        if self.outage is not None:
            return ProfileChange(self.at * scale, OUTAGE, self.outage * scale)
        assert self.profile is not None
        duration = None if self.duration is None else self.duration * scale
        return ProfileChange(self.at * scale, _profile(self.profile), duration)


class NetworkSpec(_Strict):
    """One participant's link; `index` limits it to those participants of the group."""

    index: int | list[Annotated[int, Field(ge=0)]] | None = None
    profile: Profile = "ideal"
    schedule: list[ChangeSpec] = Field(default_factory=list)
    seed: int | None = None
    """Seeds the random loss and jitter (default: the participant's index, so runs repeat)."""

    def applies_to(self, index: int) -> bool:
        if self.index is None:
            return True
        return index in (self.index if isinstance(self.index, list) else [self.index])


NetworkSetting = PresetName | NetworkSpec | list[PresetName | NetworkSpec]
"""A group's `network:`: one spec (or a preset's name) for all, or a list chosen by index."""


def network_for(setting: NetworkSetting | None, index: int) -> NetworkSpec | None:
    """The spec that applies to participant `index` of its group (None: no shaping)."""
    if setting is None:
        return None
    specs = setting if isinstance(setting, list) else [setting]
    for spec in specs:
        if isinstance(spec, str):
            return NetworkSpec(profile=spec)  # a preset's name: everyone left
        if spec.applies_to(index):
            return spec
    return None


def shaper_for(
    setting: NetworkSetting | None, index: int, *, scale: float = 1.0
) -> NetworkShaper | None:
    """The participant's shaper (schedule times scaled by `scale`); None when its link is
    the host's own (no spec, or an ideal profile and no schedule)."""
    spec = network_for(setting, index)
    if spec is None:
        return None
    profile = _profile(spec.profile)
    if profile.ideal and not spec.schedule:
        return None
    changes = [change.change(scale) for change in spec.schedule]
    from agent.network.shaper import NetworkShaper  # the call stack, only when shaping

    return NetworkShaper(profile, changes, seed=index if spec.seed is None else spec.seed + index)
