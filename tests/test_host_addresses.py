"""ICE host addresses under control: the lever, its checks, the environment, the command line,
and an end-to-end call through the embedded platform in which every candidate is 127.0.0.1.

The session fixture `loopback_ice` (conftest) has already chosen 127.0.0.1 for the process;
tests that change the choice put it back.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import aioice.ice
import pytest
from aioice import Candidate as IceCandidate

from agent.cli import _build_parser
from agent.webrtc.host_addresses import (
    HOST_ADDRESSES_ENV,
    LOOPBACK,
    add_ice_host_address_option,
    apply_ice_host_address_option,
    chosen_host_addresses,
    host_addresses_from_env,
    parse_host_addresses,
    scoped_host_addresses,
    use_host_addresses,
)
from agent.webrtc.seams.ice import aioice_host_addresses
from server.embedded import EmbeddedServer
from server.media.contract import Candidate
from tests.participant_support import AV, Call, router_of, small_tracks
from tests.platform_support import CLIENTS, LONG_POLL_SECONDS
from tests.stun_turn_support import StunResponder
from tests.waiting import wait_until

NOT_LOCAL = "203.0.113.7"  # TEST-NET-3: never an address of this machine


def has_ipv6_loopback() -> bool:
    try:
        parse_host_addresses(["::1"], "probe")
    except ValueError:
        return False
    return True


needs_ipv6_loopback = pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1 here")


@pytest.fixture
def restore_choice() -> Iterator[None]:
    """Put back the process's choice and the environment after a test that changes them."""
    choice, env = chosen_host_addresses(), os.environ.get(HOST_ADDRESSES_ENV)
    yield
    use_host_addresses(choice)
    if env is None:
        os.environ.pop(HOST_ADDRESSES_ENV, None)
    else:
        os.environ[HOST_ADDRESSES_ENV] = env


def gathered(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    """What aioice gathers on now: it looks the function up in its module at each call."""
    return aioice.ice.get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)


# --- the lever ---------------------------------------------------------------------------------


def test_the_tests_gather_on_loopback_only() -> None:
    assert chosen_host_addresses() == LOOPBACK
    assert gathered() == ["127.0.0.1"]
    assert os.environ[HOST_ADDRESSES_ENV] == "127.0.0.1"


@pytest.mark.parametrize(
    ("given", "complaint"),
    [
        (["eth0"], "'eth0' is not an IP address"),
        (["127.0.0.1", ""], "'' is not an IP address"),
        (["0.0.0.0"], "0.0.0.0 is not a unicast address"),
        (["224.0.0.1"], "224.0.0.1 is not a unicast address"),
        ([NOT_LOCAL], f"cannot use {NOT_LOCAL}: "),
        ([], "no address given"),
    ],
)
def test_bad_addresses_are_refused_with_the_reason_and_change_nothing(
    given: list[str], complaint: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        use_host_addresses(given)
    assert chosen_host_addresses() == LOOPBACK


def test_addresses_are_normalized_and_deduplicated() -> None:
    assert parse_host_addresses([" 127.0.0.1", "127.0.0.1 "], "test") == ("127.0.0.1",)
    with pytest.raises(TypeError, match="a list of addresses, not one string"):
        use_host_addresses("127.0.0.1")


@needs_ipv6_loopback
def test_each_connections_address_families_still_filter(restore_choice: None) -> None:
    use_host_addresses(["::0001", "127.0.0.1"])
    assert chosen_host_addresses() == ("::1", "127.0.0.1")
    assert gathered() == ["::1", "127.0.0.1"]
    assert gathered(use_ipv6=False) == ["127.0.0.1"]
    assert gathered(use_ipv4=False) == ["::1"]


def test_none_restores_aioices_own_discovery(restore_choice: None) -> None:
    use_host_addresses(None, subprocesses=True)
    assert chosen_host_addresses() is None
    assert HOST_ADDRESSES_ENV not in os.environ
    own = aioice_host_addresses(use_ipv4=True, use_ipv6=True)
    assert gathered() == own
    assert "127.0.0.1" not in own and "::1" not in own  # why the lever exists


async def test_a_scope_wins_over_the_process_choice_in_its_tasks_only(
    restore_choice: None,
) -> None:
    use_host_addresses(None)
    with scoped_host_addresses(LOOPBACK):
        inside = await asyncio.create_task(_gathered_later())
    outside = await _gathered_later()
    assert inside == ["127.0.0.1"]
    assert outside == aioice_host_addresses(use_ipv4=True, use_ipv6=True)


async def _gathered_later() -> list[str]:
    await asyncio.sleep(0)
    return gathered()


# --- environment and command line ---------------------------------------------------------------


def test_the_environment_variable_is_parsed_and_checked() -> None:
    assert host_addresses_from_env({}) is None
    assert host_addresses_from_env({HOST_ADDRESSES_ENV: "  "}) is None
    assert host_addresses_from_env({HOST_ADDRESSES_ENV: "127.0.0.1, 127.0.0.1"}) == LOOPBACK
    with pytest.raises(ValueError, match=f"{HOST_ADDRESSES_ENV}: cannot use {NOT_LOCAL}"):
        host_addresses_from_env({HOST_ADDRESSES_ENV: f"127.0.0.1,{NOT_LOCAL}"})


def test_a_subprocess_router_follows_the_environment() -> None:
    """`auvious-agent serve` started by a test makes a router, whose seams apply the variable."""
    code = (
        "import aioice.ice, server.media.router as r; r.Router(); "
        "print(aioice.ice.get_host_addresses(1, 1))"
    )
    result = run_python(["-c", code], "127.0.0.1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['127.0.0.1']"


def test_a_bad_environment_variable_stops_the_command_line_with_the_reason() -> None:
    result = run_python(["-m", "agent.cli", "serve", "--port", "0"], NOT_LOCAL)
    assert result.returncode == 2
    expected = f"auvious-agent: {HOST_ADDRESSES_ENV}: cannot use {NOT_LOCAL}: "
    assert result.stderr.startswith(expected)
    assert len(result.stderr.splitlines()) == 1, "one line, no traceback"


def run_python(args: list[str], addresses: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, HOST_ADDRESSES_ENV: addresses}
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=root, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [["serve"], ["run", "scenario.yaml"]])
def test_serve_and_run_take_ice_host_addresses(command: list[str], restore_choice: None) -> None:
    parser, _ = _build_parser()
    args = parser.parse_args([*command, "--ice-host-address", "127.0.0.1"])
    assert args.ice_host_addresses == ["127.0.0.1"]
    use_host_addresses(None, subprocesses=True)
    apply_ice_host_address_option(args)
    assert chosen_host_addresses() == LOOPBACK
    assert os.environ[HOST_ADDRESSES_ENV] == "127.0.0.1"


@pytest.mark.parametrize(
    ("command", "host"),
    [
        (["serve"], "127.0.0.1"),
        (["serve", "--host", "localhost"], "localhost"),
        (["run", "s.yaml", "--server", "http://[::1]:8080"], "::1"),
    ],
)
def test_a_platform_on_loopback_adds_loopback_to_the_discovery(
    command: list[str], host: str, restore_choice: None
) -> None:
    """`serve` on its default host, or `run --server http://127.0.0.1:...`: every party may be
    on this machine, so loopback is gathered too (on a loopback-only host nothing else is);
    aioice's own addresses stay, for a platform forwarded here from elsewhere."""
    parser, _ = _build_parser()
    args = parser.parse_args(command)
    use_host_addresses(None, subprocesses=True)
    apply_ice_host_address_option(args, platform_host=host)
    assert chosen_host_addresses() == (*LOOPBACK, *aioice_host_addresses(True, True))
    assert os.environ[HOST_ADDRESSES_ENV].startswith("127.0.0.1")
    use_host_addresses(None, subprocesses=True)
    apply_ice_host_address_option(args, platform_host="192.0.2.10")  # a platform elsewhere
    assert chosen_host_addresses() is None
    use_host_addresses(["127.0.0.1"])  # a choice made (option or environment) is kept
    apply_ice_host_address_option(args, platform_host="127.0.0.1")
    assert chosen_host_addresses() == LOOPBACK


def test_a_bad_command_line_address_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="auvious-agent serve")
    add_ice_host_address_option(parser)
    with pytest.raises(SystemExit) as exit_:
        parser.parse_args(["--ice-host-address", NOT_LOCAL])
    assert exit_.value.code == 2
    assert f"argument --ice-host-address: cannot use {NOT_LOCAL}: " in capsys.readouterr().err
    assert parser.parse_args([]).ice_host_addresses is None


# --- end to end: nothing but 127.0.0.1 on the wire ---------------------------------------------


@pytest.fixture
async def stun_platform() -> AsyncIterator[tuple[EmbeddedServer, StunResponder]]:
    """The platform handing out a STUN server that answers, so candidates are also trickled."""
    stun = await StunResponder().start()
    host, port = stun.address
    try:
        async with EmbeddedServer(
            [spec for spec, _ in CLIENTS.values()],
            long_poll_seconds=LONG_POLL_SECONDS,
            housekeeping_interval=0.05,
            ice_servers=(f"stun:{host}:{port}",),
        ) as srv:
            yield srv, stun
    finally:
        stun.close()


def candidates_in(sdp: str) -> list[IceCandidate]:
    return [
        IceCandidate.from_sdp(line.removeprefix("a=candidate:"))
        for line in sdp.splitlines()
        if line.startswith("a=candidate:")
    ]


def addresses_of(candidate: IceCandidate) -> list[str]:
    related = [candidate.related_address] if candidate.related_address else []
    return [candidate.host, *related]


async def test_publish_and_view_through_the_platform_use_127_0_0_1_only(
    stun_platform: tuple[EmbeddedServer, StunResponder], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every candidate of every offer and answer (agent and router) and every trickled one."""
    server, stun = stun_platform
    router = router_of(server)
    sdps: list[tuple[str, str]] = []  # (what, sdp)
    trickled: list[Candidate] = []
    publish, view = router.publish, router.view
    add_publish, add_view = router.add_publish_candidates, router.add_view_candidates

    async def record_publish(
        conference_id: str, stream_id: str, offer: str, stream_type: str | None = None
    ) -> str:
        answer = await publish(conference_id, stream_id, offer, stream_type)
        sdps.extend([("publish offer", offer), ("publish answer", answer)])
        return answer

    async def record_view(stream_id: str, viewer_id: str, offer: str) -> str:
        answer = await view(stream_id, viewer_id, offer)
        sdps.extend([("view offer", offer), ("view answer", answer)])
        return answer

    async def record_publish_candidates(stream_id: str, candidates: list[Candidate]) -> None:
        trickled.extend(candidates)
        await add_publish(stream_id, candidates)

    async def record_view_candidates(viewer_id: str, candidates: list[Candidate]) -> None:
        trickled.extend(candidates)
        await add_view(viewer_id, candidates)

    monkeypatch.setattr(router, "publish", record_publish)
    monkeypatch.setattr(router, "view", record_view)
    monkeypatch.setattr(router, "add_publish_candidates", record_publish_candidates)
    monkeypatch.setattr(router, "add_view_candidates", record_view_candidates)

    async with AsyncExitStack() as stack:
        call = Call(server, stack)
        alice = await call.participant("agent1", gather_timeout=5.0)
        bob = await call.participant("agent2", gather_timeout=5.0)
        publisher = await alice.publish(AV, small_tracks())
        stream_id = publisher.stream_id
        assert stream_id is not None
        await wait_until(lambda: stream_id in bob.viewers, "bob views alice's stream")
        await wait_until(lambda: bob.viewers[stream_id].frames("video") >= 5, "media flows")
        await wait_until(
            lambda: [c.is_end_of_candidates for c in trickled].count(True) == 2,
            "end-of-candidates of the publisher and of the viewer",
        )

    assert [what for what, _ in sdps] == [
        "publish offer",
        "publish answer",
        "view offer",
        "view answer",
    ]
    assert stun.received, "the agents asked the STUN server (so srflx candidates exist)"
    late = [
        IceCandidate.from_sdp(c.candidate.removeprefix("candidate:"))
        for c in trickled
        if not c.is_end_of_candidates
    ]
    assert "srflx" in {c.type for c in late}, "the STUN answers were trickled"
    seen: dict[str, set[str]] = {}
    for what, sdp in sdps:
        found = candidates_in(sdp)
        assert found, f"{what} lists no candidate"
        seen[what] = {address for c in found for address in addresses_of(c)}
        connection_lines = set(re.findall(r"^c=IN IP[46] (\S+)", sdp, re.MULTILINE))
        assert connection_lines <= {"127.0.0.1", "0.0.0.0"}, (what, connection_lines)
    seen["trickled"] = {address for c in late for address in addresses_of(c)}
    print(f"addresses seen: {seen}")
    assert all(addresses == {"127.0.0.1"} for addresses in seen.values()), seen
