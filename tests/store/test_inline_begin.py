"""The SQLite writer's BEGIN IMMEDIATE is tried on the event loop with a busy timeout of 0, and
goes to the writer thread (waiting up to the busy timeout, as before) only when another
connection holds the write lock (issue 16)."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import make_url

from roundtable.ids import utcnow
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.store.engine import Database
from roundtable.store.sqlite_writer import SQLiteWriter

N = tables.namespaces

pytestmark = pytest.mark.only_backend("sqlite")


def writer(db: Database) -> SQLiteWriter:
    assert db.sqlite_writer is not None
    return db.sqlite_writer


async def add(db: Database, name: str) -> None:
    async with db.write() as conn:
        await conn.execute(insert(N).values(name=name, created_at=utcnow()))


async def names(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.execute(select(N.c.name))).scalars())


def count_thread_begins(monkeypatch: pytest.MonkeyPatch, sqlite: SQLiteWriter) -> list[int]:
    calls: list[int] = []
    original = sqlite._begin

    def counted() -> Any:
        calls.append(1)
        return original()

    monkeypatch.setattr(sqlite, "_begin", counted)
    return calls


async def test_a_lone_writer_begins_on_the_loop(
    core: Roundtable, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = core.db
    await add(db, "first")  # connected by now
    calls = count_thread_begins(monkeypatch, writer(db))
    for i in range(5):
        await add(db, f"inline-{i}")
    assert calls == []
    assert {f"inline-{i}" for i in range(5)} <= await names(db)


async def test_a_write_lock_held_elsewhere_is_waited_for_on_the_thread(
    core: Roundtable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection (as another process would) holds the write lock: the write waits for
    it off the loop, then lands; the writer's busy timeout is as configured afterwards."""
    db = core.db
    await add(db, "first")
    sqlite = writer(db)
    calls = count_thread_begins(monkeypatch, sqlite)
    path = make_url(db.url).database
    assert path
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO namespaces (name, created_at) VALUES ('other', '2026-01-01')")
        waiting = asyncio.ensure_future(add(db, "after"))
        await asyncio.sleep(0.3)  # the loop runs on while the write waits for the lock
        assert not waiting.done()
        other.execute("COMMIT")
        await waiting
    finally:
        other.close()
    assert calls == [1]
    assert {"other", "after"} <= await names(db)
    timeout = sqlite._raw().execute("PRAGMA busy_timeout").fetchone()[0]
    assert timeout == core.settings.sqlite_busy_timeout_ms


async def test_the_inline_begin_sets_the_timeout_once_and_exclusive_work_gets_it_back(
    core: Roundtable,
) -> None:
    """The 0 timeout an inline BEGIN needs is set once and left (not set and restored around
    every BEGIN); work outside transactions (`exclusive`: `PRAGMA optimize` may write) runs with
    the configured timeout again."""
    db = core.db
    await add(db, "first")
    sqlite = writer(db)
    raw = sqlite._raw()
    statements: list[str] = []
    raw.set_trace_callback(statements.append)
    try:
        for i in range(3):
            await add(db, f"quiet-{i}")
    finally:
        raw.set_trace_callback(None)
    assert not [s for s in statements if "busy_timeout" in s]
    assert statements.count("BEGIN IMMEDIATE") == 3
    assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == 0

    def timeout(conn: Any) -> int:
        return int(conn.connection.dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0])

    assert await sqlite.exclusive(timeout) == core.settings.sqlite_busy_timeout_ms
    await add(db, "after")  # inline again, at 0 again
    assert raw.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    assert {"quiet-0", "quiet-1", "quiet-2", "after"} <= await names(db)
