"""Filters on the stream and on the long-poll read: type patterns, project, agent, session.

What each filter should select is computed from the table with the test's own matcher (not the
server's), and the stream and the paged read must both return exactly that, in id order.
"""

from __future__ import annotations

import asyncio

import httpx

from roundtable.client.sse import SseParser
from tests.api.conftest import Serve, assert_problem
from tests.api.events_helpers import PATIENCE, Want, open_stream, table_events
from tests.api.test_events_auth import NO_LIMITS
from tests.live import LiveServer


async def scenario(server: LiveServer) -> dict[str, str]:
    """Two agents, two projects, sessions that start and end: every event type but the sweeper's."""
    api, h = server.api(), server.headers
    sessions: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=PATIENCE) as client:
        for agent, project in (("ann", "apollo"), ("bob", "borealis")):
            r = await client.post(f"{api}/sessions", json={"agent": agent}, headers=h)
            assert r.status_code == 201, r.text
            sessions[agent] = r.json()["id"]
            r = await client.put(
                f"{api}/agents/{agent}/context",
                json={"project": project, "create": True, "session_id": sessions[agent]},
                headers=h,
            )
            assert r.status_code == 200, r.text
        for i in range(6):
            agent, project = (("ann", "apollo"), ("bob", "borealis"))[i % 2]
            body = {"agent": agent, "message": f"m{i}", "session_id": sessions[agent]}
            r = await client.post(f"{api}/projects/{project}/entries", json=body, headers=h)
            assert r.status_code == 201, r.text
        r = await client.put(f"{api}/agents/ann/context", json={"project": "borealis"}, headers=h)
        assert r.status_code == 200, r.text
        r = await client.post(f"{api}/sessions/{sessions['bob']}/end", json={}, headers=h)
        assert r.status_code == 200, r.text
    return sessions


async def read_all(server: LiveServer, want: Want) -> list[int]:
    """Every matching id through the paged read, following `next_after`."""
    ids: list[int] = []
    after = 0
    async with httpx.AsyncClient(timeout=PATIENCE) as client:
        while True:
            params = [*want.params(), ("after", str(after)), ("limit", "3")]
            r = await client.get(
                f"{server.url}/api/v1/events", params=tuple(params), headers=server.headers
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["next_after"] >= after
            ids += [e["id"] for e in body["events"]]
            if body["next_after"] == after:
                return ids
            after = body["next_after"]


async def stream_all(server: LiveServer, want: Want, count: int) -> list[int]:
    ids: list[int] = []
    if count == 0:
        return ids
    async with (
        httpx.AsyncClient(timeout=PATIENCE) as client,
        open_stream(
            client, server.url, headers=server.headers, params=want.params(), last_event_id=0
        ) as stream,
    ):
        async for message in stream:
            assert message.event == message.json()["type"]
            ids.append(int(message.id or 0))
            if len(ids) == count:
                break
    return ids


async def test_filters_select_the_same_events_on_stream_and_read(serve: Serve) -> None:
    with serve(**NO_LIMITS) as server:
        sessions = await scenario(server)
        rows = await table_events(server.settings)
        wants = [
            Want(),
            Want(types=("session.*",)),
            Want(types=("journal.appended", "project.created")),
            Want(types=("*.changed",)),
            Want(types=("session.started,session.ended",)),
            Want(project="apollo"),
            Want(agent="bob"),
            Want(session=sessions["ann"]),
            Want(types=("journal.*",), agent="ann", project="apollo"),
            Want(namespace="default", types=("context.*",)),
        ]
        for want in wants:
            expanded = Want(
                types=tuple(p for t in want.types for p in t.split(",")),
                namespace=want.namespace,
                project=want.project,
                agent=want.agent,
                session=want.session,
            )
            expected = [row["id"] for row in rows if expanded.matches(row)]
            assert expected, want  # every filter here selects something
            assert await read_all(server, want) == expected, want
            got = await asyncio.wait_for(stream_all(server, want, len(expected)), PATIENCE)
            assert got == expected, want
        # Sanity: the scenario has the variety the filters need.
        assert len({row["type"] for row in rows}) >= 5


async def test_long_poll_waits_for_the_next_event(serve: Serve) -> None:
    with serve(**NO_LIMITS) as server:
        await scenario(server)
        latest = (await table_events(server.settings))[-1]["id"]
        async with httpx.AsyncClient(timeout=PATIENCE) as client:
            poll = asyncio.create_task(
                client.get(
                    f"{server.url}/api/v1/events",
                    params={"after": latest, "wait": 60, "types": "journal.*"},
                    headers=server.headers,
                )
            )
            body = {"agent": "ann", "message": "wake up"}
            r = await client.post(
                f"{server.api()}/projects/apollo/entries", json=body, headers=server.headers
            )
            assert r.status_code == 201, r.text
            answer = await asyncio.wait_for(poll, PATIENCE)
        assert answer.status_code == 200, answer.text
        events = answer.json()["events"]
        assert [e["type"] for e in events] == ["journal.appended"]
        assert events[0]["id"] > latest and answer.json()["next_after"] == events[0]["id"]


def test_bad_filters_and_resume_points_are_refused(serve: Serve) -> None:
    with serve(**NO_LIMITS) as server:
        base, h = f"{server.url}/api/v1/events", server.headers
        for params in (
            {"project": "no spaces allowed"},
            {"agent": "x" * 300},
            {"after": "-1"},
            {"limit": "0"},
            {"limit": "100000"},
            {"wait": "-1"},
        ):
            assert_problem(httpx.get(base, params=params, headers=h), 422, "invalid_input")
        r = httpx.get(f"{base}/stream", headers={**h, "Last-Event-ID": "yesterday"})
        assert_problem(r, 422, "invalid_input")
        r = httpx.get(f"{base}/stream", params={"project": "bad name!"}, headers=h)
        assert_problem(r, 422, "invalid_input")
        # A resume point this server never reached (another server's, an old database's).
        r = httpx.get(f"{base}/stream", headers={**h, "Last-Event-ID": "999999"})
        assert_problem(r, 422, "invalid_input")
        assert_problem(httpx.get(base, params={"after": 999999}, headers=h), 422, "invalid_input")


async def test_stream_framing_heartbeats_and_headers(serve: Serve) -> None:
    """The wire format: headers that stop buffering, a retry hint, heartbeats when idle, and
    events whose SSE id and event name are the event's id and type."""
    with serve(**NO_LIMITS, event_heartbeat_seconds=0.2) as server:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(PATIENCE, read=None)) as client,
            client.stream(
                "GET", f"{server.url}/api/v1/events/stream", headers=server.headers
            ) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            lines = response.aiter_lines()
            seen: list[str] = []
            async for line in lines:
                seen.append(line)
                if line == ": heartbeat":
                    break
            assert seen[0] == "retry: 2000" and seen[1].startswith(": subscribed after ")
            r = await client.post(
                f"{server.api()}/projects", json={"name": "framed"}, headers=server.headers
            )
            assert r.status_code == 201, r.text
            parser = SseParser()
            async for line in lines:
                message = parser.feed(line)
                if message is not None:
                    break
            assert message is not None
            data = message.json()
            assert message.event == data["type"] == "project.created"
            assert message.id == str(data["id"]) and data["payload"]["project"] == "framed"
