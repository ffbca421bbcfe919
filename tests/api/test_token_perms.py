"""A token's `perms` claim on journal writes and runner registration, over HTTP and MCP.

`journal:write` guards creating projects, appending, signing checkpoints and rotating (403
`permission_denied`, nothing written); a token without a `perms` claim keeps every permission.
Registering a runner needs the admin token or an explicit `runners:register`.
"""

from __future__ import annotations

from typing import Any

import httpx
from typer.testing import CliRunner

from tests.api.conftest import assert_problem
from tests.cli.conftest import Cli
from tests.live import LiveServer
from tests.mcp.harness import fail, http, ok
from tests.services.util import open_db, row_counts


def _token(server: LiveServer, agent: str, perms: list[str] | None) -> str:
    body: dict[str, Any] = {"agent": agent} | ({"perms": perms} if perms is not None else {})
    r = httpx.post(f"{server.api()}/tokens", json=body, headers=server.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def _create_project(server: LiveServer, name: str) -> None:
    r = httpx.post(f"{server.api()}/projects", json={"name": name}, headers=server.headers)
    assert r.status_code == 201, r.text


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_journal_writes_need_journal_write(live_server: LiveServer) -> None:
    api = live_server.api()
    _create_project(live_server, "web")
    reader = _bearer(_token(live_server, "alice", ["documents:read"]))
    writer = _bearer(_token(live_server, "bob", ["journal:write"]))
    everything = _bearer(_token(live_server, "carol", None))
    async with httpx.AsyncClient(base_url=api) as client, open_db(live_server.settings) as db:
        before = await row_counts(db)
        for method, path, body in (
            ("POST", "/projects", {"name": "other"}),
            ("POST", "/projects/web/entries", {"message": "m"}),
            ("POST", "/projects/web/checkpoints", None),
            ("POST", "/projects/web/rotate", None),
            ("PUT", "/agents/alice/context", {"project": "new", "create": True}),
        ):
            r = await client.request(method, path, json=body, headers=reader)
            problem = assert_problem(r, 403, "permission_denied")
            assert "journal:write" in problem["detail"], (path, problem)
        assert await row_counts(db) == before
        # Reads stay open to it.
        assert (await client.get("/projects/web/entries", headers=reader)).status_code == 200
        for who in (writer, everything):
            r = await client.post("/projects/web/entries", json={"message": "m"}, headers=who)
            assert r.status_code == 201, r.text


async def test_mcp_journal_writes_need_journal_write(live_server: LiveServer) -> None:
    _create_project(live_server, "web")
    async with http(live_server, _token(live_server, "alice", ["documents:read"])) as client:
        for tool, arguments in (
            ("append_entry", {"message": "m", "project": "web"}),
            ("rotate_journal", {"project": "web"}),
            ("set_project", {"project": "new", "create": True}),
        ):
            error = await fail(client, tool, arguments, "permission_denied")
            assert "journal:write" in error["message"]
        assert (await ok(client, "read_recent", {"project": "web"}))["entries"] == []
    async with http(live_server, _token(live_server, "bob", ["journal:write"])) as client:
        appended = await ok(client, "append_entry", {"message": "m", "project": "web"})
        assert appended["first_seq"] == 1


def test_registering_a_runner_needs_admin_or_runners_register(live_server: LiveServer) -> None:
    url = f"{live_server.url}/api/v1/runners"
    body = {"name": "r", "executors": ["echo"]}
    for perms in (None, ["journal:write", "documents:read"]):
        token = _token(live_server, "alice", perms)
        r = httpx.post(url, json=body, headers=_bearer(token))
        problem = assert_problem(r, 403, "permission_denied")
        assert "runners:register" in problem["detail"]
    assert httpx.get(url, headers=live_server.headers).json()["runners"] == []
    allowed = _bearer(_token(live_server, "alice", ["runners:register"]))
    assert httpx.post(url, json=body, headers=allowed).status_code == 201
    assert httpx.post(url, json=body, headers=live_server.headers).status_code == 201
    assert len(httpx.get(url, headers=live_server.headers).json()["runners"]) == 2


def test_cli_exits_6_without_journal_write(live_server: LiveServer) -> None:
    """The CLI maps the 403 like every permission error: exit code 6, the permission named."""

    with httpx.Client(base_url=live_server.api(), headers=live_server.headers) as api:
        cli = Cli(server=live_server, runner=CliRunner(), api=api)
        assert api.post("/projects", json={"name": "web"}).status_code == 201
        reader = _token(live_server, "alice", ["documents:read"])
        refused = cli("log", "append", "m", "--project", "web", ROUNDTABLE_TOKEN=reader)
        assert refused.exit_code == 6 and "journal:write" in refused.stderr
        writer = _token(live_server, "alice", ["journal:write"])
        assert (
            "web #1"
            in cli.ok("log", "append", "m", "--project", "web", ROUNDTABLE_TOKEN=writer).stdout
        )
