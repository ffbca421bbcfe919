"""Callbacks (D13): structured envelopes, aggregated while the parent is busy, delivered
exactly once; a child that no runner takes fails and its parent hears why."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from roundtable.auth.tokens import ADMIN
from roundtable.events.log import read_after
from roundtable.ids import utcnow
from roundtable.orchestration.models import Mode
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.orchestration.conftest import NS, blueprint, runner


async def test_callbacks_wait_while_the_parent_runs_then_arrive_aggregated_once(
    core: Roundtable,
) -> None:
    await blueprint(core, "boss")
    await blueprint(core, "worker")
    r1 = await runner(core, capacity=8)
    trees = core.orchestration.trees
    parent = await trees.start(NS, ADMIN, "boss", {"prompt": "plan"})
    [prun] = await r1.claim()
    as_parent = core.tokens.authenticate(prun.run_token)
    assert as_parent.scope is not None and as_parent.scope.session_id == parent.id
    kids = [
        await trees.start(
            NS, as_parent, "worker", {"prompt": f"task {i}"}, mode=Mode.ASYNC_CALLBACK
        )
        for i in range(3)
    ]
    assert {k.parent_id for k in kids} == {parent.id} and {k.depth for k in kids} == {1}
    # The children finish while the parent still runs: their callbacks wait.
    runs = await r1.claim(8)
    assert {r.session_id for r in runs} == {k.id for k in kids}
    for run in runs:
        await r1.complete(run.id, {"answer": run.input["prompt"]})
    assert await r1.claim(8) == []
    # The parent's run ends: ONE callback run carries all three envelopes.
    await r1.complete(prun.id, text="planned")
    assert (await trees.get(NS, ADMIN, parent.id)).status == "pending"
    [cb] = await r1.claim(8)
    assert cb.kind == "callback" and cb.session_id == parent.id
    envelopes = cb.input["callbacks"]
    assert sorted(e["child_session_id"] for e in envelopes) == sorted(k.id for k in kids)
    assert {e["status"] for e in envelopes} == {"idle"}
    assert sorted(e["result_data"]["answer"] for e in envelopes) == ["task 0", "task 1", "task 2"]
    assert set(envelopes[0]) == {
        "child_session_id",
        "blueprint",
        "status",
        "result_data",
        "result_text",
        "error",
    }
    await r1.complete(cb.id, text="merged")
    assert await r1.claim(8) == []
    # A later child finishing while the parent is idle is delivered at once, alone.
    as_parent_again = core.tokens.authenticate(cb.run_token)
    late = await trees.start(
        NS, as_parent_again, "worker", {"prompt": "late"}, mode=Mode.ASYNC_CALLBACK
    )
    [lrun] = await r1.claim()
    await r1.complete(lrun.id, {"answer": "late"})
    [cb2] = await r1.claim()
    assert [e["child_session_id"] for e in cb2.input["callbacks"]] == [late.id]
    await r1.complete(cb2.id)
    async with core.db.read() as conn:
        cbs = (await conn.execute(select(tables.callbacks))).all()
        callback_runs = await conn.scalar(
            select(func.count()).where(tables.runs.c.kind == "callback")
        )
    assert len(cbs) == 4 and all(c.run_id is not None for c in cbs)
    assert callback_runs == 2
    # A sweep finds nothing left to deliver.
    swept = await core.orchestration.sweeper.sweep()
    assert swept["callbacks_delivered"] == 0


async def test_a_child_no_runner_matches_fails_and_the_parent_hears_why(
    core: Roundtable,
) -> None:
    await blueprint(core, "boss")
    await blueprint(core, "gpu-worker", demands=["gpu"])
    r1 = await runner(core, tags=["linux"])
    trees = core.orchestration.trees
    await trees.start(NS, ADMIN, "boss", {"prompt": "p"})
    [prun] = await r1.claim()
    as_parent = core.tokens.authenticate(prun.run_token)
    child = await trees.start(
        NS, as_parent, "gpu-worker", {"prompt": "x"}, mode=Mode.ASYNC_CALLBACK
    )
    await r1.complete(prun.id)
    assert await r1.claim() == []  # demands gpu: never matched
    later = utcnow() + timedelta(seconds=core.settings.run_queue_timeout + 1)
    swept = await core.orchestration.sweeper.sweep(later)
    assert swept["runs_queue_timeout"] == 1
    failed = await trees.result(NS, ADMIN, child.id)
    assert failed.status == "failed" and failed.error is not None
    assert failed.error["code"] == "queue_timeout" and "gpu" in failed.error["message"]
    [cb] = await r1.claim()
    [envelope] = cb.input["callbacks"]
    assert envelope["child_session_id"] == child.id and envelope["status"] == "failed"
    assert envelope["error"]["code"] == "queue_timeout"
    events = [e for e in await read_after(core.db, 0) if e.type == "run.failed"]
    assert events[0].payload["error"]["code"] == "queue_timeout"


async def test_every_orchestration_event_matches_its_model(core: Roundtable) -> None:
    from roundtable.events.catalogue import parse_payload

    await test_callbacks_wait_while_the_parent_runs_then_arrive_aggregated_once(core)
    seen = set()
    for event in await read_after(core.db, 0, limit=10_000):
        parse_payload(event.type, event.payload)
        seen.add(event.type)
    assert {
        "session.created",
        "session.status",
        "run.queued",
        "run.claimed",
        "run.completed",
        "callback.queued",
        "callback.delivered",
        "runner.registered",
        "blueprint.applied",
    } <= seen


async def test_children_ending_at_once_reach_an_idle_parent_exactly_once(
    core: Roundtable,
) -> None:
    import asyncio
    from collections import Counter

    await blueprint(core, "boss", limits={"max_children": 20})
    await blueprint(core, "worker")
    r1 = await runner(core, capacity=32)
    trees = core.orchestration.trees
    await trees.start(NS, ADMIN, "boss", {"prompt": "p"})
    [prun] = await r1.claim()
    me = core.tokens.authenticate(prun.run_token)
    kids = [
        await trees.start(NS, me, "worker", {"prompt": str(i)}, mode=Mode.ASYNC_CALLBACK)
        for i in range(12)
    ]
    runs = await r1.claim(32)
    await r1.complete(prun.id)  # the parent is idle when its children end, all at once
    await asyncio.gather(*(r1.complete(run.id, {"i": run.input["prompt"]}) for run in runs))
    delivered: Counter[str] = Counter()
    for _ in range(len(kids)):
        callbacks = await r1.claim(32)
        if not callbacks:
            break
        for cb in callbacks:
            delivered.update(e["child_session_id"] for e in cb.input["callbacks"])
            await r1.complete(cb.id)
    assert delivered == Counter({k.id: 1 for k in kids})
