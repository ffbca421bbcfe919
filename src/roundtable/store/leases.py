"""Named leases in the database: one holder at a time, across processes and instances.

A lease is a `markers` row whose value is its expiry (milliseconds since the epoch). Taking it
is a locked read and an update in one write transaction, so exactly one taker wins on either
backend; a holder that dies loses it when it expires, so a crash never blocks the next run for
longer than the lease's time to live. Long jobs that must not run twice at once (an import of
one namespace) hold one and renew it as they go.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import delete, select, update

from roundtable.errors import ConflictError
from roundtable.store import tables
from roundtable.store.dialect import insert_ignore
from roundtable.store.engine import Database


def lease_name(kind: str, key: str) -> str:
    """A marker name for `kind` and `key` that fits the column whatever the key's length."""
    return f"lease:{kind}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


class Lease:
    """A lease this process holds; `renew` pushes its expiry forward, `renew_if_due` when a third
    of its time to live has passed (cheap to call after every unit of work)."""

    def __init__(self, db: Database, name: str, ttl_seconds: float, expiry_ms: int) -> None:
        self.db = db
        self.name = name
        self.ttl_seconds = ttl_seconds
        self.expiry_ms = expiry_ms

    async def renew(self) -> None:
        """Extend the lease; raises `ConflictError` if it expired and another holder took it."""
        m = tables.markers
        expiry = _now_ms() + int(self.ttl_seconds * 1000)
        async with self.db.write() as conn:
            done = await conn.execute(
                update(m)
                .where(m.c.name == self.name, m.c.value == self.expiry_ms)
                .values(value=expiry)
            )
            if done.rowcount != 1:
                raise ConflictError(
                    "the lease expired and another process took it over; stopped", lease=self.name
                )
        self.expiry_ms = expiry

    async def renew_if_due(self) -> None:
        if _now_ms() >= self.expiry_ms - int(self.ttl_seconds * 1000 * 2 / 3):
            await self.renew()

    async def release(self) -> None:
        m = tables.markers
        async with self.db.write() as conn:
            await conn.execute(delete(m).where(m.c.name == self.name, m.c.value == self.expiry_ms))


@asynccontextmanager
async def hold(
    db: Database, name: str, ttl_seconds: float, busy_message: str
) -> AsyncIterator[Lease]:
    """Hold the lease `name` for the block; `ConflictError(busy_message)` if someone holds it."""
    m = tables.markers
    async with db.write() as conn:
        await conn.execute(insert_ignore(conn, m, name=name, value=0))
        held_until = int(
            await conn.scalar(select(m.c.value).where(m.c.name == name).with_for_update()) or 0
        )
        now = _now_ms()  # with the row locked: waiting for the lock does not shorten the lease
        expiry = now + int(ttl_seconds * 1000)
        if held_until > now:
            raise ConflictError(busy_message, lease=name)
        await conn.execute(update(m).where(m.c.name == name).values(value=expiry))
    lease = Lease(db, name, ttl_seconds, expiry)
    try:
        yield lease
    finally:
        await lease.release()


def _now_ms() -> int:
    return int(time.time() * 1000)
