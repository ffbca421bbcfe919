"""The durable event log: every state change writes its event in the same transaction.

The live stream (SSE, LISTEN/NOTIFY) is built on this table; here we only write and read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Select, insert, select

from roundtable.store import tables
from roundtable.store.dialect import lock_event_order
from roundtable.store.engine import Conn, Database


class EventTypes:
    """The event catalogue's names (payloads are described in docs/events.md)."""

    SESSION_STARTED = "session.started"
    SESSION_HEARTBEAT = "session.heartbeat"
    SESSION_ENDED = "session.ended"
    SESSION_EXPIRED = "session.expired"
    SESSION_SUPERSEDED = "session.superseded"
    CONTEXT_CHANGED = "context.changed"
    CONTEXT_CONFLICT = "context.conflict"
    JOURNAL_APPENDED = "journal.appended"
    PROJECT_CREATED = "project.created"


class Event(BaseModel):
    id: int
    ts: datetime
    namespace: str
    type: str
    project: str | None
    agent: str | None
    session_id: str | None
    payload: dict[str, Any]


def event_row(
    ts: datetime,
    namespace: str,
    type: str,
    payload: dict[str, Any],
    *,
    project: str | None = None,
    agent: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    return {
        "ts": ts,
        "namespace": namespace,
        "type": type,
        "payload": payload,
        "project": project,
        "agent": agent,
        "session_id": session_id,
    }


async def record(conn: Conn, *rows: dict[str, Any]) -> None:
    """Insert events as the last step of a write transaction (see `lock_event_order`)."""
    if not rows:
        return
    await lock_event_order(conn)
    await conn.execute(insert(tables.events), list(rows))


async def record_from(conn: Conn, rows: Select[Any], columns: tuple[str, ...]) -> None:
    """Insert events the database computes from `rows` (bulk work, no per-row Python)."""
    await lock_event_order(conn)
    events = tables.events
    await conn.execute(insert(events).from_select([events.c[name] for name in columns], rows))


async def read_after(
    db: Database, after: int = 0, *, namespace: str | None = None, limit: int = 1000
) -> list[Event]:
    """Events with id > `after`, oldest first."""
    query = select(tables.events).where(tables.events.c.id > after)
    if namespace is not None:
        query = query.where(tables.events.c.namespace == namespace)
    async with db.read() as conn:
        rows = (await conn.execute(query.order_by(tables.events.c.id).limit(limit))).mappings()
        return [Event.model_validate(dict(row)) for row in rows]
