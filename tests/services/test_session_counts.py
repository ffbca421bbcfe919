"""The per-namespace count of active sessions (issue 16): kept by triggers, so it stays equal
to the real count through start, end, supersede, sweep and delete, on both backends; the
namespace limit it serves stays exact (a lapsed, unswept lease does not count)."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command
from sqlalchemy import func, insert, select

from roundtable.auth.tokens import ADMIN
from roundtable.config import Settings
from roundtable.errors import RateLimited
from roundtable.ids import utcnow, uuid7
from roundtable.runtime import Roundtable
from roundtable.sessions.models import SessionInfo
from roundtable.store import migrate, tables
from roundtable.store.engine import Database
from tests.services.test_leases import tuned
from tests.services.util import expire_lease

S, SC = tables.sessions, tables.session_counts


async def assert_counts_exact(core: Roundtable) -> dict[str, int]:
    """The stored counters equal a fresh count of `active` rows, namespace by namespace."""
    async with core.db.read() as conn:
        real = dict(
            (
                await conn.execute(
                    select(S.c.namespace, func.count())
                    .where(S.c.status == "active")
                    .group_by(S.c.namespace)
                )
            ).all()
        )
        stored = dict((await conn.execute(select(SC.c.namespace, SC.c.active))).all())
    assert {ns: n for ns, n in stored.items() if n} == real
    return real


async def test_the_count_follows_every_way_a_session_ends(core: Roundtable) -> None:
    a = await core.sessions.start("team", "alice")
    b = await core.sessions.start("team", "bob")
    await core.sessions.start("team", "carol")
    await core.sessions.start("other", "alice")
    assert await assert_counts_exact(core) == {"team": 3, "other": 1}
    await core.sessions.end("team", "alice", a.id)  # ended
    assert await assert_counts_exact(core) == {"team": 2, "other": 1}
    await expire_lease(core.db, b.id)
    await core.sessions.start("team", "bob")  # supersedes the lapsed one
    assert await assert_counts_exact(core) == {"team": 2, "other": 1}
    c2 = await core.sessions.start("team", "carol")
    await expire_lease(core.db, c2.id)
    assert await core.sessions.sweep() == 1  # swept
    assert await assert_counts_exact(core) == {"team": 2, "other": 1}
    d = await core.sessions.start("team", "dave")
    await core.orchestration.deletion.delete("team", ADMIN, d.id, force=True)  # deleted
    assert await assert_counts_exact(core) == {"team": 2, "other": 1}


async def test_a_lapsed_unswept_lease_does_not_count_against_the_limit(
    settings: Settings,
) -> None:
    async with tuned(settings, max_sessions_per_namespace=3) as core:
        first = await core.sessions.start("team", "a")
        for agent in ("b", "c"):
            await core.sessions.start("team", agent)
        await expire_lease(core.db, first.id)  # still `active` in its row: the counter says 3
        await core.sessions.start("team", "d")  # the exact count says 2
        with pytest.raises(RateLimited) as limited:
            await core.sessions.start("team", "e")
        assert limited.value.data["limit"] == "max_sessions_per_namespace"
        await assert_counts_exact(core)


async def test_concurrent_starts_and_ends_at_the_limit_keep_the_count_exact(
    settings: Settings,
) -> None:
    async with tuned(settings, max_sessions_per_namespace=6) as core:
        started = [await core.sessions.start("team", f"old-{i}") for i in range(3)]
        results = await asyncio.gather(
            *(core.sessions.start("team", f"agent-{i}") for i in range(16)),
            *(core.sessions.end("team", s.agent, s.id) for s in started),
            return_exceptions=True,
        )
        news = [r for r in results[:16] if isinstance(r, SessionInfo)]
        assert all(isinstance(r, SessionInfo | RateLimited) for r in results[:16]), results
        assert all(isinstance(r, SessionInfo) for r in results[16:]), results
        # Never more than the limit at once, and at least the free slots were taken.
        assert 3 <= len(news) <= 6
        real = await assert_counts_exact(core)
        assert real == {"team": len(news)}
        more = await asyncio.gather(
            *(core.sessions.start("team", f"late-{i}") for i in range(8)), return_exceptions=True
        )
        assert sum(isinstance(r, SessionInfo) for r in more) == 6 - len(news)
        assert await assert_counts_exact(core) == {"team": 6}


async def test_the_migration_counts_the_sessions_already_there(settings: Settings) -> None:
    """Migration 0008 on a database that already holds sessions starts from the right count."""
    db = Database(settings.effective_database_url)
    try:
        async with db.write() as conn:
            await conn.run_sync(lambda sync: command.upgrade(migrate._config(sync), "0007"))
            now = utcnow()
            await conn.execute(
                insert(tables.namespaces), [{"name": n, "created_at": now} for n in ("a", "b")]
            )
            rows = []
            for i, (namespace, status) in enumerate(
                [("a", "active")] * 3 + [("a", "finished"), ("b", "active"), ("b", "expired")]
            ):
                sid = uuid7()
                rows.append(
                    {
                        "id": sid,
                        "namespace": namespace,
                        "agent": f"agent-{i}",
                        "root_id": sid,
                        "status": status,
                        "metadata": {},
                        "created_at": now,
                        "lease_expires_at": now,
                    }
                )
            await conn.execute(insert(S), rows)
        await migrate.upgrade(db)
        async with db.read() as conn:
            stored = dict((await conn.execute(select(SC.c.namespace, SC.c.active))).all())
        assert stored == {"a": 3, "b": 1}
    finally:
        await db.close()
