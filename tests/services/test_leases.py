"""Leases (D3): expiry, ending, superseding, the sweeper, and the limits on sessions and writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from roundtable.config import Settings
from roundtable.errors import LeaseExpiredError, RateLimited
from roundtable.ids import utcnow
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.sessions.models import SessionInfo
from tests.services.util import events_of, expire_lease, row_counts


@asynccontextmanager
async def tuned(
    settings: Settings, *, sweeper: bool = False, **changes: Any
) -> AsyncIterator[Roundtable]:
    """A core on the test's database with some settings changed."""
    async with Roundtable.open(settings.model_copy(update=changes), sweeper=sweeper) as core:
        yield core


async def assert_refused_everywhere(core: Roundtable, agent: str, session_id: str) -> None:
    """Every session-bound call is refused with LeaseExpiredError, and nothing is written."""
    before = await row_counts(core.db)
    calls = [
        core.journal.append(
            "default", agent, "web", [EntryInput(message="late")], session_id=session_id
        ),
        core.context.set("default", agent, "web", session_id=session_id),
        core.sessions.heartbeat("default", agent, session_id),
        core.sessions.end("default", agent, session_id),
    ]
    for call in calls:
        with pytest.raises(LeaseExpiredError) as refused:
            await call
        assert refused.value.data["session_id"] == session_id
    assert await row_counts(core.db) == before


async def test_expired_lease_refuses_writes(core: Roundtable) -> None:
    await core.journal.create_project("default", "setup", "web")
    s = await core.sessions.start("default", "alice")
    await core.journal.append(
        "default", "alice", "web", [EntryInput(message="ok")], session_id=s.id
    )
    await expire_lease(core.db, s.id)
    await assert_refused_everywhere(core, "alice", s.id)
    with pytest.raises(LeaseExpiredError) as refused:
        await core.sessions.heartbeat("default", "alice", s.id)
    assert refused.value.data["status"] == "expired"
    # Without a session the agent may still write (and no live session was harmed).
    await core.journal.append("default", "alice", "web", [EntryInput(message="sessionless")])


async def test_a_tiny_ttl_lapses_on_its_own(settings: Settings) -> None:
    async with tuned(settings, session_ttl_seconds=0.05) as core:
        await core.journal.create_project("default", "setup", "web")
        s = await core.sessions.start("default", "alice")
        await asyncio.sleep((s.lease_expires_at - utcnow()).total_seconds() + 0.01)
        assert utcnow() > s.lease_expires_at  # a precondition, not a timing claim
        await assert_refused_everywhere(core, "alice", s.id)


async def test_every_call_renews_the_lease(settings: Settings) -> None:
    async with tuned(settings, session_ttl_seconds=3600) as core:
        await core.journal.create_project("default", "setup", "web")
        s = await core.sessions.start("default", "alice")
        await expire_lease(core.db, s.id, seconds_ago=-5)  # five seconds left
        await core.journal.append(
            "default", "alice", "web", [EntryInput(message="m")], session_id=s.id
        )
        renewed = await core.sessions.get("default", s.id)
        assert renewed.lease_expires_at > utcnow() + timedelta(seconds=3000)
        await expire_lease(core.db, s.id, seconds_ago=-5)
        beat = await core.sessions.heartbeat("default", "alice", s.id)
        assert beat.lease_expires_at > utcnow() + timedelta(seconds=3000)


@pytest.mark.parametrize("status", ["finished", "failed", "stopped"])
async def test_ended_session_refuses_writes(core: Roundtable, status: str) -> None:
    await core.journal.create_project("default", "setup", "web")
    s = await core.sessions.start("default", "alice")
    ended = await core.sessions.end("default", "alice", s.id, status)  # type: ignore[arg-type]
    assert ended.status == status and ended.ended_at is not None
    await assert_refused_everywhere(core, "alice", s.id)
    with pytest.raises(LeaseExpiredError) as refused:
        await core.sessions.heartbeat("default", "alice", s.id)
    assert refused.value.data["status"] == status


async def test_new_session_supersedes_expired_ones(core: Roundtable) -> None:
    await core.journal.create_project("default", "setup", "web")
    lapsed = await core.sessions.start("default", "alice")
    swept = await core.sessions.start("default", "alice")
    live = await core.sessions.start("default", "alice")
    other = await core.sessions.start("default", "bob")
    for s in (lapsed, swept, other):
        await expire_lease(core.db, s.id)
    assert await core.sessions.sweep() == 3  # swept, and lapsed/other too: all due
    fresh_lapsed = await core.sessions.start("default", "alice")  # supersedes both of alice's
    for old in (lapsed, swept):
        info = await core.sessions.get("default", old.id)
        assert info.status == "expired" and info.superseded_by == fresh_lapsed.id
    assert (await core.sessions.get("default", live.id)).superseded_by is None
    assert (await core.sessions.get("default", live.id)).status == "active"
    assert (await core.sessions.get("default", other.id)).superseded_by is None  # bob's
    events = await events_of(core.db, "session.superseded", agent="alice")
    assert sorted(e.payload["session_id"] for e in events) == sorted([lapsed.id, swept.id])
    assert {e.payload["superseded_by"] for e in events} == {fresh_lapsed.id}
    with pytest.raises(LeaseExpiredError) as refused:
        await core.journal.append(
            "default", "alice", "web", [EntryInput(message="x")], session_id=lapsed.id
        )
    assert refused.value.data["superseded_by"] == fresh_lapsed.id
    # Superseding happens once: a later session leaves them alone.
    later = await core.sessions.start("default", "alice")
    assert (await core.sessions.get("default", lapsed.id)).superseded_by == fresh_lapsed.id
    await core.journal.append(
        "default", "alice", "web", [EntryInput(message="y")], session_id=later.id
    )


async def test_supersede_claims_an_unswept_lapsed_session(core: Roundtable) -> None:
    old = await core.sessions.start("default", "alice")
    await expire_lease(core.db, old.id)
    new = await core.sessions.start("default", "alice")  # no sweep in between
    info = await core.sessions.get("default", old.id)
    assert (info.status, info.superseded_by) == ("expired", new.id)
    assert info.ended_at == info.lease_expires_at


async def test_sweep_marks_expired_and_emits_events_once(core: Roundtable) -> None:
    a = await core.sessions.start("default", "alice")
    b = await core.sessions.start("default", "bob")
    await expire_lease(core.db, a.id)
    assert await core.sessions.sweep() == 1
    assert await core.sessions.sweep() == 0
    assert (await core.sessions.get("default", a.id)).status == "expired"
    assert (await core.sessions.get("default", b.id)).status == "active"
    # Move time forward past b's lease instead of editing it.
    assert await core.sessions.sweep(now=utcnow() + core.sessions.ttl + timedelta(seconds=1)) == 1
    assert (await core.sessions.get("default", b.id)).status == "expired"
    expired = await events_of(core.db, "session.expired")
    assert [e.session_id for e in expired] == [a.id, b.id]
    assert [e.agent for e in expired] == ["alice", "bob"]
    ended = await core.sessions.get("default", b.id)
    assert ended.ended_at == ended.lease_expires_at
    with pytest.raises(LeaseExpiredError):
        await core.sessions.heartbeat("default", "bob", b.id)


async def test_sweep_handles_more_than_one_batch(core: Roundtable) -> None:
    sessions = [await core.sessions.start("default", f"agent-{i}") for i in range(7)]
    future = utcnow() + core.sessions.ttl + timedelta(seconds=1)
    assert await core.sessions.sweep(now=future, batch=3) == 7
    assert {(await core.sessions.get("default", s.id)).status for s in sessions} == {"expired"}
    assert len(await events_of(core.db, "session.expired")) == 7


async def test_background_sweeper_expires_sessions(settings: Settings) -> None:
    async with tuned(
        settings, sweeper=True, session_ttl_seconds=0.05, sweep_interval_seconds=0.02
    ) as core:
        s = await core.sessions.start("default", "alice")
        info: SessionInfo = s
        for _ in range(1_000):  # bounded wait for the background task, not a timing assertion
            info = await core.sessions.get("default", s.id)
            if info.status == "expired":
                break
            await asyncio.sleep(0.02)
        assert info.status == "expired"
        events = await events_of(core.db, "session.expired")
        assert [e.session_id for e in events] == [s.id]


async def test_max_sessions_per_agent(settings: Settings) -> None:
    async with tuned(settings, max_sessions_per_agent=2, sweep_interval_seconds=7) as core:
        first = await core.sessions.start("default", "alice")
        await core.sessions.start("default", "alice")
        before = await row_counts(core.db)
        with pytest.raises(RateLimited) as limited:
            await core.sessions.start("default", "alice")
        assert limited.value.data["limit"] == "max_sessions_per_agent"
        assert limited.value.retry_after == 7
        assert await row_counts(core.db) == before
        await core.sessions.start("default", "bob")  # another agent is not limited by alice
        await core.sessions.end("default", "alice", first.id)
        third = await core.sessions.start("default", "alice")  # an ended one frees a slot
        await expire_lease(core.db, third.id)
        await core.sessions.start("default", "alice")  # so does a lapsed one


async def test_max_sessions_per_namespace(settings: Settings) -> None:
    async with tuned(settings, max_sessions_per_namespace=3) as core:
        for agent in ("a", "b", "c"):
            await core.sessions.start("default", agent)
        with pytest.raises(RateLimited) as limited:
            await core.sessions.start("default", "d")
        assert limited.value.data["limit"] == "max_sessions_per_namespace"
        assert limited.value.retry_after > 0
        await core.sessions.start("elsewhere", "d")  # the limit is per namespace


async def test_session_limits_hold_under_concurrent_starts(settings: Settings) -> None:
    async with tuned(settings, max_sessions_per_agent=3, max_sessions_per_namespace=5) as core:
        same_agent = await asyncio.gather(
            *(core.sessions.start("team", "alice") for _ in range(12)), return_exceptions=True
        )
        assert sum(isinstance(r, SessionInfo) for r in same_agent) == 3, same_agent
        assert all(isinstance(r, SessionInfo | RateLimited) for r in same_agent)
        many_agents = await asyncio.gather(
            *(core.sessions.start("team", f"agent-{i}") for i in range(12)),
            return_exceptions=True,
        )
        assert sum(isinstance(r, SessionInfo) for r in many_agents) == 2, many_agents
        assert all(isinstance(r, SessionInfo | RateLimited) for r in many_agents)
        assert len(await core.sessions.list("team", status="active")) == 5  # type: ignore[arg-type]


async def test_write_rate_limit_is_a_token_bucket_per_agent(settings: Settings) -> None:
    async with tuned(settings, write_rate_per_second=0.001, write_burst=3) as core:
        await core.journal.create_project("default", "setup", "web")
        for i in range(3):
            await core.journal.append("default", "alice", "web", [EntryInput(message=f"m{i}")])
        before = await row_counts(core.db)
        with pytest.raises(RateLimited) as limited:
            await core.journal.append("default", "alice", "web", [EntryInput(message="too fast")])
        assert limited.value.retry_after > 0
        assert limited.value.data["agent"] == "alice"
        with pytest.raises(RateLimited):
            await core.context.set("default", "alice", "web")
        assert await row_counts(core.db) == before
        await core.journal.append("default", "bob", "web", [EntryInput(message="bob is fine")])
