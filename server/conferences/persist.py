"""Conferences as records that outlive the process (issue 16).

A real platform keeps a conference, its metadata and its interaction across its own restart:
the ids stay valid. Membership, streams and media are live and are not kept: after a restart
the participants re-register, rejoin and republish. The record is rewritten after every change
of the conference (each event bumps its version, so events after a restart keep counting up
from where they were and a client's ordering never sees a version go back).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent.api.models.conferences import ConferenceMode
from server.conferences.state import ConferenceState, MetadataEntry
from server.storage.records import RecordStore

KIND = "conference"


def body(conference: ConferenceState) -> dict[str, Any]:
    return {
        "mode": str(conference.mode),
        "creator": conference.creator,
        "creatorEndpoint": conference.creator_endpoint,
        "interactionId": conference.interaction_id,
        "metadata": {
            key: {
                "value": m.value,
                "userId": m.user_id,
                "endpointId": m.endpoint_id,
                "lastModified": m.last_modified.isoformat(),
            }
            for key, m in conference.metadata.items()
        },
        "version": conference.version,
        "ended": conference.ended,
    }


class ConferenceRecords:
    """Writes and reads the `conference` records of one record store."""

    def __init__(self, store: RecordStore) -> None:
        self._store = store

    def save(self, conference: ConferenceState, created_at_ms: int) -> None:
        key = _key(conference.organization_id, conference.id)
        if self._store.update(KIND, key, body(conference)) is None:
            self._store.insert(
                KIND, key, conference.organization_id, created_at_ms, body(conference)
            )

    def load(self, now: float) -> list[ConferenceState]:
        """The conferences that had not ended, empty (nobody is in them after a restart): they
        end after the empty-conference time unless someone rejoins."""
        loaded = []
        for record in self._store.find(KIND):
            data = record.body
            if data.get("ended"):
                continue
            loaded.append(
                ConferenceState(
                    id=record.id.removeprefix(_key(record.organization_id, "")),
                    mode=ConferenceMode(data.get("mode", ConferenceMode.ROUTER)),
                    organization_id=record.organization_id,
                    creator=data["creator"],
                    creator_endpoint=data.get("creatorEndpoint"),
                    interaction_id=data.get("interactionId"),
                    metadata={
                        key: MetadataEntry(
                            m.get("value"),
                            m.get("userId", ""),
                            m.get("endpointId", ""),
                            datetime.fromisoformat(m["lastModified"]),
                        )
                        for key, m in (data.get("metadata") or {}).items()
                    },
                    created_at=now,
                    version=int(data.get("version", 0)),
                    empty_since=now,
                )
            )
        return loaded


def _key(organization_id: str, conference_id: str) -> str:
    """Conference ids are unique per organization; `/` never occurs in one (a caller-chosen
    id must fit a URL path segment), so it separates the two."""
    return f"{organization_id}/{conference_id}"
