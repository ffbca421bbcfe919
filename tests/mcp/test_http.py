"""MCP over Streamable HTTP at /mcp: a bearer token is required, and it fixes who you are."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError

import roundtable
from tests.live import LiveServer
from tests.mcp.harness import fail, http, mint_token, ok, snapshot

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


def leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in leaves(inner)]
    return [error]


async def test_mcp_endpoint_refuses_requests_without_a_valid_token(
    live_server: LiveServer,
) -> None:
    url = f"{live_server.url}/mcp"
    token = mint_token(live_server, "bob")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    async with httpx.AsyncClient() as web:
        for authorization in [
            None,
            "Bearer",
            "Bearer not-a-token",
            f"Bearer {tampered}",
            f"Basic {token}",
            live_server.admin_token,  # right secret, no scheme
        ]:
            headers = dict(MCP_HEADERS)
            if authorization is not None:
                headers["Authorization"] = authorization
            response = await web.post(url, json=INITIALIZE, headers=headers)
            assert response.status_code == 401, (authorization, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["code"] == "unauthenticated"

        # The same request with the token gets through: the 401s were about the token alone.
        response = await web.post(
            url, json=INITIALIZE, headers={**MCP_HEADERS, "Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["result"]["serverInfo"]["name"] == "roundtable"
        assert response.json()["result"]["serverInfo"]["version"] == roundtable.__version__

    # The official client cannot connect with a bad token either.
    with pytest.raises(Exception) as refused:
        async with http(live_server, tampered) as client:
            await client.list_tools()
    assert any(isinstance(leaf, MCPError) for leaf in leaves(refused.value)), refused.value


async def test_a_401_points_to_protected_resource_metadata(live_server: LiveServer) -> None:
    """MCP authorization discovery (RFC 9728): a client without a token learns where to look,
    and the metadata says bearer tokens in the header, signed by the JWKS keys, no OAuth."""
    async with httpx.AsyncClient() as web:
        refused = await web.post(f"{live_server.url}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        assert refused.status_code == 401
        challenge = refused.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        pointer = f"{live_server.url}/.well-known/oauth-protected-resource/mcp"
        assert f'resource_metadata="{pointer}"' in challenge

        found = await web.get(pointer)
        assert found.status_code == 200
        meta = found.json()
        assert meta["resource"] == f"{live_server.url}/mcp"
        assert meta["bearer_methods_supported"] == ["header"]
        assert "authorization_servers" not in meta  # no OAuth server: configure a token
        assert "roundtable token create" in meta["roundtable_token_instructions"]
        keys = (await web.get(meta["jwks_uri"])).json()["keys"]
        assert keys and all(key["kty"] == "OKP" for key in keys)

        root = (await web.get(f"{live_server.url}/.well-known/oauth-protected-resource")).json()
        assert root["resource"] == live_server.url
        # Requests without the token refuse nothing else: the metadata is public.
        assert refused.json()["code"] == "unauthenticated"


async def test_agent_token_acts_only_as_its_own_agent(live_server: LiveServer) -> None:
    admin_api = live_server.api()

    def admin_get(path: str) -> Any:
        response = httpx.get(f"{admin_api}{path}", headers=live_server.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async with http(live_server, live_server.admin_token) as admin:
        # An admin may act as any agent, but must say which.
        error = await fail(admin, "get_project", {}, "invalid_input")
        assert error["data"]["field"] == "agent"
        alice_session = await ok(admin, "start_session", {"agent": "alice"})
        assert alice_session["agent"] == "alice"

    async with http(live_server, mint_token(live_server, "bob")) as bob:
        assert (await ok(bob, "start_session"))["agent"] == "bob"
        assert (await ok(bob, "get_project", {"agent": "bob"}))["agent"] == "bob"
        await ok(bob, "set_project", {"project": "web", "create": True})
        database = await snapshot(live_server.settings)

        for tool, arguments in [
            ("start_session", {"agent": "carol"}),
            ("get_project", {"agent": "carol"}),
            ("set_project", {"project": "web", "agent": "carol"}),
            ("append_entry", {"message": "as carol", "agent": "carol"}),
            ("read_recent", {"project": "web", "agent": "carol"}),
        ]:
            error = await fail(bob, tool, arguments, "permission_denied")
            assert error["data"]["agent"] == "carol", (tool, error)
        error = await fail(bob, "get_project", {"namespace": "other"}, "permission_denied")
        assert error["data"]["namespace"] == "other"
        # Another agent's session cannot be borrowed to write.
        error = await fail(
            bob,
            "append_entry",
            {"message": "on alice's session", "session_id": alice_session["id"]},
            "permission_denied",
        )
        assert error["data"]["session_id"] == alice_session["id"]

        assert await snapshot(live_server.settings) == database
        assert (await ok(bob, "verify_journal"))["checked"] == 0

    # Nothing the refused calls asked for was written.
    assert [(p["name"], p["size"]) for p in admin_get("/projects")] == [("web", 0)]
    assert admin_get("/agents/carol/context")["version"] == 0
    assert admin_get("/sessions?agent=carol") == []
    assert admin_get("/agents/bob/context")["project"] == "web"
