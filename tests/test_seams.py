"""The seam package (`agent.webrtc.seams`): the one place the code reaches into private state of
aiortc, aioice, asyncio and amqtt.

- The canary: every private name a seam declares exists on real objects of the installed
  versions (a real peer connection and transceiver, a real aioice connection, a real asyncio
  datagram transport on loopback, a real amqtt broker), and every private name the seam code
  reads is declared.
- Importing the project changes nothing in those libraries; `install()` does, idempotently,
  and says what it installed. Checked in fresh interpreters, since this process has the seams
  installed (conftest).
- On a library version the seams were not written for, `install()` refuses with a message
  naming it, before changing anything. The version is faked in a subprocess by replacing
  `importlib.metadata.version` (the one thing that cannot be installed side by side here).
- Outside the package, nothing reaches a private name of those libraries.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpreceiver import StreamStatistics
from amqtt.broker import Broker
from amqtt.contexts import BrokerConfig, ListenerConfig, ListenerType

import agent.webrtc.seams
from agent.webrtc import seams
from agent.webrtc.seams.private import REACHES, Reach, SeamBroken, read
from agent.webrtc.seams.versions import SeamsUnsupported, check, mismatch

ROOT = Path(__file__).resolve().parent.parent
SEAMS_DIR = ROOT / "agent" / "webrtc" / "seams"

for _module in pkgutil.iter_modules(agent.webrtc.seams.__path__):
    importlib.import_module(f"agent.webrtc.seams.{_module.name}")  # every declaration


@pytest.fixture
async def instances() -> AsyncIterator[dict[str, Any]]:
    """One real object per owner the seams declare: what `instance` reaches are checked on."""
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video")
    dtls = transceiver.receiver.transport
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    # What the event channel's broker is built with (no plugins: none is needed to exist).
    listener = ListenerConfig(type=ListenerType.EXTERNAL, bind="/ws")
    broker = Broker(BrokerConfig(listeners={"default": listener}, plugins={}))
    try:
        yield {
            "aiortc.rtcpeerconnection.RTCPeerConnection": pc,
            "aiortc.rtcrtptransceiver.RTCRtpTransceiver": transceiver,
            "aiortc.rtcrtpreceiver.RTCRtpReceiver": transceiver.receiver,
            "aiortc.rtcrtpsender.RTCRtpSender": transceiver.sender,
            "aiortc.rtcdtlstransport.RTCDtlsTransport": dtls,
            "aiortc.rtcicetransport.RTCIceTransport": dtls.transport,
            "aioice.ice.Connection": read(dtls.transport, "_connection"),
            "aiortc.rtcrtpreceiver.StreamStatistics": StreamStatistics(90000),
            "asyncio.selector_events._SelectorDatagramTransport": udp,
            "amqtt.broker.Broker": broker,
            "aiortc.codecs.vpx.Vp8Encoder": Vp8Encoder(),
        }
    finally:
        udp.close()
        await pc.close()


def _owner_class(owner: str) -> Any:
    module, _, name = owner.rpartition(".")
    return getattr(importlib.import_module(module), name)


async def test_every_declared_private_name_exists_in_the_installed_versions(
    instances: dict[str, Any],
) -> None:
    assert len(REACHES) > 60  # the declarations were imported
    missing: list[Reach] = []
    for reach in REACHES:
        if reach.where == "source":
            if reach.name not in inspect.getsource(importlib.import_module(reach.owner)):
                missing.append(reach)
            continue
        if reach.where == "module":
            holder: Any = importlib.import_module(reach.owner)
        elif reach.where == "class":
            holder = _owner_class(reach.owner)
        else:
            holder = instances[reach.owner]
            assert type(holder) is _owner_class(reach.owner), reach.owner
        if not hasattr(holder, reach.name):
            missing.append(reach)
    assert missing == []


def _private_names_read_in(path: Path) -> set[str]:
    """`x._name` reads and `read(x, "_name")` / `vars(x)["_name"]` lookups, `x` not self."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                continue
            if isinstance(base, ast.Call) and ast.unparse(base.func) == "super":
                continue
            names.add(node.attr)
        elif isinstance(node, ast.Call) and ast.unparse(node.func) in ("read", "write"):
            literal = node.args[1] if len(node.args) > 1 else None
            if isinstance(literal, ast.Constant) and isinstance(literal.value, str):
                names.add(literal.value)
    return names


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_every_private_name_the_seams_read_is_declared() -> None:
    declared = {reach.name for reach in REACHES}
    own = {
        # the seams' own state, module aliases and classes
        "_receiver_module",
        "_selector_events",
        "_sender_module",
        "_SharedPacker",
    }
    undeclared = {
        path.name: sorted(_private_names_read_in(path) - declared - own)
        for path in SEAMS_DIR.glob("*.py")
    }
    assert {name: found for name, found in undeclared.items() if found} == {}


def test_a_missing_name_is_an_error_that_names_it() -> None:
    with pytest.raises(SeamBroken, match=r"RTCPeerConnection has no '_gone'.*docs/library\.md"):
        read(RTCPeerConnection(), "_gone")


def test_the_installed_versions_are_the_ones_the_seams_were_written_for() -> None:
    assert [mismatch(library) for library in ("python", "aiortc", "aioice", "amqtt")] == [None] * 4
    check("python", "aiortc", "aioice", "amqtt")


def test_install_is_idempotent_and_says_what_is_installed() -> None:
    everything = frozenset(seams.SEAMS)
    assert seams.install() == everything  # conftest installed them already
    assert seams.install(["clock"]) == everything
    assert seams.installed() == everything
    with pytest.raises(ValueError, match=r"unknown seam.*nope.*known: clock"):
        seams.install(["nope"])


LIBRARY_STATE = """
import asyncio.selector_events, aiortc.clock, aiortc.rtcdtlstransport, aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender, aioice.ice, amqtt.broker
def state():
    return {
        "clock": (aiortc.clock.current_ntp_time, aiortc.clock.current_ms),
        "send_rtp": aiortc.rtcdtlstransport.RTCDtlsTransport._send_rtp,
        "receive_now": aioice.ice.Connection.data_received,
        "udp_reads": asyncio.selector_events._SelectorDatagramTransport._read_ready,
        "host_addresses": aioice.ice.get_host_addresses,
        "decoders": aiortc.rtcrtpreceiver.get_decoder,
        "sequence": aiortc.rtcrtpsender.random_sequence_number,
        "broker": amqtt.broker.Broker.__init__,
    }
"""

IMPORT_EVERYTHING = """
import importlib, pkgutil
import agent, media, server
for package in (agent, media, server):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
"""

FAKE_AIORTC_1_17 = """
import importlib.metadata as metadata
real = metadata.version
metadata.version = lambda name: "1.17.0" if name == "aiortc" else real(name)
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONWARNINGS"}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )


@pytest.mark.slow
def test_importing_every_module_changes_nothing_until_install() -> None:
    code = (
        LIBRARY_STATE
        + "before = state()\n"
        + IMPORT_EVERYTHING
        + "from agent.webrtc import seams\n"
        + "assert state() == before, [k for k in before if state()[k] != before[k]]\n"
        + "assert seams.installed() == frozenset()\n"
        + "first = seams.install()\n"
        + "after = state()\n"
        + "assert seams.install() == first and state() == after\n"
        + "print(sorted(first))\n"
        + "print(sorted(k for k in before if after[k] != before[k]))\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    installed, changed = result.stdout.splitlines()
    everything = sorted(seams.SEAMS)
    assert installed == repr(everything)
    assert changed == repr(everything)  # and nothing else: not the sequence, not amqtt


def test_another_aiortc_release_is_refused_before_anything_changes() -> None:
    code = (
        LIBRARY_STATE
        + FAKE_AIORTC_1_17
        + "from agent.webrtc import seams\n"
        + "before = state()\n"
        + "try:\n"
        + "    seams.install()\n"
        + "except seams.SeamsUnsupported as error:\n"
        + "    print(error)\n"
        + "assert state() == before and seams.installed() == frozenset()\n"
        + "seams.install(['udp_reads'])  # gated on Python and aioice only\n"
        + "print(sorted(seams.installed()))\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    refusal, installed = result.stdout.splitlines()
    assert refusal == (
        "aiortc 1.17.0 is installed; the seams were written for 1.16.x: install the versions "
        "pyproject.toml pins (scripts/bootstrap)"
    )
    assert installed == "['udp_reads']"


async def test_a_per_object_lever_refuses_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.webrtc.seams import versions

    monkeypatch.setattr(versions, "mismatch", lambda library: f"{library} 9 is installed")
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video")
    from agent.webrtc.seams.receiver import take_over_packets

    handler = transceiver.receiver._handle_rtp_packet
    with pytest.raises(SeamsUnsupported, match="aiortc 9 is installed"):
        take_over_packets(
            transceiver.receiver,
            lambda packet, keyframe: None,
            on_new_source=lambda: None,
            starts_keyframe=lambda codec, payload: False,
        )
    assert transceiver.receiver._handle_rtp_packet == handler
    await pc.close()


# --- nothing outside the package reaches in ---------------------------------------------------

LIBRARIES = ("aiortc", "aioice", "amqtt", "asyncio")


def _project_files() -> list[Path]:
    return [
        path
        for top in ("agent", "media", "server")
        for path in sorted((ROOT / top).rglob("*.py"))
        if SEAMS_DIR not in path.parents
    ]


def _reaches_outside(path: Path, private_names: set[str]) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        hit: str | None = None
        if isinstance(node, ast.ImportFrom) and node.module:
            parts = node.module.split(".")
            private = [alias.name for alias in node.names if _is_private(alias.name)]
            if parts[0] in LIBRARIES and (private or any(_is_private(p) for p in parts)):
                hit = f"from {node.module} import {', '.join(a.name for a in node.names)}"
        elif isinstance(node, ast.Attribute) and node.attr in private_names:
            base = node.value
            if not (isinstance(base, ast.Name) and base.id in ("self", "cls")):
                hit = ast.unparse(node)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and (node.value in private_names or node.value.startswith(("_RTC", "_Connection__")))
        ):
            hit = repr(node.value)
        if hit is not None:
            found.append(f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}: {hit}")
    return found


def test_no_module_outside_the_seams_reaches_into_the_libraries() -> None:
    # Names the project's own classes also use for their own state are not telling.
    shared = {"_enabled", "_state", "_queue", "_closing", "_protocol", "_codecs", "_connection"}
    private_names = {reach.name for reach in REACHES} - shared
    found = [hit for path in _project_files() for hit in _reaches_outside(path, private_names)]
    assert found == []


def test_serve_on_another_aiortc_release_says_so_in_one_line() -> None:
    code = (
        FAKE_AIORTC_1_17 + "from agent.cli import main\n"
        "raise SystemExit(main(['serve', '--port', '0']))\n"
    )
    result = _python(code)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "auvious-agent serve: aiortc 1.17.0 is installed; the seams were written for 1.16.x: "
        "install the versions pyproject.toml pins (scripts/bootstrap)"
    ]
