"""Commit-ordered ids: a reader that has seen every id up to N and asks for > N misses nothing.

The naive design (a plain sequence) loses an event deterministically on PostgreSQL; ours makes
the second writer wait for the first one's commit, which we observe in `pg_locks` (not by
timing). On SQLite the writer lock excludes concurrent write transactions outright.
"""

from __future__ import annotations

import asyncio
import random

import pytest
import sqlalchemy.exc
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from roundtable.events import log as events
from roundtable.events.filters import EventFilter
from roundtable.ids import utcnow
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.store.engine import Database
from tests.events.util import all_events

E = tables.events


def row(n: int) -> dict[str, object]:
    return events.event_row(utcnow(), "default", "test.tick", {"n": n})


async def ids_after(core: Roundtable, after: int) -> list[int]:
    page = await core.events.read(EventFilter(), after, limit=1000)
    return [e.id for e in page.events]


async def backend_pid(conn: AsyncConnection) -> int:
    return int(await conn.scalar(text("SELECT pg_backend_pid()")))


@pytest.mark.only_backend("postgresql")  # SQLite never runs two write transactions at once
async def test_naive_sequence_loses_an_event_on_postgresql(core: Roundtable) -> None:
    engine = core.db.reader
    async with engine.connect() as first, engine.connect() as second:
        await first.begin()
        await second.begin()
        await first.execute(insert(E).values(**row(1)))  # takes the smaller id, commits last
        await second.execute(insert(E).values(**row(2)))
        await second.commit()
        seen = await ids_after(core, 0)
        reader_position = seen[-1]
        await first.commit()
    missed = await ids_after(core, reader_position)
    everything = [e.id for e in await all_events(core)]
    assert missed == []  # the reader, resuming after what it saw, finds nothing new ...
    assert len(everything) == 2 and min(everything) not in seen  # ... yet never saw this one


@pytest.mark.only_backend("postgresql")
async def test_record_makes_the_second_writer_wait_on_postgresql(core: Roundtable) -> None:
    engine = core.db.reader
    async with engine.connect() as first, engine.connect() as second, engine.connect() as probe:
        await first.begin()
        await second.begin()
        await events.record(first, row(1))
        second_pid = await backend_pid(second)
        blocked = asyncio.create_task(events.record(second, row(2)))

        async def waiting() -> bool:
            granted = await probe.scalar(
                text(
                    "SELECT bool_or(granted) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND pid = :pid"
                ),
                {"pid": second_pid},
            )
            await probe.rollback()
            return granted is False

        for _ in range(3000):
            if await waiting():
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the second writer never queued on the event-order lock")
        assert not blocked.done()
        assert await ids_after(core, 0) == []  # nothing committed yet
        await first.commit()
        await blocked  # now it may insert: its id comes after the committed one
        seen = await ids_after(core, 0)
        assert len(seen) == 1
        await second.commit()
    later = await ids_after(core, seen[-1])
    assert len(later) == 1 and later[0] > seen[0]
    assert sorted(seen + later) == [e.id for e in await all_events(core)]


@pytest.mark.only_backend("sqlite")
async def test_sqlite_writer_lock_excludes_a_second_writer(core: Roundtable) -> None:
    url = core.settings.effective_database_url
    impatient = Database(url, busy_timeout_ms=0)
    patient = Database(url)
    try:
        async with core.db.write() as conn:
            await events.record(conn, row(1))
            # Another connection (as another process has) cannot even begin a write transaction.
            with pytest.raises(sqlalchemy.exc.OperationalError, match="locked"):
                async with impatient.write() as other:
                    await events.record(other, row(2))
            waiting = asyncio.create_task(_write_one(patient))
            await asyncio.sleep(0)
            first_id = int(await conn.scalar(select(E.c.id).order_by(E.c.id.desc()).limit(1)))
        second_id = await waiting
    finally:
        await impatient.close()
        await patient.close()
    assert second_id > first_id
    assert [e.id for e in await all_events(core)] == [first_id, second_id]


async def _write_one(db: Database) -> int:
    async with db.write() as conn:
        await events.record(conn, row(2))
        return int(await conn.scalar(select(E.c.id).order_by(E.c.id.desc()).limit(1)))


async def test_incremental_reader_misses_nothing_under_concurrent_writers(
    core: Roundtable,
) -> None:
    """Many writers through the services; a reader that only ever asks for ids > the last it saw
    ends up with exactly the full log."""
    writers_done = asyncio.Event()
    seen: list[int] = []

    async def reader() -> None:
        position = 0
        while True:
            finished = writers_done.is_set()
            batch = await ids_after(core, position)
            seen.extend(batch)
            if batch:
                position = batch[-1]
            elif finished:
                return

    async def writer(i: int) -> None:
        rng = random.Random(i)
        session = await core.sessions.start("default", f"w{i}")
        await core.journal.create_project("default", f"w{i}", f"p{i}")
        for n in range(15):
            if rng.random() < 0.7:
                await core.journal.append(
                    "default", f"w{i}", f"p{i}", [EntryInput(message=f"m{n}")]
                )
            else:
                await core.sessions.heartbeat("default", f"w{i}", session.id)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(i) for i in range(8)))
    writers_done.set()
    await reading
    everything = [e.id for e in await all_events(core)]
    assert seen == everything and len(everything) >= 8 * 17
