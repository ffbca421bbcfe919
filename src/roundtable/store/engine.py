"""Database access: one writer and a pool of readers, the same API on SQLite and PostgreSQL.

On SQLite (the default) every write transaction starts with `BEGIN IMMEDIATE` on a single writer
connection, so writers queue in-process on the pool and across processes on SQLite's own lock
(with a busy timeout) instead of failing half-way with `SQLITE_BUSY`. The database runs in WAL
mode so readers never block the writer. On PostgreSQL both roles share one pool, and the rows
that must be serialised (a project's chain head, an agent's context) are locked explicitly.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

Backend = Literal["sqlite", "postgresql"]


class Database:
    """The store's connection handles; open with `Database.connect`, close with `close`."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, synchronous: str = "FULL"):
        parsed = make_url(url)
        self.url = url
        self.backend: Backend = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql"
        if self.backend == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.writer = _sqlite_engine(url, "BEGIN IMMEDIATE", busy_timeout_ms, synchronous, 1)
            self.reader = _sqlite_engine(url, "BEGIN", busy_timeout_ms, synchronous, 4)
        else:
            engine = create_async_engine(
                url,
                pool_size=10,
                max_overflow=20,
                pool_pre_ping=True,
                json_deserializer=_jsonb_loads,
            )
            self.writer = self.reader = engine

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: commits on success, rolls back on any exception (never swallowed)."""
        async with self.writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction with one consistent snapshot."""
        async with self.reader.begin() as conn:
            yield conn

    async def close(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


#: Integers beyond this never pass `check_meta` (RFC 8785 refuses them as JSON numbers).
_MAX_SAFE_INT = 2**53 - 1


def _jsonb_loads(text: str) -> Any:
    """Parse JSON read back from a PostgreSQL `jsonb` column, keeping floats floats.

    `jsonb` keeps a number's decimal value but not its spelling: the float `1e20` comes back as
    `100000000000000000000`, which `json.loads` would make an int that no longer canonicalises
    (RFC 8785), so the hash chain could not be verified. Such a numeral was written as a float.
    """
    return json.loads(text, parse_int=_parse_int)


def _parse_int(numeral: str) -> int | float:
    value = int(numeral)
    return value if -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT else float(numeral)


def _sqlite_engine(
    url: str, begin: str, busy_timeout_ms: int, synchronous: str, pool_size: int
) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=600,
        # Every transaction ends in an explicit COMMIT or ROLLBACK (`begin()`), so the pool's
        # extra rollback on check-in would only cost a round trip to the driver thread.
        pool_reset_on_return=None,
        connect_args={"timeout": busy_timeout_ms / 1000},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (the driver would start a deferred one lazily).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA synchronous = {synchronous}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(begin)

    return engine
