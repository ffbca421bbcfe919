"""Agent isolation at the service level: an agent's context, sessions and namespace are its own."""

from __future__ import annotations

import asyncio

import pytest

from roundtable.errors import NotFound, PermissionDenied
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from tests.services.util import events_of, row_counts


async def test_concurrent_agents_each_see_only_their_own_project(core: Roundtable) -> None:
    for name in [*(f"a-{i}" for i in range(5)), *(f"b-{i}" for i in range(5))]:
        await core.journal.create_project("default", "setup", name)

    async def churn(agent: str, prefix: str) -> None:
        for i in range(5):
            await core.context.set("default", agent, f"{prefix}-{i}")
            await asyncio.sleep(0)

    await asyncio.gather(churn("alice", "a"), churn("bob", "b"), churn("alice", "a"))
    alice = await core.context.get("default", "alice")
    bob = await core.context.get("default", "bob")
    assert (alice.project, alice.version) == ("a-4", 10)
    assert (bob.project, bob.version) == ("b-4", 5)

    # One more round at the same time, each with its own expected version: both succeed.
    a_final, b_final = await asyncio.gather(
        core.context.set("default", "alice", "a-0", expected_version=10),
        core.context.set("default", "bob", "b-0", expected_version=5),
    )
    assert (a_final.agent, a_final.project, a_final.version) == ("alice", "a-0", 11)
    assert (b_final.agent, b_final.project, b_final.version) == ("bob", "b-0", 6)
    assert (await core.context.get("default", "alice")).project == "a-0"
    assert (await core.context.get("default", "bob")).project == "b-0"

    changed = await events_of(core.db, "context.changed")
    assert {e.payload["new_project"][0] for e in changed if e.agent == "alice"} == {"a"}
    assert {e.payload["new_project"][0] for e in changed if e.agent == "bob"} == {"b"}
    assert len(await events_of(core.db, "context.conflict")) == 0


async def test_same_agent_name_in_two_namespaces_is_two_contexts(core: Roundtable) -> None:
    await core.journal.create_project("team-x", "setup", "shared-name")
    await core.journal.create_project("team-y", "setup", "shared-name")
    await core.journal.create_project("team-y", "setup", "only-y")
    await asyncio.gather(
        core.context.set("team-x", "carol", "shared-name"),
        core.context.set("team-y", "carol", "only-y"),
    )
    x = await core.context.get("team-x", "carol")
    y = await core.context.get("team-y", "carol")
    assert (x.namespace, x.project, x.version) == ("team-x", "shared-name", 1)
    assert (y.namespace, y.project, y.version) == ("team-y", "only-y", 1)
    # A project of one namespace does not exist in another.
    with pytest.raises(NotFound):
        await core.context.set("team-x", "carol", "only-y")
    assert (await core.context.get("team-x", "carol")).version == 1
    assert [p.name for p in await core.journal.list_projects("team-x")] == ["shared-name"]


async def test_an_agent_cannot_write_through_another_agents_session(core: Roundtable) -> None:
    await core.journal.create_project("default", "setup", "web")
    alice = await core.sessions.start("default", "alice")
    before = await row_counts(core.db)
    with pytest.raises(PermissionDenied) as denied:
        await core.journal.append(
            "default", "bob", "web", [EntryInput(message="sneaky")], session_id=alice.id
        )
    assert denied.value.data["session_id"] == alice.id
    with pytest.raises(PermissionDenied):
        await core.context.set("default", "bob", "web", session_id=alice.id)
    with pytest.raises(PermissionDenied):
        await core.sessions.heartbeat("default", "bob", alice.id)
    with pytest.raises(PermissionDenied):
        await core.sessions.end("default", "bob", alice.id)
    assert await row_counts(core.db) == before
    assert (await core.sessions.get("default", alice.id)).status == "active"


async def test_a_session_is_unknown_outside_its_namespace(core: Roundtable) -> None:
    await core.journal.create_project("other", "setup", "web")
    alice = await core.sessions.start("default", "alice")
    before = await row_counts(core.db)
    with pytest.raises(NotFound):
        await core.journal.append(
            "other", "alice", "web", [EntryInput(message="wrong ns")], session_id=alice.id
        )
    with pytest.raises(NotFound):
        await core.sessions.get("other", alice.id)
    assert await row_counts(core.db) == before
