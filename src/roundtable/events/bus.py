"""The per-process event bus: one fetcher reads new rows in id order and fans them out.

Subscribers never query for live events themselves: however many there are, the process reads
each new event once. The fetcher sleeps until woken: by a local commit (`Database.on_commit`),
by another process (PostgreSQL NOTIFY, SQLite `data_version` poll; events/wakeup.py) or by a
safety timer every `event_fallback_poll_seconds`. It starts on the first subscription, so a
process that never waits for events (e.g. most `roundtable mcp` agents) pays nothing, and while
every subscriber has gone it reads nothing either (the next one to come first reads the newest id).

Fan-out cost is per reader wake-up, not per event: waking 1,000 SSE readers for every one of
100 commits a second would cost ~100,000 task switches and socket writes a second. So under a
steady stream the bus paces itself: once the readers woken by a fan-out have written, the next
fan-out waits until min(`event_fanout_window_seconds`, PACE_PER_SUBSCRIBER x subscribers) has
passed, and what arrived meanwhile reaches each reader as one batch (one write). Counting from
the end of the readers' work leaves the process time for the writes themselves when it is
short of CPU. A quiet bus fans out at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import make_url

from roundtable import metrics
from roundtable.config import Settings
from roundtable.events.log import Event
from roundtable.events.subscription import Subscription
from roundtable.events.wakeup import DataVersionPoller, PgListener
from roundtable.ids import utcnow
from roundtable.store import tables
from roundtable.store.engine import Conn, Database

log = logging.getLogger("roundtable.events")

#: Rows per fetch; a burst larger than this is read in several pages.
PAGE = 1000
#: Pacing per live subscriber (see the module docstring): 1,000 subscribers -> 30 ms.
PACE_PER_SUBSCRIBER = 30e-6
#: Session roots remembered for `tree` filters (the cache is emptied when it would grow past).
ROOT_CACHE_SIZE = 100_000


_NEW_EVENTS = (
    select(tables.events)
    .where(tables.events.c.id > bindparam("b_after"))
    .order_by(tables.events.c.id)
    .limit(PAGE)
)


class EventBus:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        #: The newest event id fanned out to subscribers.
        self.position = 0
        self.listener: PgListener | None = None
        self._by_namespace: dict[str, set[Subscription]] = {}
        self._any_namespace: set[Subscription] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._start_lock = asyncio.Lock()
        self._started = False
        self._remove_hook: Callable[[], None] | None = None
        #: Subscribers confined to a session tree: only then are event sessions resolved.
        self._tree_subscribers = 0
        #: Session id -> its tree's root id (a session's root never changes), bounded.
        self._roots: dict[str, str] = {}
        #: Loop time of the last fan-out (for pacing).
        self._last_fanout = float("-inf")
        #: Events may have been committed past `position` while nobody listened (`up_to_date`).
        self._behind = False

    @property
    def subscriber_count(self) -> int:
        return len(self._any_namespace) + sum(len(s) for s in self._by_namespace.values())

    async def start(self) -> None:
        """Start the fetcher and the wake-up sources (idempotent)."""
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            self.position = await self._newest_id()
            self._remove_hook = self.db.on_commit(self.wake)
            self._spawn(self._fetch_forever())
            self._spawn(self._wake_every(self.settings.event_fallback_poll_seconds))
            if self.db.backend == "postgresql":
                self.listener = PgListener(
                    self.db.url,
                    self._notified,
                    self.wake,
                    self.settings.event_fallback_poll_seconds,
                )
                self._spawn(self.listener.run())
            else:
                path = make_url(self.db.url).database
                if path and path != ":memory:":
                    poller = DataVersionPoller(path, self.settings.event_poll_seconds, self.wake)
                    self._spawn(poller.run())
            self._started = True

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coroutine))

    async def close(self) -> None:
        """Stop every task and end every subscription."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._remove_hook is not None:
            self._remove_hook()
            self._remove_hook = None
        for sub in [*self._any_namespace, *(s for v in self._by_namespace.values() for s in v)]:
            sub.close()
        self._started = False

    async def up_to_date(self) -> None:
        """Bring the position up to the newest event if the bus skipped reading while nobody
        listened. A subscriber starting "from now" calls this (with no await between it and
        `register`), so it is not offered events committed before it came."""
        if self._behind:
            self._behind = False
            self.position = max(self.position, await self._newest_id())

    def register(self, sub: Subscription) -> int:
        """Add a subscriber; returns the position after which it will be offered every event."""
        group = (
            self._any_namespace
            if sub.filter.namespace is None
            else self._by_namespace.setdefault(sub.filter.namespace, set())
        )
        if sub not in group:
            group.add(sub)
            if sub.filter.tree is not None:
                self._tree_subscribers += 1
            metrics.EVENT_SUBSCRIBERS.inc()
        return self.position

    def unregister(self, sub: Subscription) -> None:
        if sub.filter.namespace is None:
            group = self._any_namespace
        else:
            group = self._by_namespace.get(sub.filter.namespace, set())
        if sub in group:
            group.discard(sub)
            if sub.filter.tree is not None:
                self._tree_subscribers -= 1
            metrics.EVENT_SUBSCRIBERS.dec()
        if not group and sub.filter.namespace in self._by_namespace:
            del self._by_namespace[sub.filter.namespace]

    def wake(self) -> None:
        self._wake.set()

    def _notified(self, newest: int) -> None:
        if newest > self.position:
            self.wake()

    async def _wake_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.wake()

    def pace(self) -> float:
        """The least time between two fan-outs now (0: fan out every wake at once)."""
        return min(
            self.settings.event_fanout_window_seconds,
            PACE_PER_SUBSCRIBER * self.subscriber_count,
        )

    async def _fetch_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            wait = self._last_fanout + self.pace() - loop.time()
            if wait > 0:
                # Let the commits of the next few milliseconds join this fan-out.
                await asyncio.sleep(wait)
            self._wake.clear()
            try:
                fanned_out = await self._catch_up()
                if fanned_out:
                    # The readers woken are scheduled ahead of us: after one turn of the loop
                    # they have taken their batch and written it.
                    await asyncio.sleep(0)
                    self._last_fanout = loop.time()
            except Exception:
                # Logged, not swallowed: subscribers keep their place and the next wake (at
                # the latest the fallback timer) reads again from the same position.
                log.exception("reading new events failed; retrying")
                await asyncio.sleep(self.settings.event_poll_seconds)
                self.wake()

    async def _catch_up(self) -> bool:
        """Read and fan out everything new; whether anything was fanned out."""
        fanned_out = False
        while True:
            if not self.subscriber_count:
                # Nobody listens: read nothing (not even the newest id: that was a read after
                # every commit); the first subscriber to come brings the position up to date.
                self._behind = True
                return fanned_out
            async with self.db.read() as conn:
                rows = (await conn.execute(_NEW_EVENTS, {"b_after": self.position})).mappings()
                batch = [Event.model_validate(dict(row)) for row in rows]
                if self._tree_subscribers:
                    await self._resolve_roots(conn, batch)
            if not batch or batch[-1].id <= self.position:
                return fanned_out
            self._dispatch(batch)
            fanned_out = True
            if len(batch) < PAGE:
                return fanned_out

    async def _resolve_roots(self, conn: Conn, batch: list[Event]) -> None:
        """Learn the tree root of every session the batch names (for `tree` filters)."""
        unknown = {e.session_id for e in batch if e.session_id and e.session_id not in self._roots}
        if not unknown:
            return
        if len(self._roots) + len(unknown) > ROOT_CACHE_SIZE:
            self._roots.clear()
        s = tables.sessions.c
        rows = await conn.execute(select(s.id, s.root_id).where(s.id.in_(sorted(unknown))))
        self._roots.update({row.id: row.root_id for row in rows})

    def _dispatch(self, batch: list[Event]) -> None:
        """Fan out in id order and advance the position, without yielding to the loop."""
        now = utcnow()
        for event in batch:
            if event.id <= self.position:
                continue
            metrics.EVENT_BUS_LAG_SECONDS.observe(max(0.0, (now - event.ts).total_seconds()))
            gone: list[Subscription] = []
            group = self._by_namespace.get(event.namespace, ())
            root = self._roots.get(event.session_id) if event.session_id is not None else None
            for sub in (*group, *self._any_namespace):
                if not sub.offer(event, root):
                    gone.append(sub)
            for sub in gone:
                if sub.dropped:
                    metrics.EVENT_SUBSCRIBERS_DROPPED.inc()
                self.unregister(sub)
            self.position = event.id

    async def _newest_id(self) -> int:
        async with self.db.read() as conn:
            return int(await conn.scalar(select(func.max(tables.events.c.id))) or 0)
