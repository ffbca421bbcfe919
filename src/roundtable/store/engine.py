"""Database access: one writer and a pool of readers, the same API on SQLite and PostgreSQL.

On SQLite (the default) every write transaction starts with `BEGIN IMMEDIATE` on a single writer
connection (`store.sqlite_writer`), so writers queue in-process on a lock and across processes
on SQLite's own lock (with a busy timeout) instead of failing half-way with `SQLITE_BUSY`. The
database runs in WAL mode so readers (a small aiosqlite pool) never block the writer. On
PostgreSQL both roles share one pool, and the rows that must be serialised (a project's chain
head, an agent's context) are locked explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine, Executable, Row, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from roundtable import metrics
from roundtable.store import direct
from roundtable.store.sqlite_writer import InlineConnection, SQLiteWriter

Backend = Literal["sqlite", "postgresql"]

#: A connection inside a transaction, as services see it (both share the API they use).
Conn = AsyncConnection | InlineConnection
T = TypeVar("T")

#: Callbacks of the write transaction in progress, run once it has committed (`after_commit`).
_after_commit: contextvars.ContextVar[list[Callable[[], None]] | None] = contextvars.ContextVar(
    "roundtable_after_commit", default=None
)


def after_commit(hook: Callable[[], None]) -> None:
    """Call `hook` (cheap, synchronous) once the write transaction in progress has committed;
    never if it rolls back. Counters of committed transitions use it, so a transaction that
    fails counts nothing. Outside a write transaction the hook runs at once."""
    pending = _after_commit.get()
    if pending is None:
        hook()
    else:
        pending.append(hook)


async def write_rows(
    conn: Conn, statement: Executable, rows: Mapping[str, Any] | Sequence[Mapping[str, Any]]
) -> None:
    """Execute an INSERT or UPDATE (no RETURNING) for one row or several, when nobody reads
    its result: on the SQLite writer straight on its cursor (`direct`), else as usual."""
    if isinstance(conn, InlineConnection):
        direct.write_rows(conn.sync, statement, rows)
    else:
        await conn.execute(statement, rows)


async def first_row(
    conn: Conn, statement: Executable, params: Mapping[str, Any]
) -> Row[Any] | None:
    """The first row of the SELECT `statement`, or None (on the SQLite writer: `direct`)."""
    if isinstance(conn, InlineConnection):
        return direct.first_row(conn.sync, statement, params)
    return (await conn.execute(statement, params)).first()


async def row_exists(conn: Conn, statement: Executable, params: Mapping[str, Any]) -> bool:
    """Whether the SELECT `statement` finds a row (on the SQLite writer: `direct`)."""
    if isinstance(conn, InlineConnection):
        return direct.row_exists(conn.sync, statement, params)
    return (await conn.execute(statement, params)).first() is not None


class Database:
    """The store's connection handles; open with `Database.connect`, close with `close`."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 30_000, synchronous: str = "FULL"):
        parsed = make_url(url)
        self.url = url
        self.backend: Backend = "sqlite" if parsed.get_backend_name() == "sqlite" else "postgresql"
        if self.backend == "sqlite":
            database = parsed.database or ""
            if database and database != ":memory:":
                _private_sqlite_file(Path(database))
            self.sqlite_writer: SQLiteWriter | None = SQLiteWriter.for_url(
                url,
                lambda engine: _configure_sqlite(engine, None, busy_timeout_ms, synchronous),
                busy_timeout_ms=busy_timeout_ms,
            )
            self.reader = create_async_engine(
                url,
                pool_size=4,
                max_overflow=0,
                pool_timeout=600,
                # Every transaction ends in an explicit COMMIT or ROLLBACK (`begin()`), so the
                # pool's extra rollback on check-in would only cost a trip to the driver thread.
                pool_reset_on_return=None,
            )
            _configure_sqlite(self.reader.sync_engine, "BEGIN", busy_timeout_ms, synchronous)
        else:
            engine = create_async_engine(
                url,
                pool_size=10,
                max_overflow=20,
                pool_pre_ping=True,
                json_deserializer=_jsonb_loads,
            )
            self.sqlite_writer = None
            self.reader = engine
        self._commit_hooks: list[Callable[[], None]] = []

    def on_commit(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Call `hook` (cheap, synchronous) after every committed write transaction; returns a
        function that removes it. The event bus uses it to wake at once on local writes."""
        self._commit_hooks.append(hook)
        return lambda: self._commit_hooks.remove(hook)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[Conn]:
        """A write transaction: commits on success, rolls back on any exception (never swallowed).

        Times the wait for the write lock and the transaction itself (`roundtable.metrics`).
        """
        asked = time.perf_counter()
        begun = asked
        pending: list[Callable[[], None]] = []
        token = _after_commit.set(pending)
        try:
            if self.sqlite_writer is not None:
                async with self.sqlite_writer.transaction() as inline:
                    begun = time.perf_counter()
                    yield inline
            else:
                async with self.reader.begin() as conn:
                    begun = time.perf_counter()
                    yield conn
        finally:
            if begun is not asked:
                wait = metrics.labelled(metrics.DB_WRITE_LOCK_WAIT_SECONDS, self.backend)
                wait.observe(begun - asked)
                held = metrics.labelled(metrics.DB_TRANSACTION_SECONDS, self.backend)
                held.observe(time.perf_counter() - begun)
            _after_commit.reset(token)
        for hook in self._commit_hooks:
            hook()
        for hook in pending:
            hook()

    async def retrying(self, work: Callable[[Conn], Awaitable[T]], attempts: int = 5) -> T:
        """Run `work` in a write transaction, again in a fresh one when PostgreSQL aborted it as
        a deadlock victim or a serialization failure: such an abort changed nothing, so it is
        retried here rather than surfacing as a 500. `work` must not keep state across calls."""
        for attempt in range(1, attempts + 1):
            try:
                async with self.write() as conn:
                    return await work(conn)
            except DBAPIError as error:
                if attempt == attempts or not transient(error):
                    raise
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    async def optimize(self, *, opening: bool = False) -> None:
        """Let SQLite's query planner statistics catch up with the data (`PRAGMA optimize`):
        with `opening`, checking every table (SQLite's advice for a long-lived connection when
        it opens), otherwise the tables this connection used, as SQLite advises every few
        hours. `analysis_limit` keeps any ANALYZE it runs short, since writers wait for it.
        PostgreSQL's autovacuum analyses by itself: nothing to do there."""
        if self.sqlite_writer is None:
            return
        mask = "=0x10002" if opening else ""

        def run(conn: Any) -> None:
            raw = conn.connection.dbapi_connection
            raw.execute(f"PRAGMA analysis_limit = {ANALYSIS_LIMIT}")
            raw.execute(f"PRAGMA optimize{mask}")

        await self.sqlite_writer.exclusive(run)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction with one consistent snapshot."""
        async with self.reader.begin() as conn:
            yield conn

    async def close(self) -> None:
        if self.sqlite_writer is not None:
            await self.sqlite_writer.close()
        await self.reader.dispose()


#: Rows `PRAGMA optimize`'s ANALYZE samples per index (SQLite suggests 100-1000).
ANALYSIS_LIMIT = 400

#: Integers beyond this never pass `check_meta` (RFC 8785 refuses them as JSON numbers).
_MAX_SAFE_INT = 2**53 - 1


#: PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})


def transient(error: DBAPIError) -> bool:
    """Whether the database aborted the transaction only to break a deadlock (retry it)."""
    return getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


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


def _enable_wal(cursor: Any, busy_timeout_ms: int) -> None:
    """Switch the file to WAL mode, retrying while another connection is doing the same.

    On a new file, two connections switching at once deadlock on the upgrade from a shared lock:
    SQLite then fails one of them at once with "database is locked" without calling the busy
    handler. The winner's switch is persistent, so the retry finds WAL already set. Any other
    error, or the same one past the busy timeout, is raised.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def prepare_connection(dbapi_connection: Any, busy_timeout_ms: int, synchronous: str) -> None:
    """The pragmas every SQLite connection of ours runs first."""
    # Let us issue BEGIN ourselves (the driver would start a deferred one lazily).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    _enable_wal(cursor, busy_timeout_ms)
    cursor.execute(f"PRAGMA synchronous = {synchronous}")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 in a 0700 directory before SQLite does (it would use the
    umask, often 0644: journals readable by every local user); SQLite gives its -wal and -shm
    files the database's permissions. An existing file readable by others is tightened."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(OSError):
                mode = file.stat().st_mode & 0o777
                if mode & 0o077 and file.stat().st_uid == os.getuid():
                    file.chmod(mode & 0o700)


def _configure_sqlite(
    engine: Engine, begin: str | None, busy_timeout_ms: int, synchronous: str
) -> None:
    """Pragmas on every new connection, and our own BEGIN (deferred or IMMEDIATE).

    The writer (`begin=None`) issues its BEGIN itself (`SQLiteWriter`): without a connection
    event listener SQLAlchemy also skips its per-statement event dispatch (issue 16)."""

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        prepare_connection(dbapi_connection, busy_timeout_ms, synchronous)

    if begin is not None:

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)
