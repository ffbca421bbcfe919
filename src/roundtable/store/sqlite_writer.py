"""SQLite's single writer: one connection, statements inline, concurrent writes committed together.

Through aiosqlite every statement costs several hand-offs to the driver's thread, which made a
small write transaction ~4 ms of mostly waiting. This writer follows datasette's model instead:
one connection owned by the process, write blocks run one at a time. `COMMIT`/`ROLLBACK`
(which fsync) run on a dedicated thread; the statements in between run inline on the event
loop, because inside an IMMEDIATE transaction in WAL mode they never wait for a lock: they touch
pages already in the cache or the WAL, in microseconds. `BEGIN IMMEDIATE` may wait for another
process's write lock (up to the busy timeout), so it is first tried inline with a busy timeout
of 0 (issue 16: the thread round trip cost more than the BEGIN): it either takes the lock at
once or fails with SQLITE_BUSY having changed nothing, and then runs on the thread, waiting
as before.

`roundtable mcp` serves one agent over stdio, whose calls wait for their COMMIT anyway: there
the COMMIT also runs on the loop (`commit_inline`), since handing it to the thread and back (two
wake-ups and the GIL changing hands twice) cost that lone agent more than the fsync itself. A
server with many clients keeps it on the thread, so requests are parsed and run while it syncs.
A new group lets the loop run once before its first block, so that writers already scheduled
join it; `roundtable mcp` skips that when the agent's call is the only one in flight (`alone`).

Group commit (D18): with `synchronous=FULL` every COMMIT is an fsync, which capped throughput at
one write per fsync. So writers that queue up while a transaction is open share it: each
writer's block runs in its own SAVEPOINT (blocks still run one at a time, in arrival order; the
group's first block needs none, as the transaction then holds nothing else); a block that
raises is rolled back to its savepoint alone and its exception reaches only its caller; the
others' work stays. When no other writer is waiting (a lone writer never waits for
company), or the group reached `MAX_GROUP_WRITES` writes or `MAX_GROUP_SECONDS` since its BEGIN,
the group commits: one COMMIT, one fsync. Every writer of the group is acknowledged (its `async
with` exits) only after that COMMIT succeeded; if it fails, every writer of the group gets the
error. Writers arriving during a COMMIT queue and form the next group, so groups grow by
themselves with the load and stay single writes when it is light.

A write block must therefore not wait for anything that another writer holds until its own
write is acknowledged (an in-process lock taken inside the block and held by some other task
across its write): that writer is acknowledged only when the group, including this block, ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, CursorResult, Engine, Executable, RootTransaction, create_engine
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from roundtable import metrics
from roundtable.store.worker import Worker

P = ParamSpec("P")
T = TypeVar("T")

#: A group commits once it holds this many writes, even with more writers queued.
MAX_GROUP_WRITES = 64
#: ... or once this long has passed since its BEGIN: the first writer's wait stays bounded.
MAX_GROUP_SECONDS = 0.005

_SAVEPOINT = "roundtable_write"

#: How every write transaction begins (issued here, on the sqlite3 connection: SQLAlchemy's
#: statement path cost more than the BEGIN, and an engine `begin` listener would make it
#: dispatch events around every statement).
WRITER_BEGIN = "BEGIN IMMEDIATE"


class GroupAborted(Exception):
    """The shared transaction ended under a write that had already succeeded in it.

    Raised to the writers of a group whose transaction SQLite rolled back on its own (some
    errors, e.g. a full disk, abort the whole transaction) or that a block ended itself: their
    work was not committed. The error that did it is the `__cause__`.
    """


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


class _Group:
    """One open transaction shared by consecutive write blocks."""

    __slots__ = ("committed", "started", "transaction", "writes")

    def __init__(self, transaction: RootTransaction, committed: asyncio.Future[None]) -> None:
        self.transaction = transaction
        self.committed = committed  # resolved after COMMIT (or with the error that ended it)
        self.started = time.monotonic()
        self.writes = 0  # blocks that succeeded in it


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception retrieved: its writers may all have been cancelled."""
    if not future.cancelled():
        future.exception()


class SQLiteWriter:
    """The process's write connection and the queue of writers taking turns on it.

    The *turn* is the right to use the connection: held by one writer's block at a time, by a
    commit in progress, or by `exclusive` work. Waiting writers queue in arrival order. An open
    group outlives the block that began it: the turn passes, with the transaction still open,
    to the next queued writer.
    """

    def __init__(self, engine: Engine, *, busy_timeout_ms: int = 30_000) -> None:
        self.engine = engine
        self._busy_timeout_ms = int(busy_timeout_ms)
        #: Whether a BEGIN is tried on the loop first (see the module docstring).
        self.begin_inline = True
        #: Whether COMMIT runs on the loop instead of the thread: for a process serving one
        #: client whose calls wait for it anyway (`roundtable mcp`), see the module docstring.
        self.commit_inline = False
        #: Whether no other write can be on its way now (set by `roundtable mcp`: it is running
        #: the only tool call). A new group then starts at once instead of first letting the
        #: loop run once so that writers already scheduled can join it (~0.04 ms per write).
        self.alone: Callable[[], bool] | None = None
        self._worker = Worker("roundtable-sqlite-writer")
        self._conn: Connection | None = None
        self._busy = False  # someone holds the turn
        self._queue: deque[asyncio.Future[None]] = deque()
        self._group: _Group | None = None
        #: The raw connection whose busy timeout an inline BEGIN set to 0 (`_may_wait`).
        self._no_wait: Any = None
        #: The group's bounds (attributes so that tests can widen them).
        self.max_group_writes = MAX_GROUP_WRITES
        self.max_group_seconds = MAX_GROUP_SECONDS
        #: Commits made and writes they carried (for tests and the group-size metric).
        self.commits = 0
        self.committed_writes = 0

    @classmethod
    def for_url(
        cls, async_url: str, configure: Callable[[Engine], None], *, busy_timeout_ms: int = 30_000
    ) -> SQLiteWriter:
        url = make_url(async_url).set(drivername="sqlite")
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        configure(engine)
        return cls(engine, busy_timeout_ms=busy_timeout_ms)

    async def _off_loop(self, fn: Callable[[], T]) -> T:
        return await self._worker.run(fn)

    # -- turns ----------------------------------------------------------------------------------

    async def _take_turn(self) -> None:
        if not self._busy and not self._queue:
            self._busy = True
            return
        turn = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self._pass_turn()  # handed to us just as we were cancelled: hand it on
            raise

    def _waiting(self) -> bool:
        """Whether a writer (not since cancelled) is queued for the turn."""
        while self._queue and self._queue[0].done():
            self._queue.popleft()
        return bool(self._queue)

    def _pass_turn(self) -> None:
        """Give the turn to the next queued writer; with nobody queued, end the open group."""
        if self._waiting():
            self._queue.popleft().set_result(None)
        elif self._group is not None:
            self._end_group(None)  # keeps the turn until the COMMIT is done
        else:
            self._busy = False

    def _end_group(self, failure: BaseException | None) -> None:
        """Commit the open group (roll it back if `failure`, or if it has no write) on the
        writer thread; the turn stays held until that is over and the group's writers are
        told (`_settle`), so no writer's cancellation can interrupt it."""
        group = self._group
        assert group is not None
        self._group = None
        if self.commit_inline:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            try:
                self._end(group, failure)
            except BaseException as exc:  # reaches the group's writers, as from the thread
                done.set_exception(exc)
            else:
                done.set_result(None)
            self._settle(group, failure, done)
            return
        done = self._worker.run(self._end, group, failure)
        done.add_done_callback(functools.partial(self._settle, group, failure))

    def _end(self, group: _Group, failure: BaseException | None) -> None:
        """COMMIT, or ROLLBACK (on the writer thread); a failed COMMIT is rolled back."""
        if failure is None and group.writes:
            try:
                group.transaction.commit()
            except BaseException:
                with contextlib.suppress(Exception):  # `_discard` resets the connection
                    self._discard(group.transaction)
                raise
        else:
            self._discard(group.transaction)

    def _settle(
        self,
        group: _Group,
        failure: BaseException | None,
        done: asyncio.Future[None],
        *,
        pass_turn: bool = True,
    ) -> None:
        """Tell the group's writers how it ended, then pass the turn on."""
        if failure is None and not done.cancelled():
            failure = done.exception()
        if failure is None:
            if group.writes:
                self.commits += 1
                self.committed_writes += group.writes
                metrics.DB_GROUP_COMMIT_WRITES.observe(group.writes)
            group.committed.set_result(None)
        else:
            group.committed.set_exception(failure)
        if pass_turn:
            self._pass_turn()

    def _discard(self, transaction: RootTransaction) -> None:
        """Roll back what is left of a transaction (on the writer thread); if even that fails,
        drop the connection so the next BEGIN starts from a clean one."""
        try:
            transaction.rollback()
            raw = self._raw()
            if raw.in_transaction:
                raw.rollback()
        except BaseException:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.invalidate()
            raise

    def _raw(self) -> Any:
        assert self._conn is not None
        return self._conn.connection.dbapi_connection

    def _begin(self) -> RootTransaction:
        """BEGIN IMMEDIATE (on the writer thread), connecting first if need be."""
        if self._conn is None:
            self._conn = self.engine.connect()
        raw = self._raw()
        try:
            self._may_wait(raw)
            raw.execute(WRITER_BEGIN)
        except sqlite3.Error as exc:
            raise DBAPIError.instance(WRITER_BEGIN, None, exc, sqlite3.Error) from exc
        return self._transaction(raw)

    def _transaction(self, raw: Any) -> RootTransaction:
        """SQLAlchemy's record of the transaction BEGIN opened (it issues no BEGIN itself)."""
        assert self._conn is not None
        try:
            return self._conn.begin()
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                raw.rollback()
            raise

    def _may_wait(self, raw: Any) -> None:
        """Give the connection its busy timeout back if an inline BEGIN left it at 0.

        The inline BEGIN sets 0 once and leaves it: restoring it after every BEGIN was two
        statements per append (issue 16). Inside a transaction BEGIN IMMEDIATE opened nothing
        waits on a lock in WAL mode (the write lock is ours, readers never block), so only a
        BEGIN on the thread and `exclusive` work (`PRAGMA optimize` may write) need it back.
        """
        if self._no_wait is raw:
            raw.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            self._no_wait = None

    def _begin_now(self) -> RootTransaction | None:
        """BEGIN IMMEDIATE on the loop if the write lock is free this instant; None when it is
        not (another process writes) or anything else went wrong: the thread then tries."""
        if self._conn is None or not self.begin_inline:
            return None
        raw = self._raw()
        try:
            if self._no_wait is not raw:
                raw.execute("PRAGMA busy_timeout = 0")
                self._no_wait = raw
            raw.execute(WRITER_BEGIN)
        except sqlite3.Error:
            return None
        return self._transaction(raw)

    async def _open_group(self) -> _Group:
        """The open group, or a new one (BEGIN IMMEDIATE); the caller holds the turn."""
        if self._group is not None:
            return self._group
        loop = asyncio.get_running_loop()
        began = self._begin_now()
        if began is not None:
            group = self._group = _Group(began, loop.create_future())
            group.committed.add_done_callback(_retrieve)
            try:
                # As while a BEGIN waits on the thread: writers already scheduled queue now,
                # and join this transaction instead of the next one.
                if self.alone is None or not self.alone():
                    await asyncio.sleep(0)
            except BaseException:
                self._pass_turn()  # the open group goes to the next writer, or is rolled back
                raise
            return group
        begun = self._worker.run(self._begin)
        try:
            transaction = await asyncio.shield(begun)
        except asyncio.CancelledError:
            # The BEGIN may still succeed: once it is over, the group it opened (if any) is
            # committed or handed on with the turn, as any writer's would be.
            def settle(done: asyncio.Future[RootTransaction]) -> None:
                if not done.cancelled() and done.exception() is None:
                    self._group = _Group(done.result(), loop.create_future())
                    self._group.committed.add_done_callback(_retrieve)
                self._pass_turn()

            begun.add_done_callback(settle)
            raise
        except BaseException:
            self._pass_turn()
            raise
        self._group = _Group(transaction, loop.create_future())
        self._group.committed.add_done_callback(_retrieve)
        return self._group

    # -- write transactions ---------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[InlineConnection]:
        """A write block: its work is committed (possibly with other writers') before this
        exits normally; on any exception it is rolled back, alone, and the exception raised."""
        await self._take_turn()
        group = await self._open_group()
        assert self._conn is not None
        raw = self._raw()
        # The group's first block needs no savepoint: if it fails, the whole transaction goes.
        savepoint = group.writes > 0
        try:
            if savepoint:
                raw.execute(f"SAVEPOINT {_SAVEPOINT}")
            yield InlineConnection(self._conn)
            if savepoint:
                raw.execute(f"RELEASE {_SAVEPOINT}")
        except BaseException as error:
            self._undo(raw, group, error, savepoint)
            raise
        group.writes += 1
        self._next(group)
        # Shielded: a cancelled writer stops waiting, but the group's COMMIT goes on.
        await asyncio.shield(group.committed)

    def _next(self, group: _Group) -> None:
        """After a block: hand the open transaction to the next queued writer, or commit it."""
        if (
            group.writes < self.max_group_writes
            and time.monotonic() - group.started < self.max_group_seconds
            and self._waiting()
        ):
            self._queue.popleft().set_result(None)  # the next writer joins this transaction
        else:
            self._end_group(None)

    def _undo(self, raw: Any, group: _Group, error: BaseException, savepoint: bool) -> None:
        """Roll back a failed block to its savepoint, then let the group go on; if the shared
        transaction itself is gone, end the group with an error for the writers already in it.
        Without a savepoint (the group's first block) the transaction is rolled back."""
        if not savepoint:
            self._end_group(error)
            return
        with contextlib.suppress(Exception):  # judged below: a lost transaction fails the group
            if raw.in_transaction:
                raw.execute(f"ROLLBACK TO {_SAVEPOINT}")
                raw.execute(f"RELEASE {_SAVEPOINT}")
        if raw.in_transaction:
            self._next(group)
        elif group.writes:
            aborted = GroupAborted("the shared write transaction was rolled back")
            aborted.__cause__ = error
            self._end_group(aborted)
        else:
            self._end_group(error)

    # -- work outside transactions --------------------------------------------------------------

    async def exclusive(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` on the write connection (on the writer thread) outside any transaction,
        once the open group (if any) has committed; writers wait meanwhile (`PRAGMA optimize`)."""

        def run() -> T:
            if self._conn is None:
                self._conn = self.engine.connect()
            self._may_wait(self._raw())
            return fn(self._conn)

        return await self._exclusive(run)

    async def _exclusive(self, fn: Callable[[], T]) -> T:
        await self._take_turn()
        # A task of its own holds the turn, so a cancelled caller cannot leave it half done.
        task = asyncio.get_running_loop().create_task(self._run_exclusive(fn))
        return await asyncio.shield(task)

    async def _run_exclusive(self, fn: Callable[[], T]) -> T:
        try:
            group, self._group = self._group, None
            if group is not None:
                done = self._worker.run(self._end, group, None)
                await asyncio.wait([done])
                self._settle(group, None, done, pass_turn=False)
            return await self._off_loop(fn)
        finally:
            self._pass_turn()

    async def close(self) -> None:
        def close_connection() -> None:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

        await self._exclusive(close_connection)
        await self._off_loop(self.engine.dispose)
        self._worker.shutdown()
