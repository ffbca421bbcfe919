"""Reading a journal's entries for `verify`: pages in seq order, and rows that do not decode.

A row the database holds but cannot decode (meta that is not JSON, a timestamp that does not
parse: only a hand-edited SQLite row) is not an error here: it becomes an `Unreadable` marker,
which `verify` reports as an edited entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from roundtable.store import tables
from roundtable.store.engine import Database

E = tables.entries

#: Entries read per page: bounds verify's memory at any journal size.
PAGE = 5_000
COLUMNS = (
    E.c.seq,
    E.c.ts,
    E.c.agent,
    E.c.session_id,
    E.c.status,
    E.c.kind,
    E.c.message,
    E.c.meta,
    E.c.prev_hash,
    E.c.hash,
    E.c.leaf_hash,
    E.c.pruned,
)

#: What decoding a hand-edited row raises (bad JSON, an unparsable or out-of-range timestamp).
UNREADABLE = (ValueError, TypeError, OverflowError, AssertionError)


@dataclass(frozen=True)
class Unreadable:
    """A row at `seq` whose columns do not decode; verify reports it as edited."""

    seq: int
    error: str


async def read_page(db: Database, project_id: int, start: int, head_seq: int) -> list[Any]:
    """Up to PAGE rows from `start`; an undecodable row ends the page with an `Unreadable`."""
    query = (
        select(*COLUMNS)
        .where(E.c.project_id == project_id)
        .where(E.c.seq >= start, E.c.seq <= head_seq)
        .order_by(E.c.seq)
    )
    async with db.read() as conn:
        try:
            return list((await conn.execute(query.limit(PAGE))).mappings().all())
        except UNREADABLE:
            pass
        seqs = list(
            await conn.scalars(
                select(E.c.seq)
                .where(E.c.project_id == project_id)
                .where(E.c.seq >= start, E.c.seq <= head_seq)
                .order_by(E.c.seq)
                .limit(PAGE)
            )
        )
        rows: list[Any] = []
        for seq in seqs:
            try:
                one = (await conn.execute(query.where(E.c.seq == seq))).mappings().one()
            except UNREADABLE as exc:
                rows.append(Unreadable(int(seq), f"{type(exc).__name__}: {exc}"))
                break
            rows.append(one)
        return rows
