"""Blueprints: CRUD over HTTP, versions (D2), idempotent apply; sessions keep the version they
were started with. Plus resume, the join barrier and the journal's audit of runs."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from roundtable.auth.tokens import ADMIN
from roundtable.errors import ConflictError
from roundtable.orchestration.models import BlueprintSpec
from roundtable.runtime import Roundtable
from tests.orchestration.conftest import NS, blueprint, runner

NSP = f"/api/v1/namespaces/{NS}"


async def test_crud_versions_and_idempotent_apply(api: httpx.AsyncClient) -> None:
    spec = {
        "name": "reviewer",
        "instructions": "Review.",
        "executor": {"kind": "script", "config": {"command": ["cat"]}},
        "tags": ["review"],
        "demands": ["linux"],
        "limits": {"max_children": 2, "max_depth": 1},
    }
    r = await api.put(f"{NSP}/blueprints/reviewer", json=spec)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["version"] == 1 and first["changed"] is True and first["status"] == "active"
    assert first["on_parent_exit"] == "stop" and first["parameters_schema"] is None
    r = await api.put(f"{NSP}/blueprints/reviewer", json=spec)
    assert r.status_code == 200 and r.json()["version"] == 1 and r.json()["changed"] is False
    r = await api.put(
        f"{NSP}/blueprints/reviewer", json={**spec, "instructions": "v2", "expected_version": 1}
    )
    assert r.status_code == 200 and r.json()["version"] == 2 and r.json()["changed"] is True
    r = await api.put(
        f"{NSP}/blueprints/reviewer", json={**spec, "instructions": "v3", "expected_version": 1}
    )
    assert r.status_code == 409 and r.json()["data"]["current_version"] == 2
    r = await api.get(f"{NSP}/blueprints/reviewer")
    assert r.json()["instructions"] == "v2"
    r = await api.get(f"{NSP}/blueprints")
    assert [b["name"] for b in r.json()["blueprints"]] == ["reviewer"]
    r = await api.delete(f"{NSP}/blueprints/reviewer?expected_version=1")
    assert r.status_code == 409
    r = await api.delete(f"{NSP}/blueprints/reviewer?expected_version=2")
    assert r.status_code == 204
    assert (await api.get(f"{NSP}/blueprints/reviewer")).status_code == 404
    # Re-created later, it continues the version sequence.
    r = await api.put(f"{NSP}/blueprints/reviewer", json=spec)
    assert r.status_code == 201 and r.json()["version"] == 3


async def test_a_session_runs_the_version_it_was_started_with(core: Roundtable) -> None:
    await blueprint(core, "w", instructions="one")
    session = await core.orchestration.trees.start(NS, ADMIN, "w", {"prompt": "x"})
    await blueprint(core, "w", instructions="two")
    r1 = await runner(core)
    [run] = await r1.claim()
    assert run.blueprint.version == 1 and run.blueprint.instructions == "one"
    assert session.blueprint_version == 1
    # Disabled: no new sessions; the existing one can still finish.
    await blueprint(core, "w", instructions="two", status="disabled")
    await r1.complete(run.id)
    with pytest.raises(Exception, match="disabled"):
        await core.orchestration.trees.start(NS, ADMIN, "w", {"prompt": "y"})
    with pytest.raises(ConflictError):
        await core.orchestration.blueprints.apply(
            NS, BlueprintSpec.model_validate({"name": "w", "executor": {"kind": "echo"}}), 1
        )


async def test_resume_wait_for_children_and_the_audit_trail(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    await core.journal.create_project(NS, "admin", "web")
    await blueprint(core, "boss")
    r1 = await runner(core, capacity=8)
    trees = core.orchestration.trees
    root = await trees.start(NS, ADMIN, "boss", {"prompt": "p"}, project="web")
    [prun] = await r1.claim()
    me = core.tokens.authenticate(prun.run_token)
    kids = [await trees.start(NS, me, "boss", {"prompt": str(i)}) for i in range(2)]
    assert {k.project for k in kids} == {"web"}  # inherited
    barrier = asyncio.create_task(trees.wait_children(NS, me, root.id, None, 20))
    named = await trees.wait_children(NS, me, root.id, [kids[0].id], 0)
    assert named.done is False and [s.id for s in named.sessions] == [kids[0].id]
    for run in await r1.claim(8):
        await r1.complete(run.id, {"n": run.input["prompt"]})
    joined = await asyncio.wait_for(barrier, 10)
    assert joined.done and {s.status for s in joined.sessions} == {"idle"}
    # Resume an idle child over HTTP; a running one refuses.
    r = await api.post(f"{NSP}/sessions/{kids[0].id}/resume", json={"prompt": "again"})
    assert r.status_code == 200 and r.json()["status"] == "pending", r.text
    r = await api.post(f"{NSP}/sessions/{kids[0].id}/resume", json={"prompt": "again"})
    assert r.status_code == 409
    [again] = await r1.claim()
    assert again.kind == "resume" and again.input == {"prompt": "again"}
    await r1.complete(again.id)
    r = await api.get(f"{NSP}/sessions/{kids[0].id}/runs")
    assert [x["kind"] for x in r.json()["runs"]] == ["start", "resume"]
    r = await api.get(f"{NSP}/runs/{again.id}")
    assert r.json()["status"] == "completed"
    r = await api.get(f"{NSP}/sessions/{root.id}/children")
    assert sorted(s["id"] for s in r.json()["sessions"]) == sorted(k.id for k in kids)
    r = await api.post(f"{NSP}/sessions/{root.id}/wait", json={"timeout": 0})
    assert r.json()["done"] is True
    # Every run's start and end is in the project's journal.
    page = await core.journal.read_recent(NS, "web", limit=100)
    audit = [e for e in page.entries if e.kind == "orchestration.run"]
    by_run: dict[str, list[str]] = {}
    for entry in audit:
        by_run.setdefault(entry.meta["run_id"], []).append(entry.meta["status"])
        assert entry.meta["blueprint"] == "boss" and entry.agent == "boss"
    assert by_run.pop(prun.id) == ["claimed"]  # the root's run is still under way
    assert sorted(map(sorted, by_run.values())) == [["claimed", "completed"]] * 3
