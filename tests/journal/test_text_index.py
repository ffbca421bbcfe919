"""Full-text indexing in batches (issue 16, migration 0010): appends leave a short tail of
entries that SQLite's FTS5 index does not hold yet, and a text search still finds every entry
committed before it, whatever wrote it (this process, another one, a migration); changes to
entries indexed or not keep the index consistent. PostgreSQL indexes each row with the row."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from asyncio.subprocess import PIPE

import pytest
from alembic import command
from sqlalchemy import text

from roundtable.config import Settings
from roundtable.journal import text_index
from roundtable.journal.models import EntryInput, QueryFilter
from roundtable.runtime import Roundtable
from roundtable.store import migrate
from roundtable.store.engine import Database
from tests.live import env_for
from tests.services.test_query_text import fts_consistent
from tests.services.util import query_all

NS = "default"


async def tail(db: Database) -> int:
    """How many entry ids above the index's marker (SQLite; 0 on PostgreSQL)."""
    if db.backend != "sqlite":
        return 0
    async with db.read() as conn:
        upto, top = (
            await conn.execute(
                text(
                    "SELECT (SELECT value FROM markers WHERE name = 'entries_fts_upto'), "
                    "(SELECT coalesce(max(id), 0) FROM entries)"
                )
            )
        ).one()
    return int(top - upto)


async def found(core: Roundtable, words: str) -> list[str]:
    got = await query_all(core, NS, QueryFilter(text=words, order="oldest", limit=500))
    return [e.message for e in got]


async def test_an_entry_appended_just_now_is_found(core: Roundtable) -> None:
    await core.journal.create_project(NS, "a", "p")
    await core.journal.append(NS, "a", "p", [EntryInput(message=f"fresh {i}") for i in range(3)])
    if core.db.backend == "sqlite":
        assert await tail(core.db) == 3  # not indexed by the append itself
    assert await found(core, "fresh") == ["fresh 0", "fresh 1", "fresh 2"]
    assert await tail(core.db) == 0
    await fts_consistent(core)


async def test_many_appends_keep_the_tail_short_and_are_all_found(core: Roundtable) -> None:
    await core.journal.create_project(NS, "a", "p")
    for i in range(200):
        await core.journal.append(NS, "a", "p", [EntryInput(message=f"bulk w{i}")])
    assert await tail(core.db) < text_index.BATCH  # appends index it as they go
    assert await found(core, "bulk") == [f"bulk w{i}" for i in range(200)]
    assert await found(core, "w137") == ["bulk w137"]
    await fts_consistent(core)


@pytest.mark.only_backend("sqlite")
async def test_changes_to_indexed_and_unindexed_entries_keep_the_index_consistent(
    core: Roundtable,
) -> None:
    """Updating or deleting an entry the index does not hold yet must not touch the index
    (FTS5 would be corrupted); one it holds must leave it. The batch indexes current text."""
    await core.journal.create_project(NS, "a", "p")
    await core.journal.append(NS, "a", "p", [EntryInput(message=f"old x{i}") for i in range(4)])
    async with core.db.write() as conn:
        assert await text_index.catch_up(conn) == 4
        assert await text_index.catch_up(conn) == 0
    await core.journal.append(NS, "a", "p", [EntryInput(message=f"old y{i}") for i in range(4)])
    assert await tail(core.db) == 4
    async with core.db.write() as conn:
        ids = dict((await conn.execute(text("SELECT message, id FROM entries"))).all())
        for message in ("old x0", "old y0"):
            await conn.execute(
                text("UPDATE entries SET message = :m WHERE id = :id"),
                {"m": message.replace("old", "new"), "id": ids[message]},
            )
        for message in ("old x1", "old y1"):
            await conn.execute(text("DELETE FROM entries WHERE id = :id"), {"id": ids[message]})
    await fts_consistent(core)
    assert await found(core, "old") == ["old x2", "old x3", "old y2", "old y3"]
    assert await found(core, "new") == ["new x0", "new y0"]
    assert await found(core, "x1") == [] and await found(core, "y1") == []


APPENDER = textwrap.dedent(
    """
    import asyncio, sys
    from roundtable.config import Settings
    from roundtable.journal.models import EntryInput
    from roundtable.runtime import Roundtable

    async def main(name: str, count: int) -> None:
        async with Roundtable.open(Settings(), sweeper=False) as core:
            for i in range(count):
                await core.journal.append("default", name, "p", [EntryInput(message=f"{name} {i}")])

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_entries_appended_by_two_processes_are_all_found(settings: Settings) -> None:
    """Each process indexes the tail now and then (reading the marker under the write lock, so
    never an entry twice); the search indexes what is left."""
    async with Roundtable.open(settings, sweeper=False) as core:
        await core.journal.create_project(NS, "a", "p")
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", APPENDER, name, "300", env=env_for(settings), stderr=PIPE
        )
        for name in ("one", "two")
    ]
    for proc in procs:
        _, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode == 0, err.decode()
    async with Roundtable.open(settings, sweeper=False) as core:
        assert await tail(core.db) < 2 * text_index.BATCH
        for name in ("one", "two"):
            assert sorted(await found(core, name)) == sorted(f"{name} {i}" for i in range(300))
        await fts_consistent(core)


async def _migrate(db: Database, revision: str, *, down: bool = False) -> None:
    step = command.downgrade if down else command.upgrade
    async with db.write() as conn:
        await conn.run_sync(lambda sync: step(migrate._config(sync), revision))


async def test_the_migration_keeps_the_index_of_existing_entries(settings: Settings) -> None:
    """Down to 0009 (the tail indexed, the insert trigger back), entries written there by the
    trigger, then up again: the index is kept, the marker covers it, new appends are found."""
    async with Roundtable.open(settings, sweeper=False) as core:
        await core.journal.create_project(NS, "a", "p")
        for i in range(70):
            await core.journal.append(NS, "a", "p", [EntryInput(message=f"before {i}")])
        left = await tail(core.db)
        assert left == (70 - text_index.BATCH if core.db.backend == "sqlite" else 0)
    db = Database(settings.effective_database_url)
    try:
        await _migrate(db, "0009", down=True)
        async with db.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO entries (project_id, seq, ts, agent, session_id, status, kind, "
                    "message, meta, prev_hash, hash, leaf_hash, pruned) "
                    "SELECT project_id, seq + 1000, ts, agent, session_id, status, kind, "
                    "'legacy ' || seq, meta, prev_hash, hash, leaf_hash, pruned FROM entries"
                )
            )
            if db.backend == "sqlite":  # 0001's triggers kept the index complete
                await conn.execute(
                    text("INSERT INTO entries_fts(entries_fts, rank) VALUES ('integrity-check', 1)")
                )
        await _migrate(db, "head")
        assert await tail(db) == 0  # the marker covers what the triggers indexed
    finally:
        await db.close()
    async with Roundtable.open(settings, sweeper=False) as core:
        await fts_consistent(core)
        assert len(await found(core, "before")) == 70
        assert len(await found(core, "legacy")) == 70
        await core.journal.append(NS, "a", "p", [EntryInput(message="after the upgrade")])
        assert await found(core, "upgrade") == ["after the upgrade"]
        await fts_consistent(core)
