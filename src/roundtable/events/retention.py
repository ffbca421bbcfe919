"""Retention: delete events older than the window, as a prefix of ids, and remember where.

Pruning removes the longest run of oldest ids whose `ts` is before the cutoff, in batches, and
moves the marker `events.pruned_through` to the last id removed in the same transaction. So
every id <= the marker is gone and every id above it is still there: a reader resuming below
the marker is told to resync (never left with a silent gap), one above it loses nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from roundtable.store import tables
from roundtable.store.dialect import insert_ignore
from roundtable.store.engine import Conn, Database

PRUNED_THROUGH = "events.pruned_through"


async def pruned_through(conn: Conn) -> int:
    """The newest id retention removed (0 if none)."""
    m = tables.markers
    value = await conn.scalar(select(m.c.value).where(m.c.name == PRUNED_THROUGH))
    return int(value or 0)


async def prune(db: Database, retention_seconds: float, now: datetime, batch: int = 5_000) -> int:
    """Delete events with `ts` before `now - retention_seconds`; returns how many."""
    cutoff = now - timedelta(seconds=retention_seconds)
    e, m = tables.events, tables.markers
    async with db.read() as conn:
        oldest = await conn.scalar(select(e.c.ts).order_by(e.c.id).limit(1))
    if oldest is None or oldest >= cutoff:
        return 0  # nothing due: no write transaction at all
    total = 0
    while True:
        async with db.write() as conn:
            await conn.execute(insert_ignore(conn, m, name=PRUNED_THROUGH, value=0))
            # Locked so concurrent pruners (other instances) take turns on the same marker.
            marker = int(
                await conn.scalar(
                    select(m.c.value).where(m.c.name == PRUNED_THROUGH).with_for_update()
                )
                or 0
            )
            rows = (
                await conn.execute(
                    select(e.c.id, e.c.ts).where(e.c.id > marker).order_by(e.c.id).limit(batch)
                )
            ).all()
            last = None
            for row in rows:
                if row.ts >= cutoff:
                    break
                last = row.id
            if last is None:
                return total
            deleted = await conn.execute(delete(e).where(e.c.id > marker, e.c.id <= last))
            await conn.execute(update(m).where(m.c.name == PRUNED_THROUGH).values(value=last))
        total += deleted.rowcount
        if last != rows[-1].id or len(rows) < batch:
            return total
