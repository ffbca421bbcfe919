"""SQLite's single writer: one connection, statements inline, only BEGIN and COMMIT off-loop.

Through aiosqlite every statement costs several hand-offs to the driver's thread, which made a
small write transaction ~4 ms of mostly waiting. This writer follows datasette's model instead:
one connection owned by the process, transactions serialised by an asyncio lock. `BEGIN
IMMEDIATE` (which may wait for another process's write lock, up to the busy timeout) and
`COMMIT`/`ROLLBACK` (which fsync) run on a dedicated thread; the statements in between run
inline on the event loop, because inside an IMMEDIATE transaction in WAL mode they never wait
for a lock: they touch pages already in the cache or the WAL, in microseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, Executable, create_engine
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.pool import StaticPool

P = ParamSpec("P")
T = TypeVar("T")


class InlineConnection:
    """The slice of `Conn`'s API the services use, over a sync connection."""

    def __init__(self, sync: Connection) -> None:
        self.sync = sync

    @property
    def dialect(self) -> Dialect:
        return self.sync.dialect

    async def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        return self.sync.execute(statement, parameters)

    async def scalar(self, statement: Executable, parameters: Any = None) -> Any:
        return self.sync.scalar(statement, parameters)

    async def run_sync(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        return fn(self.sync, *args, **kwargs)


class SQLiteWriter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="roundtable-sqlite-writer")
        self._lock = asyncio.Lock()
        self._conn: Connection | None = None

    @classmethod
    def for_url(cls, async_url: str, configure: Callable[[Engine], None]) -> SQLiteWriter:
        url = make_url(async_url).set(drivername="sqlite")
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        configure(engine)
        return cls(engine)

    async def _off_loop(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[InlineConnection]:
        """A write transaction: committed on success, rolled back on any exception."""
        async with self._lock:
            if self._conn is None:
                self._conn = await self._off_loop(self.engine.connect)
            conn = self._conn
            transaction = await self._off_loop(conn.begin)
            try:
                yield InlineConnection(conn)
            except BaseException:
                # Shielded: a cancelled caller must still leave the connection out of its txn.
                await asyncio.shield(self._off_loop(transaction.rollback))
                raise
            await asyncio.shield(self._off_loop(transaction.commit))

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._off_loop(self._conn.close)
                self._conn = None
        await self._off_loop(self.engine.dispose)
        self._executor.shutdown(wait=True)
