"""Long-polling (`EventService.wait`) and wake-ups from other processes.

The cross-process tests set the fallback re-read to an hour, so an event that arrives can only
have been signalled by the real mechanism: PostgreSQL NOTIFY, or SQLite's `data_version` poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import text

from roundtable.config import Settings
from roundtable.events.filters import EventFilter
from roundtable.runtime import Roundtable
from tests.events.util import until, write_events
from tests.live import env_for

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = EventFilter.build(types=["session.started"])


@contextlib.asynccontextmanager
async def no_fallback_core(settings: Settings) -> AsyncIterator[Roundtable]:
    quiet = settings.model_copy(update={"event_fallback_poll_seconds": 3600.0})
    async with Roundtable.open(quiet, sweeper=False) as core:
        yield core


async def write_from_another_process(settings: Settings, agent: str, count: int = 1) -> list[str]:
    """Start sessions through a second core in a separate Python process; their ids."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.events.writer",
        agent,
        str(count),
        cwd=ROOT,
        env=env_for(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    return out.decode().split()


async def test_wait_returns_at_once_when_events_exist(core: Roundtable) -> None:
    ids = await write_events(core, 3, type_="session.started")
    page = await core.events.wait(SESSIONS, 0, timeout=3600)
    assert [e.id for e in page.events] == ids and page.next_after == ids[-1]
    limited = await core.events.wait(SESSIONS, 0, timeout=3600, limit=2)
    assert [e.id for e in limited.events] == ids[:2] and limited.next_after == ids[1]


async def test_wait_returns_what_committed_before_the_bus_heard_of_it(settings: Settings) -> None:
    """An agent that writes through one instance and at once asks another (timeout 0) sees its
    event, though the asking instance's bus has not been woken yet (here: never, on SQLite)."""
    deaf = settings.model_copy(
        update={"event_fallback_poll_seconds": 3600.0, "event_poll_seconds": 3600.0}
    )
    async with (
        Roundtable.open(deaf, sweeper=False) as asked,
        Roundtable.open(deaf, sweeper=False) as written,
    ):
        await asked.events.bus.start()
        start = asked.events.bus.position
        session = await written.sessions.start("default", "alice")
        for timeout in (0.0, 5.0):
            page = await asked.events.wait(SESSIONS, start, timeout=timeout)
            assert [e.session_id for e in page.events] == [session.id]


async def test_wait_times_out_empty_and_skips_what_the_filter_rejects(core: Roundtable) -> None:
    others = await write_events(core, 4, type_="test.other")
    page = await core.events.wait(SESSIONS, 0, timeout=0.05)
    assert page.events == [] and page.resync is None
    assert page.next_after == others[-1]  # no need to rescan the rejected events


async def test_wait_wakes_on_a_local_write(core: Roundtable) -> None:
    waiting = asyncio.create_task(core.events.wait(SESSIONS, 0, timeout=60))
    await until(lambda: core.events.bus.subscriber_count == 1, "the waiter to subscribe")
    session = await core.sessions.start("default", "alice")
    page = await waiting
    assert [e.session_id for e in page.events] == [session.id]


async def test_wait_wakes_on_a_write_from_another_process(settings: Settings) -> None:
    async with no_fallback_core(settings) as core:
        waiting = asyncio.create_task(core.events.wait(SESSIONS, 0, timeout=60))
        await until(lambda: core.events.bus.subscriber_count == 1, "the waiter to subscribe")
        [session_id] = await write_from_another_process(settings, "elsewhere")
        page = await waiting
        assert [e.session_id for e in page.events] == [session_id]
        assert page.events[0].agent == "elsewhere"


async def test_subscriber_follows_another_process_across_a_lost_listen_connection(
    settings: Settings, backend: str
) -> None:
    async with no_fallback_core(settings) as core, core.events.subscribe(SESSIONS) as sub:
        first = await write_from_another_process(settings, "before", 2)
        got = [await sub.next(60), await sub.next(60)]
        assert [getattr(e, "session_id", None) for e in got] == first
        listener = core.events.bus.listener
        if backend == "postgresql":
            assert listener is not None and listener.connects == 1
            async with core.db.read() as conn:
                await conn.execute(
                    text("SELECT pg_terminate_backend(:pid)"),
                    {"pid": listener.connection.get_server_pid()},
                )
            await until(lambda: listener.connects == 2, "the listener to reconnect", 6000)
        second = await write_from_another_process(settings, "after", 2)
        got = [await sub.next(60), await sub.next(60)]
        assert [getattr(e, "session_id", None) for e in got] == second
