"""Metrics recorded by the services themselves: lease expiries, live subscribers, bus lag."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from roundtable.errors import LeaseExpiredError
from roundtable.events.filters import EventFilter
from roundtable.journal.models import EntryInput
from roundtable.mcp.server import error_result
from roundtable.runtime import Roundtable
from tests.services.util import expire_lease


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_sweeper_expiries_and_lease_refusals_are_counted(core: Roundtable) -> None:
    expired_before = sample("roundtable_sessions_expired_total")
    refused_before = sample("roundtable_lease_expired_refusals_total")
    sessions = [await core.sessions.start("default", f"agent-{n}") for n in range(3)]
    for session in sessions:
        await expire_lease(core.db, session.id)
    assert await core.sessions.sweep() == 3
    assert sample("roundtable_sessions_expired_total") - expired_before == 3
    await core.journal.create_project("default", "agent-0", "p")
    try:
        await core.journal.append(
            "default", "agent-0", "p", [EntryInput(message="m")], session_id=sessions[0].id
        )
    except LeaseExpiredError as error:
        error_result(error)  # how an adapter hands it to the caller (and counts it)
    assert sample("roundtable_lease_expired_refusals_total") - refused_before == 1


async def test_live_subscribers_and_bus_lag(core: Roundtable) -> None:
    live_before = sample("roundtable_event_subscribers")
    lag_before = sample("roundtable_event_bus_lag_seconds_count")
    async with (
        core.events.subscribe(EventFilter(namespace="default")) as one,
        core.events.subscribe(EventFilter(namespace=None)) as two,
    ):
        assert sample("roundtable_event_subscribers") - live_before == 2
        await core.journal.create_project("default", "a", "lag")
        for sub in (one, two):
            item = await asyncio.wait_for(sub.next(timeout=10), timeout=30)
            assert item is not None
    assert sample("roundtable_event_subscribers") == live_before
    assert sample("roundtable_event_bus_lag_seconds_count") > lag_before
