"""What a recording carries besides media: the conversation's chat transcript and its
co-browsing sessions, each kept as a record and written as a JSON file in the local store.

Chat lines merge into one transcript per conversation (sorted by time, duplicates dropped, so
a client may re-send). Cobrowse events are kept per session in `sequenceId` order, a repeated
`sequenceId` ignored (a retry); the session's file is rewritten at every event.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from agent.api.models.recorder import (
    AddChatTranscriptCmd,
    AddCobrowseEventCmd,
    ChatTranscriptData,
    CobrowseSessionDataMessage,
)
from server.errors import Conflict, NotFound
from server.http import check_resource_id
from server.recorder.service import now_utc
from server.recorder.store import RecordingRecord
from server.storage import Condition, Query, Storage, StoredRecord, epoch_ms

CHAT_KIND = "chat_transcript"
COBROWSE_KIND = "cobrowse_session"


def _chat_id(organization_id: str, conversation_id: str) -> str:
    return f"{organization_id}/{conversation_id}"


def chat_transcript(storage: Storage, record: RecordingRecord) -> ChatTranscriptData | None:
    """The transcript of the recording's conversation, if any chat line was added."""
    stored = storage.records.get(
        CHAT_KIND, _chat_id(record.organization_id, record.conversation_id)
    )
    return _chat_view(stored) if stored is not None else None


def _chat_view(stored: StoredRecord) -> ChatTranscriptData:
    body = stored.body
    return ChatTranscriptData(
        id=body["id"],
        created=body["created"],
        location=f"{stored.organization_id}/{body['conversation_id']}/chat/{body['id']}.json",
    )


async def add_chat_lines(
    storage: Storage, record: RecordingRecord, command: AddChatTranscriptCmd
) -> ChatTranscriptData:
    record_id = _chat_id(record.organization_id, record.conversation_id)
    stored = storage.records.get(CHAT_KIND, record_id)
    lines = [e.to_wire() for e in command.chat_transcript_list]
    if stored is None:
        moment = now_utc()
        body: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "conversation_id": record.conversation_id,
            "created": moment.isoformat(),
            "entries": [],
            "recorders": [],
            "file_key": None,
        }
    else:
        body = dict(stored.body)
    seen = {(e["timeStamp"], e["userId"], e["transcript"]) for e in body["entries"]}
    for line in lines:
        key = (line["timeStamp"], line["userId"], line["transcript"])
        if key not in seen:
            seen.add(key)
            body["entries"].append(line)
    body["entries"].sort(key=lambda e: e["timeStamp"])
    if record.recorder_id not in body["recorders"]:
        body["recorders"].append(record.recorder_id)
    old_key = body["file_key"]
    data = json.dumps(
        {"conversationId": record.conversation_id, "chatTranscriptList": body["entries"]}
    )
    body["file_key"] = await storage.files.save("transcripts", data.encode())
    if stored is None:
        stored = storage.records.insert(
            CHAT_KIND, record_id, record.organization_id, epoch_ms(now_utc()), body
        )
    else:
        storage.records.update(CHAT_KIND, record_id, body)
    if old_key:
        await storage.files.delete("transcripts", old_key)
    return _chat_view(StoredRecord(record_id, record.organization_id, 0, 0, body))


# --- cobrowse ---------------------------------------------------------------------------------


def _session_id(recorder_id: str, session_id: str) -> str:
    return f"{recorder_id}/{session_id}"


async def add_cobrowse_event(
    storage: Storage, record: RecordingRecord, command: AddCobrowseEventCmd
) -> None:
    """Keep one event of an active recorder's session (409 once the recorder is finished)."""
    if not record.state.is_active:
        raise Conflict(
            f"recorder {record.recorder_id} is {record.state}: cobrowse sessions are recorded "
            "only while the call is"
        )
    event = command.event
    check_resource_id("event.sessionId", event.session_id)
    record_id = _session_id(record.recorder_id, event.session_id)
    stored = storage.records.get(COBROWSE_KIND, record_id)
    if stored is None:
        body: dict[str, Any] = {
            "conversation_id": record.conversation_id,
            "recorder_id": record.recorder_id,
            "instance_id": record.instance_id,
            "session_id": event.session_id,
            "events": {},
            "uploaded": None,
            "file_key": None,
        }
    else:
        body = dict(stored.body)
    sequence = str(event.sequence_id)
    if sequence in body["events"]:
        return  # a retry of an event already kept
    body["events"][sequence] = event.to_wire()
    ordered = [body["events"][k] for k in sorted(body["events"], key=int)]
    old_key = body["file_key"]
    body["file_key"] = await storage.files.save("cobrowse", json.dumps(ordered).encode())
    body["uploaded"] = now_utc().isoformat()
    if stored is None:
        storage.records.insert(
            COBROWSE_KIND, record_id, record.organization_id, epoch_ms(now_utc()), body
        )
    else:
        storage.records.update(COBROWSE_KIND, record_id, body)
    if old_key:
        await storage.files.delete("cobrowse", old_key)


def cobrowse_sessions(
    storage: Storage, conversation_id: str, organization_id: str | None
) -> list[CobrowseSessionDataMessage]:
    query = Query(
        organization_id=organization_id,
        conditions=[Condition("$.conversation_id", "=", conversation_id)],
        order_by=[("$created_at", True)],
    )
    return [
        CobrowseSessionDataMessage(
            cobrowse_session_id=r.body["session_id"],
            recorder_id=r.body["recorder_id"],
            recorder_instance_id=r.body["instance_id"],
            uploaded=r.body["uploaded"],
        )
        for r in storage.records.find(COBROWSE_KIND, query)
    ]


def cobrowse_file_key(storage: Storage, record: RecordingRecord, session_id: str) -> str:
    """The stored file of one session of the recording; 404 if there is none."""
    stored = storage.records.get(COBROWSE_KIND, _session_id(record.recorder_id, session_id))
    if stored is None or not stored.body.get("file_key"):
        raise NotFound(f"cobrowse session {session_id} of recorder {record.recorder_id} not found")
    key: str = stored.body["file_key"]
    return key
