"""Orchestration metrics on `/metrics` after a known workload: runs ended, requeued and timed
out (counted as their transactions commit), the claim latency histogram, and the gauges read
from the database at scrape time (runs by status, queue depth and age, runners, callbacks)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update

from roundtable.auth.tokens import ADMIN
from roundtable.ids import utcnow
from roundtable.orchestration.models import Mode
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.store.engine import after_commit
from tests.ops.scrape import Series, parse, total, value
from tests.orchestration.conftest import NS, api, blueprint, runner

__all__ = ["api"]  # the fixture: the HTTP app in process on the test's core


async def scrape(client: httpx.AsyncClient) -> Series:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return parse(r.text)


def runs_by_status(series: Series) -> dict[str, float]:
    statuses = ("pending", "claimed", "running", "completed", "failed", "stopped")
    return {s: value(series, "roundtable_runs", status=s) for s in statuses}


async def test_orchestration_metrics_after_a_known_workload(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    trees = core.orchestration.trees
    await blueprint(core, "echoer")
    await blueprint(core, "ghost", executor={"kind": "ghost"})  # no runner offers it
    before = await scrape(api)
    worker = await runner(core, capacity=16)
    parent = await trees.start(NS, ADMIN, "echoer", {"prompt": "p"})
    [parent_run] = await worker.claim(1)
    child = await trees.start(
        NS, ADMIN, "echoer", {"prompt": "c"}, mode=Mode.ASYNC_CALLBACK, parent_session_id=parent.id
    )
    [child_run] = await worker.claim(1)
    assert child_run.session_id == child.id
    await worker.complete(child_run.id, {"ok": True})  # its parent is busy: the callback waits
    for prompt in ("a", "b"):
        await trees.start(NS, ADMIN, "echoer", {"prompt": prompt})
    await trees.start(NS, ADMIN, "ghost", {"prompt": "g"})
    failing, retried = await worker.claim(2)
    await worker.fail(failing.id)
    await worker.fail(retried.id, retryable=True)  # back in the queue

    during = await scrape(api)
    assert runs_by_status(during) == {
        "pending": 2,  # the retried run and the ghost's
        "claimed": 1,  # the parent's
        "running": 0,
        "completed": 1,
        "failed": 1,
        "stopped": 0,
    }
    assert value(during, "roundtable_run_queue_depth", executor="echo") == 1
    assert value(during, "roundtable_run_queue_depth", executor="ghost") == 1
    age = value(during, "roundtable_run_queue_oldest_age_seconds", executor="ghost")
    assert 0 <= age < 3600
    assert value(during, "roundtable_runners", state="online") == 1
    assert value(during, "roundtable_runners", state="gone") == 0
    assert value(during, "roundtable_callbacks_pending") == 1

    # The parent's runner goes silent about its run (the runner itself stays registered).
    async with core.db.write() as conn:
        runs = tables.runs
        past = utcnow() - timedelta(seconds=1)
        await conn.execute(
            update(runs).where(runs.c.id == parent_run.id).values(lease_expires_at=past)
        )
    swept = await core.orchestration.sweeper.sweep()
    assert swept["runs_lease_lapsed"] == 1 and swept["runners_gone"] == 0
    # Much later: the runner is gone and nothing claimed the three pending runs in time.
    later = utcnow() + timedelta(seconds=core.settings.run_queue_timeout + 3600)
    swept = await core.orchestration.sweeper.sweep(later)
    assert swept["runners_gone"] == 1 and swept["runs_queue_timeout"] == 3
    after = await scrape(api)

    def d(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert d("roundtable_runs_ended_total", status="completed") == 1
    assert d("roundtable_runs_ended_total", status="failed") == 1 + 3
    assert d("roundtable_runs_ended_total", status="stopped") == 0
    assert d("roundtable_runs_requeued_total", cause="retryable_failure") == 1
    assert d("roundtable_runs_requeued_total", cause="lease_lapsed") == 1
    assert d("roundtable_runs_requeued_total") == 2
    assert d("roundtable_runs_timed_out_total", timeout="lease") == 1
    assert d("roundtable_runs_timed_out_total", timeout="queue") == 3
    assert d("roundtable_run_claim_latency_seconds_count", executor="echo") == 4
    assert runs_by_status(after) == {
        "pending": 0,
        "claimed": 0,
        "running": 0,
        "completed": 1,
        "failed": 4,
        "stopped": 0,
    }
    assert total(after, "roundtable_run_queue_depth") == 0
    assert value(after, "roundtable_runners", state="gone") == 1
    assert value(after, "roundtable_runners", state="online") == 0
    assert value(after, "roundtable_callbacks_pending") == 0  # its parent failed
    # Bounded labels: no run, session or runner id appears in any orchestration series.
    ids = {parent.id, child.id, parent_run.id, worker.id}
    assert not [key for key in after if ids & {v for _, v in key[1]}]


async def test_a_rolled_back_transition_counts_nothing(core: Roundtable) -> None:
    """Counters are bumped after COMMIT (`store.engine.after_commit`), never for a rollback."""
    calls: list[str] = []

    class Boom(Exception):
        pass

    try:
        async with core.db.write():
            after_commit(lambda: calls.append("rolled back"))
            raise Boom
    except Boom:
        pass
    async with core.db.write():
        after_commit(lambda: calls.append("committed"))
        assert calls == []  # not before the commit
    assert calls == ["committed"]
    after_commit(lambda: calls.append("outside"))  # no transaction: at once
    assert calls == ["committed", "outside"]
