"""The MCP gateway with real upstream servers (official SDK): routing, allow/deny, credentials
injected only upstream, OAuth refresh, a dying stdio upstream, and per-call progress events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from roundtable.runner.gateway import Gateway, RunnerSecrets
from tests.runner.gateway_helpers import SECRET, agent, claimed, http_upstream, stdio_entry

FILES_KEY = "files-key-value-77aa"


class Events:
    def __init__(self) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, batch: list[dict[str, Any]]) -> None:
        self.items.extend((event["kind"], event["data"]) for event in batch)


def text(result: Any) -> str:
    return str(result.content[0].text)


async def test_routes_filters_and_injects_credentials_upstream_only() -> None:
    with http_upstream() as base:
        registry = [
            {"name": "gh", "transport": "http", "url": f"{base}/mcp",
             "auth": {"kind": "bearer", "secret": "GH_TOKEN"}, "deny_tools": ["delete_*"]},
            stdio_entry(env=["FILES_KEY"], allow_tools=["env_secret", "echo"]),
        ]  # fmt: skip
        secrets = RunnerSecrets(env={"GH_TOKEN": SECRET, "FILES_KEY": FILES_KEY})
        events = Events()
        async with Gateway(secrets) as gateway:
            run = claimed(["gh", "files"], registry)
            async with gateway.open_run(run, events) as grant:
                assert set(grant.urls) == {"gh", "files"}
                assert SECRET not in json.dumps(grant.urls) and grant.token != SECRET
                async with agent(grant.urls["gh"], grant.token) as gh:
                    names = {t.name for t in (await gh.list_tools()).tools}
                    assert "echo" in names and "delete_repo" not in names
                    assert text(await gh.call_tool("echo", {"text": "hi"})) == "echo:hi"
                    assert text(await gh.call_tool("whoami", {})) == "static"
                    with pytest.raises(MCPError, match="not allowed"):
                        await gh.call_tool("delete_repo", {"name": "x"})
                async with agent(grant.urls["files"], grant.token) as files:
                    names = {t.name for t in (await files.list_tools()).tools}
                    assert names == {"env_secret", "echo"}
                    assert text(await files.call_tool("env_secret", {})) == FILES_KEY
                # No token, a wrong token, a server the run does not have: refused.
                async with httpx2.AsyncClient() as raw:
                    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
                    assert (await raw.post(grant.urls["gh"], json=body)).status_code == 401
                    bad = {"Authorization": "Bearer nope"}
                    assert (
                        await raw.post(grant.urls["gh"], json=body, headers=bad)
                    ).status_code == 401
                    other = grant.urls["gh"].replace("/gh", "/other")
                    auth = {"Authorization": f"Bearer {grant.token}"}
                    assert (await raw.post(other, json=body, headers=auth)).status_code == 404
            # The capability token dies with the run.
            async with httpx2.AsyncClient() as raw:
                auth = {"Authorization": f"Bearer {grant.token}"}
                body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
                assert (
                    await raw.post(grant.urls["gh"], json=body, headers=auth)
                ).status_code == 401
    calls = [d for k, d in events.items if k == "mcp_call"]
    assert [(c["server"], c["tool"], c["outcome"]) for c in calls] == [
        ("gh", "echo", "ok"),
        ("gh", "whoami", "ok"),
        ("gh", "delete_repo", "denied"),
        ("files", "env_secret", "ok"),
    ]
    assert all("arguments" not in c and c["duration_ms"] >= 0 for c in calls)
    dumped = json.dumps(events.items)
    assert SECRET not in dumped and FILES_KEY not in dumped.replace('"ok"', "")


async def test_oauth_token_expiring_mid_session_is_refreshed() -> None:
    env = {"OAUTH_ID": "client-1", "OAUTH_SECRET": "oauth-secret-9", "TOKEN_TTL": "1"}
    with http_upstream(**env) as base:
        entry = {
            "name": "idp", "transport": "http", "url": f"{base}/mcp",
            "auth": {"kind": "oauth2_client_credentials", "token_url": f"{base}/token",
                     "client_id_secret": "CID", "client_secret_secret": "CSECRET"},
        }  # fmt: skip
        secrets = RunnerSecrets(env={"CID": "client-1", "CSECRET": "oauth-secret-9"})
        async with Gateway(secrets) as gateway:
            gateway.oauth = type(gateway.oauth)(margin=0.0)
            async with (
                gateway.open_run(claimed(["idp"], [entry]), Events()) as grant,
                agent(grant.urls["idp"], grant.token) as idp,
            ):
                first = text(await idp.call_tool("whoami", {}))
                await asyncio.sleep(1.3)  # the token expires
                second = text(await idp.call_tool("whoami", {}))
    assert first.startswith("oauth#") and second.startswith("oauth#") and first != second


async def test_killed_stdio_upstream_fails_clearly_and_restarts_next_run() -> None:
    events = Events()
    async with Gateway(RunnerSecrets(env={})) as gateway:
        async with (
            gateway.open_run(claimed(["files"], [stdio_entry()], run="r1"), events) as g,
            agent(g.urls["files"], g.token) as files,
        ):
            with pytest.raises(MCPError, match="failed during 'crash'"):
                await files.call_tool("crash", {})
        async with (
            gateway.open_run(claimed(["files"], [stdio_entry()], run="r2"), events) as g,
            agent(g.urls["files"], g.token) as files,
        ):
            assert text(await files.call_tool("echo", {"text": "back"})) == "echo:back"
    outcomes = [d["outcome"] for k, d in events.items if k == "mcp_call"]
    assert outcomes == ["upstream_failed", "ok"]


async def test_unknown_server_or_missing_secret_is_a_clear_error() -> None:
    async with Gateway(RunnerSecrets(env={})) as gateway:
        with pytest.raises(LookupError, match="'nowhere'"):
            async with gateway.open_run(claimed(["nowhere"], []), Events()):
                pass
        entry = {"name": "gh", "transport": "http", "url": "http://127.0.0.1:9/mcp",
                 "auth": {"kind": "bearer", "secret": "GH_TOKEN"}}  # fmt: skip
        with pytest.raises(LookupError, match="'GH_TOKEN'"):
            async with gateway.open_run(claimed(["gh"], [entry]), Events()):
                pass


async def test_roundtable_auth_sends_the_minted_token_to_its_upstream_only() -> None:
    minted: list[tuple[str, str]] = []

    async def mint(run_id: str, audience: str) -> str:
        minted.append((run_id, audience))
        return SECRET  # what the server would mint; the test upstream accepts this value

    with http_upstream() as base:
        entry = {"name": "tools", "transport": "http", "url": f"{base}/mcp",
                 "auth": {"kind": "roundtable", "audience": "tools.example"}}  # fmt: skip
        async with (
            Gateway(RunnerSecrets(env={}), mint=mint) as gateway,
            gateway.open_run(claimed(["tools"], [entry], run="r9"), Events()) as grant,
            agent(grant.urls["tools"], grant.token) as tools,
        ):
            assert text(await tools.call_tool("whoami", {})) == "static"
            assert text(await tools.call_tool("echo", {"text": "a"})) == "echo:a"
    assert minted == [("r9", "tools.example")]  # minted once per run, then reused
