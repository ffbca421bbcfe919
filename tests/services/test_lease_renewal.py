"""Lazy lease renewal (issue 16): a call rewrites the lease only when it is due, and expiry
stays exact: the stored expiry is the only one, and a lapsed lease is refused as before."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from roundtable.config import Settings
from roundtable.errors import LeaseExpiredError
from roundtable.ids import utcnow
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from tests.services.test_leases import tuned
from tests.services.util import expire_lease

TTL = 3600.0


async def append(core: Roundtable, session_id: str, message: str = "m") -> None:
    await core.journal.append(
        "default", "alice", "web", [EntryInput(message=message)], session_id=session_id
    )


async def lease_of(core: Roundtable, session_id: str) -> object:
    return (await core.sessions.get("default", session_id)).lease_expires_at


async def test_a_call_with_plenty_of_lease_left_writes_no_renewal(settings: Settings) -> None:
    async with tuned(settings, session_ttl_seconds=TTL, session_renew_fraction=0.5) as core:
        await core.journal.create_project("default", "setup", "web")
        s = await core.sessions.start("default", "alice")
        await expire_lease(core.db, s.id, seconds_ago=-(TTL * 0.5 + 60))  # just over half left
        stored = await lease_of(core, s.id)
        await append(core, s.id)
        await core.context.set("default", "alice", "web", session_id=s.id)
        assert await lease_of(core, s.id) == stored  # nobody was told a later expiry


async def test_a_call_renews_once_less_than_the_fraction_is_left(settings: Settings) -> None:
    async with tuned(settings, session_ttl_seconds=TTL, session_renew_fraction=0.5) as core:
        await core.journal.create_project("default", "setup", "web")
        s = await core.sessions.start("default", "alice")
        for call in ("append", "set_project"):
            await expire_lease(core.db, s.id, seconds_ago=-(TTL * 0.5 - 60))  # under half
            if call == "append":
                await append(core, s.id)
            else:
                await core.context.set("default", "alice", "web", session_id=s.id)
            renewed = await core.sessions.get("default", s.id)
            assert renewed.lease_expires_at > utcnow() + timedelta(seconds=TTL - 600), call


async def test_after_any_successful_call_the_fraction_is_left(settings: Settings) -> None:
    async with tuned(settings, session_ttl_seconds=TTL, session_renew_fraction=0.25) as core:
        await core.journal.create_project("default", "setup", "web")
        s = await core.sessions.start("default", "alice")
        for left in (TTL, TTL * 0.5, TTL * 0.26, TTL * 0.24, 10.0, 0.5):
            await expire_lease(core.db, s.id, seconds_ago=-left)
            before = utcnow()
            await append(core, s.id, f"{left}")
            info = await core.sessions.get("default", s.id)
            assert info.lease_expires_at >= before + timedelta(seconds=TTL * 0.25), left


async def test_fraction_one_renews_on_every_call(settings: Settings) -> None:
    async with tuned(settings, session_ttl_seconds=TTL, session_renew_fraction=1.0) as core:
        await core.journal.create_project("default", "setup", "web")
        s = await core.sessions.start("default", "alice")
        await expire_lease(core.db, s.id, seconds_ago=-(TTL - 5))  # five seconds used
        before = utcnow()
        await append(core, s.id)
        assert (await core.sessions.get("default", s.id)).lease_expires_at >= before + timedelta(
            seconds=TTL
        )


@pytest.mark.parametrize("seconds_ago", [0.0, 1.0, 3600.0])
async def test_a_lapsed_lease_is_refused_though_no_renewal_was_written(
    settings: Settings, seconds_ago: float
) -> None:
    async with tuned(settings, session_ttl_seconds=TTL, session_renew_fraction=0.5) as core:
        await core.journal.create_project("default", "setup", "web")
        s = await core.sessions.start("default", "alice")
        await append(core, s.id)  # skipped the rewrite: the lease is the one start stored
        await expire_lease(core.db, s.id, seconds_ago=seconds_ago)
        for attempt in (
            append(core, s.id, "late"),
            core.context.set("default", "alice", "web", session_id=s.id),
        ):
            with pytest.raises(LeaseExpiredError) as refused:
                await attempt
            assert refused.value.data["status"] == "expired"


async def test_an_ended_session_is_refused_though_its_lease_has_time_left(
    settings: Settings,
) -> None:
    async with tuned(settings, session_ttl_seconds=TTL, session_renew_fraction=0.5) as core:
        await core.journal.create_project("default", "setup", "web")
        s = await core.sessions.start("default", "alice")
        await core.sessions.end("default", "alice", s.id)
        with pytest.raises(LeaseExpiredError) as refused:
            await append(core, s.id)
        assert refused.value.data["status"] == "finished"


async def test_concurrent_writes_and_an_end_race_cleanly(settings: Settings) -> None:
    """Writes that check the lease (FOR SHARE), writes that rewrite it, and an `end` racing
    them: each write either lands or is refused as expired; none fails on the database."""
    async with tuned(settings, session_ttl_seconds=TTL, session_renew_fraction=0.5) as core:
        await core.journal.create_project("default", "setup", "web")
        for round_ in range(3):
            s = await core.sessions.start("default", "alice")
            # Right at the threshold: some writes find the lease due, others do not.
            await expire_lease(core.db, s.id, seconds_ago=-(TTL * 0.5))
            calls = [append(core, s.id, f"r{round_}-{i}") for i in range(12)]
            calls.insert(6, core.sessions.end("default", "alice", s.id))  # type: ignore[arg-type]
            results = await asyncio.gather(*calls, return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            assert all(isinstance(r, LeaseExpiredError) for r in failures), failures
            assert (await core.sessions.get("default", s.id)).status == "finished"
        report = await core.journal.verify("default", "web")
        assert report.ok
