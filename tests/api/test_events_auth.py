"""Who may read which events: bearer header or login cookie, never a token in the URL, and a
token for one namespace sees only that namespace (on the stream and the long-poll alike)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from roundtable.api.events import COOKIE
from roundtable.auth.tokens import RunScope
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from tests.api.conftest import Serve, assert_problem, mint
from tests.api.events_helpers import NO_RATE_LIMIT, PATIENCE, Received, open_stream
from tests.live import LiveServer

NO_LIMITS = {
    "write_rate_per_second": float(NO_RATE_LIMIT["ROUNDTABLE_WRITE_RATE_PER_SECOND"]),
    "write_burst": int(NO_RATE_LIMIT["ROUNDTABLE_WRITE_BURST"]),
}


def write_some(server: LiveServer, namespace: str, agent: str, project: str) -> None:
    """A session, a project and an entry in `namespace`: four or five events."""
    api, h = server.api(namespace), server.headers
    r = httpx.post(f"{api}/sessions", json={"agent": agent}, headers=h)
    assert r.status_code == 201, r.text
    r = httpx.put(
        f"{api}/agents/{agent}/context", json={"project": project, "create": True}, headers=h
    )
    assert r.status_code == 200, r.text
    r = httpx.post(
        f"{api}/projects/{project}/entries", json={"agent": agent, "message": "hi"}, headers=h
    )
    assert r.status_code == 201, r.text


def page(server: LiveServer, **kw: object) -> httpx.Response:
    return httpx.get(f"{server.url}/api/v1/events", **kw)  # type: ignore[arg-type]


async def stream_until(
    server: LiveServer, count: int, client: httpx.AsyncClient, **kw: object
) -> Received:
    got = Received()
    async with open_stream(client, server.url, last_event_id=0, **kw) as stream:  # type: ignore[arg-type]
        async for message in stream:
            got.ids.append(int(message.id or 0))
            data = message.json()
            got.types.append(f"{data['namespace']}:{message.event}")
            if len(got.ids) >= count:
                break
    return got


def test_missing_bad_and_url_tokens_are_refused(serve: Serve) -> None:
    with serve(**NO_LIMITS) as server:
        events, stream = f"{server.url}/api/v1/events", f"{server.url}/api/v1/events/stream"
        for url in (events, stream):
            r = httpx.get(url)
            assert_problem(r, 401, "unauthenticated")
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert_problem(
                httpx.get(url, headers={"Authorization": "Bearer nope"}), 401, "unauthenticated"
            )
            # A token in the URL is refused even next to a valid header, and never used.
            for name in ("token", "access_token"):
                r = httpx.get(url, params={name: server.admin_token}, headers=server.headers)
                body = assert_problem(r, 400, "invalid_input")
                assert name in body["detail"]
                assert_problem(
                    httpx.get(url, params={name: server.admin_token}), 400, "invalid_input"
                )
        r = httpx.post(
            f"{server.url}/api/v1/auth/login",
            params={"token": server.admin_token},
            json={"token": server.admin_token},
        )
        assert_problem(r, 400, "invalid_input")
        assert "set-cookie" not in r.headers


async def test_namespace_token_sees_only_its_namespace(serve: Serve) -> None:
    with serve(**NO_LIMITS) as server:
        write_some(server, "alpha", "a1", "pa")
        write_some(server, "beta", "b1", "pb")
        total = len(page(server, headers=server.headers, params={"limit": 1000}).json()["events"])
        alpha = mint(server, "a1", "alpha")

        # Long-poll: only alpha's events, with or without naming alpha.
        for params in ({}, {"namespace": "alpha"}):
            r = page(server, headers=alpha, params={**params, "limit": 1000})
            assert r.status_code == 200, r.text
            namespaces = {e["namespace"] for e in r.json()["events"]}
            assert namespaces == {"alpha"}
        n_alpha = len(page(server, headers=alpha, params={"limit": 1000}).json()["events"])
        assert 0 < n_alpha < total
        # Asking for another namespace is refused, on both routes.
        assert_problem(
            page(server, headers=alpha, params={"namespace": "beta"}), 403, "permission_denied"
        )
        async with httpx.AsyncClient() as client:
            r = await client.get(
                f"{server.url}/api/v1/events/stream", headers=alpha, params={"namespace": "beta"}
            )
        assert_problem(r, 403, "permission_denied")
        # The admin sees everything, or narrows to one namespace.
        r = page(server, headers=server.headers, params={"namespace": "beta", "limit": 1000})
        assert {e["namespace"] for e in r.json()["events"]} == {"beta"}
        assert len(r.json()["events"]) == total - n_alpha

        async with httpx.AsyncClient(timeout=PATIENCE) as client:
            got = await stream_until(server, n_alpha, client, headers=alpha)
            assert {t.split(":")[0] for t in got.types} == {"alpha"}
            # Writing more in beta then alpha: the alpha stream's next event is alpha's.
            write_some(server, "beta", "b2", "pb")
            write_some(server, "alpha", "a2", "pa2")
            more = await stream_until(server, n_alpha + 1, client, headers=alpha)
            assert more.ids[:n_alpha] == got.ids
            assert more.types[-1].startswith("alpha:")


async def test_cookie_login_for_event_routes_only(serve: Serve) -> None:
    with serve(**NO_LIMITS) as server:
        write_some(server, "alpha", "a1", "pa")
        alpha = mint(server, "a1", "alpha")["Authorization"].removeprefix("Bearer ")
        async with httpx.AsyncClient(base_url=server.url, timeout=PATIENCE) as client:
            r = await client.post("/api/v1/auth/login", json={"token": "not-a-token"})
            assert_problem(r, 401, "unauthenticated")
            assert "set-cookie" not in r.headers

            r = await client.post("/api/v1/auth/login", json={"token": alpha})
            assert r.status_code == 200, r.text
            assert r.json()["agent"] == "a1" and r.json()["namespace"] == "alpha"
            assert r.json()["admin"] is False and r.json()["expires_at"]
            cookie = r.headers["set-cookie"]
            attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
            assert cookie.startswith(f"{COOKIE}=")
            assert {"httponly", "samesite", "path", "max-age"} <= attributes
            assert "samesite=strict" in cookie.lower() and "path=/api/v1" in cookie.lower()
            assert "secure" not in attributes  # plain http here; https requests get Secure

            # The cookie (and nothing else) authenticates the event routes...
            r = await client.get("/api/v1/events", params={"limit": 1000})
            assert r.status_code == 200, r.text
            assert {e["namespace"] for e in r.json()["events"]} == {"alpha"}
            got = Received()
            async with open_stream(client, server.url, last_event_id=0) as stream:
                async for message in stream:
                    got.ids.append(int(message.id or 0))
                    break
            assert got.ids
            # ...but no route that reads or changes anything else.
            r = await client.get("/api/v1/namespaces/alpha/projects")
            assert_problem(r, 401, "unauthenticated")
            r = await client.post(
                "/api/v1/namespaces/alpha/projects/pa/entries", json={"message": "csrf"}
            )
            assert_problem(r, 401, "unauthenticated")

            r = await client.post("/api/v1/auth/logout")
            assert r.status_code == 204
            cleared = r.headers["set-cookie"].lower()
            assert cleared.startswith(f"{COOKIE}=") and "max-age=0" in cleared
            assert COOKIE not in client.cookies
            assert_problem(await client.get("/api/v1/events"), 401, "unauthenticated")
            r = await client.get("/api/v1/events/stream")
            assert_problem(r, 401, "unauthenticated")


async def test_run_token_stream_is_scoped_to_its_tree(serve: Serve, core: Roundtable) -> None:
    """A run token of tree A never receives tree B's events: on resume (Last-Event-ID: 0),
    live, and on the paged read."""
    with serve(**NO_LIMITS) as server:
        a = await core.sessions.start("default", "agent-a")
        b = await core.sessions.start("default", "agent-b")
        await core.context.set("default", "agent-b", "pb", create=True, session_id=b.id)
        token = core.tokens.mint_run(
            "agent-a",
            "default",
            RunScope(root_id=a.id, session_id=a.id, run_id="run-a"),
            timedelta(minutes=5),
        )
        run = {"Authorization": f"Bearer {token}"}
        r = page(server, headers=run, params={"limit": 1000})
        assert r.status_code == 200, r.text
        replayed = r.json()["events"]
        # Its own session's events, and unattributed ones about a project (project.created).
        assert {e["session_id"] for e in replayed} == {a.id, None}
        seen: list[dict[str, object]] = []
        async with (
            httpx.AsyncClient(timeout=PATIENCE) as client,
            open_stream(client, server.url, headers=run, last_event_id=0) as stream,
        ):
            async for message in stream:
                seen.append(message.json())
                if len(seen) == len(replayed):
                    # Now B writes, then A: B's session events never arrive, A's do.
                    await core.sessions.heartbeat("default", "agent-b", b.id)
                    await core.journal.append(
                        "default", "agent-b", "pb", [EntryInput(message="b")], session_id=b.id
                    )
                    await core.sessions.heartbeat("default", "agent-a", a.id)
                if len(seen) > len(replayed) and message.event == "session.heartbeat":
                    break
        assert [e["id"] for e in seen[: len(replayed)]] == [e["id"] for e in replayed]
        assert {e["session_id"] for e in seen} == {a.id, None}
        assert seen[-1]["session_id"] == a.id
