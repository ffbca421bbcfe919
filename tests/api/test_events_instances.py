"""Events across real server processes.

PostgreSQL: two `roundtable serve` processes on one database; 8 writers through both, 20 SSE
readers on both that hang up at random and resume with Last-Event-ID. Every reader must end
with exactly the matching rows of the table, each once, in id order.

SQLite: 4 `roundtable mcp` processes append to the shared file while a reader follows the
server's stream; the server learns of their commits only through its change poll.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from roundtable.config import Settings
from tests.api.events_helpers import (
    NO_RATE_LIMIT,
    PATIENCE,
    Received,
    Want,
    latest_id,
    open_stream,
    table_events,
    wait_for,
)
from tests.live import LiveServer, subprocess_server
from tests.mcp.harness import ok, stdio

WRITERS = 8
READERS = 20
ROUNDS = 12  # per writer: each round appends, and every third also moves the agent's context


async def writer(server: LiveServer, n: int) -> None:
    """One agent: a session, a project of its own plus a shared one, appends, context moves."""
    agent, api, h = f"writer-{n}", server.api(), server.headers
    async with httpx.AsyncClient(timeout=PATIENCE, headers=h) as client:
        r = await client.post(f"{api}/sessions", json={"agent": agent})
        assert r.status_code == 201, r.text
        session = r.json()["id"]
        for round_ in range(ROUNDS):
            project = "shared" if round_ % 2 else f"own-{n}"
            if round_ % 3 == 0:
                body: dict[str, Any] = {"project": project, "create": True, "session_id": session}
                r = await client.put(f"{api}/agents/{agent}/context", json=body)
                assert r.status_code == 200, r.text
            else:
                r = await client.post(
                    f"{api}/projects/{project}/entries",
                    json={
                        "agent": agent,
                        "session_id": session,
                        "message": f"{agent} round {round_}",
                    },
                )
                if r.status_code == 404:  # "shared" not created yet by anyone: create it
                    body = {"project": project, "create": True, "session_id": session}
                    r = await client.put(f"{api}/agents/{agent}/context", json=body)
                    assert r.status_code == 200, r.text
                else:
                    assert r.status_code == 201, r.text
        r = await client.post(f"{api}/sessions/{session}/end", json={})
        assert r.status_code == 200, r.text


async def reader(
    server: LiveServer, want: Want, got: Received, rng: random.Random, start: int
) -> None:
    """Follow the stream forever, hanging up after a random number of events and resuming."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(PATIENCE, read=None)) as client:
        while True:
            budget = rng.randint(1, 25)
            resume = got.last if got.ids else start
            got.connections += 1
            async with open_stream(
                client,
                server.url,
                headers=server.headers,
                params=want.params(),
                last_event_id=resume,
            ) as stream:
                async for message in stream:
                    if message.event in ("dropped", "resync"):
                        got.notices.append(message)
                        break
                    got.ids.append(int(message.id or 0))
                    budget -= 1
                    if budget == 0:
                        break


WANTS = [
    Want(),
    Want(types=("journal.*",)),
    Want(project="shared"),
    Want(types=("session.*", "context.changed")),
    Want(agent="writer-3"),
]


@pytest.mark.only_backend("postgresql")  # instances share a database only on PostgreSQL
async def test_two_postgresql_instances_deliver_everything_once_in_order(
    settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "servers.log"
    with (
        subprocess_server(settings, log, **NO_RATE_LIMIT) as one,
        subprocess_server(settings, log, **NO_RATE_LIMIT) as two,
    ):
        servers = [one, two]
        start = await latest_id(settings)
        rng = random.Random(20261121)
        received = [Received() for _ in range(READERS)]
        wants = [WANTS[i % len(WANTS)] for i in range(READERS)]
        readers = [
            asyncio.create_task(
                reader(servers[i % 2], wants[i], received[i], random.Random(rng.random()), start)
            )
            for i in range(READERS)
        ]
        try:
            await asyncio.gather(*(writer(servers[n % 2], n) for n in range(WRITERS)))
            rows = await table_events(settings, after=start)
            expected = [[row["id"] for row in rows if want.matches(row)] for want in wants]
            assert all(expected) and len(rows) > WRITERS * ROUNDS

            def complete() -> bool:
                for task in readers:
                    if task.done():
                        task.result()  # a reader that failed fails the test with its error
                return all(got.last >= ids[-1] for got, ids in zip(received, expected, strict=True))

            await wait_for(complete, "every reader to reach the last matching event")
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        # Other features (periodic checkpoints) may write events at any time, so each reader is
        # compared with the table up to the last id it got: ids are commit-ordered, so that
        # prefix is final. Completeness was checked above (every reader got past the writers').
        rows = await table_events(settings, after=start)
        for i, got in enumerate(received):
            assert got.notices == [], (i, got.notices)
            want = [row["id"] for row in rows if wants[i].matches(row) and row["id"] <= got.last]
            assert got.ids == want, f"reader {i} ({wants[i]}) on instance {i % 2 + 1}"
        assert sum(got.connections for got in received) > 2 * READERS  # they did resume


@pytest.mark.only_backend("sqlite")  # other processes share the database *file* on SQLite
async def test_sqlite_stream_sees_commits_of_mcp_processes(
    settings: Settings, tmp_path: Path
) -> None:
    processes, calls = 4, 20
    log, stderr = tmp_path / "server.log", tmp_path / "mcp-stderr.log"
    with subprocess_server(settings, log, **NO_RATE_LIMIT) as server:
        start = await latest_id(settings)
        got = Received()

        async def follow() -> None:
            async with (
                httpx.AsyncClient(timeout=httpx.Timeout(PATIENCE, read=None)) as client,
                open_stream(
                    client, server.url, headers=server.headers, last_event_id=start
                ) as stream,
            ):
                async for message in stream:
                    got.ids.append(int(message.id or 0))
                    got.types.append(message.event)

        async def agent(n: int) -> None:
            async with stdio(settings, f"mcp-{n}", stderr, **NO_RATE_LIMIT) as client:
                session = await ok(client, "start_session")
                await ok(client, "set_project", {"project": "mcp-shared", "create": True})
                for call in range(calls):
                    args = {"session_id": session["id"], "message": f"mcp-{n} call {call}"}
                    await ok(client, "append_entry", args)
                await ok(client, "end_session", {"session_id": session["id"]})

        following = asyncio.create_task(follow())
        try:
            await asyncio.gather(*(agent(n) for n in range(processes)))
            rows = await table_events(settings, after=start)
            expected = [row["id"] for row in rows]
            assert len([r for r in rows if r["type"] == "journal.appended"]) == processes * calls

            def caught_up() -> bool:
                if following.done():
                    following.result()
                return got.last >= expected[-1]

            await wait_for(caught_up, "the stream to deliver the MCP processes' events")
        finally:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)
        # Compared with the table up to the last id received (commit order makes that prefix
        # final; a periodic checkpoint may have added an event after the agents finished).
        rows = await table_events(settings, after=start)
        assert got.ids == [row["id"] for row in rows if row["id"] <= got.last]
        assert {row["agent"] for row in rows} >= {f"mcp-{n}" for n in range(processes)}
