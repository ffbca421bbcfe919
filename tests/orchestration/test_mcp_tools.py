"""The orchestration MCP tools through the official MCP client over Streamable HTTP, as an
executor's agent would call them: with its run token, the caller's session as the parent."""

from __future__ import annotations

from pathlib import Path

import httpx

from roundtable.config import Settings
from roundtable.orchestration.models import BlueprintSpec
from roundtable.runtime import Roundtable
from tests.live import LiveServer
from tests.mcp.harness import fail, http, ok, stdio


def _setup(server: LiveServer) -> tuple[str, str, str, dict[str, str]]:
    """A blueprint, a runner, two root sessions; returns (root, other, run token, runner auth)."""
    api, admin = server.api(), server.headers
    for name in ("boss", "worker"):
        r = httpx.put(
            f"{api}/blueprints/{name}",
            json={"name": name, "executor": {"kind": "echo"}},
            headers=admin,
        )
        assert r.status_code == 201, r.text
    roots = []
    for prompt in ("mine", "other"):
        r = httpx.post(
            f"{api}/agent-sessions",
            json={"blueprint": "boss", "parameters": {"prompt": prompt}},
            headers=admin,
        )
        roots.append(r.json()["id"])
    base = api.split("/api/v1/")[0]
    reg = httpx.post(
        f"{base}/api/v1/runners", json={"name": "r", "executors": ["echo"]}, headers=admin
    ).json()
    auth = {"Authorization": f"Bearer {reg['token']}"}
    claimed = httpx.post(
        f"{base}/api/v1/runners/{reg['id']}/claim", json={"max": 1}, headers=auth
    ).json()["runs"]
    assert claimed[0]["session_id"] == roots[0]
    return roots[0], roots[1], claimed[0]["run_token"], auth


async def test_an_agent_starts_and_manages_children_with_its_run_token(
    live_server: LiveServer,
) -> None:
    root, other, token, _ = _setup(live_server)
    async with http(live_server, token) as client:
        listed = await ok(client, "list_blueprints")
        assert sorted(b["name"] for b in listed["blueprints"]) == ["boss", "worker"]
        child = await ok(
            client,
            "start_agent_session",
            {"blueprint": "worker", "prompt": "do it", "mode": "async_poll"},
        )
        assert child["parent_id"] == root and child["depth"] == 1 and child["status"] == "pending"
        children = await ok(client, "list_child_sessions")
        assert [s["id"] for s in children["sessions"]] == [child["id"]]
        status = await ok(client, "get_session_status", {"target_session_id": child["id"]})
        assert status["blueprint"] == "worker"
        waited = await ok(client, "wait_for_children", {"timeout": 0})
        assert waited["done"] is False
        await fail(
            client,
            "resume_agent_session",
            {"target_session_id": child["id"], "prompt": "x"},
            "conflict",
        )
        stopped = await ok(client, "stop_session", {"target_session_id": child["id"]})
        assert stopped["status"] == "stopped"
        result = await ok(client, "get_session_result", {"target_session_id": child["id"]})
        assert result["status"] == "stopped"
        waited = await ok(client, "wait_for_children", {"timeout": 1})
        assert waited["done"] is True
        # Outside its tree: refused, nothing started.
        await fail(client, "get_session_status", {"target_session_id": other}, "permission_denied")
        await fail(client, "list_child_sessions", {"session_id": other}, "permission_denied")
        await fail(
            client,
            "start_agent_session",
            {"blueprint": "worker", "prompt": "x", "session_id": other},
            "permission_denied",
        )
        bad = await fail(
            client,
            "start_agent_session",
            {"blueprint": "worker", "parameters": {}},
            "invalid_input",
        )
        assert bad["data"]["errors"][0]["path"] == "$"
        await fail(client, "start_agent_session", {"blueprint": "nope", "prompt": "x"}, "not_found")
        children = await ok(client, "list_child_sessions")
        assert len(children["sessions"]) == 1
        # The journal tools write as the run's own session, as over HTTP; naming another is
        # refused and writes nothing.
        await ok(client, "set_project", {"project": "web", "create": True})
        await ok(client, "append_entry", {"message": "did it"})
        await fail(
            client,
            "append_entry",
            {"message": "as other", "session_id": other},
            "permission_denied",
        )
    async with httpx.AsyncClient(headers=live_server.headers) as api:
        r = await api.get(f"{live_server.api()}/projects/web/entries")
    entries = r.json()["entries"]
    assert [(e["message"], e["session_id"]) for e in entries] == [("did it", root)]


def test_a_runner_token_cannot_use_mcp(live_server: LiveServer) -> None:
    _, _, _, auth = _setup(live_server)
    r = httpx.post(
        f"{live_server.url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={**auth, "Accept": "application/json, text/event-stream"},
    )
    assert r.status_code == 403


async def test_over_stdio_the_agents_own_session_becomes_the_parent(
    settings: Settings, tmp_path: Path
) -> None:
    """`roundtable mcp` (one agent process on the database): after start_session, the
    children it starts hang below that session and it can join on them."""
    async with Roundtable.open(settings, sweeper=False) as core:
        await core.orchestration.blueprints.apply(
            "default", BlueprintSpec.model_validate({"name": "w", "executor": {"kind": "echo"}})
        )
    async with stdio(settings, "alice", tmp_path / "stderr.log") as client:
        mine = await ok(client, "start_session")
        child = await ok(client, "start_agent_session", {"blueprint": "w", "prompt": "go"})
        assert child["parent_id"] == mine["id"] and child["depth"] == 1
        await fail(
            client,
            "start_agent_session",
            {"blueprint": "w", "prompt": "go", "mode": "async_callback"},
            "invalid_input",  # a plain session runs no callback
        )
        listed = await ok(client, "list_child_sessions")
        assert [s["id"] for s in listed["sessions"]] == [child["id"]]
        waited = await ok(client, "wait_for_children", {"timeout": 0})
        assert waited["done"] is False


async def test_resume_over_mcp_takes_an_output_schema(live_server: LiveServer) -> None:
    """`resume_agent_session` names the next run's output schema, as `start_agent_session` and
    HTTP resume do, and the run records it."""
    _, _, token, _ = _setup(live_server)
    schema = {"type": "object", "required": ["verdict"]}
    base, admin = live_server.url, live_server.headers
    async with http(live_server, token) as client:
        child = await ok(client, "start_agent_session", {"blueprint": "worker", "prompt": "a"})
        async with httpx.AsyncClient() as api:
            reg = await api.post(
                f"{base}/api/v1/runners",
                json={"name": "r2", "executors": ["echo"], "capacity": 4},
                headers=admin,
            )
            runner = reg.json()
            auth = {"Authorization": f"Bearer {runner['token']}"}
            claimed = await api.post(
                f"{base}/api/v1/runners/{runner['id']}/claim", json={"max": 2}, headers=auth
            )
            [run] = [r for r in claimed.json()["runs"] if r["session_id"] == child["id"]]
            done = await api.post(
                f"{base}/api/v1/runners/{runner['id']}/runs/{run['id']}/complete",
                json={"result_text": "first answer"},
                headers=auth,
            )
            assert done.status_code == 200, done.text
        resumed = await ok(
            client,
            "resume_agent_session",
            {"target_session_id": child["id"], "prompt": "b", "output_schema": schema},
        )
        assert resumed["status"] == "pending"
    async with httpx.AsyncClient(headers=admin) as api:
        runs = (await api.get(f"{live_server.api()}/sessions/{child['id']}/runs")).json()["runs"]
    first, latest = sorted(runs, key=lambda r: r["created_at"])
    assert first["output_schema_ref"] is None  # the blueprint names none
    assert latest["kind"] == "resume" and latest["output_schema_ref"].startswith("sha256:")
