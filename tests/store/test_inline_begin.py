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
