"""Group commit (D18): concurrent writers share one transaction and one COMMIT on SQLite, yet each
write stands alone: a failing one rolls back only itself, and nobody is acknowledged before the
shared COMMIT. On PostgreSQL every write is its own transaction; the isolation tests run there
too, as the contract the services rely on."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest
from sqlalchemy import insert, select, text

from roundtable.errors import ConflictError
from roundtable.ids import utcnow
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.store.engine import Database, after_commit
from roundtable.store.sqlite_writer import SQLiteWriter

N = tables.namespaces
WRITERS = 50


def writer(db: Database) -> SQLiteWriter:
    assert db.sqlite_writer is not None
    return db.sqlite_writer


@pytest.fixture
def one_group(core: Roundtable) -> None:
    """Groups bounded only by who is queued (not by time), so which writes share a COMMIT does
    not depend on how busy the machine is."""
    if core.db.sqlite_writer is not None:
        core.db.sqlite_writer.max_group_seconds = 3600


@pytest.fixture(params=["thread", "loop"])
def commit_on(request: pytest.FixtureRequest, core: Roundtable) -> str:
    """Where the SQLite writer COMMITs: its thread (`roundtable serve`) or the event loop
    (`roundtable mcp`, `commit_inline`). The group's guarantees are the same either way."""
    writer(core.db).commit_inline = request.param == "loop"
    return str(request.param)


async def names(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.execute(select(N.c.name))).scalars())


async def add(db: Database, name: str) -> None:
    async with db.write() as conn:
        await conn.execute(insert(N).values(name=name, created_at=utcnow()))


async def test_one_failing_write_of_fifty_fails_alone(core: Roundtable, one_group: None) -> None:
    """A constraint violation and conflicts raised after writing, among 50 concurrent writes:
    those fail with their own errors, the other 47 land."""
    db = core.db
    await add(db, "taken")
    before = (writer(db).commits, writer(db).committed_writes) if db.sqlite_writer else (0, 0)

    async def write(i: int) -> None:
        async with db.write() as conn:
            if i == 17:  # a duplicate primary key
                await conn.execute(insert(N).values(name="taken", created_at=utcnow()))
            await conn.execute(insert(N).values(name=f"ns-{i}", created_at=utcnow()))
            if i in (0, 33):  # refused after writing (0: the first of its group)
                raise ConflictError("refused after writing")

    results = await asyncio.gather(*(write(i) for i in range(WRITERS)), return_exceptions=True)
    failed = {i: type(r).__name__ for i, r in enumerate(results) if r is not None}
    assert failed == {0: "ConflictError", 17: "IntegrityError", 33: "ConflictError"}
    expected = {f"ns-{i}" for i in range(WRITERS) if i not in (0, 17, 33)} | {"taken"}
    assert await names(db) >= expected
    assert not {"ns-0", "ns-17", "ns-33"} & await names(db)
    if db.sqlite_writer is not None:
        commits = db.sqlite_writer.commits - before[0]
        assert db.sqlite_writer.committed_writes - before[1] == WRITERS - 3
        assert commits < 5, "concurrent writers did not share their commits"


async def test_one_conflicting_set_project_of_fifty(core: Roundtable, one_group: None) -> None:
    """The services' own conflict (a stale `expected_version`) in one of 50 concurrent
    set_project calls: that one call is refused, the 49 others land."""
    await core.journal.create_project("default", "admin", "p")

    async def switch(i: int) -> int:
        info = await core.context.set(
            "default", f"agent-{i}", "p", expected_version=5 if i == 21 else 0
        )
        return info.version

    results = await asyncio.gather(*(switch(i) for i in range(WRITERS)), return_exceptions=True)
    assert isinstance(results[21], ConflictError)
    assert [r for i, r in enumerate(results) if i != 21] == [1] * (WRITERS - 1)
    for i in range(WRITERS):
        info = await core.context.get("default", f"agent-{i}")
        assert (info.project, info.version) == ((None, 0) if i == 21 else ("p", 1))


async def test_acknowledged_only_after_the_shared_commit(core: Roundtable) -> None:
    """Every writer's after-commit hooks run after the COMMIT that carried its write, and what
    it wrote is then visible to other connections."""
    db = core.db
    seen: dict[int, bool] = {}

    async def write(i: int) -> None:
        async with db.write() as conn:
            await conn.execute(insert(N).values(name=f"ack-{i}", created_at=utcnow()))
            if db.sqlite_writer is not None:
                sqlite = db.sqlite_writer
                carried = sqlite.committed_writes
                after_commit(lambda: seen.__setitem__(i, sqlite.committed_writes > carried))
        assert f"ack-{i}" in await names(db)  # acknowledged: readers see it

    await asyncio.gather(*(write(i) for i in range(20)))
    if db.sqlite_writer is not None:
        assert seen == dict.fromkeys(range(20), True)


@pytest.mark.only_backend("sqlite")
async def test_a_lone_writer_commits_at_once(core: Roundtable, commit_on: str) -> None:
    """Writes one after another never wait for company: each is its own COMMIT."""
    sqlite = writer(core.db)
    before = sqlite.commits
    for i in range(5):
        await add(core.db, f"alone-{i}")
    assert sqlite.commits - before == 5


@pytest.mark.only_backend("sqlite")
async def test_a_failed_commit_fails_every_writer_of_the_group(
    core: Roundtable, one_group: None, commit_on: str
) -> None:
    """A COMMIT that fails (here: a deferred foreign key checked only at COMMIT) fails every
    write it carried, none of which is stored; the writer goes on afterwards."""
    db = core.db

    async def write(i: int) -> None:
        async with db.write() as conn:
            await conn.execute(insert(N).values(name=f"doomed-{i}", created_at=utcnow()))
            if i == 4:
                await conn.execute(text("PRAGMA defer_foreign_keys = ON"))
                await conn.execute(
                    insert(tables.agents).values(
                        namespace="no-such-namespace",
                        name="ghost",
                        first_seen=utcnow(),
                        last_seen=utcnow(),
                    )
                )

    results = await asyncio.gather(*(write(i) for i in range(10)), return_exceptions=True)
    assert all(isinstance(r, Exception) and "FOREIGN KEY" in str(r) for r in results), results
    assert not {n for n in await names(db) if n.startswith("doomed-")}
    await add(db, "afterwards")
    assert "afterwards" in await names(db)


@pytest.mark.only_backend("sqlite")
async def test_a_write_that_ends_the_shared_transaction_fails_the_group(
    core: Roundtable, one_group: None, commit_on: str
) -> None:
    """If the shared transaction is lost under a failing block (SQLite rolls a transaction
    back by itself on some errors, such as a full disk), the writers already in the group get
    an error too: their work was not committed."""
    db = core.db
    inside = asyncio.Event()
    go = asyncio.Event()

    async def first() -> None:
        async with db.write() as conn:
            await conn.execute(insert(N).values(name="lost-1", created_at=utcnow()))
            inside.set()
            await go.wait()

    async def breaker() -> None:
        async with db.write() as conn:
            await conn.execute(insert(N).values(name="lost-2", created_at=utcnow()))
            conn.sync.connection.dbapi_connection.rollback()  # what SQLite does on SQLITE_FULL
            raise sqlite3.OperationalError("database or disk is full")

    tasks = [asyncio.create_task(first())]
    await inside.wait()
    tasks.append(asyncio.create_task(breaker()))
    await asyncio.sleep(0)
    go.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert type(results[0]).__name__ == "GroupAborted", results
    assert isinstance(results[1], sqlite3.OperationalError)
    assert not {"lost-1", "lost-2"} & await names(db)
    await add(db, "recovered")
    assert "recovered" in await names(db)


@pytest.mark.only_backend("sqlite")
async def test_cancelled_writers_leave_the_group_intact(
    core: Roundtable, one_group: None, commit_on: str
) -> None:
    """A writer cancelled while queued writes nothing; one cancelled inside its block is rolled
    back alone; one cancelled while waiting for the shared COMMIT is still committed (like a
    request cancelled during its COMMIT). The other writers of the group are unaffected and
    nothing is left holding the writer. (SQLite's queue: on PostgreSQL each write has its own
    connection and transaction.)"""
    db = core.db
    gate_a, gate_e, in_a, in_e = (asyncio.Event() for _ in range(4))

    async def write(
        name: str, entered: asyncio.Event | None = None, gate: asyncio.Event | None = None
    ) -> None:
        async with db.write() as conn:
            await conn.execute(insert(N).values(name=name, created_at=utcnow()))
            if entered is not None:
                entered.set()
            if gate is not None:
                await gate.wait()

    a = asyncio.create_task(write("c-a", in_a, gate_a))
    await in_a.wait()  # a holds the writer; b, c, d queue behind it
    b, c, d = (asyncio.create_task(write(f"c-{n}")) for n in "bcd")
    await asyncio.sleep(0.01)
    c.cancel()
    e = asyncio.create_task(write("c-e", in_e, gate_e))  # will be cancelled in its block
    f = asyncio.create_task(write("c-f"))
    await asyncio.sleep(0.01)
    gate_a.set()
    await in_e.wait()
    # a, b and d wait for the group that e's block is in: cancel a's wait for its COMMIT.
    a.cancel()
    await asyncio.sleep(0.01)
    e.cancel()
    results = await asyncio.gather(a, b, c, d, e, f, return_exceptions=True)
    outcomes = ["cancelled" if isinstance(r, asyncio.CancelledError) else r for r in results]
    assert outcomes == ["cancelled", None, "cancelled", None, "cancelled", None]
    stored = {n for n in await names(db) if n.startswith("c-")}
    assert stored == {"c-a", "c-b", "c-d", "c-f"}
    await asyncio.wait_for(add(db, "c-after"), timeout=30)  # the writer is free


@pytest.mark.only_backend("sqlite")
async def test_commit_inline_commits_on_the_loop_after_every_write_of_the_group(
    core: Roundtable, one_group: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `commit_inline`, the COMMIT runs on the event loop's thread, once per group, and
    each writer is acknowledged after it, its write visible to other connections; one failing
    write of the group still fails alone."""
    sqlite = writer(core.db)
    sqlite.commit_inline = True
    await add(core.db, "first")  # connected, the writer idle
    threads: list[str] = []
    end = sqlite._end

    def recorded(*args: Any) -> None:
        threads.append(threading.current_thread().name)
        end(*args)

    monkeypatch.setattr(sqlite, "_end", recorded)

    async def write(i: int) -> None:
        async with core.db.write() as conn:
            await conn.execute(insert(N).values(name=f"inline-{i}", created_at=utcnow()))
            if i == 3:
                raise ConflictError("refused after writing")
        assert f"inline-{i}" in await names(core.db)

    results = await asyncio.gather(*(write(i) for i in range(10)), return_exceptions=True)
    assert [type(r).__name__ for r in results] == [
        "ConflictError" if i == 3 else "NoneType" for i in range(10)
    ]
    assert threads == [threading.current_thread().name]  # one COMMIT, on the loop
    stored = {n for n in await names(core.db) if n.startswith("inline-")}
    assert stored == {f"inline-{i}" for i in range(10) if i != 3}


@pytest.mark.only_backend("sqlite")
async def test_a_write_known_to_be_alone_does_not_wait_for_company(
    core: Roundtable, one_group: None
) -> None:
    """`alone` (what `roundtable mcp` sets while its agent's call is the only one in flight):
    a new group starts at once, so writers scheduled meanwhile form the next group; while it
    says False, they join the first one as before."""
    sqlite = writer(core.db)
    sqlite.commit_inline = True
    await add(core.db, "first")
    for alone, commits in ((True, 2), (False, 1)):
        sqlite.alone = lambda: alone  # noqa: B023 (read before the loop moves on)
        before = sqlite.commits
        await asyncio.gather(add(core.db, f"a-{alone}"), add(core.db, f"b-{alone}"))
        assert sqlite.commits - before == commits
    sqlite.alone = None
    assert {"a-True", "b-True", "a-False", "b-False"} <= await names(core.db)
