"""`list_schemas` and `get_schema` through the official MCP client over Streamable HTTP."""

from __future__ import annotations

import httpx

from tests.live import LiveServer
from tests.mcp.harness import fail, http, mint_token, ok


async def test_an_agent_reads_the_registry(live_server: LiveServer) -> None:
    url = f"{live_server.api()}/schemas"
    async with httpx.AsyncClient(headers=live_server.headers) as api:
        for body in ({"type": "object"}, {"type": "object", "required": ["a"]}):
            r = await api.post(url, json={"name": "card", "schema": body})
            assert r.status_code == 201, r.text
        spec = {"name": "w", "executor": {"kind": "echo"}}
        r = await api.put(f"{live_server.api()}/blueprints/w", json=spec)
        assert r.status_code == 201, r.text
    async with http(live_server, mint_token(live_server, "alice")) as client:
        listed = await ok(client, "list_schemas")
        assert [(s["name"], s["versions"]) for s in listed["schemas"]] == [("card", [1, 2])]
        latest = await ok(client, "get_schema", {"ref": "card"})
        assert latest["ref"] == "card@2" and latest["schema"]["required"] == ["a"]
        first = await ok(client, "get_schema", {"ref": "card@1"})
        assert first["schema"] == {"type": "object"}
        await fail(client, "get_schema", {"ref": "card@3"}, "not_found")
        await fail(client, "get_schema", {"ref": "bad name"}, "invalid_input")
        await fail(
            client,
            "start_agent_session",
            {"blueprint": "w", "prompt": "x", "output_schema": "card@7"},
            "not_found",
        )
        started = await ok(
            client,
            "start_agent_session",
            {"blueprint": "w", "prompt": "x", "output_schema": "card"},
        )
        run = (await api_get(live_server, f"/sessions/{started['id']}/runs"))["runs"][0]
        assert run["output_schema_ref"] == "card@2"


async def api_get(server: LiveServer, path: str) -> dict[str, object]:
    async with httpx.AsyncClient(headers=server.headers) as api:
        r = await api.get(server.api() + path)
        assert r.status_code == 200, r.text
        return dict(r.json())
