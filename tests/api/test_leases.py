"""Leases and limits over HTTP: 410 for a dead session, 429 with Retry-After for the limits."""

from __future__ import annotations

import httpx

from tests.api.conftest import Serve, assert_problem, mint
from tests.live import LiveServer
from tests.services.util import expire_lease, open_db, row_counts


async def test_expired_and_ended_sessions_are_410(live_server: LiveServer) -> None:
    alice = mint(live_server, "alice")
    async with (
        httpx.AsyncClient(base_url=live_server.api(), headers=alice) as client,
        open_db(live_server.settings) as db,
    ):
        assert (await client.post("/projects", json={"name": "web"})).status_code == 201
        lapsed = (await client.post("/sessions", json={"metadata": {"tool": "test"}})).json()
        ended = (await client.post("/sessions", json={})).json()
        r = await client.post(
            "/projects/web/entries", json={"message": "m", "session_id": lapsed["id"]}
        )
        assert r.status_code == 201
        r = await client.post(f"/sessions/{ended['id']}/end", json={"status": "failed"})
        assert r.status_code == 200 and r.json()["status"] == "failed"
        await expire_lease(db, lapsed["id"])

        before = await row_counts(db)
        for session, status in ((lapsed, "expired"), (ended, "failed")):
            sid = session["id"]
            for request in (
                client.post("/projects/web/entries", json={"message": "late", "session_id": sid}),
                client.put("/agents/alice/context", json={"project": "web", "session_id": sid}),
                client.post(f"/sessions/{sid}/heartbeat", json={}),
                client.post(f"/sessions/{sid}/end", json={}),
            ):
                body = assert_problem(await request, 410, "lease_expired")
                assert body["data"]["session_id"] == sid
                assert body["data"]["status"] == status
        assert await row_counts(db) == before

        # A new session supersedes the lapsed one, and says so when the old one is used.
        fresh = (await client.post("/sessions", json={})).json()
        old = (await client.get(f"/sessions/{lapsed['id']}")).json()
        assert (old["status"], old["superseded_by"]) == ("expired", fresh["id"])
        r = await client.post(
            "/projects/web/entries", json={"message": "m", "session_id": lapsed["id"]}
        )
        assert assert_problem(r, 410, "lease_expired")["data"]["superseded_by"] == fresh["id"]
        r = await client.post(
            "/projects/web/entries", json={"message": "m", "session_id": fresh["id"]}
        )
        assert r.status_code == 201


def _retry_after(response: httpx.Response) -> int:
    value = int(response.headers["retry-after"])
    assert value >= 1
    return value


async def test_session_limits_are_429_with_retry_after(serve: Serve) -> None:
    with serve(
        max_sessions_per_agent=2, max_sessions_per_namespace=3, sweep_interval_seconds=5
    ) as server:
        async with (
            httpx.AsyncClient(base_url=server.api(), headers=server.headers) as client,
            open_db(server.settings) as db,
        ):
            for _ in range(2):
                assert (await client.post("/sessions", json={"agent": "alice"})).status_code == 201
            before = await row_counts(db)
            r = await client.post("/sessions", json={"agent": "alice"})
            body = assert_problem(r, 429, "rate_limited")
            assert body["data"]["limit"] == "max_sessions_per_agent"
            assert _retry_after(r) == 5 and body["data"]["retry_after"] == 5
            assert await row_counts(db) == before
            assert (await client.post("/sessions", json={"agent": "bob"})).status_code == 201
            r = await client.post("/sessions", json={"agent": "carol"})
            body = assert_problem(r, 429, "rate_limited")
            assert body["data"]["limit"] == "max_sessions_per_namespace"
            _retry_after(r)


async def test_write_rate_limit_is_429_with_retry_after(serve: Serve) -> None:
    with serve(write_rate_per_second=0.01, write_burst=2) as server:
        alice, bob = mint(server, "alice"), mint(server, "bob")
        async with (
            httpx.AsyncClient(base_url=server.api()) as client,
            open_db(server.settings) as db,
        ):
            assert (
                await client.post("/projects", json={"name": "web"}, headers=server.headers)
            ).status_code == 201
            for i in range(2):
                r = await client.post(
                    "/projects/web/entries", json={"message": f"m{i}"}, headers=alice
                )
                assert r.status_code == 201
            before = await row_counts(db)
            r = await client.post(
                "/projects/web/entries", json={"message": "too fast"}, headers=alice
            )
            body = assert_problem(r, 429, "rate_limited")
            assert 90 <= _retry_after(r) <= 100  # about one token at 0.01/s
            assert 0 < body["data"]["retry_after"] <= 100
            assert body["data"]["agent"] == "alice"
            r = await client.put("/agents/alice/context", json={"project": "web"}, headers=alice)
            assert_problem(r, 429, "rate_limited")
            r = await client.post("/sessions", json={}, headers=alice)
            assert_problem(r, 429, "rate_limited")
            assert await row_counts(db) == before
            # Buckets are per agent.
            r = await client.post("/projects/web/entries", json={"message": "bob"}, headers=bob)
            assert r.status_code == 201
