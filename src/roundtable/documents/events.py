"""The context store's event types (ids and counts only, never content), in the catalogue."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from roundtable.events import log
from roundtable.events.catalogue import Payload, register
from roundtable.ids import utcnow

CREATED = "document.created"
UPDATED = "document.updated"
DELETED = "document.deleted"
EXPIRED = "document.expired"
PROMOTED = "document.promoted"


class DocumentCreated(Payload):
    document_id: str
    version: int
    lifecycle: Literal["temporal", "persistent"]
    root_session: str | None = Field(description="The tree's root session; null: namespace.")


class DocumentUpdated(Payload):
    document_id: str
    version: int
    change: Literal["content", "edit", "lifecycle"]
    mode: Literal["versioned", "last_write_wins"]


class DocumentDeleted(Payload):
    document_ids: list[str]
    count: int
    reason: Literal["deleted", "tree_deleted"]


class DocumentExpired(Payload):
    root_session: str
    document_ids: list[str]
    count: int


class DocumentPromoted(Payload):
    document_id: str
    version: int
    lifecycle: Literal["persistent"]


register(CREATED, DocumentCreated)
register(UPDATED, DocumentUpdated)
register(DELETED, DocumentDeleted)
register(EXPIRED, DocumentExpired)
register(PROMOTED, DocumentPromoted)


def row(
    namespace: str,
    type_: str,
    payload: dict[str, Any],
    *,
    agent: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    return log.event_row(utcnow(), namespace, type_, payload, agent=agent, session_id=session_id)
