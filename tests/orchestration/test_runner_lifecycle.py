"""A claim never outlives its runner: a deregistered (gone) runner is never handed runs, and a
long-poll ends when its client hangs up. Transactions aborted to break a deadlock are retried
inside the server, never reported as a 500."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from roundtable.auth.tokens import ADMIN
from roundtable.errors import NotFound
from roundtable.events.log import read_after
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.store.engine import Conn
from tests.orchestration.conftest import NS, blueprint, runner

R = tables.runs
RN = tables.runners


async def _status(core: Roundtable, run_id: str) -> str:
    async with core.db.read() as conn:
        return str(await conn.scalar(select(R.c.status).where(R.c.id == run_id)))


async def _runner_state(core: Roundtable, runner_id: str) -> str:
    async with core.db.read() as conn:
        return str(await conn.scalar(select(RN.c.state).where(RN.c.id == runner_id)))


async def test_a_long_poll_outliving_its_deregistered_runner_claims_nothing(
    core: Roundtable,
) -> None:
    await blueprint(core)
    r1 = await runner(core)
    poll = asyncio.create_task(r1.claim(wait=30))
    await asyncio.sleep(0.2)  # the poll is waiting
    await core.orchestration.runners.deregister(r1.principal, r1.id)
    session = await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
    with pytest.raises(NotFound, match="register again"):
        await poll  # woken by the queued run: refused, not handed it
    async with core.db.read() as conn:
        [run_id] = (await conn.scalars(select(R.c.id).where(R.c.session_id == session.id))).all()
    assert await _status(core, run_id) == "pending"
    assert await _runner_state(core, r1.id) == "deregistered"  # not marked online again
    assert {r.state for r in await core.orchestration.runners.list(NS)} == {"gone"}
    r2 = await runner(core, name="r2")
    [run] = await r2.claim()
    assert run.id == run_id and run.attempt == 1


async def test_a_long_poll_stops_when_its_client_hangs_up(core: Roundtable) -> None:
    await blueprint(core)
    r1 = await runner(core)
    hung_up = asyncio.Event()

    async def disconnected() -> bool:
        return hung_up.is_set()

    poll = asyncio.create_task(
        core.orchestration.queue.claim(r1.principal, r1.id, 1, 30, disconnected=disconnected)
    )
    await asyncio.sleep(0.2)
    hung_up.set()
    session = await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
    assert await asyncio.wait_for(poll, 10) == []
    async with core.db.read() as conn:
        statuses = (
            await conn.scalars(select(R.c.status).where(R.c.session_id == session.id))
        ).all()
    assert statuses == ["pending"]


async def test_claim_over_http_for_a_deregistered_runner_is_404(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    await blueprint(core)
    r1 = await runner(core)
    await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
    assert (await api.delete(f"/api/v1/runners/{r1.id}")).status_code == 204
    reply = await api.post(f"/api/v1/runners/{r1.id}/claim", json={"max": 1, "wait": 0})
    assert reply.status_code == 404, reply.text
    assert "register again" in reply.text
    # nor does a heartbeat revive it
    beat = await api.post(f"/api/v1/runners/{r1.id}/heartbeat", json={"running": []})
    assert beat.status_code == 404
    assert await _runner_state(core, r1.id) == "deregistered"


async def test_a_deadlocked_transaction_is_retried_not_raised(core: Roundtable) -> None:
    """Two transactions lock the same two rows in opposite orders: on PostgreSQL one is the
    deadlock victim and runs again; on SQLite the writer lock serialises them. Both succeed."""
    a = await runner(core, name="a")
    b = await runner(core, name="b")
    both_hold_one = asyncio.Barrier(2)
    attempts: list[str] = []

    def work(first: str, second: str) -> Any:
        async def locked(conn: Conn) -> str:
            attempts.append(first)
            await conn.execute(update(RN).where(RN.c.id == first).values(hostname=first))
            if len(attempts) <= 2:  # the first attempts meet; a retry goes straight through
                # (SQLite: the other waits for this writer, so the barrier times out)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(both_hold_one.wait(), 1)
            await conn.execute(update(RN).where(RN.c.id == second).values(hostname=first))
            return first

        return locked

    done = await asyncio.gather(
        core.db.retrying(work(a.id, b.id)), core.db.retrying(work(b.id, a.id))
    )
    assert sorted(done) == sorted([a.id, b.id])
    if core.db.backend == "postgresql":
        assert len(attempts) == 3  # exactly one victim, retried once


async def test_a_claim_with_start_marks_the_runs_running_in_its_own_transaction(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    await blueprint(core)
    r1 = await runner(core)
    session = await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
    reply = await api.post(
        f"/api/v1/runners/{r1.id}/claim", json={"max": 1, "wait": 0, "start": True}
    )
    [run] = reply.json()["runs"]
    assert run["status"] == "running" and run["started_at"] is not None
    assert await _status(core, run["id"]) == "running"
    types = [e.type for e in await read_after(core.db, 0) if e.payload.get("run_id") == run["id"]]
    assert types[-2:] == ["run.claimed", "run.started"]
    # a `started` report from an older runner is still accepted, and changes nothing
    assert not await core.orchestration.queue.started(r1.principal, r1.id, run["id"])
    done = await r1.complete(run["id"], {"ok": True})
    assert done.status == "completed" and done.started_at is not None
    assert (await core.orchestration.trees.get(NS, ADMIN, session.id)).status == "idle"
    types = [e.type for e in await read_after(core.db, 0) if e.payload.get("run_id") == run["id"]]
    assert types.count("run.started") == 1
