"""Retention deletes a prefix of ids older than the window and records it in the marker."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from roundtable.config import Settings
from roundtable.errors import InvalidInput
from roundtable.events import retention
from roundtable.events.filters import EventFilter
from roundtable.ids import utcnow
from roundtable.runtime import Roundtable
from tests.events.util import all_events, write_events


async def test_prune_stops_at_the_first_young_event(core: Roundtable) -> None:
    old = utcnow() - timedelta(days=30)
    a = await write_events(core, 3, ts=old)
    young = await write_events(core, 1)
    b = await write_events(core, 2, ts=old)  # old timestamps behind a young one: kept for now
    assert await core.events.prune() == 3
    assert await core.events.pruned_through() == a[-1]
    assert [e.id for e in await all_events(core)] == young + b
    assert await core.events.prune() == 0  # nothing due: idempotent


async def test_prune_in_batches_advances_the_marker_to_the_last_removed(core: Roundtable) -> None:
    ids = await write_events(core, 7, ts=utcnow() - timedelta(days=30))
    window = core.settings.event_retention_seconds
    assert await retention.prune(core.db, window, utcnow(), batch=2) == 7
    assert await core.events.pruned_through() == ids[-1]
    assert await all_events(core) == []
    # Ids are never reused, and the newest id ever written is still a valid resume point.
    assert await core.events.latest_id() == ids[-1]
    page = await core.events.read(EventFilter(), after=ids[-1])
    assert page.events == [] and page.resync is None and page.next_after == ids[-1]
    new = await write_events(core, 1)
    assert new[0] > ids[-1]
    with pytest.raises(InvalidInput):
        await core.events.read(EventFilter(), after=new[0] + 1)


async def test_the_sweeper_prunes(settings: Settings) -> None:
    fast = settings.model_copy(
        update={"sweep_interval_seconds": 0.05, "event_retention_seconds": 3600.0}
    )
    async with Roundtable.open(fast) as core:
        ids = await write_events(core, 2, ts=utcnow() - timedelta(hours=2))
        for _ in range(3000):
            if await core.events.pruned_through() == ids[-1]:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the sweeper never pruned")
        assert await all_events(core) == []
