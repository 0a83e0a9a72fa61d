"""The Recorder API (seed 004) at `/rtc-recorder/api`: start, stop and read recordings, chat
transcripts, cobrowse sessions and storage checks.

The seed names no roles: AGENT, SUPERVISOR and SERVICE may record and read, storage checks
need SUPERVISOR, ADMIN or SERVICE, customers get 403 everywhere. Another organization's
recordings answer 404. The cobrowse file route is public: its Date/Expires/Signature query
is the credential (`UrlSigner.sign_path`).
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

from aiohttp import web

from agent.api.models.base import RESOURCE_ID_PATTERN
from agent.api.models.common import SignedPlayerQuery
from agent.api.models.recorder import (
    AddChatTranscriptCmd,
    AddCobrowseEventCmd,
    CobrowseUrlQuery,
    ConversationCobrowseSessionDataMessage,
    ConversationMessage,
    RecordingDataEvent,
    RecordingDataMessage,
    StartRecording,
    StorageProfileDataMessage,
    StorageVerificationStatusMessage,
    URLResourceMessage,
)
from server.auth.caller import CALLER_KEY, Caller
from server.auth.middleware import AUTH_PREFIXES_KEY, BARE_TOKEN_PREFIXES_KEY, public
from server.composition.recordings import RECORDINGS_KEY
from server.errors import Forbidden, NotFound
from server.http import check_path_copies, check_resource_id, json_response
from server.openapi import operation, parameter_schema
from server.platform import PLATFORM_KEY
from server.recorder import attachments
from server.recorder.service import Recorders
from server.recorder.store import (
    FILE_KIND,
    RECORDING_KIND,
    RecordingRecord,
    StoredRecordings,
    load_recording,
)
from server.recorder.verify import verify_store
from server.recorder.views import (
    conversation_message,
    data_event,
    data_message,
    storage_profile,
)
from server.signing import DEFAULT_TTL_SECONDS, SignatureError
from server.storage import STORAGE_KEY, storage_of
from server.storage.downloads import Content, content_response

BASE = "/rtc-recorder/api"
RECORDERS_KEY = web.AppKey("auvious_recorders", Recorders)
VERIFY_ROLES = ("SUPERVISOR", "ADMIN", "SERVICE")
_ERRORS = (400, 403, 404)
_TRIPLE = "{conversationId}/{recorderId}/{instanceId}"
parameter_schema("path", "applicationId", {"type": "string", "pattern": RESOURCE_ID_PATTERN})


def recorders_of(request: web.Request) -> Recorders:
    return request.app[RECORDERS_KEY]


def _triple(request: web.Request) -> tuple[Caller, RecordingRecord]:
    info = request.match_info
    caller = request[CALLER_KEY]
    record = recorders_of(request).find(
        caller, info["conversationId"], info["recorderId"], info["instanceId"]
    )
    return caller, record


def _message(request: web.Request, record: RecordingRecord) -> RecordingDataMessage:
    return data_message(record, attachments.chat_transcript(storage_of(request), record))


# --- recordings -------------------------------------------------------------------------------


@operation(
    "Start recording a conference for a conversation", response=RecordingDataEvent, errors=_ERRORS
)
async def start(request: web.Request, body: StartRecording) -> web.Response:
    record = await recorders_of(request).start(request[CALLER_KEY], body)
    return json_response(data_event(record))


@operation("Stop a recorder; answers once its files are complete", errors=_ERRORS)
async def stop(request: web.Request) -> web.Response:
    info = request.match_info
    await recorders_of(request).stop(
        request[CALLER_KEY], info["conversationId"], info["recorderId"], info["instanceId"]
    )
    return web.Response(status=200)


@operation("A recorder's state", response=RecordingDataEvent, errors=_ERRORS)
async def state(request: web.Request) -> web.Response:
    return json_response(data_event(_triple(request)[1]))


@operation("One recording in full", response=RecordingDataMessage, errors=_ERRORS)
async def recording(request: web.Request) -> web.Response:
    return json_response(_message(request, _triple(request)[1]))


@operation("A recorder's storage profile", response=StorageProfileDataMessage, errors=_ERRORS)
async def storage_info(request: web.Request) -> web.Response:
    record = _triple(request)[1]
    return json_response(storage_profile(record.application_id, record.organization_id))


@operation("The conversation's active recorder", response=RecordingDataEvent, errors=_ERRORS)
async def active(request: web.Request) -> web.Response:
    record = recorders_of(request).active(request[CALLER_KEY], request.match_info["conversationId"])
    return json_response(data_event(record))


@operation("Every recording of a conversation", response=ConversationMessage, errors=_ERRORS)
async def conversation(request: web.Request) -> web.Response:
    records = recorders_of(request).of_conversation(
        request[CALLER_KEY], request.match_info["conversationId"]
    )
    chat = attachments.chat_transcript(storage_of(request), records[-1])
    return json_response(conversation_message(records, chat))


@operation(
    "The conversation's latest recording, as the composer reads it",
    response=RecordingDataMessage,
    errors=_ERRORS,
)
async def for_composition(request: web.Request) -> web.Response:
    records = recorders_of(request).of_conversation(
        request[CALLER_KEY], request.match_info["conversationId"]
    )
    latest = max(records, key=lambda r: r.started)
    return json_response(_message(request, latest))


# --- chat and cobrowse ------------------------------------------------------------------------


@operation("Add chat lines to the conversation's transcript", errors=_ERRORS)
async def add_chat_transcript(request: web.Request, body: AddChatTranscriptCmd) -> web.Response:
    record = recorders_of(request).find(
        request[CALLER_KEY], body.conversation_id, body.recorder_id, body.instance_id
    )
    await attachments.add_chat_lines(storage_of(request), record, body)
    return web.Response(status=200)


@operation("Record one cobrowse event (409 once the recorder has finished)", errors=(*_ERRORS, 409))
async def add_cobrowse_event(request: web.Request, body: AddCobrowseEventCmd) -> web.Response:
    record = recorders_of(request).find(
        request[CALLER_KEY], body.conversation_id, body.recorder_id, body.instance_id
    )
    await attachments.add_cobrowse_event(storage_of(request), record, body)
    return web.Response(status=200)


@operation(
    "The conversation's cobrowse sessions",
    response=ConversationCobrowseSessionDataMessage,
    errors=_ERRORS,
)
async def cobrowse_sessions(request: web.Request) -> web.Response:
    caller = request[CALLER_KEY]
    conversation_id = request.match_info["conversationId"]
    recorders_of(request).of_conversation(caller, conversation_id)  # 404 when unknown
    sessions = attachments.cobrowse_sessions(
        storage_of(request), conversation_id, None if caller.is_service else caller.organization
    )
    return json_response(
        ConversationCobrowseSessionDataMessage(
            conversation_id=conversation_id, cobrowse_sessions=sessions
        )
    )


@operation(
    "A signed URL of a cobrowse session's events",
    response=URLResourceMessage,
    required_headers=("Referer",),
    errors=_ERRORS,
)
async def cobrowse_url(request: web.Request, query: CobrowseUrlQuery) -> web.Response:
    info = request.match_info
    check_path_copies(
        (
            ("conversationId", query.conversation_id, info["conversationId"]),
            ("id", query.id, info["recorderId"]),
            ("instanceId", query.instance_id, info["instanceId"]),
        )
    )
    _, record = _triple(request)
    session_id = info["sessionId"]
    attachments.cobrowse_file_key(storage_of(request), record, session_id)  # 404 when none
    path = "/".join(
        quote(part, safe="")
        for part in (
            record.conversation_id,
            record.recorder_id,
            record.instance_id,
            session_id,
            f"{session_id}.json",
        )
    )
    signed_path = f"{BASE}/recordings/attachment/cobrowse/{path}"
    signature, valid_until = storage_of(request).signer.sign_path(signed_path, DEFAULT_TTL_SECONDS)
    url = f"{request.url.origin()}{signed_path}?{urlencode(signature)}"
    return json_response(URLResourceMessage(url=url, valid_until=valid_until))


@operation(
    "Download a cobrowse session's events; the signature is the credential",
    headers=("Range",),
    response=bytes,
    errors=(400, 403, 404),
)
@public
async def cobrowse_attachment(request: web.Request, query: SignedPlayerQuery) -> web.StreamResponse:
    storage = storage_of(request)
    try:
        storage.signer.verify_path(
            request.rel_url.raw_path, query.date, query.expires, query.signature
        )
    except SignatureError as exc:
        raise Forbidden(str(exc)) from None
    info = request.match_info
    stored = storage.records.get(RECORDING_KIND, info["recorderId"])
    record = load_recording(stored) if stored is not None else None
    if record is None or (record.conversation_id, record.instance_id) != (
        info["conversationId"],
        info["instanceId"],
    ):
        raise NotFound(f"recorder {info['recorderId']} not found")
    session_id = info["sessionId"]
    if info["fileName"] != f"{session_id}.json":
        raise NotFound(f"no file {info['fileName']} in cobrowse session {session_id}")
    key = attachments.cobrowse_file_key(storage, record, session_id)
    return content_response(
        Content(storage.files.path("cobrowse", key), "application/json", info["fileName"])
    )


# --- storage --------------------------------------------------------------------------------


@operation(
    "Check the recording store with real probes",
    response=StorageVerificationStatusMessage,
    errors=(400, 403),
)
async def verify(request: web.Request) -> web.Response:
    caller = request[CALLER_KEY]
    if caller.is_customer:
        raise Forbidden("customers cannot check storage")
    caller.require_role(*VERIFY_ROLES, action="checking storage")
    check_resource_id("applicationId", request.match_info["applicationId"])
    root = storage_of(request).files.directory(FILE_KIND)
    return json_response(await asyncio.to_thread(verify_store, root))


def setup(app: web.Application) -> None:
    app[AUTH_PREFIXES_KEY].append(f"{BASE}/")
    app[BARE_TOKEN_PREFIXES_KEY].append(f"{BASE}/")
    platform = app[PLATFORM_KEY]
    storage = app[STORAGE_KEY]
    app[RECORDERS_KEY] = Recorders(
        platform.conferences,
        platform.router,
        storage,
        max_seconds=platform.config.max_recording_seconds,
    )
    app[RECORDINGS_KEY] = StoredRecordings(storage)  # what the composer reads

    async def open_recorders(app: web.Application) -> None:
        await app[RECORDERS_KEY].open()

    async def close_recorders(app: web.Application) -> None:
        # on_shutdown runs before the cleanup that ends conferences: files are finished and
        # sessions say ABORTED (the server went away), not STOPPED.
        if RECORDERS_KEY in app:
            await app[RECORDERS_KEY].close()

    app.on_startup.append(open_recorders)
    app.on_shutdown.append(close_recorders)
    r = app.router
    recordings = f"{BASE}/recordings"
    # The signed route first: its path has the same shape as the URL route below.
    r.add_get(
        f"{recordings}/attachment/cobrowse/{_TRIPLE}/{{sessionId}}/{{fileName}}",
        cobrowse_attachment,
    )
    r.add_get(f"{BASE}/compositions/{{conversationId}}", for_composition)
    r.add_post(f"{recordings}/chat/transcript/add", add_chat_transcript)
    r.add_post(f"{recordings}/cobrowse/event", add_cobrowse_event)
    r.add_post(f"{recordings}/start", start)
    r.add_get(f"{recordings}/{{conversationId}}", conversation)
    r.add_get(f"{recordings}/{{conversationId}}/active", active)
    r.add_get(f"{recordings}/{{conversationId}}/cobrowse", cobrowse_sessions)
    r.add_get(f"{recordings}/{_TRIPLE}", recording)
    r.add_get(f"{recordings}/{_TRIPLE}/cobrowse/{{sessionId}}/url/attachment", cobrowse_url)
    r.add_get(f"{recordings}/{_TRIPLE}/state", state)
    r.add_post(f"{recordings}/{_TRIPLE}/stop", stop)
    r.add_get(f"{recordings}/{_TRIPLE}/storage/info", storage_info)
    r.add_post(f"{BASE}/storageproviders/{{applicationId}}/verify", verify)
