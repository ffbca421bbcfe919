"""Several runs' ends in one `reports` call: each recorded exactly as its single report would
be (one transaction for all), a refused one refused alone, a repeat changing nothing."""

from __future__ import annotations

from collections import Counter

import httpx
from sqlalchemy import select

from roundtable.auth.tokens import ADMIN
from roundtable.events.log import read_after
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.orchestration.conftest import NS, blueprint, runner

R = tables.runs
ENDS = ("run.completed", "run.failed", "run.stopped")


async def _statuses(core: Roundtable) -> dict[str, str]:
    async with core.db.read() as conn:
        return {row.id: row.status for row in await conn.execute(select(R.c.id, R.c.status))}


async def test_a_batch_of_reports_records_each_end_once(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    await blueprint(core)
    trees = core.orchestration.trees
    sessions = [await trees.start(NS, ADMIN, "echoer", {"prompt": str(n)}) for n in range(5)]
    r1 = await runner(core, capacity=4)
    ok, bad, halt, again = await r1.claim(4)
    r2 = await runner(core, name="r2")
    [theirs] = await r2.claim(1)
    batch = [
        {"run_id": ok.id, "complete": {"result_data": {"echo": ok.input}}},
        {"run_id": bad.id, "fail": {"error": {"code": "boom", "message": "it broke"}}},
        {"run_id": halt.id, "stopped": True},
        {
            "run_id": again.id,
            "fail": {"error": {"code": "flaky", "message": "x"}, "retryable": True},
        },
        {"run_id": theirs.id, "complete": {"result_text": "not mine"}},
        {"run_id": "no-such-run", "stopped": True},
    ]
    reply = await api.post(f"/api/v1/runners/{r1.id}/reports", json={"reports": batch})
    assert reply.status_code == 200, reply.text
    results = reply.json()["results"]
    assert [r["run_id"] for r in results] == [item["run_id"] for item in batch]
    assert [r["status"] for r in results[:4]] == ["completed", "failed", "stopped", "pending"]
    assert results[4]["error"]["code"] == "conflict" and results[4]["status"] is None
    assert results[5]["error"]["code"] == "not_found"
    statuses = await _statuses(core)
    assert statuses[theirs.id] == "claimed"  # the refused report changed nothing
    by_session = {s.id: (await trees.get(NS, ADMIN, s.id)).status for s in sessions}
    assert [by_session[run.session_id] for run in (ok, bad, halt)] == ["idle", "failed", "stopped"]
    assert by_session[again.session_id] == "pending"  # requeued, attempt 2

    # the same batch again (a retry after a lost reply): nothing is recorded twice
    ends_before = Counter(
        e.payload["run_id"] for e in await read_after(core.db, 0) if e.type in ENDS
    )
    retry = await api.post(f"/api/v1/runners/{r1.id}/reports", json={"reports": batch[:3]})
    assert [r["status"] for r in retry.json()["results"]] == ["completed", "failed", "stopped"]
    events = await read_after(core.db, 0)
    ends = Counter(e.payload["run_id"] for e in events if e.type in ENDS)
    assert ends == ends_before and max(ends.values()) == 1
    session = await trees.get(NS, ADMIN, ok.session_id)
    assert session.result_data == {"echo": ok.input}


async def test_a_malformed_batch_is_refused_whole(core: Roundtable, api: httpx.AsyncClient) -> None:
    await blueprint(core)
    await core.orchestration.trees.start(NS, ADMIN, "echoer", {"prompt": "x"})
    r1 = await runner(core)
    [run] = await r1.claim(1)
    url = f"/api/v1/runners/{r1.id}/reports"
    two_outcomes = {"run_id": run.id, "stopped": True, "complete": {"result_text": "x"}}
    for body in (
        {"reports": [two_outcomes]},
        {"reports": [{"run_id": run.id}]},
        {"reports": []},
        {"reports": [{"run_id": run.id, "stopped": True}] * 2},
    ):
        reply = await api.post(url, json=body)
        assert reply.status_code == 422, (body, reply.text)
    assert (await _statuses(core))[run.id] == "claimed"
