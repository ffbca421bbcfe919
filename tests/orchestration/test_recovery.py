"""Durability: a dead runner's runs go back to the queue (bounded), and closing and reopening
the core with runs pending, claimed and callbacks queued loses nothing and repeats nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from roundtable.auth.tokens import ADMIN
from roundtable.config import Settings
from roundtable.ids import utcnow
from roundtable.orchestration.models import Mode
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.orchestration.conftest import NS, Runner, blueprint, runner


async def test_a_dead_runners_runs_are_requeued_then_fail_when_attempts_run_out(
    core: Roundtable,
) -> None:
    await blueprint(core)
    trees = core.orchestration.trees
    session = await trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
    lease = timedelta(seconds=core.settings.run_lease_seconds + 1)
    for attempt in range(1, core.settings.run_max_attempts + 1):
        r = await runner(core, name=f"r{attempt}")
        [run] = await r.claim()
        assert run.attempt == attempt
        swept = await core.orchestration.sweeper.sweep(utcnow() + lease)
        assert swept["runners_gone"] >= 1
    result = await trees.result(NS, ADMIN, session.id)
    assert result.status == "failed" and result.error is not None
    assert result.error["code"] == "attempts_exhausted"
    listed = await core.orchestration.runners.list(NS)
    assert {r.state for r in listed} == {"gone"}
    # The first runner, back from the dead, is told its run is no longer its own.
    [first] = [r for r in listed if r.name == "r1"]
    principal = core.tokens.authenticate(core.tokens.mint_runner(first.id, NS, timedelta(hours=1)))
    reply = await core.orchestration.runners.heartbeat(principal, first.id, [run.id])
    assert reply.stop == [run.id]


async def test_graceful_runner_shutdown_puts_runs_back(core: Roundtable) -> None:
    await blueprint(core)
    session = await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
    r1 = await runner(core, name="r1")
    [run] = await r1.claim()
    await core.orchestration.runners.deregister(r1.principal, r1.id)
    r2 = await runner(core, name="r2")
    [again] = await r2.claim()
    assert again.id == run.id and again.attempt == 2
    await r2.complete(again.id, {"ok": True})
    assert (await core.orchestration.trees.get(NS, ADMIN, session.id)).status == "idle"


async def _count(core: Roundtable, table: object, *where: object) -> int:
    async with core.db.read() as conn:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        return int(await conn.scalar(query.where(*where)) or 0)  # type: ignore[arg-type]


async def test_restart_with_runs_pending_claimed_and_callbacks_queued(settings: Settings) -> None:
    async with Roundtable.open(settings, sweeper=False) as core:
        await blueprint(core, "boss")
        await blueprint(core, "worker")
        r1 = await runner(core, capacity=8)
        trees = core.orchestration.trees
        parent = await trees.start(NS, ADMIN, "boss", {"prompt": "p"})
        [prun] = await r1.claim()
        me = core.tokens.authenticate(prun.run_token)
        kids = [
            await trees.start(NS, me, "worker", {"prompt": str(i)}, mode=Mode.ASYNC_CALLBACK)
            for i in range(3)
        ]
        c0_run, c1_run = await r1.claim(2)  # c0, c1 claimed; c2 stays pending
        await r1.complete(c0_run.id, {"n": 0})  # callback queued, parent still running
        runner_id = r1.id
        runner_token_principal = r1.principal
    async with Roundtable.open(settings, sweeper=False) as core:
        r1 = Runner(core, runner_id, runner_token_principal)
        trees = core.orchestration.trees
        assert await _count(core, tables.callbacks, tables.callbacks.c.run_id.is_(None)) == 1
        # A report repeated after the restart is not applied twice.
        again = await r1.complete(c0_run.id, {"n": "twice?"})
        assert again.result_data == {"n": 0}
        await r1.complete(c1_run.id, {"n": 1})
        await r1.complete(prun.id)
        [cb, c2_run] = sorted(await r1.claim(8), key=lambda r: r.kind)
        assert cb.kind == "callback" and c2_run.session_id == kids[2].id
        assert sorted(e["result_data"]["n"] for e in cb.input["callbacks"]) == [0, 1]
        await r1.complete(cb.id)
    async with Roundtable.open(settings, sweeper=False) as core:
        r1 = Runner(core, runner_id, runner_token_principal)
        await r1.complete(c2_run.id, {"n": 2})
        [cb2] = await r1.claim(8)
        assert [e["result_data"]["n"] for e in cb2.input["callbacks"]] == [2]
        await r1.complete(cb2.id)
        assert await r1.claim(8) == []
        assert await _count(core, tables.callbacks) == 3
        assert await _count(core, tables.callbacks, tables.callbacks.c.run_id.is_(None)) == 0
        assert await _count(core, tables.runs, tables.runs.c.kind == "callback") == 2
        assert await _count(core, tables.runs, tables.runs.c.status != "completed") == 0
        assert await _count(core, tables.runs, tables.runs.c.attempt != 1) == 0
        status = (await core.orchestration.trees.get(NS, ADMIN, parent.id)).status
        assert status == "idle"


async def test_the_background_sweeper_requeues_for_a_dead_runner(settings: Settings) -> None:
    quick = settings.model_copy(update={"sweep_interval_seconds": 0.1, "run_lease_seconds": 0.5})
    async with Roundtable.open(quick, sweeper=True) as core:
        await blueprint(core)
        await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
        dead = await runner(core, name="dead")
        [run] = await dead.claim()
        alive = await runner(core, name="alive")
        # The dead runner never heartbeats; the sweeper hands its run to the live one.
        [again] = await alive.claim(1, wait=20)
        assert again.id == run.id and again.attempt == 2
