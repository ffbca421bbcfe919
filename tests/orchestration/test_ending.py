"""Ending and deleting (D8): children follow on_parent_exit, a stop reaches the runner, and
DELETE removes a subtree only when nothing in it is active (or with force), leaving a
tombstone event."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from roundtable.auth.tokens import ADMIN
from roundtable.errors import ConflictError
from roundtable.events.log import read_after
from roundtable.orchestration.models import Mode, OnParentExit, RunStatus
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.orchestration.conftest import NS, blueprint, runner

NSP = f"/api/v1/namespaces/{NS}"


async def test_children_follow_on_parent_exit_and_the_stop_reaches_the_runner(
    core: Roundtable,
) -> None:
    await blueprint(core, "boss")
    await blueprint(core, "worker")
    r1 = await runner(core, capacity=8)
    trees = core.orchestration.trees
    parent = await trees.start(NS, ADMIN, "boss", {"prompt": "p"})
    [prun] = await r1.claim()
    me = core.tokens.authenticate(prun.run_token)
    stopper = await trees.start(NS, me, "worker", {"prompt": "s"})
    survivor = await trees.start(
        NS, me, "worker", {"prompt": "c"}, on_parent_exit=OnParentExit.CONTINUE
    )
    queued = await trees.start(NS, me, "worker", {"prompt": "q"})
    held = {r.session_id: r for r in await r1.claim(2)}
    assert set(held) == {stopper.id, survivor.id}
    # The parent's run fails: it ends, `stop` children stop, the `continue` one runs on.
    await r1.fail(prun.id)
    statuses = {s.id: s.status for s in await trees.children(NS, ADMIN, parent.id)}
    assert statuses == {stopper.id: "stopped", survivor.id: "running", queued.id: "stopped"}
    assert (await trees.get(NS, ADMIN, parent.id)).status == "failed"
    # The runner hears it on its next heartbeat, and reports the stop.
    runners = core.orchestration.runners
    reply = await runners.heartbeat(r1.principal, r1.id, [r.id for r in held.values()])
    assert reply.stop == [held[stopper.id].id]
    assert set(reply.runs_renewed) == {r.id for r in held.values()}
    run = await core.orchestration.queue.finish(
        r1.principal, r1.id, held[stopper.id].id, RunStatus.STOPPED
    )
    assert run.status == "stopped"
    assert (await trees.get(NS, ADMIN, stopper.id)).status == "stopped"
    await r1.complete(held[survivor.id].id, {"ok": 1})
    assert (await trees.get(NS, ADMIN, survivor.id)).status == "idle"
    # The pending run of the stopped child never reaches a runner.
    assert await r1.claim(8) == []


async def test_stop_session_asks_the_runner_and_stops_descendants(core: Roundtable) -> None:
    await blueprint(core, "boss")
    r1 = await runner(core, capacity=8)
    trees = core.orchestration.trees
    parent = await trees.start(NS, ADMIN, "boss", {"prompt": "p"})
    [prun] = await r1.claim()
    child = await trees.start(NS, core.tokens.authenticate(prun.run_token), "boss", {"prompt": "c"})
    stopped = await trees.stop(NS, ADMIN, parent.id)
    assert stopped.status == "stopped"
    assert (await trees.get(NS, ADMIN, child.id)).status == "stopped"
    assert await core.orchestration.queue.started(r1.principal, r1.id, prun.id) is True
    assert await r1.claim() == []


async def test_delete_is_guarded_then_forced_with_dry_run_and_tombstone(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    await blueprint(core, "boss")
    r1 = await runner(core, capacity=8)
    trees = core.orchestration.trees
    root = await trees.start(NS, ADMIN, "boss", {"prompt": "p"})
    [prun] = await r1.claim()
    me = core.tokens.authenticate(prun.run_token)
    kids = [await trees.start(NS, me, "boss", {"prompt": str(i)}) for i in range(2)]
    # A temporal document written from inside the tree (D6) goes with it; a persistent one stays.
    await core.documents.put(me, NS, name="notes", content="tree work", actor="boss")
    await core.documents.put(ADMIN, NS, name="kept", content="reference", actor="person")
    r = await api.delete(f"{NSP}/sessions/{root.id}")
    assert r.status_code == 409 and r.json()["code"] == "conflict"
    assert sorted(r.json()["data"]["active"]) == sorted([root.id, *(k.id for k in kids)])
    r = await api.delete(f"{NSP}/sessions/{root.id}?dry_run=true&force=true")
    assert r.status_code == 200, r.text
    dry = r.json()
    assert dry["deleted"] is False and dry["counts"] == {
        "sessions": 3,
        "runs": 3,
        "callbacks": 0,
        "documents": 1,
    }
    assert (await trees.get(NS, ADMIN, root.id)).status == "running"
    events_before = len(await read_after(core.db, 0, limit=10_000))
    r = await api.delete(f"{NSP}/sessions/{root.id}?force=true")
    assert r.status_code == 200 and r.json()["deleted"] is True, r.text
    assert sorted(r.json()["session_ids"]) == sorted([root.id, *(k.id for k in kids)])
    r = await api.get(f"{NSP}/sessions/{root.id}")
    assert r.status_code == 404
    events = await read_after(core.db, 0, limit=10_000)
    assert len(events) > events_before  # nothing removed from the log
    tomb = [e for e in events if e.type == "session.deleted"]
    assert len(tomb) == 1 and tomb[0].payload["counts"]["sessions"] == 3
    assert tomb[0].payload["forced"] is True
    async with core.db.read() as conn:
        for table in (tables.sessions, tables.runs, tables.callbacks):
            assert await conn.scalar(select(func.count()).select_from(table)) == 0
        names = (await conn.execute(select(tables.documents.c.name))).scalars().all()
    assert names == ["kept"]
    # The runner that held the root's run is told to drop it.
    reply = await core.orchestration.runners.heartbeat(r1.principal, r1.id, [prun.id])
    assert reply.stop == [prun.id]


async def test_delete_an_idle_subtree_keeps_the_parent_informed(core: Roundtable) -> None:
    await blueprint(core, "boss")
    r1 = await runner(core, capacity=8)
    trees = core.orchestration.trees
    root = await trees.start(NS, ADMIN, "boss", {"prompt": "p"})
    [prun] = await r1.claim()
    child = await trees.start(
        NS,
        core.tokens.authenticate(prun.run_token),
        "boss",
        {"prompt": "c"},
        mode=Mode.ASYNC_CALLBACK,
    )
    [crun] = await r1.claim()
    await r1.complete(crun.id)
    with pytest.raises(ConflictError):  # the root is still running
        await core.orchestration.deletion.delete(NS, ADMIN, root.id)
    gone = await core.orchestration.deletion.delete(NS, ADMIN, child.id)
    assert gone.deleted and gone.session_ids == [child.id]
    # The child's callback, addressed to the parent outside the subtree, stays.
    await r1.complete(prun.id)
    [cb] = await r1.claim()
    assert cb.input["callbacks"][0]["child_session_id"] == child.id


async def test_an_orchestrated_session_cannot_be_ended_like_a_plain_one(core: Roundtable) -> None:
    await blueprint(core, "boss")
    session = await core.orchestration.trees.start(NS, ADMIN, "boss", {"prompt": "p"})
    with pytest.raises(ConflictError, match="stop_session"):
        await core.sessions.end(NS, "boss", session.id)
    assert (await core.orchestration.trees.get(NS, ADMIN, session.id)).status == "pending"


async def test_children_of_a_plain_parent_that_ended_follow_on_the_next_sweep(
    core: Roundtable,
) -> None:
    await blueprint(core, "worker")
    plain = await core.sessions.start(NS, "alice")
    trees = core.orchestration.trees
    stop_kid = await trees.start(NS, ADMIN, "worker", {"prompt": "s"}, parent_session_id=plain.id)
    keep_kid = await trees.start(
        NS,
        ADMIN,
        "worker",
        {"prompt": "k"},
        parent_session_id=plain.id,
        on_parent_exit=OnParentExit.CONTINUE,
    )
    assert stop_kid.depth == 1 and stop_kid.root_id == plain.root_id
    assert (await core.orchestration.sweeper.sweep())["orphans_stopped"] == 0
    await core.sessions.end(NS, "alice", plain.id)
    assert (await core.orchestration.sweeper.sweep())["orphans_stopped"] == 1
    assert (await trees.get(NS, ADMIN, stop_kid.id)).status == "stopped"
    assert (await trees.get(NS, ADMIN, keep_kid.id)).status == "pending"
    # Sessions of a plain parent are listed by the plain session routes too.
    listed = {s.id: s.status.value for s in await core.sessions.list(NS)}
    assert listed[stop_kid.id] == "stopped" and listed[keep_kid.id] == "pending"


async def test_a_parent_failing_while_its_children_report_never_deadlocks(
    core: Roundtable,
) -> None:
    """Children report their ends (locking child, then parent) while the parent's run fails
    (locking parent, then children): no deadlock, no error, one consistent outcome each."""
    import asyncio

    await blueprint(core, "boss")
    await blueprint(core, "worker")
    r1 = await runner(core, capacity=32)
    trees = core.orchestration.trees
    parent = await trees.start(NS, ADMIN, "boss", {"prompt": "p"})
    [prun] = await r1.claim()
    me = core.tokens.authenticate(prun.run_token)
    kids = [
        await trees.start(NS, me, "worker", {"prompt": str(i)}, mode=Mode.ASYNC_CALLBACK)
        for i in range(10)  # the blueprint's default max_children
    ]
    runs = await r1.claim(32)
    assert len(runs) == len(kids)
    await asyncio.gather(r1.fail(prun.id), *(r1.complete(run.id, {"i": 1}) for run in runs))
    await core.orchestration.sweeper.sweep()
    statuses = {s.status for s in await trees.children(NS, ADMIN, parent.id)}
    assert statuses <= {"idle", "stopped"}
    assert (await trees.get(NS, ADMIN, parent.id)).status == "failed"
    async with core.db.read() as conn:
        keys = (await conn.execute(select(tables.callbacks.c.child_id))).scalars().all()
    assert len(keys) == len(set(keys)) == len(kids)  # each child told its parent once
