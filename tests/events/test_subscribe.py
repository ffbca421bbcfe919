"""Live subscriptions: backlog then live without gap or duplicate, bounded queues, resync."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest

from roundtable.config import Settings
from roundtable.errors import InvalidInput
from roundtable.events.filters import EventFilter
from roundtable.events.log import Event
from roundtable.events.models import Dropped, Resync
from roundtable.events.subscription import Subscription
from roundtable.ids import utcnow
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from tests.events.util import all_events, until, write_events


@contextlib.asynccontextmanager
async def small_queue_core(settings: Settings, size: int) -> AsyncIterator[Roundtable]:
    async with Roundtable.open(
        settings.model_copy(update={"event_queue_size": size}), sweeper=False
    ) as core:
        yield core


def has(items: list[Event], count: int) -> Callable[[], bool]:
    return lambda: len(items) >= count


async def collect(sub: Subscription, into: list[Event]) -> None:
    async for item in sub:
        assert isinstance(item, Event), item
        into.append(item)


async def test_backlog_and_live_hand_over_under_concurrent_writers(core: Roundtable) -> None:
    for ns in ("ns-a", "ns-b"):
        for i in range(3):
            await core.sessions.start(ns, f"seed{i}")

    async def writer(ns: str, i: int) -> None:
        agent = f"w{i}"
        session = await core.sessions.start(ns, agent)
        await core.context.set(ns, agent, f"p{i}", create=True, session_id=session.id)
        for n in range(12):
            await core.journal.append(ns, agent, None, [EntryInput(message=f"{n}")])
            if n % 4 == 0:
                await core.sessions.heartbeat(ns, agent, session.id)
            await asyncio.sleep(0)
        await core.sessions.end(ns, agent, session.id)

    specs: list[tuple[EventFilter, int | None]] = [
        (EventFilter(), 0),
        (EventFilter.build(namespace="ns-a", types=["session.*"]), 0),
        (EventFilter.build(types=["journal.*", "context.changed"]), 3),
        (EventFilter.build(namespace="ns-b"), None),
        (EventFilter.build(types=["*.ended", "session.heartbeat"]), None),
    ]
    received: list[list[Event]] = [[] for _ in specs]
    starts: list[int] = []
    async with contextlib.AsyncExitStack() as stack:
        tasks = []
        writers = [asyncio.create_task(writer(ns, i)) for ns in ("ns-a", "ns-b") for i in range(4)]
        for index, (flt, after) in enumerate(specs):
            sub = await stack.enter_async_context(core.events.subscribe(flt, after))
            starts.append(sub.position)
            tasks.append(asyncio.create_task(collect(sub, received[index])))
            for _ in range(5):  # let the writers get ahead between subscriptions
                await asyncio.sleep(0)
        await asyncio.gather(*writers)
        everything = await all_events(core)
        for index, (flt, _after) in enumerate(specs):
            expected = [e.id for e in everything if e.id > starts[index] and flt.matches(e)]
            assert expected, index
            await until(has(received[index], len(expected)), f"subscriber {index}")
            assert [e.id for e in received[index]] == expected, index
        for task in tasks:
            task.cancel()
    assert starts[0] == 0 and starts[3] > 0  # "from now" started past the seed events


async def test_bus_reads_nothing_while_nobody_listens(settings: Settings) -> None:
    """With every subscriber gone the bus stops reading, even the newest id, after commits;
    a subscriber starting "from now" afterwards still gets only what comes after it."""
    async with Roundtable.open(settings, sweeper=False) as core:
        bus = core.events.bus
        async with core.events.subscribe(EventFilter()) as sub:
            ids = await write_events(core, 2)
            assert [getattr(await sub.next(30), "id", None) for _ in ids] == ids
        reads: list[int] = []
        newest_id = bus._newest_id

        async def counted() -> int:
            reads.append(1)
            return await newest_id()

        bus._newest_id = counted  # type: ignore[method-assign]
        before = await write_events(core, 5)
        await asyncio.sleep(0.05)  # each commit has woken the bus meanwhile
        assert reads == [] and bus.position == ids[-1]
        async with core.events.subscribe(EventFilter()) as late:
            assert late.position == before[-1] and reads == [1]
            after = await write_events(core, 1)
            assert getattr(await late.next(30), "id", None) == after[0]


async def test_slow_subscriber_is_dropped_and_resumes_without_loss(settings: Settings) -> None:
    async with small_queue_core(settings, 5) as core:
        flt = EventFilter.build(types=["test.*"])
        async with core.events.subscribe(flt) as sub:
            first = await write_events(core, 3)
            got = [await sub.next(30) for _ in range(3)]
            assert [e.id for e in got if isinstance(e, Event)] == first
            rest = await write_events(core, 20)
            # The bus drops it as its queue overflows (and, with nobody left, stops reading).
            await until(lambda: core.events.bus.subscriber_count == 0, "the bus to drop it")
            notice = await sub.next(30)
            assert notice == Dropped(resume_after=first[-1])
            with pytest.raises(StopAsyncIteration):
                await sub.next(0)
        assert core.events.bus.subscriber_count == 0
        async with core.events.subscribe(flt, after=notice.resume_after) as again:
            resumed = [await again.next(30) for _ in rest]
        assert [e.id for e in resumed if isinstance(e, Event)] == rest


async def test_full_queue_while_reading_backlog_is_not_fatal(settings: Settings) -> None:
    async with small_queue_core(settings, 5) as core:
        backlog = await write_events(core, 40)
        async with core.events.subscribe(EventFilter(), after=0) as sub:
            first = await sub.next(30)
            assert isinstance(first, Event) and first.id == backlog[0]
            live = await write_events(core, 30)
            await until(lambda: core.events.bus.position >= live[-1], "the bus to fan out")
            items = [await sub.next(30) for _ in range(len(backlog) + len(live) - 1)]
            assert await sub.next(0) is None
        assert [first.id] + [e.id for e in items if isinstance(e, Event)] == backlog + live


async def test_from_now_skips_the_past(core: Roundtable) -> None:
    await write_events(core, 3)
    async with core.events.subscribe(EventFilter()) as sub:
        assert await sub.next(0) is None
        new = await write_events(core, 2)
        got = [await sub.next(30), await sub.next(30)]
    assert [e.id for e in got if isinstance(e, Event)] == new


async def test_resume_below_retention_gets_a_resync(core: Roundtable) -> None:
    old = await write_events(core, 10, ts=utcnow() - timedelta(days=30))
    young = await write_events(core, 5)
    assert await core.events.prune() == 10
    assert await core.events.pruned_through() == old[-1]

    async with core.events.subscribe(EventFilter(), after=2) as sub:
        first = await sub.next(30)
        assert first == Resync(requested_after=2, pruned_through=old[-1], resume_after=old[-1])
        got = [await sub.next(30) for _ in young]
        assert [e.id for e in got if isinstance(e, Event)] == young

    page = await core.events.read(EventFilter(), after=0)
    assert page.resync is not None and page.resync.resume_after == old[-1]
    assert [e.id for e in page.events] == young
    waited = await core.events.wait(EventFilter(), after=0, timeout=0)
    assert waited.resync is not None and [e.id for e in waited.events] == young
    # A resync is news in itself: a long-poll returns it at once even with no event to add.
    nothing = EventFilter.build(types=["nothing.*"])
    only = await core.events.wait(nothing, after=0, timeout=3600)
    assert only.resync is not None and only.events == [] and only.next_after >= old[-1]

    at_marker = await core.events.read(EventFilter(), after=old[-1])
    assert at_marker.resync is None and [e.id for e in at_marker.events] == young
    async with core.events.subscribe(EventFilter(), after=old[-1]) as sub:
        assert isinstance(await sub.next(30), Event)


async def test_bad_resume_points_and_limits_are_refused(core: Roundtable) -> None:
    ids = await write_events(core, 2)
    flt = EventFilter()
    for after in (-1, ids[-1] + 1):
        with pytest.raises(InvalidInput):
            await core.events.read(flt, after)
        with pytest.raises(InvalidInput):
            async with core.events.subscribe(flt, after):
                pass
        with pytest.raises(InvalidInput):
            await core.events.wait(flt, after, 0)
    for limit in (0, 1001):
        with pytest.raises(InvalidInput):
            await core.events.read(flt, 0, limit)
        with pytest.raises(InvalidInput):
            await core.events.wait(flt, 0, 0, limit)


async def test_ready_takes_a_live_batch_in_one_call_and_ends_with_dropped(
    settings: Settings,
) -> None:
    async with (
        small_queue_core(settings, 5) as core,
        core.events.subscribe(EventFilter.build(types=["test.*"])) as sub,
    ):
        assert sub.ready(64) == []
        ids = await write_events(core, 4)
        await until(lambda: core.events.bus.position >= ids[-1], "the bus to fan out")
        first = await sub.next(30)
        assert isinstance(first, Event)
        batch = sub.ready(2) + sub.ready(64)
        assert [first.id] + [e.id for e in batch if isinstance(e, Event)] == ids
        assert sub.ready(64) == [] and sub.horizon >= ids[-1]
        await write_events(core, 9)  # overflows the queue of 5: dropped
        await until(lambda: core.events.bus.subscriber_count == 0, "the bus to drop it")
        assert sub.ready(64) == [Dropped(resume_after=ids[-1])]
        with pytest.raises(StopAsyncIteration):
            await sub.next(0)


async def test_bus_paces_fan_out_by_subscriber_count(settings: Settings) -> None:
    window = {"event_fanout_window_seconds": 0.05}
    async with Roundtable.open(settings.model_copy(update=window), sweeper=False) as core:
        bus = core.events.bus
        assert bus.pace() == 0  # nobody listens: no pacing
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(10):
                await stack.enter_async_context(core.events.subscribe(EventFilter()))
            assert 0 < bus.pace() < 0.05  # a few readers: microseconds
            # Paced or not, a burst arrives whole and in order.
            sub = await stack.enter_async_context(core.events.subscribe(EventFilter()))
            ids = await write_events(core, 5)
            got = [await sub.next(30)]
            await until(lambda: bus.position >= ids[-1], "the bus to fan out")
            got += sub.ready(64)
            assert [e.id for e in got if isinstance(e, Event)] == ids
    off = {"event_fanout_window_seconds": 0.0}
    async with (
        Roundtable.open(settings.model_copy(update=off), sweeper=False) as core,
        core.events.subscribe(EventFilter()),
    ):
        assert core.events.bus.pace() == 0


async def test_wait_timeouts_hold_with_one_timer_across_wake_ups(core: Roundtable) -> None:
    """A long wait's timer stays armed across wake-ups; a shorter wait after it still ends on
    time (its own, earlier timer), and a timeout never loses an event."""
    async with core.events.subscribe(EventFilter.build(types=["test.*"])) as sub:
        assert await sub.next(0.01) is None
        waiting = asyncio.create_task(sub.next(30))
        await asyncio.sleep(0)
        ids = await write_events(core, 1)
        got = await waiting
        assert isinstance(got, Event) and got.id == ids[0]
        assert await sub.next(0.01) is None  # the 30 s timer is pending: this one is earlier
        more = await write_events(core, 2)
        items = [await sub.next(30), await sub.next(30)]
        assert [e.id for e in items if isinstance(e, Event)] == more


async def test_a_timer_that_rang_early_is_not_taken_for_a_pending_one(core: Roundtable) -> None:
    """asyncio may run a timer a hair before its time. A wait that followed such a timer took
    it for one still pending (its time not yet reached) and slept until the next event: a
    runner's 1 s long-poll hung for 30 s. A timer that rang is forgotten as it rings."""
    async with core.events.subscribe(EventFilter.build(types=["test.*"])) as sub:
        loop = asyncio.get_running_loop()
        sub._arm(loop, loop.time() + 60)  # a long wait's timer...
        assert sub._alarm is not None
        sub._alarm._run()  # ...rings early (asyncio's clock resolution)
        assert sub._alarm is None
        assert await asyncio.wait_for(sub.next(0.05), 5) is None
        assert await sub.next(0.01) is None and sub._alarm is None  # spent timers are dropped
