"""Session rows read for waiters, many in one read transaction.

A batch of runs ending in one report wakes as many `sync` starts (and `wait_for_children`
barriers) at once, each of which reads its session row again. Each read alone costs a read
transaction (a thread hop on SQLite) for one primary-key lookup. Reads asked for in the same
turn of the event loop go out together as one `IN` query instead; every read still starts
after the event that asked for it, so it sees that event's commit (or later), as a read of its
own would.
"""

from __future__ import annotations

import asyncio
from typing import Any

from roundtable.orchestration import statements as st
from roundtable.store.engine import Database

#: The most ids one read asks for (the rest go in the next one).
BATCH = 500


class SessionLoader:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: dict[str, list[asyncio.Future[Any]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def get(self, session_id: str) -> Any:
        """The session row (None when there is none), read after this call."""
        loop = asyncio.get_running_loop()
        if self._task is not None and self._task.get_loop() is not loop:
            self._task, self._pending = None, {}  # a new event loop (the old one is gone)
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.setdefault(session_id, []).append(future)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._read())
        return await future

    async def _read(self) -> None:
        await asyncio.sleep(0)  # the other waiters woken in this turn join the read
        while self._pending:
            ids = list(self._pending)[:BATCH]
            batch = {sid: self._pending.pop(sid) for sid in ids}
            try:
                async with self.db.read() as conn:
                    rows = {row.id: row for row in await conn.execute(st.SESSIONS, {"b_ids": ids})}
            except BaseException as error:
                for futures in batch.values():
                    for future in futures:
                        if not future.done():
                            if isinstance(error, asyncio.CancelledError):
                                future.cancel()
                            else:
                                future.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    for futures in self._pending.values():
                        for future in futures:
                            future.cancel()
                    self._pending.clear()
                    raise
                continue
            for sid, futures in batch.items():
                for future in futures:
                    if not future.done():
                        future.set_result(rows.get(sid))
