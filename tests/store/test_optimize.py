"""SQLite's planner statistics are kept current: `PRAGMA optimize` when the database opens and
from the sweeper, between write groups on the writer connection."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, insert, select, text

from roundtable.ids import utcnow
from roundtable.runtime import OPTIMIZE_EVERY_SECONDS, Roundtable
from roundtable.store import tables

N = tables.namespaces
A = tables.agents


async def test_optimize_analyses_what_the_writer_used(core: Roundtable) -> None:
    """After many rows and a query that could use statistics, the sweeper's optimize pass
    records them (SQLite's `sqlite_stat1`); on PostgreSQL, whose autovacuum analyses by itself,
    it is a no-op. Writes queued meanwhile go on."""
    now = utcnow()
    async with core.db.write() as conn:
        await conn.execute(insert(N), [{"name": f"ns-{i}", "created_at": now} for i in range(30)])
        await conn.execute(
            insert(A),
            [
                {"namespace": f"ns-{i % 30}", "name": f"a-{i}", "first_seen": now, "last_seen": now}
                for i in range(3000)
            ],
        )
        await conn.scalar(select(func.count()).select_from(A).where(A.c.namespace == "ns-3"))
    core._optimized_at -= OPTIMIZE_EVERY_SECONDS  # as if an hour had passed
    writes = [asyncio.create_task(write(core, i)) for i in range(5)]
    await asyncio.gather(core._optimize(), *writes)
    if core.db.backend == "sqlite":
        async with core.db.read() as conn:
            stats = (await conn.execute(text("SELECT tbl, stat FROM sqlite_stat1"))).all()
        assert "agents" in {tbl for tbl, _ in stats}
    async with core.db.read() as conn:
        assert await conn.scalar(select(func.count()).select_from(N)) >= 35


async def write(core: Roundtable, i: int) -> None:
    async with core.db.write() as conn:
        await conn.execute(insert(N).values(name=f"during-{i}", created_at=utcnow()))


@pytest.mark.only_backend("sqlite")
async def test_the_sweeper_optimizes_at_most_hourly(core: Roundtable) -> None:
    optimized = 0
    original = core.db.optimize

    async def counting(*, opening: bool = False) -> None:
        nonlocal optimized
        optimized += 1
        await original(opening=opening)

    core.db.optimize = counting  # type: ignore[method-assign]
    await core._optimize()
    assert optimized == 0  # the database optimized itself when it opened
    core._optimized_at -= OPTIMIZE_EVERY_SECONDS
    await core._optimize()
    await core._optimize()
    assert optimized == 1
