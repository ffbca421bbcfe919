"""Bad input gets a clear error and writes nothing: unknown or disabled blueprints, parameters
failing the schema (every error listed), tree limits, tokens used outside their scope."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from roundtable.auth.tokens import ADMIN
from roundtable.errors import InvalidInput, NotFound, PermissionDenied
from roundtable.orchestration.models import BlueprintSpec
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.orchestration.conftest import NS, blueprint, runner

NSP = f"/api/v1/namespaces/{NS}"
SCHEMA = {
    "type": "object",
    "properties": {"repo": {"type": "string"}, "depth": {"type": "integer", "minimum": 1}},
    "required": ["repo", "depth"],
    "additionalProperties": False,
}


async def counts(core: Roundtable) -> dict[str, int]:
    out = {}
    async with core.db.read() as conn:
        for table in (tables.sessions, tables.runs, tables.callbacks, tables.events):
            out[table.name] = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
    return out


async def test_start_refusals_list_every_error_and_write_nothing(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    await blueprint(core, "strict", parameters_schema=SCHEMA)
    await blueprint(core, "off", status="disabled")
    await blueprint(core, "plain")
    before = await counts(core)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"blueprint": "nope", "parameters": {"prompt": "x"}}, 404, "not_found"),
        ({"blueprint": "off", "parameters": {"prompt": "x"}}, 422, "invalid_input"),
        ({"blueprint": "plain", "parameters": {}}, 422, "invalid_input"),
        ({"blueprint": "plain", "parameters": {"prompt": ""}}, 422, "invalid_input"),
        ({"blueprint": "strict", "parameters": {"depth": 0, "extra": 1}}, 422, "invalid_input"),
        (
            {"blueprint": "plain", "parameters": {"prompt": "x"}, "mode": "nope"},
            422,
            "invalid_input",
        ),
        (
            {"blueprint": "plain", "parameters": {"prompt": "x"}, "mode": "async_callback"},
            422,
            "invalid_input",
        ),
        (
            {"blueprint": "plain", "parameters": {"prompt": "x"}, "parent_session_id": "missing"},
            404,
            "not_found",
        ),
        (
            {"blueprint": "plain", "parameters": {"prompt": "x"}, "project": "no-such"},
            404,
            "not_found",
        ),
        (
            {"blueprint": "plain", "parameters": {"prompt": "x"}, "priority": 10**6},
            422,
            "invalid_input",
        ),
        (
            {"blueprint": "plain", "parameters": {"prompt": "x"}, "surprise": 1},
            422,
            "invalid_input",
        ),
    ]
    for body, status, code in cases:
        r = await api.post(f"{NSP}/agent-sessions", json=body)
        assert r.status_code == status and r.json()["code"] == code, (body, r.text)
    r = await api.post(
        f"{NSP}/agent-sessions",
        json={"blueprint": "strict", "parameters": {"depth": 0, "extra": 1}},
    )
    errors = r.json()["data"]["errors"]
    paths = sorted(e["path"] for e in errors)
    assert paths == ["$", "$", "$.depth"], errors  # missing repo, extra field, depth < 1
    assert all(e["message"] for e in errors)
    assert await counts(core) == before


async def test_tree_limits_refuse_runaway_recursion(core: Roundtable) -> None:
    await blueprint(core, "rec", limits={"max_children": 2, "max_depth": 2})
    r1 = await runner(core, capacity=16)
    trees = core.orchestration.trees
    root = await trees.start(NS, ADMIN, "rec", {"prompt": "0"})
    [run] = await r1.claim()
    me = core.tokens.authenticate(run.run_token)
    a = await trees.start(NS, me, "rec", {"prompt": "1"})
    await trees.start(NS, me, "rec", {"prompt": "1"})
    before = await counts(core)
    with pytest.raises(InvalidInput) as children:
        await trees.start(NS, me, "rec", {"prompt": "1"})
    assert children.value.data["limit"] == "max_children"
    [arun] = [r for r in await r1.claim(16) if r.session_id == a.id]
    at_a = core.tokens.authenticate(arun.run_token)
    b = await trees.start(NS, at_a, "rec", {"prompt": "2"})
    brun = next(r for r in await r1.claim(16) if r.session_id == b.id)
    at_b = core.tokens.authenticate(brun.run_token)
    before = await counts(core)
    with pytest.raises(InvalidInput) as depth:
        await trees.start(NS, at_b, "rec", {"prompt": "3"})
    assert depth.value.data["limit"] == "max_depth" and "rec" in depth.value.message
    assert await counts(core) == before
    assert root.depth == 0 and b.depth == 2


async def test_namespace_depth_limit(core: Roundtable) -> None:
    core.settings.max_tree_depth = 1
    await blueprint(core, "deep", limits={"max_depth": 50})
    r1 = await runner(core)
    trees = core.orchestration.trees
    await trees.start(NS, ADMIN, "deep", {"prompt": "0"})
    [run] = await r1.claim()
    child = await trees.start(NS, core.tokens.authenticate(run.run_token), "deep", {"prompt": "1"})
    [crun] = await r1.claim()
    assert crun.session_id == child.id
    with pytest.raises(InvalidInput) as exc:
        await trees.start(NS, core.tokens.authenticate(crun.run_token), "deep", {"prompt": "2"})
    assert exc.value.data["limit"] == "max_tree_depth"


async def test_tokens_outside_their_scope(core: Roundtable, api: httpx.AsyncClient) -> None:
    await blueprint(core, "plain")
    r1 = await runner(core, capacity=4)
    trees = core.orchestration.trees
    one = await trees.start(NS, ADMIN, "plain", {"prompt": "a"})
    other = await trees.start(NS, ADMIN, "plain", {"prompt": "b"})
    runs = {r.session_id: r for r in await r1.claim(4)}
    token = runs[one.id].run_token
    as_run = {"Authorization": f"Bearer {token}"}
    await core.journal.create_project(NS, "admin", "web")
    before = await counts(core)
    # Another tree: refused for reading, stopping, deleting and as a parent.
    for method, path, body in [
        ("GET", f"{NSP}/sessions/{other.id}", None),
        ("GET", f"{NSP}/sessions/{other.id}/children", None),
        ("POST", f"{NSP}/sessions/{other.id}/stop", None),
        ("DELETE", f"{NSP}/sessions/{other.id}?force=true", None),
        (
            "POST",
            f"{NSP}/agent-sessions",
            {"blueprint": "plain", "parameters": {"prompt": "x"}, "parent_session_id": other.id},
        ),
        ("GET", f"{NSP}/runs/{runs[other.id].id}", None),
    ]:
        r = await api.request(method, path, json=body, headers=as_run)
        assert r.status_code == 403 and r.json()["code"] == "permission_denied", (path, r.text)
        assert "tree" in r.json()["detail"] or "own session" in r.json()["detail"]
    # Journal writes with a run token are attributed to its session, never another.
    r = await api.post(
        f"{NSP}/projects/web/entries", json={"message": "m", "session_id": other.id}, headers=as_run
    )
    assert r.status_code == 403
    assert await counts(core) == before
    r = await api.post(f"{NSP}/projects/web/entries", json={"message": "mine"}, headers=as_run)
    assert r.status_code == 201, r.text
    assert r.json()["entries"][0]["session_id"] == one.id
    assert r.json()["entries"][0]["agent"] == "plain"
    # A runner token works only on its own runner routes.
    reg = await api.post("/api/v1/runners", json={"name": "r2", "executors": ["echo"]})
    as_runner = {"Authorization": f"Bearer {reg.json()['token']}"}
    for method, path in [
        ("GET", f"{NSP}/blueprints"),
        ("GET", f"{NSP}/sessions/{one.id}"),
        ("GET", "/api/v1/runners"),
        ("POST", f"/api/v1/runners/{r1.id}/heartbeat"),
        ("GET", "/api/v1/events?timeout=0"),
    ]:
        r = await api.request(
            method, path, json={} if method == "POST" else None, headers=as_runner
        )
        assert r.status_code == 403, (path, r.text)


async def test_blueprint_bad_input(core: Roundtable, api: httpx.AsyncClient) -> None:
    good = {"name": "b", "executor": {"kind": "echo"}}
    for body, status in [
        ({**good, "unknown": 1}, 422),
        ({**good, "name": "b c"}, 422),
        ({**good, "name": "other"}, 422),  # path and body disagree
        ({"name": "b"}, 422),
        ({**good, "parameters_schema": {"type": "no-such-type"}}, 422),
        ({**good, "on_parent_exit": "explode"}, 422),
        ({**good, "limits": {"max_depth": -1}}, 422),
    ]:
        r = await api.put(f"{NSP}/blueprints/b", json=body)
        assert r.status_code == status and r.json()["code"] == "invalid_input", (body, r.text)
    r = await api.put(f"{NSP}/blueprints/b", content=b"x" * (core.settings.max_run_body_bytes + 1))
    assert r.status_code == 413 and r.json()["code"] == "too_large"
    assert (await api.get(f"{NSP}/blueprints")).json() == {"blueprints": []}
    with pytest.raises(NotFound):
        await core.orchestration.blueprints.get(NS, "b")
    with pytest.raises(PermissionDenied):
        await core.orchestration.runners.register(
            core.tokens.authenticate(
                core.tokens.mint_runner("x", NS, __import__("datetime").timedelta(hours=1))
            ),
            __import__(
                "roundtable.orchestration.runners", fromlist=["RegisterRunner"]
            ).RegisterRunner(name="n", executors=["echo"]),
        )
    assert BlueprintSpec.model_fields.keys() >= {"name", "executor", "limits"}


async def test_nul_and_unicode_junk_in_ids_are_4xx_never_500(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    await blueprint(core, "plain")
    reg = await api.post("/api/v1/runners", json={"name": "r", "executors": ["echo"]})
    rid = reg.json()["id"]
    auth = {"Authorization": f"Bearer {reg.json()['token']}"}
    junk = "a%00b"
    for method, path, body, headers in [
        ("GET", f"{NSP}/blueprints/{junk}", None, None),
        ("GET", f"{NSP}/sessions/{junk}/result", None, None),
        ("GET", f"{NSP}/runs/{junk}", None, None),
        ("DELETE", f"{NSP}/sessions/{junk}", None, None),
        ("POST", f"{NSP}/sessions/{junk}/stop", None, None),
        ("POST", f"/api/v1/runners/{junk}/heartbeat", {"running": []}, None),
        ("POST", f"/api/v1/runners/{rid}/heartbeat", {"running": ["x\u0000"]}, auth),
        ("POST", f"/api/v1/runners/{rid}/runs/{junk}/started", None, auth),
        ("POST", f"{NSP}/agent-sessions", {"blueprint": "plain\u0000"}, None),
        (
            "POST",
            f"{NSP}/agent-sessions",
            {"blueprint": "plain", "parameters": {"prompt": "x"}, "parent_session_id": "\u0000"},
            None,
        ),
    ]:
        r = await api.request(method, path, json=body, headers=headers)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)


async def test_agent_tokens_see_the_trees_their_agent_started_only(
    core: Roundtable, api: httpx.AsyncClient
) -> None:
    await blueprint(core, "plain")
    tokens = {}
    for agent in ("alice", "bob"):
        r = await api.post(f"{NSP}/tokens", json={"agent": agent})
        tokens[agent] = {"Authorization": f"Bearer {r.json()['token']}"}
    r = await api.post(
        f"{NSP}/agent-sessions",
        json={"blueprint": "plain", "parameters": {"prompt": "x"}},
        headers=tokens["alice"],
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    r = await api.get(f"{NSP}/sessions/{sid}/result", headers=tokens["alice"])
    assert r.status_code == 200, r.text
    r = await api.get(f"{NSP}/sessions/{sid}/result", headers=tokens["bob"])
    assert r.status_code == 403
    r = await api.post(f"{NSP}/sessions/{sid}/stop", headers=tokens["bob"])
    assert r.status_code == 403
    r = await api.post(f"{NSP}/sessions/{sid}/stop", headers=tokens["alice"])
    assert r.status_code == 200 and r.json()["status"] == "stopped"
