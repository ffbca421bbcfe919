"""The MCP server registry on both backends: apply idempotently, versions, list/show/remove,
bad entries refused with nothing written, run tokens refused, claims carry the entries, and
nothing stored or returned holds more than secret names."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from roundtable.auth.tokens import ADMIN
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.orchestration.conftest import NS, blueprint, runner

URL = f"/api/v1/namespaces/{NS}/mcp-servers"
GITHUB: dict[str, Any] = {
    "name": "github",
    "transport": "http",
    "url": "https://mcp.example.test/mcp",
    "auth": {"kind": "bearer", "secret": "GITHUB_TOKEN"},
    "deny_tools": ["delete_*"],
}
FILES: dict[str, Any] = {
    "name": "files",
    "transport": "stdio",
    "command": "python",
    "args": ["-m", "files_server"],
    "env": ["FILES_KEY"],
    "allow_tools": ["read_*", "list_dir"],
}


async def count(core: Roundtable) -> int:
    async with core.db.read() as conn:
        return int(await conn.scalar(select(func.count()).select_from(tables.mcp_servers)) or 0)


async def test_apply_is_idempotent_and_versioned(api: httpx.AsyncClient) -> None:
    made = await api.put(f"{URL}/github", json=GITHUB)
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["version"], body["changed"], body["auth"]["secret"]) == (1, True, "GITHUB_TOKEN")
    again = await api.put(f"{URL}/github", json=GITHUB)
    assert again.status_code == 200 and again.json()["changed"] is False
    assert again.json()["version"] == 1
    changed = await api.put(f"{URL}/github", json={**GITHUB, "deny_tools": []})
    assert changed.json()["version"] == 2
    stale = await api.put(f"{URL}/github", json={**GITHUB, "expected_version": 1})
    assert stale.status_code == 409
    assert (await api.put(f"{URL}/files", json=FILES)).status_code == 201
    listed = (await api.get(URL)).json()["mcp_servers"]
    assert [s["name"] for s in listed] == ["files", "github"]
    shown = (await api.get(f"{URL}/files")).json()
    assert shown["env"] == ["FILES_KEY"] and shown["allow_tools"] == ["read_*", "list_dir"]
    assert (await api.delete(f"{URL}/files")).status_code == 204
    assert (await api.get(f"{URL}/files")).status_code == 404
    assert (await api.delete(f"{URL}/files")).status_code == 404
    types = [
        e["type"]
        for e in (await api.get("/api/v1/events", params={"limit": 1000})).json()["events"]
    ]
    assert types.count("mcp_server.applied") == 3 and types.count("mcp_server.deleted") == 1


@pytest.mark.parametrize(
    "entry",
    [
        {"transport": "http"},  # no url
        {"transport": "http", "url": "ftp://x.test/"},
        {"transport": "http", "url": "https://user:pw@x.test/mcp"},  # credentials in the URL
        {"transport": "http", "url": "https://x.test/", "command": "sh"},
        {"transport": "stdio"},  # no command
        {"transport": "stdio", "command": "srv", "auth": {"kind": "bearer", "secret": "T"}},
        {"transport": "stdio", "command": "srv", "env": ["not a name"]},
        {"transport": "http", "url": "https://x.test/", "auth": {"kind": "bearer"}},
        {
            "transport": "http",
            "url": "https://x.test/",
            "auth": {"kind": "bearer", "secret": "a b"},
        },
        {"transport": "http", "url": "https://x.test/", "auth": {"kind": "none", "secret": "T"}},
        {"transport": "http", "url": "https://x.test/", "auth": {"kind": "header", "secret": "T"}},
        {
            "transport": "http",
            "url": "https://x.test/",
            "auth": {"kind": "oauth2_client_credentials", "token_url": "https://t.test/token"},
        },
        {"transport": "http", "url": "https://x.test/", "token": "sk-live-123"},  # unknown field
        {"transport": "http", "url": "https://x.test/", "deny_tools": ["a b"]},
    ],
)
async def test_bad_entries_are_refused_and_write_nothing(
    api: httpx.AsyncClient, core: Roundtable, entry: dict[str, Any]
) -> None:
    response = await api.put(f"{URL}/bad", json={"name": "bad", **entry})
    assert response.status_code in (400, 422), response.text
    assert await count(core) == 0


async def test_reserved_and_mismatched_names(api: httpx.AsyncClient, core: Roundtable) -> None:
    spec = {**GITHUB, "name": "roundtable"}
    assert (await api.put(f"{URL}/roundtable", json=spec)).status_code in (400, 422)
    assert (await api.put(f"{URL}/other", json=GITHUB)).status_code in (400, 422)
    assert await count(core) == 0


async def test_run_tokens_cannot_change_it_and_claims_carry_entries(
    api: httpx.AsyncClient, core: Roundtable
) -> None:
    await api.put(f"{URL}/github", json=GITHUB)
    await blueprint(core, "coder", mcp_servers=["github", "local-only"])
    await core.orchestration.trees.start(NS, ADMIN, "coder", {"prompt": "go"})
    worker = await runner(core)
    [claimed] = await worker.claim()
    assert [e["name"] for e in claimed.mcp_registry] == ["github"]  # local-only: runner file
    assert claimed.mcp_registry[0]["auth"] == {
        **claimed.mcp_registry[0]["auth"],
        "kind": "bearer",
        "secret": "GITHUB_TOKEN",
    }
    as_run = {"Authorization": f"Bearer {claimed.run_token}"}
    refused = await api.put(f"{URL}/x", json={**GITHUB, "name": "x"}, headers=as_run)
    assert refused.status_code == 403
    assert (await api.delete(f"{URL}/github", headers=as_run)).status_code == 403


async def test_upstream_tokens_only_for_roundtable_auth_audiences(
    api: httpx.AsyncClient, core: Roundtable
) -> None:
    import jwt

    entry = {"name": "tools", "transport": "http", "url": "https://t.test/mcp",
             "auth": {"kind": "roundtable", "audience": "tools.example"}}  # fmt: skip
    await api.put(f"{URL}/tools", json=entry)
    await api.put(f"{URL}/github", json=GITHUB)
    await blueprint(core, "coder", mcp_servers=["tools", "github"])
    await core.orchestration.trees.start(NS, ADMIN, "coder", {"prompt": "go"})
    worker = await runner(core)
    [run] = await worker.claim()
    path = f"/api/v1/runners/{worker.id}/runs/{run.id}/upstream-token"
    minted = await api.post(path, json={"audience": "tools.example"})
    assert minted.status_code == 200, minted.text
    claims = jwt.decode(minted.json()["token"], options={"verify_signature": False})
    assert claims["aud"] == "tools.example" and claims["sid"] == run.session_id
    # Not accepted by the server itself; not for other audiences.
    as_upstream = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert (await api.get(URL, headers=as_upstream)).status_code == 401
    for audience in ("github", "roundtable", "elsewhere"):
        assert (await api.post(path, json={"audience": audience})).status_code == 403
