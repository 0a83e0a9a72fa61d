"""Package dependencies run one way (DESIGN.md, "Layers"), read from the source's imports.

Every `import` counts, at the top of a module or inside a function (a lazy import is still a
dependency), unless `LAZY_EXCEPTIONS` names it with the reason. A module may import its own
package, a package of a lower layer, or a package of its own layer that does not import it
back (no cycle). The platform (`server/`) stands beside the agent and imports only the wire
models and the WebRTC layer's public API and seam; the agent imports `server/` only where it
starts the embedded platform.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LAYERS: dict[str, int] = {
    "agent.api.models": 0,  # wire models
    "agent.redact": 0,  # secrets out of logs: below everything that logs
    "agent.jsonlog": 0,  # JSON-lines log lines (redacted): below everything that logs
    "agent.runtime": 0,  # process tuning (garbage collection)
    "agent.api": 1,  # API client
    "agent.events": 1,  # event channel
    "agent.webrtc.seams": 2,  # the one seam into aiortc/aioice/asyncio/amqtt
    "agent.ice_addresses": 3,  # WebRTC layer: the host address option, importable without aiortc
    "agent.webrtc": 3,
    "agent.network": 3,  # per-participant impairment of the WebRTC layer's sockets
    "media": 4,  # media sources, sinks, analysis on top of the WebRTC layer
    "agent.participant": 5,
    "agent.snapshot": 5,
    "agent.browser": 5,
    "agent.scenario": 6,
    "agent.load": 7,  # distribution: workers, crowds, Ray
    "agent.distributed": 7,  # distribution: seeding, sizing, stopping
    "agent.cli": 8,
    "agent.scenario.cli": 8,  # the `run`/`validate` commands: the cli layer, filed by topic
    "agent.endpoint": 8,  # the `endpoint` command: its file is checked as `run` checks one
    "agent": 8,  # the package's own __init__
}
"""Package (or module) -> layer; the longest matching prefix of a module decides."""

SERVER_MAY_IMPORT = ("agent.api.models", "agent.webrtc.seams", "agent.ice_addresses", "media")
"""What `server/` may import from the agent: the wire models, the WebRTC layer's seam and host
address option, and media (the router reads keyframes from RTP); `agent.webrtc` itself only
through the package (its public API), never a module inside it."""

LAZY_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("agent.cli", "server.cli"): "`auvious-agent serve` is the platform's command",
    ("agent.scenario.run_platform", "server.embedded"): "a run without --server starts the "
    "embedded platform",
    ("agent.scenario.run_platform", "server.media.router"): "and counts its router's peer "
    "connections",
}
"""(importer, imported) pairs allowed against the layers, each inside a function, with why."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _node(module: str) -> str | None:
    """The layered unit a module belongs to (None: outside the project)."""
    if module.split(".")[0] == "server":
        return "server"
    matches = [name for name in LAYERS if module == name or module.startswith(name + ".")]
    return max(matches, key=len) if matches else None


def _imports(path: Path) -> Iterator[tuple[str, int, bool]]:
    """(imported module, line, inside a function) for every import of `path`."""
    tree = ast.parse(path.read_text())
    nested: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(n for n in ast.walk(node) if n is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, node in nested
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                # `from agent.webrtc import seams` depends on agent.webrtc.seams
                yield f"{node.module}.{alias.name}", node.lineno, node in nested


def _project_modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for top in ("agent", "media", "server")
        for path in sorted((ROOT / top).rglob("*.py"))
    }


def _edges() -> list[tuple[str, str, str, int, bool]]:
    """(importer module, imported module, its node, line, lazy) for project-internal imports."""
    modules = _project_modules()
    edges = []
    for module, path in modules.items():
        for imported, line, lazy in _imports(path):
            # `from pkg import name` names a module or an attribute: use the module if it is one
            target = imported if imported in modules else imported.rpartition(".")[0]
            if target not in modules or _node(target) is None:
                continue
            edges.append((module, target, _node(target) or "", line, lazy))
    return edges


def _violation(importer: str, imported: str) -> str | None:
    source, target = _node(importer), _node(imported)
    if source is None or target is None or source == target:
        return None
    if source == "server":
        if imported == "agent.webrtc" or any(
            imported == allowed or imported.startswith(allowed + ".")
            for allowed in SERVER_MAY_IMPORT
        ):
            return None
        return "the platform imports only the wire models and the WebRTC layer's public API"
    if target == "server":
        return "the agent imports the platform only to start it embedded"
    if LAYERS[target] > LAYERS[source]:
        return f"layer {LAYERS[source]} ({source}) imports layer {LAYERS[target]} ({target})"
    return None


def test_imports_run_down_the_layers() -> None:
    found = []
    for importer, imported, _, line, lazy in _edges():
        why = _violation(importer, imported)
        if why is None:
            continue
        if lazy and (importer, imported) in LAZY_EXCEPTIONS:
            continue
        found.append(f"{importer}:{line} imports {imported}: {why}")
    assert found == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for successor in sorted(graph.get(node, ())):
            visit(successor, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return cycles


def test_no_cycle_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for importer, imported, target, _, lazy in _edges():
        source = _node(importer)
        if source is None or source == target:
            continue
        if lazy and (importer, imported) in LAZY_EXCEPTIONS:
            continue
        graph[source].add(target)
    assert "agent.load" in graph and "agent.participant" in graph["agent.scenario"]
    assert _cycles(graph) == []


def test_every_lazy_exception_is_still_needed_and_lazy() -> None:
    edges = {(importer, imported): lazy for importer, imported, _, _, lazy in _edges()}
    assert {pair: edges.get(pair) for pair in LAZY_EXCEPTIONS} == dict.fromkeys(
        LAZY_EXCEPTIONS, True
    )


def test_every_package_of_the_agent_has_a_layer() -> None:
    children = {
        f"agent.{path.stem if path.suffix else path.name}"
        for path in (ROOT / "agent").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").exists()
    }
    assert sorted(children - set(LAYERS)) == []


def test_the_rules_catch_a_wrong_direction_and_a_cycle() -> None:
    """The checks themselves: what they must refuse."""
    assert _violation("agent.webrtc.factory", "media.fanout") is not None
    assert _violation("media.fanout", "agent.participant.publisher") is not None
    assert _violation("agent.scenario.runner", "agent.load.workers") is not None
    assert _violation("server.media.router", "agent.webrtc.host_addresses") is not None
    assert _violation("server.media.router", "agent.webrtc.seams.packet_path") is None
    assert _violation("agent.participant.sinks", "server.app") is not None
    assert _violation("agent.load.workers", "agent.scenario.results") is None
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": {"c"}}) == []
