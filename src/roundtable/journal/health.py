"""Per-journal health read at scrape time: how long since each journal's last signed checkpoint.

One grouped query over `projects` and `checkpoints`; the metrics endpoint turns the rows into
gauges labelled by namespace and project (one series per journal: operators create journals,
agents cannot mint labels by calling).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from roundtable.store import tables
from roundtable.store.engine import Database


@dataclass(frozen=True)
class JournalHealth:
    namespace: str
    project: str
    size: int
    #: Size and time of the newest signed checkpoint; None if it has none yet.
    checkpoint_size: int | None
    checkpoint_at: datetime | None
    created_at: datetime


async def journal_health(db: Database) -> list[JournalHealth]:
    P, C = tables.projects, tables.checkpoints
    newest = (
        select(
            C.c.project_id,
            func.max(C.c.size).label("size"),
            func.max(C.c.created_at).label("created_at"),
        )
        .group_by(C.c.project_id)
        .subquery()
    )
    query = (
        select(
            P.c.namespace,
            P.c.name,
            P.c.head_seq,
            P.c.created_at,
            newest.c.size,
            newest.c.created_at.label("checkpoint_at"),
        )
        .select_from(P.outerjoin(newest, newest.c.project_id == P.c.id))
        .order_by(P.c.namespace, P.c.name)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    return [
        JournalHealth(
            namespace=row.namespace,
            project=row.name,
            size=int(row.head_seq),
            checkpoint_size=None if row.size is None else int(row.size),
            checkpoint_at=row.checkpoint_at,
            created_at=row.created_at,
        )
        for row in rows
    ]
