"""The event service: read, subscribe (live, gap-free), long-poll and prune the event log.

Adapters (SSE, `GET /api/v1/events`, MCP `wait_for_events`, CLI) call only this module; it
re-exports what they need. One instance per core (`core.events`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import func, select

from roundtable.config import Settings
from roundtable.errors import InvalidInput
from roundtable.events import retention
from roundtable.events.bus import PAGE, EventBus
from roundtable.events.filters import EventFilter
from roundtable.events.log import Event
from roundtable.events.models import Dropped, EventPage, Resync, StreamItem
from roundtable.events.subscription import Subscription
from roundtable.ids import utcnow
from roundtable.store import tables
from roundtable.store.engine import Database

__all__ = [
    "Dropped",
    "Event",
    "EventFilter",
    "EventPage",
    "EventService",
    "Resync",
    "StreamItem",
    "Subscription",
]

E = tables.events


class EventService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.bus = EventBus(db, settings)

    async def read(self, filter: EventFilter, after: int = 0, limit: int = 100) -> EventPage:
        """Matching events with id > `after`, oldest first, at most `limit` (1..PAGE).

        If `after` is below the pruned-through marker the page starts above it and carries a
        `Resync`. `next_after` is where to continue; past the last event when the page was not
        full, so later calls do not rescan events the filter rejected.
        """
        if not 1 <= limit <= PAGE:
            raise InvalidInput(f"limit must be 1-{PAGE}", field="limit")
        self._check_after(after)
        while True:
            async with self.db.read() as conn:
                # Each statement may see a newer snapshot (PostgreSQL READ COMMITTED): bound the
                # page by the newest id read first, and check the marker again afterwards.
                marker = await retention.pruned_through(conn)
                newest = int(await conn.scalar(select(func.max(E.c.id))) or 0)
                newest = max(newest, marker)
                if after > newest:
                    raise InvalidInput(
                        f"after={after} is beyond the newest event id {newest}", field="after"
                    )
                start = max(after, marker)
                rows = (
                    await conn.execute(
                        select(E)
                        .where(filter.where(self.db.backend), E.c.id > start, E.c.id <= newest)
                        .order_by(E.c.id)
                        .limit(limit)
                    )
                ).mappings()
                events = [Event.model_validate(dict(row)) for row in rows]
                if await retention.pruned_through(conn) > start:
                    continue  # pruned while we read: the page may have a hole, read again
            resync = (
                Resync(requested_after=after, pruned_through=marker, resume_after=marker)
                if after < marker
                else None
            )
            next_after = events[-1].id if len(events) == limit else newest
            return EventPage(events=events, next_after=max(next_after, start), resync=resync)

    @asynccontextmanager
    async def subscribe(
        self, filter: EventFilter, after: int | None = None
    ) -> AsyncIterator[Subscription]:
        """A live subscription starting after `after` (None = from now: only new events).

        Backlog from the table, then live events, in id order, each once. If `after` is below
        the pruned-through marker the first item is a `Resync`. The queue holds
        `event_queue_size` events; a subscriber that overflows it gets `Dropped(resume_after=
        <last id it was given>)` and the stream ends.
        """
        if after is not None:
            self._check_after(after)
            if after > await self.latest_id():
                raise InvalidInput(f"after={after} is beyond the newest event id", field="after")
        await self.bus.start()
        await self.bus.up_to_date()
        # No await from here to `register`: the bus has fanned out every id <= `since` and will
        # offer this subscriber every later one; the table supplies (after, since].
        since = self.bus.position
        sub = Subscription(
            self, filter, since if after is None else after, since, self.settings.event_queue_size
        )
        self.bus.register(sub)
        try:
            yield sub
        finally:
            self.bus.unregister(sub)
            sub.release()

    async def wait(
        self,
        filter: EventFilter,
        after: int,
        timeout: float,  # noqa: ASYNC109 - a long-poll's bound is part of the request
        limit: int = 100,
    ) -> EventPage:
        """Long-poll: matching events after `after` at once if there are any, else wait up to
        `timeout` seconds (capped at `max_wait_seconds`) for the first, then return what has
        arrived (up to `limit`); an empty page on timeout."""
        if not 1 <= limit <= PAGE:
            raise InvalidInput(f"limit must be 1-{PAGE}", field="limit")
        timeout = min(max(timeout, 0.0), self.settings.max_wait_seconds)
        # What has committed is returned at once, even before this process's bus has fetched
        # it (the bus is woken after commit, by a hook, a poll or NOTIFY): read the table first.
        page = await self.read(filter, after, limit)
        if page.events or page.resync is not None or timeout == 0:
            return page
        events: list[Event] = []
        resync: Resync | None = None
        async with self.subscribe(filter, page.next_after) as sub:
            wait_for: float | None = timeout
            while len(events) < limit:
                try:
                    item = await sub.next(wait_for)
                except StopAsyncIteration:
                    break
                if item is None or isinstance(item, Dropped):
                    break
                wait_for = 0  # got something: take what is already there, then return
                if isinstance(item, Resync):
                    resync = resync or item
                    continue
                events.append(item)
            next_after = sub.horizon if len(events) < limit else sub.position
        return EventPage(events=events, next_after=next_after, resync=resync)

    async def latest_id(self) -> int:
        """The newest event id ever committed (0 if none), even if retention removed it."""
        async with self.db.read() as conn:
            newest = int(await conn.scalar(select(func.max(E.c.id))) or 0)
            return max(newest, await retention.pruned_through(conn))

    async def pruned_through(self) -> int:
        """The newest event id removed by retention (0 if none)."""
        async with self.db.read() as conn:
            return await retention.pruned_through(conn)

    async def prune(self, now: datetime | None = None) -> int:
        """Delete events older than `event_retention_seconds`; returns how many."""
        return await retention.prune(
            self.db, self.settings.event_retention_seconds, now or utcnow()
        )

    async def close(self) -> None:
        """Stop the bus (fetcher, wake-ups) and end live subscriptions."""
        await self.bus.close()

    # -- for Subscription (BacklogReader) ------------------------------------------------------

    def bus_position(self) -> int:
        return self.bus.position

    async def backlog_page(
        self, filter: EventFilter, after: int, until: int
    ) -> tuple[list[Event], int, bool]:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(E)
                    .where(filter.where(self.db.backend), E.c.id > after, E.c.id <= until)
                    .order_by(E.c.id)
                    .limit(PAGE)
                )
            ).mappings()
            events = [Event.model_validate(dict(row)) for row in rows]
            marker = await retention.pruned_through(conn)
        if marker > after:
            return [], marker, True
        return events, events[-1].id if len(events) == PAGE else until, False

    def _check_after(self, after: int) -> None:
        if after < 0:
            raise InvalidInput("after must be >= 0", field="after")
