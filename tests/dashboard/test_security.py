"""Dashboard security over plain HTTP (both backends): no token in any URL or page, writes need
the CSRF token, an agent token sees only its own namespace, user content is escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.live import LiveServer

SCRIPT = "<script>alert('x')</script>"
MCP_SERVER = {
    "name": "m",
    "transport": "http",
    "url": "https://mcp.example/mcp",
    "auth": {"kind": "header", "header": "X-Api-Key", "secret": "M_KEY"},
}


def signed_in(server: LiveServer, token: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    response = client.post("/login", data={"token": token})
    assert response.status_code == 303, response.text
    assert token not in response.headers["location"]
    return client


@pytest.fixture
def admin(live_server: LiveServer) -> Iterator[httpx.Client]:
    client = signed_in(live_server, live_server.admin_token)
    yield client
    client.close()


def call(server: LiveServer, method: str, path: str, ns: str = "default", **kw: object) -> dict:  # type: ignore[type-arg]
    response = httpx.request(
        method, f"{server.api(ns)}{path}", headers=server.headers, timeout=30, **kw
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else {}


def csrf(client: httpx.Client, page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    assert found is not None
    return found.group(1)


def test_no_token_in_any_url_or_page(live_server: LiveServer, admin: httpx.Client) -> None:
    token = live_server.admin_token
    call(live_server, "POST", "/projects", json={"name": "p"})
    call(live_server, "POST", "/projects/p/entries", json={"agent": "a", "message": "hello"})
    call(live_server, "POST", "/projects/p/checkpoints")
    session = call(live_server, "POST", "/sessions", json={"agent": "a"})
    doc = call(live_server, "POST", "/documents", json={"name": "d", "content": "x"})
    call(live_server, "PUT", "/mcp-servers/m", json=MCP_SERVER)
    cookie = admin.cookies.get("roundtable_token")
    assert cookie == token  # kept only in the HttpOnly cookie
    pages = [
        "/",
        "/sessions",
        f"/sessions/{session['id']}",
        f"/sessions/{session['id']}/delete",
        "/journals",
        "/journals/p",
        "/journals/p/verify",
        "/journals/p/entries/1",
        "/journals/p/entries/1/proof.json",
        "/documents",
        f"/documents/{doc['id']}",
        f"/documents/{doc['id']}/edit",
        "/blueprints",
        "/schemas",
        "/runners",
        "/mcp-servers",
        "/mcp-servers/m",
    ]
    for page in pages:
        response = admin.get(page)
        assert response.status_code == 200, (page, response.text)
        assert token not in response.text, page
        assert "token=" not in response.text, page
    assert (
        "HttpOnly"
        in httpx.post(f"{live_server.url}/login", data={"token": token}).headers["set-cookie"]
    )
    refused = admin.get("/sessions", params={"token": token})
    assert refused.status_code == 400
    assert token not in refused.text


def test_a_write_without_the_csrf_token_fails(live_server: LiveServer, admin: httpx.Client) -> None:
    call(live_server, "PUT", "/blueprints/w", json={"name": "w", "executor": {"kind": "echo"}})
    session = call(
        live_server,
        "POST",
        "/agent-sessions",
        json={"blueprint": "w", "parameters": {"prompt": "p"}, "mode": "async_poll"},
    )
    stop = f"/sessions/{session['id']}/stop"
    assert admin.post(stop).status_code == 403
    assert admin.post(stop, data={"csrf": "forged"}).status_code == 403
    doc = call(live_server, "POST", "/documents", json={"name": "d", "content": "x"})
    edit = admin.post(f"/documents/{doc['id']}/edit", data={"version": "1", "content": "y"})
    assert edit.status_code == 403
    assert admin.post("/logout").status_code == 403
    # Nothing changed.
    assert call(live_server, "GET", f"/sessions/{session['id']}")["status"] == "pending"
    assert call(live_server, "GET", f"/documents/{doc['id']}")["content"] == "x"
    # With the page's token the same writes go through, but not from another site's page.
    token = csrf(admin, f"/sessions/{session['id']}")
    elsewhere = {"Origin": "https://evil.example"}
    assert admin.post(stop, data={"csrf": token}, headers=elsewhere).status_code == 403
    login = httpx.post(
        f"{live_server.url}/login", data={"token": live_server.admin_token}, headers=elsewhere
    )
    assert login.status_code == 403 and "set-cookie" not in login.headers
    assert admin.post(stop, data={"csrf": token}).status_code == 303
    assert call(live_server, "GET", f"/sessions/{session['id']}")["status"] == "stopped"


def test_an_agent_token_sees_only_its_namespace(live_server: LiveServer) -> None:
    call(live_server, "POST", "/projects", ns="beta", json={"name": "secret"})
    hidden = call(live_server, "POST", "/sessions", ns="beta", json={"agent": "spy"})
    call(live_server, "POST", "/documents", ns="beta", json={"name": "plans", "content": "x"})
    call(live_server, "PUT", "/mcp-servers/m", ns="beta", json=MCP_SERVER)
    call(live_server, "POST", "/projects", ns="alpha", json={"name": "mine"})
    token = call(live_server, "POST", "/tokens", ns="alpha", json={"agent": "spy"})["token"]
    agent = signed_in(live_server, token)
    try:
        assert "mine" in agent.get("/journals").text
        assert "secret" not in agent.get("/journals").text
        assert "plans" not in agent.get("/documents").text
        assert hidden["id"] not in agent.get("/sessions").text
        assert agent.get("/", params={"ns": "beta"}).status_code == 403
        assert agent.get("/journals/secret", params={"ns": "beta"}).status_code == 403
        assert agent.get("/journals/secret").status_code == 404
        assert agent.get(f"/sessions/{hidden['id']}").status_code == 404
        assert agent.get("/documents/plans").status_code == 404
        assert "mcp.example" not in agent.get("/mcp-servers").text
        assert agent.get("/mcp-servers/m").status_code == 404
        assert agent.get("/mcp-servers/m", params={"ns": "beta"}).status_code == 403
    finally:
        agent.close()


def test_user_content_is_escaped(live_server: LiveServer, admin: httpx.Client) -> None:
    call(live_server, "POST", "/projects", json={"name": "p", "description": SCRIPT})
    call(live_server, "POST", "/projects/p/entries", json={"agent": "a", "message": SCRIPT})
    md = call(live_server, "POST", "/documents", json={"name": "md", "content": f"# {SCRIPT}"})
    js = call(
        live_server,
        "POST",
        "/documents",
        json={"name": "js", "content": f'{{"x": "{SCRIPT}"}}', "content_type": "application/json"},
    )
    call(
        live_server,
        "PUT",
        "/blueprints/b",
        json={"name": "b", "description": SCRIPT, "executor": {"kind": "echo"}},
    )
    session = call(live_server, "POST", "/sessions", json={"agent": "a", "metadata": {"n": SCRIPT}})
    call(live_server, "PUT", "/mcp-servers/m", json={**MCP_SERVER, "description": SCRIPT})
    for page in (
        "/journals/p",
        "/journals/p/entries/1",
        f"/documents/{md['id']}",
        f"/documents/{js['id']}",
        f"/documents/{md['id']}/edit",
        "/blueprints/b",
        f"/sessions/{session['id']}",
        "/documents?q=alert",
        "/mcp-servers/m",
    ):
        response = admin.get(page)
        assert response.status_code == 200, page
        assert "<script>alert" not in response.text, page
        assert "Content-Security-Policy" in response.headers
    assert "&lt;script&gt;alert" in admin.get("/journals/p").text
    assert "&lt;script&gt;alert" in admin.get(f"/documents/{md['id']}").text
