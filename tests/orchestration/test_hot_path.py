"""The hot path's prebuilt statements and batched reads behave as the statements they replace:
rows written the same way, many `sync` waiters woken by one batch of reports each answered
with its own session, claims after a full claim still refused or empty when they should be."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select, update

from roundtable.auth.tokens import ADMIN
from roundtable.errors import NotFound
from roundtable.orchestration import matching
from roundtable.orchestration import statements as st
from roundtable.orchestration.models import Mode
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.orchestration.conftest import NS, blueprint, runner

R = tables.runs


async def test_prebuilt_update_writes_what_values_writes(core: Roundtable) -> None:
    """`None` in a JSON column, a date and a string: the same stored values either way."""
    await blueprint(core)
    trees = core.orchestration.trees
    a = await trees.start(NS, ADMIN, "echoer", {"prompt": "a"})
    b = await trees.start(NS, ADMIN, "echoer", {"prompt": "b"})
    async with core.db.read() as conn:
        runs = {row.session_id: row for row in await conn.execute(select(R))}
    values = {"result_data": None, "error": {"code": "x"}, "result_text": None, "usage": None}
    async with core.db.write() as conn:
        await conn.execute(update(R).where(R.c.id == runs[a.id].id).values(**values))
        await st.update_row(conn, R, runs[b.id].id, values)
    columns = [R.c[name] for name in values]
    async with core.db.read() as conn:
        stored = {
            row.id: tuple(row[1:])
            for row in await conn.execute(select(R.c.id, *columns, *(c.is_(None) for c in columns)))
        }
    assert stored[runs[a.id].id] == stored[runs[b.id].id]


async def test_sync_waiters_woken_by_one_batch_each_get_their_session(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    await blueprint(core)
    trees = core.orchestration.trees
    waits = [
        asyncio.create_task(
            trees.start(NS, ADMIN, "echoer", {"prompt": f"p{n}"}, mode=Mode.SYNC, wait_seconds=30)
        )
        for n in range(6)
    ]
    r1 = await runner(core, capacity=8)
    claimed: list = []
    for _ in range(100):
        claimed += await r1.claim(8)
        if len(claimed) == len(waits):
            break
        await asyncio.sleep(0.02)
    assert len(claimed) == len(waits)
    batch = [
        {"run_id": run.id, "complete": {"result_data": {"echo": run.input}}} for run in claimed
    ]
    reply = await api.post(f"/api/v1/runners/{r1.id}/reports", json={"reports": batch})
    assert reply.status_code == 200, reply.text
    done = await asyncio.gather(*waits)
    by_session = {run.session_id: run.input for run in claimed}
    for session in done:
        assert not session.timed_out and session.status == "idle"
        assert session.result_data == {"echo": by_session[session.id]}
    assert len({session.id for session in done}) == len(waits)


async def test_a_claim_after_a_full_one_still_finds_nothing_or_is_refused(
    core: Roundtable,
) -> None:
    await blueprint(core)
    trees = core.orchestration.trees
    for n in range(3):
        await trees.start(NS, ADMIN, "echoer", {"prompt": str(n)})
    r1 = await runner(core, capacity=2)
    assert len(await r1.claim(1)) == 1  # served in full: the next claim skips the pre-check
    assert len(await r1.claim(1)) == 1
    assert await r1.claim(1) == []  # no free capacity: the claim's transaction says so
    r2 = await runner(core, name="r2", capacity=2)
    assert len(await r2.claim(1)) == 1  # served in full
    await core.orchestration.runners.deregister(r2.principal, r2.id)
    with pytest.raises(NotFound):  # refused inside the claim's transaction, as before
        await r2.claim(1)


@pytest.mark.only_backend("sqlite")  # PostgreSQL plans by table statistics
async def test_a_claim_walks_the_queue_index_in_its_own_order(core: Roundtable) -> None:
    """SQLite: the claim's query reads `ix_runs_queue` in the claim's order (priority high
    first, then oldest) and stops at the first match: no sort of every pending run (a temp
    B-tree), which cost a claim O(queue) (migration 0009)."""
    query = matching._candidates("sqlite", NS, ("echo",), ("gpu",), 1)
    async with core.db.read() as conn:
        compiled = query.compile(dialect=conn.dialect)
        bound = tuple(compiled.params[name] for name in compiled.positiontup or [])
        plan = [
            str(row[-1])
            for row in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), bound)
        ]
    assert any("ix_runs_queue" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan
