"""Reading a scenario file into a `Scenario`, with every problem located in the file.

PyYAML's composer keeps the node tree, whose nodes know their line and column; pydantic's
error locations and our own cross-reference checks are walked down that tree, so each
message names the file, the line, the column and the field path a person would write."""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from agent.scenario.checks import Loc, check_scenario
from agent.scenario.model import Scenario

__all__ = ["Issue", "ScenarioError", "load_scenario", "parse_scenario", "read_yaml_model"]

M = typing.TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Issue:
    """One problem of a scenario file, where it is and what is wrong."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class ScenarioError(Exception):
    """A scenario file that cannot be used, with every located issue found in it."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def load_scenario(path: str | Path) -> Scenario:
    """The scenario in `path`; raises `ScenarioError` listing every problem found."""
    file = Path(path)
    return parse_scenario(_read(file), str(file), file.parent)


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except OSError as error:
        issue = Issue(str(file), None, None, "", f"cannot read: {error.strerror}")
        raise ScenarioError([issue]) from None
    except UnicodeDecodeError:
        raise ScenarioError([Issue(str(file), None, None, "", "not a UTF-8 text file")]) from None


def read_yaml_model(path: str | Path, model: type[M], not_a_mapping: str) -> M:
    """Another YAML file of this tool (an endpoint's) read into `model`, its problems located
    as a scenario's are: file, line, column, field."""
    file = Path(path)
    parsed, _, issues = _parse(_read(file), str(file), model, not_a_mapping)
    if issues:
        raise ScenarioError(_sorted(issues))
    return parsed


def _parse(
    text: str, filename: str, model: type[M], not_a_mapping: str
) -> tuple[M, _Locator, list[Issue]]:
    """`text` validated as `model`; the locator and the issues so far, for more checks."""
    root, data = _compose(text, filename)
    locator = _Locator(filename, root, model)
    issues = locator.duplicate_keys()
    if not isinstance(data, Mapping):
        issues.append(locator.issue((), not_a_mapping))
        raise ScenarioError(issues)
    try:
        parsed = model.model_validate(data)
    except ValidationError as error:
        found = [locator.from_pydantic(detail, data) for detail in error.errors()]
        raise ScenarioError(_sorted(issues + _merge_alternatives(_deepest(found)))) from None
    return parsed, locator, issues


def parse_scenario(text: str, filename: str = "<scenario>", base: Path | None = None) -> Scenario:
    """The scenario in `text`; `base` is where its relative paths (CSV, media) resolve."""
    scenario, locator, issues = _parse(
        text, filename, Scenario, "a scenario file is a mapping (name:, participants:, ...)"
    )
    problems = check_scenario(scenario, base if base is not None else Path.cwd())
    issues.extend(locator.issue(problem.loc, problem.message) for problem in problems)
    if issues:
        raise ScenarioError(_sorted(issues))
    scenario._path = filename
    return scenario


def _deepest(issues: list[Issue]) -> list[Issue]:
    """Where a field takes one form or a list of them (scoped `expect` thresholds), a list
    with a mistake inside fails both: the mistake inside says what is wrong, the "expected
    a mapping" of the other form only adds noise."""
    return [
        issue
        for issue in issues
        if not any(
            other.path.startswith((f"{issue.path}[", f"{issue.path}."))
            for other in issues
            if other is not issue and issue.path
        )
    ]


def _merge_alternatives(issues: list[Issue]) -> list[Issue]:
    """One issue per place: a union (`vars` values) fails once per member, and "should be a
    valid string", "... integer", "... boolean" read better as one line; a value that may
    also be a list (a scope's `stream`) is judged as the one value it is."""
    by_place: dict[tuple[int | None, int | None, str], list[Issue]] = {}
    for issue in issues:
        by_place.setdefault((issue.line, issue.column, issue.path), []).append(issue)
    merged = []
    for group in by_place.values():
        prefix = "Input should be a valid "
        if any(not issue.message.startswith(prefix) for issue in group):
            # `CAM` or a list of them: what is wrong with the one, not "should be a list"
            group = [issue for issue in group if issue.message != f"{prefix}list"]
        kinds = [issue.message.removeprefix(prefix).split(",")[0] for issue in group]
        if len(group) > 1 and all(issue.message.startswith(prefix) for issue in group):
            alternatives = ", ".join(kinds[:-1]) + f" or {kinds[-1]}"
            merged.append(dataclasses.replace(group[0], message=f"{prefix}{alternatives}"))
        else:
            merged.extend(dict.fromkeys(group))
    return merged


def _sorted(issues: list[Issue]) -> list[Issue]:
    return sorted(issues, key=lambda issue: (issue.line or 0, issue.column or 0))


def _compose(text: str, filename: str) -> tuple[yaml.Node, Any]:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ScenarioError([Issue(filename, 1, 1, "", "the file is empty")])
        return node, loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = " ".join(part for part in (error.context, error.problem) if part)
        if any(hint in problem for hint in _INDENTATION_HINTS):
            problem += " (check the indentation of this line and the one before)"
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise ScenarioError(
            [Issue(filename, line, column, "", f"YAML syntax: {problem}")]
        ) from None
    except yaml.YAMLError as error:
        raise ScenarioError([Issue(filename, None, None, "", f"YAML: {error}")]) from None
    finally:
        loader.dispose()


_INDENTATION_HINTS = ("expected <block end>", "mapping values are not allowed")


# --- from a field path to a place in the file ----------------------------------------

_FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")
_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})


def _is_union_tag(part: str | int, node: yaml.Node) -> bool:
    """Pydantic puts union members into error paths (`ResponsePolicy`, `literal[...]`, the
    step kind); they are not keys of the file, so the path a person reads skips them."""
    if not isinstance(part, str):
        return False
    if not _FIELD.match(part) or part in _TYPE_NAMES:
        return True
    return isinstance(node, yaml.MappingNode) and part == _scalar_value(node, "do")


def _scalar_value(node: yaml.MappingNode, key: str) -> str | None:
    for key_node, value_node in node.value:
        if key_node.value == key and isinstance(value_node, yaml.ScalarNode):
            return str(value_node.value)
    return None


def format_path(parts: Sequence[str | int]) -> str:
    """`participants[1].publish[0].fps`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass
class _Place:
    node: yaml.Node
    key: yaml.Node | None
    path: list[str | int]


class _Locator:
    def __init__(self, filename: str, root: yaml.Node, model: type[BaseModel]) -> None:
        self.filename = filename
        self.root = root
        self.model = model

    def find(self, loc: Loc) -> _Place:
        """The deepest node `loc` reaches, the key node naming it, and the readable path."""
        node, key, path = self.root, None, []
        lost = False
        for part in loc:
            if not lost and _is_union_tag(part, node):
                continue
            if lost:
                if not _is_union_tag(part, node):
                    path.append(part)
                continue
            child = self._child(node, part)
            if child is None:
                lost = True
                path.append(part)
                continue
            key, node = child
            path.append(part)
        return _Place(node, key, path)

    @staticmethod
    def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(part):
                    return key_node, value_node
        if (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            return None, node.value[part]
        return None

    def issue(self, loc: Loc, message: str, at_key: bool = False) -> Issue:
        place = self.find(loc)
        node = place.key if at_key and place.key is not None else place.node
        mark = node.start_mark
        return Issue(
            self.filename, mark.line + 1, mark.column + 1, format_path(place.path), message
        )

    def duplicate_keys(self) -> list[Issue]:
        """PyYAML keeps the last of two equal keys silently; a scenario must not."""
        issues = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.MappingNode):
                seen: set[str] = set()
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode):
                        if key_node.value in seen:
                            mark = key_node.start_mark
                            issues.append(
                                Issue(
                                    self.filename,
                                    mark.line + 1,
                                    mark.column + 1,
                                    "",
                                    f"key {key_node.value!r} appears twice in this mapping",
                                )
                            )
                        seen.add(key_node.value)
                    stack.append(value_node)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
        return issues

    def from_pydantic(self, detail: ErrorDetails, data: Any) -> Issue:
        loc = tuple(detail["loc"])
        kind = detail["type"]
        ctx = detail.get("ctx", {})
        message = _clean(detail["msg"])
        at_key = False
        if kind == "extra_forbidden":
            at_key = True
            key = str(loc[-1])
            message = f"unknown key {key!r}" + _key_hint(
                key, _fields_at(loc[:-1], data, self.model)
            )
        elif kind == "missing":
            message = f"missing required key {loc[-1]!r}"
        elif kind == "union_tag_invalid":
            tag = str(ctx.get("tag"))
            expected = re.findall(r"'([^']+)'", str(ctx.get("expected_tags", "")))
            loc = (*loc, "do")
            message = f"unknown step {tag!r}" + _key_hint(tag, expected)
        elif kind == "union_tag_not_found":
            message = "a step needs `do:` naming what it does (join, publish, wait_for, ...)"
        elif kind in ("literal_error", "enum"):
            expected = re.findall(r"'([^']+)'", str(ctx.get("expected", "")))
            value = self.find(loc).node
            if isinstance(value, yaml.ScalarNode):
                message += _suggestion(str(value.value), expected)
        elif kind == "string_pattern_mismatch":
            message = _PATTERN_HELP.get(str(ctx.get("pattern")), message)
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            message = "expected a mapping (key: value lines)"
        return self.issue(loc, message, at_key=at_key)


_PATTERN_HELP = {
    r"^[A-Za-z][A-Za-z0-9_-]*$": "a name starts with a letter; then letters, digits, _ or -",
    r"^[A-Z][A-Za-z0-9]*Event$": "an event type is capitalised and ends in Event (CallReadyEvent)",
    r"^[A-Za-z_][A-Za-z0-9_]*$": "an environment variable name has only letters, digits and _",
    r"^https?://[^\s/]+": "a server url starts with http:// or https:// and a host",
    r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$": "a resolution is WIDTHxHEIGHT, e.g. 640x480",
    r"^[A-Z][A-Z0-9_]*$": "a camera request is in capitals, e.g. CAMERA_SWITCH",
}


def _clean(message: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _suggestion(word: str, choices: Sequence[str]) -> str:
    close = get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _key_hint(word: str, choices: Sequence[str] | None) -> str:
    if not choices:
        return ""
    suggestion = _suggestion(word, choices)
    return suggestion or f"; allowed keys: {', '.join(choices)}"


# --- which keys a place in the file allows -------------------------------------------


def _fields_at(loc: Loc, data: Any, root: type[BaseModel]) -> list[str] | None:
    """The keys the model at `loc` accepts, to suggest one for a misspelled key."""
    annotation: Any = root
    value = data
    for part in loc:
        annotation = _narrow(annotation, value)
        if isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = args[0] if args else Any
            value = value[part] if isinstance(value, list) and part < len(value) else None
        elif _is_model(annotation) and part in annotation.model_fields:
            annotation = annotation.model_fields[part].annotation
            value = value.get(part) if isinstance(value, Mapping) else None
        elif _is_model(annotation):
            continue  # a union tag in the error path
        else:
            return None
    annotation = _narrow(annotation, value)
    if not _is_model(annotation):
        return None
    return [name for name, field in annotation.model_fields.items() if not field.exclude]


def _is_model(annotation: Any) -> typing.TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _narrow(annotation: Any, value: Any) -> Any:
    """Strip Annotated and Optional; pick the union member `value` is meant to be."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin is typing.Union or origin is types.UnionType:
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = _pick(members, value)
        else:
            return annotation


def _pick(members: list[Any], value: Any) -> Any:
    members = [_narrow(member, value) for member in members]
    models = [member for member in members if _is_model(member)]
    if isinstance(value, Mapping) and models:
        kind = value.get("do")
        for model in models:
            field = model.model_fields.get("do")
            if field is not None and kind in typing.get_args(field.annotation):
                return model
        return models[0]
    lists = [member for member in members if typing.get_origin(member) is list]
    if isinstance(value, list) and lists:
        return lists[0]
    return members[0] if members else Any
