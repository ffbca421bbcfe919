"""Agent isolation over HTTP: tokens bind an agent and a namespace; everything else is refused."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import timedelta

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from roundtable.auth.keys import SigningKey
from roundtable.ids import utcnow
from tests.api.conftest import assert_problem, mint
from tests.live import LiveServer
from tests.services.util import open_db, row_counts


def _create_projects(server: LiveServer, namespace: str, *names: str) -> None:
    for name in names:
        r = httpx.post(
            f"{server.api(namespace)}/projects", json={"name": name}, headers=server.headers
        )
        assert r.status_code == 201, r.text


async def test_agents_set_projects_concurrently_and_see_only_their_own(
    live_server: LiveServer,
) -> None:
    _create_projects(
        live_server, "default", *(f"a{i}" for i in range(5)), *(f"b{i}" for i in range(5))
    )
    alice, bob = mint(live_server, "alice"), mint(live_server, "bob")
    api = live_server.api()
    async with httpx.AsyncClient(base_url=api) as client:

        async def churn(agent: str, headers: dict[str, str], prefix: str) -> None:
            for i in range(5):
                r = await client.put(
                    f"/agents/{agent}/context", json={"project": f"{prefix}{i}"}, headers=headers
                )
                assert r.status_code == 200, r.text

        await asyncio.gather(churn("alice", alice, "a"), churn("bob", bob, "b"))
        mine = (await client.get("/agents/alice/context", headers=alice)).json()
        theirs = (await client.get("/agents/bob/context", headers=bob)).json()
        assert (mine["agent"], mine["project"], mine["version"]) == ("alice", "a4", 5)
        assert (theirs["agent"], theirs["project"], theirs["version"]) == ("bob", "b4", 5)

        # Bob can neither read nor write Alice's context, nor act as her.
        assert_problem(
            await client.get("/agents/alice/context", headers=bob), 403, "permission_denied"
        )
        r = await client.put("/agents/alice/context", json={"project": "b0"}, headers=bob)
        assert_problem(r, 403, "permission_denied")
        r = await client.post(
            "/projects/a0/entries", json={"message": "hi", "agent": "alice"}, headers=bob
        )
        assert_problem(r, 403, "permission_denied")
        # Nor use her session.
        session = (await client.post("/sessions", json={}, headers=alice)).json()
        r = await client.post(
            "/projects/a0/entries", json={"message": "hi", "session_id": session["id"]}, headers=bob
        )
        assert_problem(r, 403, "permission_denied")
        r = await client.post(f"/sessions/{session['id']}/end", json={}, headers=bob)
        assert_problem(r, 403, "permission_denied")
        # Nor mint tokens.
        r = await client.post("/tokens", json={"agent": "bob"}, headers=bob)
        assert_problem(r, 403, "permission_denied")

        after = (await client.get("/agents/alice/context", headers=alice)).json()
        assert (after["project"], after["version"]) == ("a4", 5)
        assert (await client.get(f"/sessions/{session['id']}", headers=alice)).json()[
            "status"
        ] == "active"


async def test_a_token_is_bound_to_its_namespace(live_server: LiveServer) -> None:
    _create_projects(live_server, "team-x", "web")
    _create_projects(live_server, "team-y", "web")
    x_token = mint(live_server, "alice", "team-x")
    async with httpx.AsyncClient() as client:
        ok = await client.put(
            f"{live_server.api('team-x')}/agents/alice/context",
            json={"project": "web"},
            headers=x_token,
        )
        assert ok.status_code == 200
        async with open_db(live_server.settings) as db:
            before = await row_counts(db)
            y = live_server.api("team-y")
            for request in (
                client.get(f"{y}/projects", headers=x_token),
                client.get(f"{y}/agents/alice/context", headers=x_token),
                client.put(f"{y}/agents/alice/context", json={"project": "web"}, headers=x_token),
                client.post(f"{y}/projects/web/entries", json={"message": "m"}, headers=x_token),
                client.post(f"{y}/sessions", json={}, headers=x_token),
                client.get(f"{y}/projects/web/verify", headers=x_token),
            ):
                assert_problem(await request, 403, "permission_denied")
            assert await row_counts(db) == before
        # The admin token reaches every namespace.
        r = await client.get(f"{live_server.api('team-y')}/projects", headers=live_server.headers)
        assert [p["name"] for p in r.json()] == ["web"]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_missing_and_invalid_tokens_are_401(live_server: LiveServer) -> None:
    key = SigningKey.load_or_create(live_server.settings.data_dir)
    now = utcnow()
    claims = {
        "iss": "roundtable",
        "aud": "roundtable",
        "sub": "alice",
        "ns": "default",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    expired = jwt.encode(
        {**claims, "exp": int((now - timedelta(minutes=5)).timestamp())},
        key.private,
        algorithm="EdDSA",
    )
    foreign = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA")
    wrong_audience = jwt.encode({**claims, "aud": "someone-else"}, key.private, algorithm="EdDSA")
    no_expiry = jwt.encode(
        {k: v for k, v in claims.items() if k != "exp"}, key.private, algorithm="EdDSA"
    )
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    good = jwt.encode(claims, key.private, algorithm="EdDSA")
    url = f"{live_server.api()}/agents/alice/context"

    for headers in (
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": f"Basic {live_server.admin_token}"},
        {"Authorization": f"Bearer {live_server.admin_token.upper()}"},
        {"Authorization": f"Bearer {live_server.admin_token}x"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {foreign}"},
        {"Authorization": f"Bearer {wrong_audience}"},
        {"Authorization": f"Bearer {no_expiry}"},
        {"Authorization": f"Bearer {unsigned}"},
        {"Authorization": f"Bearer {good[:-4]}AAAA"},
    ):
        r = httpx.get(url, headers=headers)
        body = assert_problem(r, 401, "unauthenticated")
        assert r.headers["www-authenticate"].startswith("Bearer"), headers
        assert "token" in body["detail"], body
    assert (
        "expired"
        in assert_problem(
            httpx.get(url, headers={"Authorization": f"Bearer {expired}"}), 401, "unauthenticated"
        )["detail"]
    )
    # A correctly signed token (same claims, made outside the API) is accepted.
    r = httpx.get(url, headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 200 and r.json()["agent"] == "alice"
    # Writes are refused the same way, before anything is read from the body.
    r = httpx.post(f"{live_server.api()}/projects", json={"name": "p"})
    assert_problem(r, 401, "unauthenticated")
    r = httpx.post(f"{live_server.url}/mcp", json={}, headers={"Authorization": "Bearer nope"})
    assert_problem(r, 401, "unauthenticated")
