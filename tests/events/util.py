"""Helpers for the event tests: read the whole log, write raw rows, wait for the bus."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from roundtable.events.filters import EventFilter
from roundtable.events.log import Event, event_row, record
from roundtable.ids import utcnow
from roundtable.runtime import Roundtable
from roundtable.store import tables


async def all_events(core: Roundtable, flt: EventFilter | None = None) -> list[Event]:
    """Every stored event matching `flt`, oldest first, through the service's paging."""
    found: list[Event] = []
    after = 0
    while True:
        page = await core.events.read(flt or EventFilter(), after, limit=1000)
        found.extend(page.events)
        if len(page.events) < 1000:
            return found
        after = page.next_after


async def write_events(
    core: Roundtable,
    count: int,
    *,
    type_: str = "test.tick",
    namespace: str = "default",
    ts: datetime | None = None,
    **subject: Any,
) -> list[int]:
    """Write `count` events (one transaction each) the way services do; returns their ids."""
    ids = []
    for i in range(count):
        async with core.db.write() as conn:
            await record(conn, event_row(ts or utcnow(), namespace, type_, {"i": i}, **subject))
            ids.append(
                int(
                    await conn.scalar(
                        tables.events.select()
                        .with_only_columns(tables.events.c.id)
                        .order_by(tables.events.c.id.desc())
                        .limit(1)
                    )
                )
            )
    return ids


async def insert_raw(core: Roundtable, rows: list[dict[str, Any]]) -> None:
    async with core.db.write() as conn:
        await conn.execute(insert(tables.events), rows)


async def until(predicate: Any, what: str, tries: int = 3000) -> None:
    """Yield to the loop until `predicate()` holds; fail (not hang) after `tries` short sleeps."""
    for _ in range(tries):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"gave up waiting for {what}")
