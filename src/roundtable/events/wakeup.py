"""How a process learns that another one wrote events: cheap signals, never the events themselves.

The events table stays the only source of truth; these only wake the bus's fetcher, which then
reads `id > position`. PostgreSQL: a dedicated connection LISTENs for the ids that `events.record`
NOTIFYs at commit. SQLite: a dedicated connection polls `PRAGMA data_version`, which changes
when any other connection (in this process or another) commits to the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from roundtable.events.log import NOTIFY_CHANNEL

log = logging.getLogger("roundtable.events")

#: Reconnect delays for a lost LISTEN connection: doubling from the first up to the last.
_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 5.0


def asyncpg_dsn(url: str) -> str:
    """A libpq-style DSN for asyncpg from our SQLAlchemy URL (`postgresql+asyncpg://...`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgListener:
    """LISTEN on `NOTIFY_CHANNEL`, reconnecting with backoff when the connection dies.

    `on_id(newest)` is called per notification; `on_connect()` after every (re)connect, because
    notifications sent while we were not listening are lost and the table must be re-read.
    Every `check_seconds` the connection is pinged, so a silently dead one is noticed too.
    """

    def __init__(
        self,
        url: str,
        on_id: Callable[[int], None],
        on_connect: Callable[[], None],
        check_seconds: float,
    ) -> None:
        self.dsn = asyncpg_dsn(url)
        self.on_id = on_id
        self.on_connect = on_connect
        self.check_seconds = check_seconds
        #: Connections made so far (tests observe reconnects through it).
        self.connects = 0
        self.connection: asyncpg.Connection | None = None

    def _notified(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            newest = int(payload)
        except ValueError:
            log.warning("ignoring a malformed %s notification %r", NOTIFY_CHANNEL, payload)
            return
        self.on_id(newest)

    async def run(self) -> None:
        backoff = _BACKOFF_FIRST
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                log.warning("event listener cannot connect (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            try:
                await self._listen(conn)
                backoff = _BACKOFF_FIRST
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("event listener connection lost (%s); reconnecting", exc)
            except Exception:
                # Never let the listener die: other instances' events would stop arriving.
                log.exception("event listener failed; reconnecting")
            finally:
                self.connection = None
                with contextlib.suppress(Exception):
                    conn.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    async def _listen(self, conn: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        await conn.add_listener(NOTIFY_CHANNEL, self._notified)
        self.connection = conn
        self.connects += 1
        self.on_connect()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_seconds):
                    await lost.wait()
            if lost.is_set() or conn.is_closed():
                raise asyncpg.InterfaceError("the LISTEN connection was closed")
            await conn.fetchval("SELECT 1", timeout=self.check_seconds)


class DataVersionPoller:
    """Poll `PRAGMA data_version` on a dedicated connection; call `on_change()` when it moves.

    One tiny query per `interval` on a thread: it reads the WAL index header, no table pages.
    """

    def __init__(self, path: str, interval: float, on_change: Callable[[], None]) -> None:
        self.path = path
        self.interval = interval
        self.on_change = on_change

    async def run(self) -> None:
        # One thread owns the connection: closing it is queued behind a poll still running.
        executor = ThreadPoolExecutor(1, thread_name_prefix="roundtable-data-version")
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(executor, self._connect)
        try:
            last = await loop.run_in_executor(executor, _data_version, conn)
            while True:
                await asyncio.sleep(self.interval)
                try:
                    version = await loop.run_in_executor(executor, _data_version, conn)
                except sqlite3.Error as exc:
                    log.warning("data_version poll failed (%s); waking the bus anyway", exc)
                    self.on_change()
                    continue
                if version != last:
                    last = version
                    self.on_change()
        finally:
            executor.submit(conn.close)
            executor.shutdown(wait=False)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(
            self.path, timeout=5.0, check_same_thread=False, isolation_level=None
        )


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])
