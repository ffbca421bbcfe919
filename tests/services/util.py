"""Helpers shared by the service and API tests: raw database access, row counts, time travel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from sqlalchemy import func, select, update

from roundtable.config import Settings
from roundtable.events.log import Event, read_after
from roundtable.ids import utcnow
from roundtable.journal.models import Entry, QueryFilter
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.store.engine import Database

TABLES = (
    tables.namespaces,
    tables.agents,
    tables.projects,
    tables.sessions,
    tables.agent_context,
    tables.entries,
    tables.events,
)


@asynccontextmanager
async def open_db(settings: Settings) -> AsyncIterator[Database]:
    """A second, independent connection to the test's database (as an outside party has)."""
    db = Database(settings.effective_database_url)
    try:
        yield db
    finally:
        await db.close()


async def row_counts(db: Database) -> dict[str, int]:
    """Rows in every table: compare before and after a refused request to prove nothing was written."""
    counts: dict[str, int] = {}
    async with db.read() as conn:
        for table in TABLES:
            counts[table.name] = int(
                await conn.scalar(select(func.count()).select_from(table)) or 0
            )
    return counts


async def expire_lease(db: Database, session_id: str, seconds_ago: float = 1.0) -> None:
    """Move a session's lease end into the past (what waiting out the TTL would do)."""
    async with db.write() as conn:
        result = await conn.execute(
            update(tables.sessions)
            .where(tables.sessions.c.id == session_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=seconds_ago))
        )
        assert result.rowcount == 1


async def events_of(db: Database, type_: str, *, agent: str | None = None) -> list[Event]:
    """Every event of `type_` (optionally of one agent), oldest first."""
    found: list[Event] = []
    after = 0
    while True:
        batch = await read_after(db, after, limit=1000)
        if not batch:
            return found
        found.extend(e for e in batch if e.type == type_ and (agent is None or e.agent == agent))
        after = batch[-1].id


async def query_all(core: Roundtable, namespace: str, f: QueryFilter) -> list[Entry]:
    """Follow `next_cursor` to the end, returning every entry the filter selects."""
    entries: list[Entry] = []
    cursor: str | None = None
    for _ in range(10_000):
        page = await core.journal.query(namespace, f.model_copy(update={"cursor": cursor}))
        entries.extend(page.entries)
        cursor = page.next_cursor
        if cursor is None:
            return entries
    raise AssertionError("pagination did not terminate")
