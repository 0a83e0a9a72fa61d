"""Issue 13's reproducers against the real local platform: each answered 5xx, leaked, or let a
caller reach too far before the fix; each must now be a 4xx that says why (or a clean success).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import aiomqtt
import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, TypeAdapter, ValidationError

from agent.api.models.base import CallerId
from agent.api.models.composition import CreateCompositionWebCommand
from agent.api.models.interactions import InteractionQuery
from agent.api.models.registrations import RegisterUserEndpointWebCommand
from server.embedded import EmbeddedServer
from server.errors import BadRequest
from server.events import RecordingPublisher
from server.http import check_caller_id
from tests.mqtt_support import client as mqtt_client
from tests.mqtt_support import codes
from tests.platform_support import (
    CLIENTS,
    PlatformUser,
    basic,
    customer_login,
    login,
    make_ticket,
)
from tests.records_support import form

LOGGERS = ("server", "aiohttp", "amqtt")


def server_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every line the platform wrote to its log, as a file would hold them (tracebacks too)."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return [
        line
        for r in caplog.records
        if r.name.startswith(LOGGERS)
        for line in formatter.format(r).splitlines()
    ]


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    lines = server_lines(caplog)
    assert not [line for line in lines if "Traceback" in line], "\n".join(lines)


async def _status(response: aiohttp.ClientResponse) -> tuple[int, Any]:
    text = await response.text()
    try:
        return response.status, await response.json(content_type=None)
    except ValueError:
        return response.status, text


async def _customer(
    agent: PlatformUser, http: aiohttp.ClientSession, conference_id: str
) -> PlatformUser:
    return await customer_login(http, await make_ticket(agent, conference_id))


async def _joined(user: PlatformUser, conference_id: str) -> str:
    endpoint = await user.register()
    await user.call(
        "POST",
        "/rtc-api/conferences/join",
        json={"conferenceId": conference_id, "userEndpointId": endpoint},
    )
    return endpoint


# --- 1: forged platform events ---------------------------------------------------------------


async def test_clients_cannot_send_the_platforms_event_types(
    server: EmbeddedServer, agent: PlatformUser, agent2: PlatformUser, service: PlatformUser
) -> None:
    await agent.call("POST", "/rtc-api/conferences/create", json={"conferenceId": "forge-1"})
    target = await _joined(agent, "forge-1")
    forged = {
        "type": "ConferenceEndedEvent",
        "timestamp": "2026-01-01T00:00:00Z",
        "conferenceId": "forge-1",
        "reason": "forged",
    }
    body = await agent2.call(
        "POST",
        "/rtc-api/users/endpoints/sendEvent",
        json={"userId": agent.user_id, "organizationId": "org1", "event": forged},
        expect=400,
    )
    assert "ConferenceEndedEvent" in body["message"] and "platform" in body["message"]
    body = await service.call(
        "POST",
        "/rtc-api/conferences/sendEvent",
        json={"conferenceId": "forge-1", "qos": "BEST_EFFORT", "event": forged},
        expect=400,
    )
    assert "platform" in body["message"]
    assert "forge-1" in {c["id"] for c in await agent.call("GET", "/rtc-api/conferences/active")}
    assert target


async def test_a_clients_event_arrives_marked_with_its_sender(
    server: EmbeddedServer,
    recorder: RecordingPublisher,
    agent: PlatformUser,
    agent2: PlatformUser,
) -> None:
    endpoint = await agent.register()
    event = {
        "type": "CustomHelloEvent",
        "timestamp": "2026-01-01T00:00:00Z",
        "sentBy": {"userId": "the-platform"},  # a client cannot set the mark itself
        "text": "hi",
    }
    sent = await agent2.call(
        "POST",
        "/rtc-api/users/endpoints/sendEvent",
        json={"userId": agent.user_id, "organizationId": "org1", "event": event},
    )
    assert sent == 1
    got = await recorder.wait_for(lambda t, e: e.get("type") == "CustomHelloEvent")
    assert got["text"] == "hi"
    assert got["sentBy"] == {"userId": agent2.user_id, "organizationId": "org1"}
    assert agent.topic(endpoint) in {t for t, e in recorder.messages if e is got}


# --- 2: customers stay within their conference -----------------------------------------------


async def test_a_customer_reaches_only_its_own_conference(
    server: EmbeddedServer, http: aiohttp.ClientSession, agent: PlatformUser, agent2: PlatformUser
) -> None:
    await agent.call("POST", "/rtc-api/conferences/create", json={"conferenceId": "mine"})
    await agent.call("POST", "/rtc-api/conferences/create", json={"conferenceId": "theirs"})
    in_call = await _joined(agent, "mine")
    elsewhere = await _joined(agent2, "theirs")
    customer = await _customer(agent, http, "mine")
    own = await _joined(customer, "mine")

    # Talkdesk activity lists the organization's interactions: not for customers.
    await agent.call(
        "POST", "/rtc-api/interactions", json={"type": "video", "data": {"customerId": "c1"}}
    )
    body = await customer.call(
        "POST",
        "/rtc-api/talkdesk-integration/activity",
        json={"data": {"contact_id": "c1"}},
        expect=403,
    )
    assert "customer" in body["message"]

    def aimed(**fields: str) -> Any:
        def body(target_user: str, target_endpoint: str) -> dict[str, Any]:
            return {
                "userEndpointId": own,
                "targetUserId": target_user,
                "targetUserEndpointId": target_endpoint,
                "applicationId": "app",
                **fields,
            }

        return body

    snapshot = aimed(snapshotType="PHOTO")
    camera = aimed(cameraRequestType="FLASH_ON")

    def event(target_user: str, target_endpoint: str) -> dict[str, Any]:
        return {
            "userId": target_user,
            "userEndpointId": target_endpoint,
            "organizationId": "org1",
            "event": {"type": "HelloEvent", "timestamp": "2026-01-01T00:00:00Z"},
        }

    for path, make in (
        ("/rtc-api/snapshots/request", snapshot),
        ("/rtc-api/snapshots/cameraRequest", camera),
        ("/rtc-api/users/endpoints/sendEvent", event),
    ):
        body = await customer.call("POST", path, json=make(agent2.user_id, elsewhere), expect=403)
        assert "conference mine" in body["message"], (path, body)
        assert "customer" in body["message"], (path, body)
        await customer.call("POST", path, json=make(agent.user_id, in_call))
    # Without naming an endpoint, a customer's event reaches only the user's endpoints in its
    # conference.
    other = await agent.register()
    assert other
    sent = await customer.call(
        "POST",
        "/rtc-api/users/endpoints/sendEvent",
        json={**event(agent.user_id, in_call), "userEndpointId": None},
    )
    assert sent == 1


async def test_a_customer_files_nothing_under_another_call(
    server: EmbeddedServer, http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    """A customer of `mine` once filed ratings, file transfers and snapshot requests under
    another conference or interaction of its organization (staff then listed them there), and
    a customer whose ticket names no conference read and joined any conference by its id."""
    joined = {}
    for conference, interaction in (("mine", "case-mine"), ("theirs", "case-theirs")):
        await agent.call("POST", "/rtc-api/conferences/create", json={"conferenceId": conference})
        joined[conference] = await _joined(agent, conference)
        await agent.call("POST", "/rtc-api/interactions", json={"interactionId": interaction})
        link = {"conferenceId": conference, "interactionId": interaction}
        await agent.call("POST", "/rtc-api/conferences/interaction", json=link, expect=204)
    customer = await _customer(agent, http, "mine")
    own = await _joined(customer, "mine")
    target = {"targetUserId": agent.user_id, "targetUserEndpointId": joined["mine"]}

    def rating(**fields: str) -> dict[str, Any]:
        return {"sessionType": "CONFERENCE", "sessionId": "mine", "rating": 1, **fields}

    def snapshot(**fields: str) -> dict[str, Any]:
        return {"applicationId": "a", "userEndpointId": own, **target, **fields}

    def transfer(**fields: str) -> aiohttp.FormData:
        body = {"applicationId": "a", "targetId": agent.user_id, "userEndpointId": own, **fields}
        return form(body, file=(b"hi", "a.txt", "text/plain"))

    outside = ({"sessionId": "theirs"}, {"interactionId": "case-theirs"})
    for fields in outside:
        await customer.call("POST", "/rtc-api/ratings", json=rating(**fields), expect=403)
        await customer.call(
            "POST", "/rtc-api/snapshots/request", json=snapshot(**fields), expect=403
        )
    for fields in ({"conferenceId": "theirs"}, {"interactionId": "case-theirs"}):
        path = "/rtc-api/filetransfers?targetType=user"
        await customer.call("POST", path, data=transfer(**fields), expect=403)
    ratings = await agent.call("GET", "/rtc-api/ratings/conferences/theirs")
    assert ratings == []
    # Its own call, named or not, is fine.
    await customer.call("POST", "/rtc-api/ratings", json=rating(interactionId="case-mine"))
    await customer.call("POST", "/rtc-api/snapshots/request", json=snapshot(sessionId="mine"))
    await customer.call(
        "POST",
        "/rtc-api/filetransfers?targetType=user",
        data=transfer(conferenceId="mine", interactionId="case-mine"),
    )
    # A ticket that names no conference opens none.
    made = await agent.call("POST", "/security/ticket", json={"type": "MULTI_USE_TICKET"})
    nowhere = await customer_login(http, made["id"])
    await nowhere.call("GET", "/rtc-api/conferences/mine", expect=403)
    endpoint = await nowhere.register()
    join = {"conferenceId": "mine", "userEndpointId": endpoint}
    await nowhere.call("POST", "/rtc-api/conferences/join", json=join, expect=403)


# --- 3 and 4: malformed input is a 4xx, never a 500 or a traceback ---------------------------


@pytest.mark.parametrize("kind", ["snapshots", "filetransfers", "assets"])
async def test_a_unicode_digit_expiration_is_refused(
    server: EmbeddedServer,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    kind: str,
) -> None:
    async with http.get(f"/rtc-api/{kind}/signed/x/%C2%B3?signature=x") as response:
        status, body = await _status(response)
    assert status == 403, body
    assert "expiration" in body["message"]
    no_traceback(caplog)


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("secret", "content_type", "named"),
    [
        (b"\xff\xfe", FORM, "UTF-8"),
        # aiohttp decodes with the declared charset: an unknown one was a 500 (LookupError).
        (b"x", f"{FORM}; charset=no-such-codec", "no-such-codec"),
    ],
)
async def test_an_undecodable_token_form_is_a_400(
    server: EmbeddedServer,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    secret: bytes,
    content_type: str,
    named: str,
) -> None:
    form = b"grant_type=client_credentials&client_id=agent1&client_secret=" + secret
    headers = {"Content-Type": content_type}
    async with http.post("/security/oauth/token", data=form, headers=headers) as response:
        status, body = await _status(response)
    assert status == 400, body
    assert body["error"] == "invalid_request" and named in body["error_description"]
    no_traceback(caplog)


async def test_deep_huge_and_infinite_json_is_a_400(
    server: EmbeddedServer,
    http: aiohttp.ClientSession,
    agent: PlatformUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {**agent.headers, "Content-Type": "application/json"}
    deep_interaction = '{"type": "video", "data": {"x": ' + "[" * 300 + "]" * 300 + "}}"
    cases = {
        "/rtc-api/conferences/create": "[" * 1000 + "]" * 1000,
        "/rtc-api/interactions": deep_interaction,
        "/rtc-api/users/endpoints": '{"keepAliveSeconds": 1e309}',
        "/rtc-api/users/endpoints/register": '{"keepAliveSeconds": ' + "9" * 5000 + "}",
    }
    for path, raw in cases.items():
        async with http.post(path, data=raw.encode(), headers=headers) as response:
            status, body = await _status(response)
        assert status == 400, (path, body)
        assert isinstance(body, dict) and body["message"], (path, body)
    params = {
        "start": "2026-01-01T00:00:00Z",
        "end": "2026-01-02T00:00:00Z",
        "onHoldDurationGt": "9" * 400,
    }
    async with http.get("/rtc-api/interactions", params=params, headers=agent.headers) as r:
        status, body = await _status(r)
    assert status == 400 and "onHoldDurationGt" in body["message"], body
    no_traceback(caplog)


# --- 5: nothing a caller sends writes a line of its own into the log -------------------------


@pytest.fixture
async def logged_server(recorder: RecordingPublisher) -> AsyncIterator[EmbeddedServer]:
    """The platform as `serve` runs it: with the access log."""
    async with EmbeddedServer(
        [spec for spec, _ in CLIENTS.values()], publisher=recorder, access_log=True
    ) as srv:
        yield srv


async def test_a_newline_in_a_path_or_client_id_forges_no_log_line(
    logged_server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for name in LOGGERS:  # a CLI test in this process may have quieted them (console_logging)
        caplog.set_level(logging.INFO, logger=name)
    forged = "FORGED admin logged in"
    async with aiohttp.ClientSession(logged_server.base_url) as http:
        for path in (f"/rtc-api/x%0A{forged}", f"/nothing-here%0A{forged}", f"/a%0D%0A{forged}"):
            async with http.get(path) as response:
                assert response.status in (401, 404)
    bad_login = mqtt_client(logged_server.port, "u", "not-a-token", identifier=f"c1\n{forged}")
    with pytest.raises(aiomqtt.MqttError):
        async with bad_login:
            pass
    lines = server_lines(caplog)
    assert not [line for line in lines if line.startswith(forged)], "\n".join(lines)
    assert sum("FORGED" in line for line in lines) >= 4, "\n".join(lines)


async def test_a_logged_in_clients_id_and_topics_forge_no_log_line(
    logged_server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """amqtt writes a client's id and topics into its own lines (a refused PUBLISH at INFO,
    more at DEBUG): a newline there once started a line of the caller's choosing."""
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    forged = "FORGED admin logged in"
    async with aiohttp.ClientSession(logged_server.base_url) as http:
        agent = await login(http, "agent1")
    identifier = f"c2\n{forged}\r\n{forged}\u2028{forged}"
    async with mqtt_client(
        logged_server.port, agent.user_id, agent.access_token, identifier=identifier
    ) as mqtt:
        await mqtt.publish(f"user/{agent.user_id}/x\n{forged}", b"{}", qos=1)
        await mqtt.subscribe(f"user/{agent.user_id}/y\n{forged}", qos=1)
        await mqtt.subscribe(f"nope\n{forged}", qos=1)
    lines = server_lines(caplog)
    assert sum("FORGED" in line for line in lines) >= 2, "\n".join(lines)  # it was logged
    assert not [line for line in lines if line.startswith(forged)], "\n".join(lines)
    assert not [line for line in lines if "\u2028" in line], "\n".join(lines)


# --- 8: smaller -----------------------------------------------------------------------------


async def test_the_refresh_grant_authenticates_the_client(
    server: EmbeddedServer, http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    refresh = agent.token["refresh_token"]
    for credentials in ({}, {"client_secret": "wrong"}):
        form = {"grant_type": "refresh_token", "refresh_token": refresh, **credentials}
        async with http.post("/security/oauth/token", data=form) as response:
            status, body = await _status(response)
        assert status == 401 and body["error"] == "invalid_client", (credentials, body)
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    headers = basic("agent1", CLIENTS["agent1"][1])
    async with http.post("/security/oauth/token", data=form, headers=headers) as response:
        assert response.status == 200


async def test_a_number_is_not_a_boolean(server: EmbeddedServer, agent: PlatformUser) -> None:
    for value in (0, 1, "true"):
        body = await agent.call(
            "POST",
            "/rtc-api/users/endpoints",
            json={"keepAliveSeconds": 30, "serverKeepAliveReminderOn": value},
            expect=400,
        )
        assert "serverKeepAliveReminderOn" in body["message"]


async def test_the_document_states_what_the_server_refuses(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    """Bigger schema-fuzzer runs found requests the document called valid and the server
    refused: a feedback rating off its type's scale, an answer over its type's length, an item
    without a type or its answer, an empty file part. Each is now refused by both."""
    async with http.get("/rtc-api/openapi.json") as response:
        document = await response.json()

    def valid(component: str, value: Any) -> bool:
        schema = {"$ref": f"#/components/schemas/{component}", **document}
        return Draft202012Validator(schema).is_valid(value)

    for item in (
        {"type": "RATING_1_5", "rating": 7},
        {"type": "RATING_1_10", "rating": 0},
        {"type": "TEXT_300", "answer": "x" * 301},
        {"question": "no type"},
        {"type": None, "answer": "a"},
        {"type": "TEXT_1000", "answer": ""},
        {"type": "SINGLE_CHOICE", "choices": ["a"]},
        {"type": "MULTIPLE_CHOICE", "choices": []},
        {"type": "RATING_1_5", "rating": None},
    ):
        body = {"sessionType": "CONFERENCE", "sessionId": "s1", "feedback": [item]}
        assert not valid("CreateRatingWebCommand", body), item
        await agent.call("POST", "/rtc-api/ratings", json=body, expect=400)
    for item in (
        {"type": "RATING_1_5", "rating": 5},
        {"type": "TEXT_1000", "answer": "x" * 301},
        {"type": "MULTIPLE_CHOICE", "choices": ["a", "b"]},
    ):
        body = {"sessionType": "CONFERENCE", "sessionId": "s1", "feedback": [item]}
        assert valid("CreateRatingWebCommand", body), item
        await agent.call("POST", "/rtc-api/ratings", json=body)
    for path, part in (
        ("/rtc-api/assets/{assetId}", "file"),
        ("/rtc-api/filetransfers", "file"),
        ("/rtc-api/snapshots/upload", "image"),
    ):
        body = document["paths"][path]["post"]["requestBody"]["content"]["multipart/form-data"]
        assert body["schema"]["properties"][part]["minLength"] == 1, path
    fields = {"applicationId": "app1", "category": "c", "rolesAllowedAccess": "agent"}
    empty = form(fields, file=(b"", "f.txt", "text/plain"))
    async with http.post("/rtc-api/assets/empty", data=empty, headers=agent.headers) as r:
        status, refused = await _status(r)
    assert status == 400 and "file" in refused["message"], refused


# ECMA-262's `\s`: how a client generated from the document reads a pattern's `\s`.
ECMA_SPACE = "\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def _as_documented(pattern: str) -> re.Pattern[str]:
    r"""The pattern as ECMA-262 reads it (Python's `\s` is another set, and so is pydantic's);
    its `$` is the end of the string, not also before a final newline."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        token = pattern[i : i + 2] if pattern[i] == "\\" else pattern[i]
        if token == r"\s":
            token = ECMA_SPACE if in_class else f"[{ECMA_SPACE}]"
        elif token == r"\S":
            token = f"[^{ECMA_SPACE}]"
        elif token == "$" and not in_class:
            token = r"\Z"
        elif token in "[]":
            in_class = token == "["
        out.append(token)
        i += 2 if pattern[i] == "\\" else 1
    return re.compile("".join(out))


def _caller_id(value: str) -> object:
    return check_caller_id("id", TypeAdapter(CallerId).validate_python(value))


def _interaction_types(value: str) -> object:
    span = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"}
    return InteractionQuery.model_validate({**span, "type": value})


def _composition_name(value: str) -> object:
    fields = {"conversationId": "c", "type": "VIDEO", "layout": "GRID", "resolution": "640x360"}
    return CreateCompositionWebCommand.model_validate({**fields, "name": value})


@pytest.mark.parametrize(
    ("model", "field", "values", "server"),
    [
        (RegisterUserEndpointWebCommand, "userEndpointId", "id{}", _caller_id),
        (InteractionQuery, "type", "{}audio", _interaction_types),
        (CreateCompositionWebCommand, "name", "{}", _composition_name),
    ],
)
def test_the_documents_patterns_refuse_what_the_server_refuses(
    model: type[BaseModel], field: str, values: str, server: Callable[[str], object]
) -> None:
    r"""`\s` in a pattern is three sets: ECMA-262's (a client generated from the document),
    Python's and pydantic's (the server). A caller id or `type` filter holding U+001C or
    U+FEFF, or a composition name of U+0085, was valid by the document and a 400."""
    described = model.model_json_schema(by_alias=True)["properties"][field]  # as documented
    pattern = next(s["pattern"] for s in described.get("anyOf", [described]) if "pattern" in s)
    as_documented = _as_documented(pattern)
    refused = []
    for code in [*range(0x3001), 0xFEFF]:
        value = values.format(chr(code))
        try:
            server(value)
        except (ValidationError, BadRequest):
            refused.append(code)
            assert not as_documented.search(value), f"U+{code:04X}"
    assert refused  # the check ran


async def test_the_documented_page_range_is_the_served_one(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    """The fuzzer asked the compositions listing for page 105537831400909264, which the
    document allowed (no maximum) and the server refused ("page: beyond any listing")."""
    async with http.get("/rtc-api/openapi.json") as response:
        document = await response.json()
    operation = document["paths"]["/composition/api/query/composition"]["get"]
    for parameter in operation["parameters"]:
        if parameter["name"] in ("page", "pageNumber"):
            assert parameter["schema"]["maximum"] == 1_000_000, parameter
    listing = "/composition/api/query/composition"
    last = await agent.call("GET", f"{listing}?page=1000000&size=1000")
    assert last["content"] == []
    beyond = await agent.call("GET", f"{listing}?pageNumber=1000001", expect=400)
    assert beyond["message"].startswith("pageNumber"), beyond


async def test_a_malformed_http_request_logs_no_traceback(
    logged_server: EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    reader, writer = await asyncio.open_connection("127.0.0.1", logged_server.port)
    writer.write(b"GET /rtc-api/openapi.json HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    await writer.drain()
    answer = await reader.read(200)
    writer.close()
    assert answer.startswith((b"HTTP/1.0 400", b"HTTP/1.1 400")), answer
    no_traceback(caplog)


# --- 6: concurrent uploads of one asset --------------------------------------------------


async def test_concurrent_uploads_of_one_asset_leave_one_asset_and_no_orphan(
    server: EmbeddedServer, agent: PlatformUser, caplog: pytest.LogCaptureFixture
) -> None:
    fields = {"applicationId": "app1", "category": "branding", "rolesAllowedAccess": "agent"}

    async def upload(i: int) -> int:
        body = form(fields, file=(f"content {i}".encode(), f"f{i}.txt", "text/plain"))
        async with agent.http.post("/rtc-api/assets/raced", data=body, headers=agent.headers) as r:
            return r.status

    for _ in range(2):  # a new id, then replacing it
        statuses = await asyncio.gather(*(upload(i) for i in range(20)))
        assert set(statuses) == {204}, statuses
    stored = list((server.config.data_dir / "files" / "assets").iterdir())
    assert len(stored) == 1, stored
    listed = await agent.call("GET", "/rtc-api/assets?applicationId=app1")
    assert [a["id"] for a in listed] == ["raced"]
    assert stored[0].read_bytes().startswith(b"content ")
    no_traceback(caplog)


# --- 7: bounded growth: each limit is a 4xx that names it -------------------------------


async def test_limits_are_enforced_and_named(agent: PlatformUser, server: EmbeddedServer) -> None:
    body = await agent.call(
        "POST", "/rtc-api/users/endpoints", json={"keepAliveSeconds": 10**12}, expect=400
    )
    assert "keepAliveSeconds" in body["message"] and "3600" in body["message"]
    data = {"blob": "x" * (64 * 1024)}
    body = await agent.call(
        "POST", "/rtc-api/interactions", json={"type": "video", "data": data}, expect=413
    )
    assert "data" in body["message"] and "65536" in body["message"]
    query = "start=2020-01-01T00:00:00Z&end=2100-01-01T00:00:00Z&size=101"
    body = await agent.call("GET", f"/rtc-api/interactions?{query}", expect=400)
    assert body["message"].startswith("size") and "100" in body["message"]
    huge = {"conferenceId": "c", "metadata": {"k": "v" * (1024 * 1024)}}
    body = await agent.call("POST", "/rtc-api/conferences/create", json=huge, expect=413)
    assert "1048576" in body["message"]


async def test_endpoints_per_user_are_limited() -> None:
    async with (
        EmbeddedServer(
            [CLIENTS["agent1"][0], CLIENTS["agent2"][0]], max_endpoints_per_user=3
        ) as srv,
        aiohttp.ClientSession(srv.base_url) as http,
    ):
        agent, agent2 = await login(http, "agent1"), await login(http, "agent2")
        endpoints = [await agent.register() for _ in range(3)]
        body = await agent.call(
            "POST", "/rtc-api/users/endpoints", json={"keepAliveSeconds": 30}, expect=409
        )
        assert "3 registered endpoints" in body["message"] and "limit" in body["message"]
        await agent2.register()  # the limit is per user
        await agent.register(userEndpointId=endpoints[0])  # renewing one is not a new one
        await agent.call(
            "POST",
            "/rtc-api/users/endpoints/unregister",
            json={"userEndpointId": endpoints[1]},
            expect=204,
        )
        await agent.register()


async def test_endpoints_per_organization_are_limited() -> None:
    """Each login of a customer's ticket is a user of its own, with its own 1000 endpoints:
    three logins of one ticket held 3000, and nothing bounded how many logins there were."""
    clients = [CLIENTS[name][0] for name in ("agent1", "outsider")]
    async with (
        EmbeddedServer(clients, max_endpoints_per_organization=3) as srv,
        aiohttp.ClientSession(srv.base_url) as http,
    ):
        agent, outsider = await login(http, "agent1"), await login(http, "outsider")
        await agent.call("POST", "/rtc-api/conferences/create", json={"conferenceId": "c"})
        ticket = await make_ticket(agent, "c")
        logins = [await customer_login(http, ticket) for _ in range(3)]
        held = [await customer.register() for customer in logins]
        register = {"keepAliveSeconds": 30}
        body = await agent.call("POST", "/rtc-api/users/endpoints", json=register, expect=409)
        assert "3 registered endpoints" in body["message"], body
        assert "per organization" in body["message"], body
        await outsider.register()  # the limit is per organization
        unregister = {"userEndpointId": held[0]}
        await logins[0].call(
            "POST", "/rtc-api/users/endpoints/unregister", json=unregister, expect=204
        )
        await agent.register()


# --- 8: conference ids are per organization -------------------------------------------------


async def test_conference_ids_are_per_organization(
    server: EmbeddedServer, agent: PlatformUser, outsider: PlatformUser, service: PlatformUser
) -> None:
    """Another organization's conference name neither collides with nor reveals ours."""
    create = "/rtc-api/conferences/create"
    await agent.call("POST", create, json={"conferenceId": "kiosk-1"})
    await outsider.call("POST", create, json={"conferenceId": "kiosk-1"})  # was 409
    await agent.call("POST", create, json={"conferenceId": "kiosk-1"}, expect=409)  # own: taken
    ours = await _joined(agent, "kiosk-1")
    theirs = await _joined(outsider, "kiosk-1")
    mine = await agent.call("GET", "/rtc-api/conferences/kiosk-1")
    assert [p["id"] for p in mine["participants"]] == [ours]
    other = await outsider.call("GET", "/rtc-api/conferences/kiosk-1")
    assert [p["id"] for p in other["participants"]] == [theirs]
    # SERVICE callers see every organization's; by a bare id, their own organization's first.
    seen = await service.call("GET", "/rtc-api/conferences/kiosk-1")
    assert [p["id"] for p in seen["participants"]] == [ours]


async def test_endpoint_ids_are_per_organization(
    server: EmbeddedServer, agent: PlatformUser, outsider: PlatformUser, agent2: PlatformUser
) -> None:
    """Another organization's endpoint id neither collides with nor reveals ours; the legacy
    topic, which names no organization, is served to nobody while two organizations hold it."""
    register = "/rtc-api/users/endpoints"
    keepalive = "/rtc-api/users/endpoints/keepalive"
    ours = await agent.register(userEndpointId="kiosk-ep")
    ok = await outsider.call("POST", keepalive, json={"userEndpointId": ours}, expect=404)
    never = await outsider.call("POST", keepalive, json={"userEndpointId": "never"}, expect=404)
    assert ok["message"].replace(ours, "ID") == never["message"].replace("never", "ID")
    theirs = await outsider.register(userEndpointId="kiosk-ep")  # was 409
    assert theirs == ours
    # Within one organization an id is still one endpoint.
    taken = {"keepAliveSeconds": 60, "userEndpointId": ours}
    await agent2.call("POST", register, json=taken, expect=409)
    # Each keeps and leaves its own; the namesake stays registered.
    await agent.call("POST", keepalive, json={"userEndpointId": ours}, expect=204)
    assert server.platform.registrations.get(ours) is None, "two organizations hold it"
    async with mqtt_client(server.port, agent.user_id, agent.access_token) as mqtt:
        refused = await mqtt.subscribe(f"users/endpoints/{ours}", qos=1)
        assert codes(refused) == [0x80]
    unregister = "/rtc-api/users/endpoints/unregister"
    await outsider.call("POST", unregister, json={"userEndpointId": theirs}, expect=204)
    await agent.call("POST", keepalive, json={"userEndpointId": ours}, expect=204)
    assert server.platform.registrations.get(ours) is not None
