"""Temporal documents' end (D6): with their session tree, or a retention period after the
tree's root session ended. Both remove only `temporal` documents of the tree; persistent ones
(created so, or promoted) stay, and links to removed documents go with them."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, select

from roundtable.documents import events as doc_events
from roundtable.documents.models import Lifecycle
from roundtable.documents.relations import unlink_all
from roundtable.events import log as events
from roundtable.store import tables
from roundtable.store.engine import Conn, Database

D = tables.documents
S = tables.sessions
TEMPORAL = Lifecycle.TEMPORAL.value


async def remove(conn: Conn, ids: list[str]) -> None:
    """Delete documents with their chunks (and full-text rows), tags and links."""
    if not ids:
        return
    await unlink_all(conn, ids)
    await conn.execute(
        delete(tables.document_tags).where(tables.document_tags.c.document_id.in_(ids))
    )
    await conn.execute(
        delete(tables.document_chunks).where(tables.document_chunks.c.document_id.in_(ids))
    )
    await conn.execute(delete(D).where(D.c.id.in_(ids)))


async def count_tree_documents(conn: Conn, namespace: str, root_session_id: str) -> int:
    """How many temporal documents `delete_tree_documents` would remove (for a dry run)."""
    found = await conn.scalar(
        select(func.count()).where(
            D.c.namespace == namespace,
            D.c.root_session == root_session_id,
            D.c.lifecycle == TEMPORAL,
        )
    )
    return int(found or 0)


async def delete_tree_documents(conn: Conn, namespace: str, root_session_id: str) -> list[str]:
    """Remove the temporal documents of the tree rooted at `root_session_id`, in the caller's
    transaction (orchestration's delete of a session subtree calls this), with one
    `document.deleted` event; returns their ids."""
    ids = list(
        (
            await conn.execute(
                select(D.c.id).where(
                    D.c.namespace == namespace,
                    D.c.root_session == root_session_id,
                    D.c.lifecycle == TEMPORAL,
                )
            )
        ).scalars()
    )
    if ids:
        await remove(conn, ids)
        await events.record(
            conn,
            doc_events.row(
                namespace,
                doc_events.DELETED,
                {"document_ids": ids, "count": len(ids), "reason": "tree_deleted"},
                session_id=root_session_id,
            ),
        )
    return ids


async def expire(db: Database, retention: timedelta, batch: int, now: datetime) -> int:
    """Remove temporal documents whose root session ended more than `retention` ago (or no
    longer exists), `batch` per transaction, one `document.expired` event per tree per batch;
    returns how many went."""
    cutoff = now - retention
    total = 0
    while True:
        async with db.write() as conn:
            rows = (
                await conn.execute(
                    select(D.c.id, D.c.namespace, D.c.root_session)
                    .select_from(D.outerjoin(S, S.c.id == D.c.root_session))
                    .where(
                        D.c.lifecycle == TEMPORAL,
                        D.c.root_session != "",
                        or_(
                            S.c.id.is_(None),
                            and_(S.c.ended_at.is_not(None), S.c.ended_at <= cutoff),
                        ),
                    )
                    .order_by(D.c.id)
                    .limit(batch)
                )
            ).all()
            trees: dict[tuple[str, str], list[str]] = defaultdict(list)
            for row in rows:
                trees[(row.namespace, row.root_session)].append(row.id)
            await remove(conn, [row.id for row in rows])
            await events.record(
                conn,
                *[
                    doc_events.row(
                        namespace,
                        doc_events.EXPIRED,
                        {"root_session": root, "document_ids": ids, "count": len(ids)},
                        session_id=root,
                    )
                    for (namespace, root), ids in sorted(trees.items())
                ],
            )
        total += len(rows)
        if len(rows) < batch:
            return total
