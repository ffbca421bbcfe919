"""The core loop: blueprint -> session -> queued run -> claim -> complete -> result, and the
HTTP routes for it, on both backends."""

from __future__ import annotations

import httpx

from roundtable.auth.tokens import ADMIN
from roundtable.orchestration.models import Mode
from roundtable.runtime import Roundtable
from tests.orchestration.conftest import NS, blueprint, runner


async def test_start_claim_complete_gives_the_result(core: Roundtable) -> None:
    await blueprint(core)
    r1 = await runner(core)
    trees = core.orchestration.trees
    session = await trees.start(NS, ADMIN, "echoer", {"prompt": "hi"})
    assert session.status == "pending" and session.depth == 0 and session.root_id == session.id
    [claimed] = await r1.claim()
    assert claimed.session_id == session.id and claimed.kind == "start"
    assert claimed.input == {"prompt": "hi"} and claimed.blueprint.name == "echoer"
    assert (await trees.get(NS, ADMIN, session.id)).status == "running"
    run = await r1.complete(claimed.id, {"echo": claimed.input})
    assert run.status == "completed"
    result = await trees.result(NS, ADMIN, session.id)
    assert result.status == "idle" and result.result_data == {"echo": {"prompt": "hi"}}
    assert result.run_id == claimed.id
    # A repeated report of the same end changes nothing.
    again = await r1.complete(claimed.id, {"other": 1})
    assert again.result_data == {"echo": {"prompt": "hi"}}
    assert await r1.claim() == []


async def test_http_blueprint_start_claim_complete(api: httpx.AsyncClient) -> None:
    ns = f"/api/v1/namespaces/{NS}"
    spec = {"name": "echoer", "executor": {"kind": "echo", "config": {}}}
    r = await api.put(f"{ns}/blueprints/echoer", json=spec)
    assert r.status_code == 201 and r.json()["version"] == 1, r.text
    r = await api.put(f"{ns}/blueprints/echoer", json=spec)
    assert r.status_code == 200 and r.json()["changed"] is False and r.json()["version"] == 1
    reg = await api.post(
        "/api/v1/runners", json={"name": "r1", "executors": ["echo"], "capacity": 2}
    )
    assert reg.status_code == 201, reg.text
    rid, rtoken = reg.json()["id"], reg.json()["token"]
    runner_auth = {"Authorization": f"Bearer {rtoken}"}
    r = await api.post(
        f"{ns}/agent-sessions", json={"blueprint": "echoer", "parameters": {"prompt": "x"}}
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await api.post(
        f"/api/v1/runners/{rid}/claim", json={"max": 2, "wait": 1}, headers=runner_auth
    )
    assert r.status_code == 200, r.text
    [run] = r.json()["runs"]
    assert run["session_id"] == sid and run["run_token"]
    r = await api.post(f"/api/v1/runners/{rid}/runs/{run['id']}/started", headers=runner_auth)
    assert r.json() == {"stop": False}
    r = await api.post(
        f"/api/v1/runners/{rid}/heartbeat", json={"running": [run["id"]]}, headers=runner_auth
    )
    assert r.json() == {"stop": [], "runs_renewed": [run["id"]]}
    r = await api.post(
        f"/api/v1/runners/{rid}/runs/{run['id']}/complete",
        json={"result_data": {"ok": True}, "usage": {"input_tokens": 3}},
        headers=runner_auth,
    )
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    r = await api.get(f"{ns}/sessions/{sid}/result")
    assert r.json()["result_data"] == {"ok": True} and r.json()["status"] == "idle"
    r = await api.get(f"{ns}/sessions/{sid}")
    assert r.json()["blueprint"] == "echoer" and r.json()["status"] == "idle"
    r = await api.get("/api/v1/runners")
    assert r.json()["runners"][0]["state"] == "online"
    # the runner token reaches nothing else
    r = await api.get(f"{ns}/sessions/{sid}", headers=runner_auth)
    assert r.status_code == 403 and r.json()["code"] == "permission_denied"


async def test_sync_mode_waits_for_the_result(core: Roundtable) -> None:
    import asyncio

    await blueprint(core)
    r1 = await runner(core)

    async def work() -> None:
        [run] = await r1.claim(wait=5)
        await r1.complete(run.id, text="done")

    worker = asyncio.create_task(work())
    session = await core.orchestration.trees.start(
        NS, ADMIN, "echoer", {"prompt": "p"}, mode=Mode.SYNC, wait_seconds=10
    )
    await worker
    assert session.status == "idle" and session.result_text == "done"
    assert session.timed_out is False


async def test_sync_mode_sees_a_failure_and_times_out_with_the_session_as_it_is(
    core: Roundtable,
) -> None:
    """`sync` subscribes before the session exists and reads it only when an event says it is
    no longer busy (or at the deadline): a failure ends the wait, and a run nobody claims
    returns the pending session with `timed_out`."""
    import asyncio

    await blueprint(core)
    r1 = await runner(core)

    async def work() -> None:
        [run] = await r1.claim(wait=5)
        await r1.fail(run.id, code="nope")

    worker = asyncio.create_task(work())
    trees = core.orchestration.trees
    failed = await trees.start(
        NS, ADMIN, "echoer", {"prompt": "p"}, mode=Mode.SYNC, wait_seconds=10
    )
    await worker
    assert failed.status == "failed" and failed.timed_out is False
    assert failed.error is not None and failed.error["code"] == "nope"
    waiting = await trees.start(
        NS, ADMIN, "echoer", {"prompt": "q"}, mode=Mode.SYNC, wait_seconds=0.3
    )
    assert waiting.status == "pending" and waiting.timed_out is True
