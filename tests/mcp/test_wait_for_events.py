"""`wait_for_events` through the official MCP client, over stdio and HTTP, on both backends.

The waiting agent and the writing agent are different clients: over stdio, two separate
`roundtable mcp` processes sharing the database, so the event can only reach the waiter through
the cross-process wake-up (SQLite `data_version` poll, PostgreSQL NOTIFY) or the table.
"""

from __future__ import annotations

import asyncio

from tests.live import LiveServer
from tests.mcp import harness
from tests.mcp.harness import Connect, fail, ok, together


async def test_wait_for_events_returns_another_agents_writes(connect: Connect) -> None:
    async with together(connect("alice"), connect("bob")) as (alice, bob):
        now = await ok(alice, "wait_for_events", {"types": ["session.*"], "timeout": 0})
        since = now["next_after"]
        assert now["resync"] is None

        waiting = asyncio.create_task(
            ok(
                alice,
                "wait_for_events",
                {"since": since, "types": ["session.started"], "timeout": 60},
            )
        )
        started = await ok(bob, "start_session", {"metadata": {"n": 1}})
        page = await waiting
        assert [(e["type"], e["agent"], e["session_id"]) for e in page["events"]] == [
            ("session.started", "bob", started["id"])
        ]
        event = page["events"][0]
        assert event["payload"]["metadata"] == {"n": 1} and event["catalogue_version"] == 1
        assert page["next_after"] == event["id"]

        # Resuming from next_after, with a filter for another agent: nothing yet, bounded wait.
        empty = await ok(
            alice,
            "wait_for_events",
            {"since": page["next_after"], "agent": "carol", "timeout": 0.1},
        )
        assert empty["events"] == [] and empty["next_after"] >= page["next_after"]


async def test_wait_for_events_refuses_bad_input(connect: Connect) -> None:
    async with connect("alice") as client:
        await fail(
            client, "wait_for_events", {"types": ["Bad Pattern"], "timeout": 0}, "invalid_input"
        )
        await fail(client, "wait_for_events", {"since": -1}, "invalid_input")
        await fail(client, "wait_for_events", {"since": 10**9, "timeout": 0}, "invalid_input")
        await fail(client, "wait_for_events", {"limit": 0}, "invalid_input")


async def test_an_agent_token_only_sees_its_own_namespace(live_server: LiveServer) -> None:
    own = harness.mint_token(live_server, "alice", namespace="team-b")
    writer = harness.mint_token(live_server, "bob", namespace="default")
    async with harness.http(live_server, own) as alice, harness.http(live_server, writer) as bob:
        await ok(bob, "start_session")
        await fail(
            alice, "wait_for_events", {"namespace": "default", "timeout": 0}, "permission_denied"
        )
        page = await ok(alice, "wait_for_events", {"timeout": 0.1})
        assert page["events"] == []
        await ok(alice, "start_session")
        page = await ok(alice, "wait_for_events", {"timeout": 0})
        assert [(e["namespace"], e["agent"]) for e in page["events"]] == [("team-b", "alice")]
