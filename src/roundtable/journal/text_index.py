"""SQLite's full-text index of journal entries, written in batches (issue 16).

FTS5 writes a new segment (several pages) per transaction that touches `entries_fts`, which
made the index ~0.05 ms of every ~0.26 ms append. So appends no longer index their entries
(migration 0010): the `markers` row `entries_fts_upto` says which entries the index holds (ids
up to it), and `catch_up` indexes the rest in one statement. Appends call it, in their own
transaction, once this process has appended `BATCH` entries since it last did (so the
un-indexed tail stays below `BATCH` per writing process); searches call it first whenever the
tail is not empty (`search_snapshot`), so a search still finds every entry committed before it
began. The delete and update triggers touch the index only for ids up to the marker.

PostgreSQL indexes each row with the row itself (a generated `tsvector` column): all of this is
a no-op there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from roundtable.store.engine import Conn, Database
from roundtable.store.sqlite_writer import InlineConnection

#: Entries a process appends before it indexes the tail in an append's transaction.
BATCH = 64

#: The `markers` row holding the highest entry id the index holds (migration 0010).
MARKER = "entries_fts_upto"

#: Key of this process's count of entries appended since its last catch-up, kept in the SQLite
#: write connection's `info` (one per database per process).
_PENDING = "roundtable_entries_unindexed"

_TAIL = text(
    "SELECT (SELECT value FROM markers WHERE name = :marker), "
    "(SELECT coalesce(max(id), 0) FROM entries)"
).bindparams(marker=MARKER)
_INDEX = text(
    "INSERT INTO entries_fts(rowid, message) "
    "SELECT id, message FROM entries WHERE id > :upto AND id <= :top ORDER BY id"
)
_ADVANCE = text("UPDATE markers SET value = :top WHERE name = :marker").bindparams(marker=MARKER)


async def catch_up(conn: Conn) -> int:
    """Index the entries not indexed yet, in the caller's write transaction; returns how many
    ids that covered (0: none pending, or PostgreSQL). The marker is read under the write lock,
    so processes catching up concurrently never index an entry twice."""
    if conn.dialect.name != "sqlite":
        return 0
    upto, top = (await conn.execute(_TAIL)).one()
    if top <= upto:
        return 0
    await conn.execute(_INDEX, {"upto": upto, "top": top})
    await conn.execute(_ADVANCE, {"top": top})
    return int(top - upto)


async def appended(conn: Conn, count: int) -> None:
    """Count `count` entries just appended in this write transaction; index the tail in it
    once this process has appended `BATCH` since it last did. No extra query otherwise."""
    if not isinstance(conn, InlineConnection):  # PostgreSQL: indexed with the row
        return
    info = conn.sync.info
    pending = info.get(_PENDING, 0) + count
    if pending < BATCH:
        info[_PENDING] = pending
        return
    info[_PENDING] = 0
    await catch_up(conn)


@asynccontextmanager
async def search_snapshot(db: Database, searching: bool = True) -> AsyncIterator[AsyncConnection]:
    """A read transaction (`db.read()`) whose snapshot the index covers entirely when
    `searching` (SQLite): every entry committed before it is found by a text search in it.

    The tail is read in that transaction first (one cheap statement); only when it is not empty
    is the transaction left, the tail indexed in a short write, and a new one begun. Entries
    committed after that are newer than the search: it may miss them."""
    if searching and db.backend == "sqlite":
        async with db.read() as conn:
            upto, top = (await conn.execute(_TAIL)).one()
            if top <= upto:
                yield conn
                return
        async with db.write() as writer:
            await catch_up(writer)
    async with db.read() as conn:
        yield conn
