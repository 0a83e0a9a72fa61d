"""The Recorder API (seed 004, `/rtc-recorder/api`): start and stop recordings, read them,
add chat lines and cobrowse events, check storage; plus waiting for a recorder's state."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from agent.api.endpoints.base import Endpoints
from agent.api.errors import ApiError
from agent.api.http import Call
from agent.api.models.recorder import (
    AddChatTranscriptCmd,
    AddCobrowseEventCmd,
    ConversationCobrowseSessionDataMessage,
    ConversationMessage,
    RecorderState,
    RecordingDataEvent,
    RecordingDataMessage,
    StartRecording,
    StorageProfileDataMessage,
    StorageVerificationStatusMessage,
    URLResourceMessage,
)

__all__ = ["FINISHED_STATES", "Recorder"]

_BASE = "/rtc-recorder/api"
_RECORDINGS = f"{_BASE}/recordings"
_TRIPLE = f"{_RECORDINGS}/{{conversationId}}/{{recorderId}}/{{instanceId}}"

# Starting twice answers the same recorder (the platform's choice), so a retry is harmless.
START = Call("startRecording", "POST", f"{_RECORDINGS}/start", idempotent=True)
STOP = Call("stopRecording", "POST", f"{_TRIPLE}/stop", idempotent=True)
STATE = Call("getRecorderState", "GET", f"{_TRIPLE}/state")
GET = Call("getRecording", "GET", _TRIPLE)
STORAGE_INFO = Call("getRecorderStorageInfo", "GET", f"{_TRIPLE}/storage/info")
ACTIVE = Call("getActiveRecorder", "GET", f"{_RECORDINGS}/{{conversationId}}/active")
CONVERSATION = Call("getConversationRecordings", "GET", f"{_RECORDINGS}/{{conversationId}}")
FOR_COMPOSITION = Call(
    "getRecordingForComposition", "GET", f"{_BASE}/compositions/{{conversationId}}"
)
# Chat lines are deduplicated by the platform, so sending them again changes nothing.
ADD_CHAT = Call("addChatTranscript", "POST", f"{_RECORDINGS}/chat/transcript/add", idempotent=True)
# A repeated sequenceId is ignored: a retry is safe.
ADD_COBROWSE = Call("addCobrowseEvent", "POST", f"{_RECORDINGS}/cobrowse/event", idempotent=True)
COBROWSE_SESSIONS = Call("getCobrowseSessions", "GET", f"{_RECORDINGS}/{{conversationId}}/cobrowse")
COBROWSE_URL = Call(
    "getCobrowseAttachmentUrl", "GET", f"{_TRIPLE}/cobrowse/{{sessionId}}/url/attachment"
)
COBROWSE_ATTACHMENT = Call(
    "getCobrowseAttachment",
    "GET",
    f"{_RECORDINGS}/attachment/cobrowse/{{conversationId}}/{{recorderId}}/{{instanceId}}"
    "/{sessionId}/{fileName}",
    authenticated=False,
)
VERIFY_STORAGE = Call(
    "verifyStorageProvider", "POST", f"{_BASE}/storageproviders/{{applicationId}}/verify"
)

FINISHED_STATES = frozenset({RecorderState.STOPPED, RecorderState.FAILED, RecorderState.ABORTED})


def _triple(conversation_id: str, recorder_id: str, instance_id: str) -> dict[str, str | int]:
    return {
        "conversationId": conversation_id,
        "recorderId": recorder_id,
        "instanceId": instance_id,
    }


class Recorder(Endpoints):
    """``client.recorder``: one method per endpoint of seed 004, plus `wait_state`."""

    async def start(self, command: StartRecording) -> RecordingDataEvent:
        """Start recording a conference; answers INITIALISED (see `wait_state` for ACTIVE)."""
        return await self._fetch(START, RecordingDataEvent, command)

    async def stop(self, conversation_id: str, recorder_id: str, instance_id: str) -> None:
        """Stop; the platform answers once the files are complete."""
        path = _triple(conversation_id, recorder_id, instance_id)
        await self._send(STOP, path_params=path)

    async def state(
        self, conversation_id: str, recorder_id: str, instance_id: str
    ) -> RecordingDataEvent:
        path = _triple(conversation_id, recorder_id, instance_id)
        return await self._fetch(STATE, RecordingDataEvent, path_params=path)

    async def get(
        self, conversation_id: str, recorder_id: str, instance_id: str
    ) -> RecordingDataMessage:
        path = _triple(conversation_id, recorder_id, instance_id)
        return await self._fetch(GET, RecordingDataMessage, path_params=path)

    async def storage_info(
        self, conversation_id: str, recorder_id: str, instance_id: str
    ) -> StorageProfileDataMessage:
        path = _triple(conversation_id, recorder_id, instance_id)
        return await self._fetch(STORAGE_INFO, StorageProfileDataMessage, path_params=path)

    async def active(self, conversation_id: str) -> RecordingDataEvent | None:
        """The conversation's active recorder, None when there is none (404)."""
        try:
            return await self._fetch(
                ACTIVE, RecordingDataEvent, path_params={"conversationId": conversation_id}
            )
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def conversation(self, conversation_id: str) -> ConversationMessage:
        return await self._fetch(
            CONVERSATION, ConversationMessage, path_params={"conversationId": conversation_id}
        )

    async def for_composition(self, conversation_id: str) -> RecordingDataMessage:
        """The conversation's latest recording, as the composer reads it."""
        return await self._fetch(
            FOR_COMPOSITION, RecordingDataMessage, path_params={"conversationId": conversation_id}
        )

    async def add_chat_transcript(self, command: AddChatTranscriptCmd) -> None:
        await self._send(ADD_CHAT, command)

    async def add_cobrowse_event(self, command: AddCobrowseEventCmd) -> None:
        await self._send(ADD_COBROWSE, command)

    async def cobrowse_sessions(
        self, conversation_id: str
    ) -> ConversationCobrowseSessionDataMessage:
        return await self._fetch(
            COBROWSE_SESSIONS,
            ConversationCobrowseSessionDataMessage,
            path_params={"conversationId": conversation_id},
        )

    async def cobrowse_url(
        self,
        conversation_id: str,
        recorder_id: str,
        instance_id: str,
        session_id: str,
        *,
        referer: str,
    ) -> URLResourceMessage:
        """A signed URL of a cobrowse session's events (download it with
        ``AuviousClient.download``); the contract requires a ``Referer``."""
        path = {**_triple(conversation_id, recorder_id, instance_id), "sessionId": session_id}
        return await self._fetch(
            COBROWSE_URL, URLResourceMessage, path_params=path, headers={"Referer": referer}
        )

    async def cobrowse_attachment(
        self,
        conversation_id: str,
        recorder_id: str,
        instance_id: str,
        session_id: str,
        file_name: str,
        *,
        date: str,
        expires: str,
        signature: str,
    ) -> bytes:
        """The session's events behind a signed URL, from its parts."""
        path = {
            **_triple(conversation_id, recorder_id, instance_id),
            "sessionId": session_id,
            "fileName": file_name,
        }
        query: dict[str, str] = {"Date": date, "Expires": expires, "Signature": signature}
        return await self._download(COBROWSE_ATTACHMENT, path_params=path, query=query)

    async def verify_storage(self, application_id: str) -> StorageVerificationStatusMessage:
        return await self._fetch(
            VERIFY_STORAGE,
            StorageVerificationStatusMessage,
            path_params={"applicationId": application_id},
        )

    async def wait_state(
        self,
        conversation_id: str,
        recorder_id: str,
        instance_id: str,
        states: Collection[RecorderState | str],
        *,
        within: float = 10.0,
        poll: float = 0.1,
    ) -> RecordingDataEvent:
        """Poll `state` until it is one of `states`; TimeoutError naming the last one seen.

        A finished recorder (STOPPED, FAILED, ABORTED) never changes again: reaching one that
        is not wanted raises at once (RuntimeError with its error)."""
        wanted = {str(s) for s in states}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            event = await self.state(conversation_id, recorder_id, instance_id)
            if str(event.state) in wanted:
                return event
            if event.state in FINISHED_STATES:
                reason = event.error.message if event.error else "no error given"
                raise RuntimeError(f"recorder {recorder_id} ended {event.state}: {reason}")
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"recorder {recorder_id} still {event.state} after {within:g}s, "
                    f"not {' or '.join(sorted(wanted))}"
                )
            await asyncio.sleep(poll)
