"""SQLite's full-text index of journal entries, written in batches (issue 16).

FTS5 writes a new segment (several pages) per transaction that touches `entries_fts`, which
made the index ~0.05 ms of every ~0.26 ms append. So appends no longer index their entries
(migration 0010): the `markers` row `entries_fts_upto` says which entries the index holds (ids
up to it), and `catch_up` indexes the rest in one statement. Appends call it, in their own
transaction, once this process has appended `BATCH` entries since it last did (so the
un-indexed tail stays below `BATCH` per writing process); searches call it first whenever the
tail is not empty (`before_search`), so a search still finds every entry committed before it
began. The delete and update triggers touch the index only for ids up to the marker.

PostgreSQL indexes each row with the row itself (a generated `tsvector` column): all of this is
a no-op there.
"""

from __future__ import annotations

from sqlalchemy import text

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


async def before_search(db: Database) -> None:
    """Make the index hold every entry committed so far (SQLite), so a text search that reads
    after this sees them all: a cheap read of the tail, and a short write only if it is not
    empty. Entries committed after this are newer than the search: it may miss them."""
    if db.backend != "sqlite":
        return
    async with db.read() as conn:
        upto, top = (await conn.execute(_TAIL)).one()
    if top > upto:
        async with db.write() as conn:
            await catch_up(conn)
