"""The durable event log: every state change writes its event in the same transaction.

The live stream (events/bus.py, SSE) is built on this table; here we only write and read it.
Writers take the event-order lock (ids are commit-ordered) and, on PostgreSQL, send the newest
id with NOTIFY in the same transaction, delivered at commit, to wake other instances' buses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, Text, cast, func, insert, select, text

from roundtable.events.models import Event as Event  # defined with the read models
from roundtable.store import tables
from roundtable.store.dialect import backend_of, lock_event_order
from roundtable.store.engine import Conn, Database, write_rows

#: The PostgreSQL NOTIFY channel; its payload is the newest event id a transaction wrote.
NOTIFY_CHANNEL = "roundtable_events"


class EventTypes:
    """The event catalogue's names (payload models: events/catalogue.py; docs/events.md)."""

    SESSION_STARTED = "session.started"
    SESSION_HEARTBEAT = "session.heartbeat"
    SESSION_ENDED = "session.ended"
    SESSION_EXPIRED = "session.expired"
    SESSION_SUPERSEDED = "session.superseded"
    CONTEXT_CHANGED = "context.changed"
    CONTEXT_CONFLICT = "context.conflict"
    JOURNAL_APPENDED = "journal.appended"
    PROJECT_CREATED = "project.created"
    JOURNAL_ROTATED = "journal.rotated"
    CHECKPOINT_SIGNED = "checkpoint.signed"
    CHECKPOINT_REFUSED = "checkpoint.refused"


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


#: Built once: building it per call cost more CPU than running it (issue 16).
_INSERT_EVENTS = insert(tables.events)


async def record(conn: Conn, *rows: dict[str, Any]) -> None:
    """Insert events as the last step of a write transaction (see `lock_event_order`)."""
    if not rows:
        return
    await lock_event_order(conn)
    # One row: a plain execute (a list of one goes through executemany).
    await write_rows(conn, _INSERT_EVENTS, rows[0] if len(rows) == 1 else list(rows))
    if backend_of(conn) == "postgresql":
        # `currval` is this session's last id from the sequence: the newest row just inserted.
        await conn.execute(_NOTIFY_NEWEST, {"channel": NOTIFY_CHANNEL})


async def record_from(conn: Conn, rows: Select[Any], columns: tuple[str, ...]) -> None:
    """Insert events the database computes from `rows` (bulk work, no per-row Python)."""
    await lock_event_order(conn)
    events = tables.events
    statement = insert(events).from_select([events.c[name] for name in columns], rows)
    if backend_of(conn) == "postgresql":
        await _insert_and_notify(conn, statement)
    else:
        await conn.execute(statement)


_NOTIFY_NEWEST = text(
    "SELECT pg_notify(:channel, currval(pg_get_serial_sequence('events', 'id'))::text)"
)


async def _insert_and_notify(conn: Conn, statement: Any) -> None:
    """One round trip: insert, then `pg_notify` the newest id inserted (if any row was; with
    none, `currval` would fail). Bulk inserts only: building the CTE costs more than a trip."""
    inserted = statement.returning(tables.events.c.id).cte("inserted")
    newest = func.max(inserted.c.id)
    await conn.execute(
        select(func.pg_notify(NOTIFY_CHANNEL, cast(newest, Text)))
        .select_from(inserted)
        .having(func.count() > 0)
    )


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
