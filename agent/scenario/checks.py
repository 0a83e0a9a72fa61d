"""Checks that need the whole scenario: names referred to exist, templates resolve, files
exist. Each problem carries the field path (as pydantic's `loc`) so the loader can point at
the line and column."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from agent.api.models.events import EVENT_TYPES
from agent.scenario.data import DataError, load_rows
from agent.scenario.metrics import METRICS
from agent.scenario.model import (
    SOURCE_KEYWORDS,
    VIDEO_CODECS,
    CameraRequestStep,
    DataSource,
    MetadataStep,
    ParticipantGroup,
    ReceiveSpec,
    RepeatStep,
    RequestSnapshotStep,
    SayStep,
    Scenario,
    SendEventStep,
    Step,
    StopViewStep,
    ViewStep,
    WaitForStep,
)
from agent.scenario.plan import planned_duration
from agent.scenario.templating import check_template

__all__ = ["Loc", "Problem", "check_scenario"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _unknown(kind: str, word: str, choices: Sequence[str]) -> str:
    listed = ", ".join(choices) if choices else "none"
    return f"no {kind} named {word!r} (there are: {listed}){_suggest(word, choices)}"


def _walk_steps(steps: Sequence[Step], loc: Loc) -> Iterator[tuple[Step, Loc]]:
    for number, step in enumerate(steps):
        here = (*loc, number)
        yield step, here
        if isinstance(step, RepeatStep):
            yield from _walk_steps(step.steps, (*here, "steps"))


def _group_steps(scenario: Scenario) -> Iterator[tuple[ParticipantGroup, Step, Loc]]:
    for number, group in enumerate(scenario.participants):
        if group.timeline:
            for step, loc in _walk_steps(group.timeline, ("participants", number, "timeline")):
                yield group, step, loc


class _Checker:
    def __init__(self, scenario: Scenario, base: Path) -> None:
        self.scenario = scenario
        self.base = base
        self.problems: list[Problem] = []
        self.groups = [group.name for group in scenario.participants]
        self.events = set(EVENT_TYPES) | {
            step.type for _, step, _ in _group_steps(scenario) if isinstance(step, SendEventStep)
        }
        self.seen_ids: set[tuple[str, str]] = set()
        self.step_ids = {
            (group.name, step.id) for group, step, _ in _group_steps(scenario) if step.id
        }

    def add(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(loc, message))

    def run(self) -> list[Problem]:
        seen: dict[str, int] = {}
        for number, group in enumerate(self.scenario.participants):
            loc: Loc = ("participants", number)
            if group.name in seen:
                self.add((*loc, "name"), f"a second participant group named {group.name!r}")
            seen.setdefault(group.name, number)
            self._group(group, loc)
        for group, step, loc in _group_steps(self.scenario):
            self._step(group, step, loc)
        self._templates()
        self._runs_out()
        self._beyond_end()
        self._measurable()
        self._scopes()
        from agent.scenario.checks_browser import browser_problems  # it builds on this module

        self.problems.extend(browser_problems(self.scenario))
        return self.problems

    def _group_ref(self, loc: Loc, name: str) -> None:
        if name not in self.groups:
            self.add(loc, _unknown("participant group", name, self.groups))

    def _group(self, group: ParticipantGroup, loc: Loc) -> None:
        streams: set[str] = set()
        for number, stream in enumerate(group.publish):
            here = (*loc, "publish", number)
            if stream.key in streams:
                field = "name" if stream.name else "type"
                self.add(
                    (*here, field),
                    f"a second stream named {stream.key!r} in this group; give each a `name`",
                )
            streams.add(stream.key)
            text_file = stream.speech.file if stream.speech is not None else None
            if text_file is not None and not (self.base / text_file).is_file():
                self.add(
                    (*here, "speech", "file"),
                    f"no text file {text_file!r} (looked in {self.base})",
                )
            if stream.is_file and not (self.base / stream.source).is_file():
                self.add(
                    (*here, "source"),
                    f"no media file {stream.source!r} (looked in {self.base}); a source is "
                    f"{', '.join(SOURCE_KEYWORDS)}, an image or a media file"
                    + _suggest(stream.source, SOURCE_KEYWORDS),
                )
        video_codecs = [
            (number, stream.codec)
            for number, stream in enumerate(group.publish)
            if stream.codec in VIDEO_CODECS
        ]
        for number, codec in video_codecs[1:]:
            if codec != video_codecs[0][1]:
                self.add(
                    (*loc, "publish", number, "codec"),
                    f"a participant offers one video codec; this group's first is "
                    f"{video_codecs[0][1]}, not {codec}",
                )
        if isinstance(group.view, list):
            for number, name in enumerate(group.view):
                self._group_ref((*loc, "view", number), name)
        transcribe = group.transcribe
        if transcribe is not None and transcribe.engine != "pocketsphinx":
            if transcribe.model is None:
                self.add(
                    (*loc, "transcribe", "model"),
                    f"{transcribe.engine} needs `model`: a local model path (nothing is "
                    "downloaded); pocketsphinx needs none",
                )
            elif not (self.base / transcribe.model).exists():
                self.add(
                    (*loc, "transcribe", "model"),
                    f"no model {transcribe.model!r} (looked in {self.base})",
                )

    def _streams_of(self, group: ParticipantGroup) -> list[str]:
        return [stream.key for stream in group.publish]

    def _step(self, group: ParticipantGroup, step: Step, loc: Loc) -> None:
        if step.id:
            if (group.name, step.id) in self.seen_ids:
                self.add((*loc, "id"), f"step id {step.id!r} is used twice in group {group.name!r}")
            self.seen_ids.add((group.name, step.id))
        streams = getattr(step, "streams", None)
        if streams:
            for number, name in enumerate(streams):
                if name not in self._streams_of(group):
                    self.add(
                        (*loc, "streams", number),
                        _unknown("stream of this group", name, self._streams_of(group)),
                    )
        if (
            isinstance(step, MetadataStep)
            and step.stream is not None
            and step.stream not in self._streams_of(group)
        ):
            self.add(
                (*loc, "stream"),
                _unknown("stream of this group", step.stream, self._streams_of(group)),
            )
        if isinstance(step, SayStep):
            speaking = [stream.key for stream in group.publish if stream.source == "speech"]
            if not speaking:
                self.add(
                    (*loc, "do"),
                    f"group {group.name!r} publishes no `source: speech` stream to say this on",
                )
            elif step.stream is not None and step.stream not in speaking:
                self.add(
                    (*loc, "stream"),
                    _unknown("speech stream of this group", step.stream, speaking),
                )
        if isinstance(step, ViewStep | StopViewStep) and isinstance(step.of, list):
            for number, name in enumerate(step.of):
                self._group_ref((*loc, "of", number), name)
        if isinstance(step, RequestSnapshotStep | CameraRequestStep):
            self._target(step, loc)
        if isinstance(step, SendEventStep) and step.to != "conference":
            self._group_ref((*loc, "to"), step.to)
        if step.after is not None:
            self._trigger((*loc, "after"), group, step.after)
        if isinstance(step, WaitForStep) and step.event is not None:
            self._trigger((*loc, "event"), group, step.event)

    def _target(self, step: RequestSnapshotStep | CameraRequestStep, loc: Loc) -> None:
        target = self.scenario.group(step.target)
        if target is None:
            self._group_ref((*loc, "target"), step.target)
        elif target.kind == "browser":
            self.add(
                (*loc, "target"),
                f"group {target.name!r} is a browser: it answers no snapshot or camera request",
            )
        elif step.index is not None and step.index >= target.count:
            self.add(
                (*loc, "index"),
                f"group {target.name!r} has {target.count} participant(s); "
                f"index {step.index} does not exist",
            )
        elif not any(stream.has_video for stream in target.publish):
            self.add(
                (*loc, "target"),
                f"group {target.name!r} publishes no video to take a snapshot of or "
                "switch the camera of",
            )

    def _trigger(self, loc: Loc, group: ParticipantGroup, name: str) -> None:
        """`after`/`wait_for` name an event type, a step id here, or `group.step`."""
        if name in self.events or (group.name, name) in self.step_ids:
            return
        owner, dot, step_id = name.partition(".")
        if dot:
            if owner not in self.groups:
                self._group_ref(loc, owner)
            elif (owner, step_id) not in self.step_ids:
                ids = sorted(i for g, i in self.step_ids if g == owner)
                self.add(loc, _unknown(f"step of group {owner!r}", step_id, ids))
            return
        own = sorted(i for g, i in self.step_ids if g == group.name)
        choices = sorted(self.events) + own
        self.add(
            loc,
            f"{name!r} is neither an event type nor a step id of group {group.name!r} "
            f"(use `group.step` for another group's step){_suggest(name, choices)}",
        )

    def _columns(self, source: DataSource | None, loc: Loc) -> list[str] | None:
        if source is None:
            return None
        try:
            return list(load_rows(self.base / source.file)[0])
        except DataError as error:
            self.add((*loc, "file"), str(error))
            return []

    def _templates(self) -> None:
        variables = set(self.scenario.vars)
        default = self._columns(self.scenario.data, ("data",))
        for number, group in enumerate(self.scenario.participants):
            loc: Loc = ("participants", number)
            columns = (
                self._columns(group.data, (*loc, "data")) if group.data is not None else default
            )
            if columns == []:
                continue  # the data file itself is the problem, reported above
            for where, text in _strings(group.model_dump(exclude={"data"}), loc):
                for message in check_template(text, variables=variables, columns=columns):
                    self.add(where, message)
        for field in ("name", "description", "server"):
            value = getattr(self.scenario, field)
            dumped = value.model_dump() if hasattr(value, "model_dump") else value
            for where, text in _strings(dumped, (field,)):
                for message in check_template(text, variables=variables, columns=None):
                    self.add(where, message)

    def _runs_out(self) -> None:
        """A default timeline stays until the run ends: something must end the run."""
        if self.scenario.duration is not None or self.scenario.phases:
            return
        for number, group in enumerate(self.scenario.participants):
            if group.timeline is None:
                self.add(
                    ("participants", number),
                    f"group {group.name!r} has no `timeline`, so it stays until the run ends; "
                    "give the scenario a `duration` (or `phases`), or the group a timeline",
                )

    def _beyond_end(self) -> None:
        """A phase or a step that starts after the run's planned end would never run, and the
        run would pass without it: an error, not a silent no-op."""
        end = planned_duration(self.scenario)
        if end is None:
            return
        duration = self.scenario.duration
        if duration is not None and self.scenario.phases:
            start = 0.0
            for number, phase in enumerate(self.scenario.phases):
                if start >= duration:
                    self.add(
                        ("phases", number),
                        f"this phase starts at {start:g}s, after the run's `duration` "
                        f"({duration:g}s)",
                    )
                start += phase.duration
        # The first arrival is at 0: a step that starts after the end for it does for everyone.
        for number, group in enumerate(self.scenario.participants):
            for index, step in enumerate(group.timeline or []):
                if step.at is None or group.start + step.at < end:
                    continue
                self.add(
                    ("participants", number, "timeline", index, "at"),
                    f"this step starts at {group.start + step.at:g}s, at or after the run's end "
                    f"({end:g}s, by its `duration` or `phases`): it would never run",
                )

    def _scopes(self) -> None:
        """A scope naming a group or phase the scenario lacks (a typo) would only fail the run
        with "nothing was measured": name it now."""
        expect = self.scenario.expect
        if expect is None:
            return
        phases = [phase.name for phase in self.scenario.phases if phase.name]
        for metric in METRICS:
            value = getattr(expect, metric)
            listed = isinstance(value, list)
            for number, one in enumerate(value if listed else [value]):
                scope = getattr(one, "scope", None)
                if scope is None:
                    continue
                loc: Loc = ("expect", metric, *((number,) if listed else ()), "scope")
                for field, kind, known in (
                    ("group", "participant group", self.groups),
                    ("phase", "phase", phases),
                ):
                    names = getattr(scope, field)
                    for name in [names] if isinstance(names, str) else names or []:
                        if name not in known:
                            self.add((*loc, field), _unknown(kind, name, known))

    def _measurable(self) -> None:
        """A threshold no viewer can measure would fail every run: say so now."""
        expect = self.scenario.expect
        if expect is None:
            return
        groups = self.scenario.participants
        receives = [(self.scenario.receive(group), group.kind == "browser") for group in groups]
        for metric, measures, problem, browsers in _DECODING_NEEDS:
            if getattr(expect, metric) is None:
                continue
            # A browser group's `receive` is the page's (it decodes all): its own rule says.
            if any(browsers if browser else measures(receive) for receive, browser in receives):
                continue
            self.add(("expect", metric), problem)
        if expect.audio_mos is not None:
            from media.audio_quality import PESQ_MISSING, pesq_available

            if not pesq_available():
                self.add(("expect", "audio_mos"), PESQ_MISSING)


_DECODING_NEEDS: tuple[tuple[str, Callable[[ReceiveSpec], bool], str, bool], ...] = (
    (
        "delay",
        lambda r: r.measures_delay,
        "delay is measured from decoded timecodes, but every group receives `light`; give a "
        "viewing group `receive: {video: decode}` (or sampled)",
        True,
    ),
    (
        "audio_level",
        lambda r: r.audio == "decode",
        "audio_level is measured from decoded audio, but no group decodes audio; give a "
        "viewing group `receive: {audio: decode}`",
        False,
    ),
    (
        "av_sync",
        lambda r: r.audio == "decode" and r.video != "light",
        "av_sync is measured from decoded audio marks and video timecodes, but no group "
        "decodes both; give a viewing group `receive: {audio: decode, video: sampled}` (or "
        "decode)",
        False,
    ),
    *(
        (
            metric,
            lambda r: r.audio == "decode",
            f"{metric} is measured on decoded audio, but no group decodes it; give a viewing "
            "group `receive: {audio: decode}`",
            False,
        )
        for metric in ("audio_mos", "audio_concealed")
    ),
)
"""(metric, whether a group's `receive` measures it, the problem when none does, whether a
browser group measures it: its page decodes everything but reads no audio marks and plays
audio muted, so it gives no level)."""


def _strings(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    if isinstance(value, str):
        if "$" in value:
            yield loc, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*loc, key))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from _strings(item, (*loc, number))


def check_scenario(scenario: Scenario, base: Path) -> list[Problem]:
    """Every cross-reference problem of `scenario`; relative paths resolve against `base`."""
    return _Checker(scenario, base).run()
