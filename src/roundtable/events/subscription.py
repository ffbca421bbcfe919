"""One live reader of the event log: table backlog first, then the bus's queue, with no gap.

Hand-over: the subscription registers with the bus first and notes the bus position P0 (every
event <= P0 has already been fanned out, every later one will be offered to it). It then pages
the table for (after, P0] and afterwards drains its queue, skipping ids it already gave. While
it is still paging, a full queue is not fatal: the queue is emptied and the table read extended
to the newest offered id. Once live, a full queue drops the subscriber: it gets a final
`Dropped` naming the last id it was given, so a reconnect loses nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Protocol

from roundtable.events.filters import EventFilter
from roundtable.events.log import Event
from roundtable.events.models import Dropped, Resync, StreamItem


class BacklogReader(Protocol):
    async def backlog_page(
        self, filter: EventFilter, after: int, until: int
    ) -> tuple[list[Event], int, bool]:
        """Matching events in (after, until], oldest first, a page at most; the new cursor;
        and whether rows at or below the pruned-through marker (> after) may be gone."""
        ...

    def bus_position(self) -> int:
        """The newest id the bus has fanned out."""
        ...


class Subscription:
    """A live, ordered, gap-free stream of the events matching a filter.

    Iterate it (`async for item in sub`) or call `next(timeout)` (None on timeout, so an SSE
    adapter can send heartbeats). Items are `Event`, `Resync` (when the resume point, or the
    backlog being read, was pruned) and `Dropped` (always last: the stream then ends).
    """

    def __init__(
        self, reader: BacklogReader, filter: EventFilter, start: int, until: int, queue_size: int
    ) -> None:
        self.filter = filter
        #: The id of the last event handed out (or the starting point): resume after it.
        self.position = start
        self._reader = reader
        self._max = queue_size
        self._queue: deque[Event] = deque()
        self._signal = asyncio.Event()
        self._buffer: deque[Event] = deque()
        self._pending: deque[Resync] = deque()
        self._cursor = start
        self._backlog_until: int | None = until if until > start else None
        self._dropped = self._closed = self._finished = False
        self._alarm: asyncio.TimerHandle | None = None
        self._alarm_at = 0.0

    # -- producer side: called by the bus, synchronously, in id order -----------------------

    def offer(self, event: Event, root: str | None = None) -> bool:
        """Queue `event` if it matches (`root`: its session's tree root, for `tree` filters);
        False once this subscriber no longer wants events."""
        if self._dropped or self._closed:
            return False
        if not self.filter.matches(event, root):
            return True
        if len(self._queue) >= self._max:
            if self._backlog_until is not None:
                # Still reading the table: read up to here from it instead of from memory.
                self._queue.clear()
                self._backlog_until = event.id
                return True
            self._dropped = True
            self._queue.clear()
            self._signal.set()
            return False
        self._queue.append(event)
        self._signal.set()
        return True

    def close(self) -> None:
        """The bus is stopping: end the stream after what is already queued."""
        self._closed = True
        self._signal.set()

    def release(self) -> None:
        """The reader is gone: cancel its pending wake-up timer."""
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None

    # -- consumer side -------------------------------------------------------------------------

    @property
    def dropped(self) -> bool:
        """It fell behind its bounded queue and was cut off (it is told to resume)."""
        return self._dropped

    @property
    def horizon(self) -> int:
        """An id up to which every matching event has been handed out (>= `position`): a resume
        point that skips events the filter rejected."""
        if self._backlog_until is None and not self._queue and not self._dropped:
            return max(self.position, self._reader.bus_position())
        return self.position

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> StreamItem:
        item = await self.next()
        assert item is not None  # no timeout: waits until there is one
        return item

    async def next(self, timeout: float | None = None) -> StreamItem | None:  # noqa: ASYNC109
        """The next item, or None if none arrived within `timeout` seconds (None: wait).

        Raises StopAsyncIteration once the stream has ended (after `Dropped`, or on shutdown).
        """
        if self._finished:
            raise StopAsyncIteration
        if self._pending:
            return self._pending.popleft()
        while self._backlog_until is not None:
            if self._buffer:
                event = self._buffer.popleft()
                self.position = event.id
                return event
            if self._cursor >= self._backlog_until:
                self._backlog_until = None
                break
            until = self._backlog_until
            page, cursor, pruned = await self._reader.backlog_page(self.filter, self._cursor, until)
            if pruned:
                # The table lost rows we have not read (cursor is the pruned-through marker).
                self._buffer.clear()
                resync = Resync(
                    requested_after=self.position, pruned_through=cursor, resume_after=cursor
                )
                self._cursor = self.position = cursor
                return resync
            self._buffer.extend(page)
            self._cursor = cursor
        return await self._next_live(timeout)

    def ready(self, limit: int) -> list[StreamItem]:
        """Up to `limit` live items available without waiting, in order (possibly ending with
        `Dropped`); [] while the backlog is still being read. A batch for one write, without a
        coroutine per event."""
        if self._finished or self._pending or self._backlog_until is not None:
            return []
        out: list[StreamItem] = []
        queue = self._queue
        while queue and len(out) < limit:
            event = queue.popleft()
            if event.id > self.position:
                self.position = event.id
                out.append(event)
        if self._dropped and not queue and len(out) < limit:
            self._finished = True
            out.append(Dropped(resume_after=self.position))
        return out

    async def _next_live(self, timeout: float | None) -> StreamItem | None:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + max(timeout, 0.0)
        while True:
            while self._queue:
                event = self._queue.popleft()
                if event.id > self.position:
                    self.position = event.id
                    return event
            if self._dropped:
                self._finished = True
                return Dropped(resume_after=self.position)
            if self._closed:
                self._finished = True
                raise StopAsyncIteration
            self._signal.clear()
            if deadline is not None:
                now = loop.time()
                if now >= deadline:
                    return None
                self._arm(loop, deadline)
            await self._signal.wait()

    def _arm(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Make sure the signal is set by `deadline`. One timer serves many waits: a reader
        woken by events every few milliseconds would otherwise create and cancel a timer per
        wake-up (an SSE stream waits with its heartbeat as timeout). A timer that fires early
        only causes a spurious wake-up, after which the next wait arms a new one. A timer that
        has fired is forgotten as it fires (`_ring`): asyncio may run it a hair before its time,
        so comparing clocks could take a spent timer for a pending one and wait forever."""
        if self._alarm is not None and self._alarm_at <= deadline:
            return
        if self._alarm is not None:
            self._alarm.cancel()
        self._alarm_at = deadline
        self._alarm = loop.call_at(deadline, self._ring)

    def _ring(self) -> None:
        self._alarm = None
        self._signal.set()
