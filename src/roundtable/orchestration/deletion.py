"""Deleting a session removes its whole subtree, guarded (D8, COORDINATOR-001).

Refused (409, listing them) while descendants are active unless `force`, which stops them
first; `dry_run` reports what would go. Sessions, runs and queued callbacks are removed, and
when the whole tree goes (the root is deleted) so do its temporal documents (D6); the event log
keeps its history and gains a `session.deleted` tombstone with the counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from roundtable.auth.tokens import Principal
from roundtable.config import Settings
from roundtable.documents import lifecycle as documents
from roundtable.errors import ConflictError
from roundtable.ids import utcnow
from roundtable.journal.service import JournalService
from roundtable.orchestration import access, flow
from roundtable.orchestration import events as ev
from roundtable.orchestration.models import BUSY, DeleteResult
from roundtable.store import tables
from roundtable.store.engine import Conn, Database

S = tables.sessions
R = tables.runs
CB = tables.callbacks


def _active(row: Any, now: Any) -> bool:
    if row.status in BUSY:
        return True
    return bool(row.status == "active" and row.lease_expires_at > now)


async def subtree(conn: Conn, top: Any) -> list[Any]:
    """`top` and every descendant, parents before children."""
    rows = (await conn.execute(select(S).where(S.c.root_id == top.root_id))).all()
    by_parent: dict[str | None, list[Any]] = {}
    for row in rows:
        by_parent.setdefault(row.parent_id, []).append(row)
    out, frontier = [], [top]
    while frontier:
        out += frontier
        frontier = [c for p in frontier for c in by_parent.get(p.id, [])]
    return out


class DeletionService:
    def __init__(self, db: Database, settings: Settings, journal: JournalService) -> None:
        self.db = db
        self.settings = settings
        self.journal = journal

    async def _lock_subtree(self, conn: Conn, top: Any) -> list[Any]:
        """Lock the subtree children before parents (the order a child's report locks its
        parent in), again until no child was added meanwhile; returns it fresh."""
        locked: set[str] = set()
        while True:
            tree = await subtree(conn, top)
            missing = [row.id for row in tree if row.id not in locked]
            if not missing:
                return tree
            await conn.execute(
                select(S.c.id)
                .where(S.c.id.in_(missing))
                .order_by(S.c.depth.desc(), S.c.id)
                .with_for_update()
            )
            locked.update(missing)

    async def delete(
        self,
        namespace: str,
        principal: Principal,
        session_id: str,
        *,
        force: bool = False,
        dry_run: bool = False,
    ) -> DeleteResult:
        return await self.db.retrying(
            lambda conn: self._delete_in(conn, namespace, principal, session_id, force, dry_run)
        )

    async def _delete_in(
        self,
        conn: Conn,
        namespace: str,
        principal: Principal,
        session_id: str,
        force: bool,
        dry_run: bool,
    ) -> DeleteResult:
        tx = flow.Tx(conn, utcnow(), self.settings)
        top = await access.load(conn, namespace, session_id)
        await access.authorize(conn, principal, top)
        if principal.scope is not None and principal.scope.session_id == session_id:
            raise ConflictError("a run cannot delete its own session", session_id=session_id)
        tree = await self._lock_subtree(conn, top)
        ids = [row.id for row in tree]
        active = [row.id for row in tree if _active(row, tx.now)]
        if active and not force:
            raise ConflictError(
                f"session {session_id} has {len(active)} active session(s) in its subtree; "
                "stop them or pass force=true",
                session_id=session_id,
                active=active,
            )
        runs = int(await conn.scalar(select(func.count()).where(R.c.session_id.in_(ids))) or 0)
        # Callbacks addressed to the subtree go; one from it to a parent outside stays (its
        # envelope is self-contained, and that parent must still hear of the stop).
        in_tree = CB.c.parent_id.in_(ids)
        callbacks = int(await conn.scalar(select(func.count()).where(in_tree)) or 0)
        counts = {"sessions": len(ids), "runs": runs, "callbacks": callbacks}
        # Temporal documents are scoped to the root session: they go with the whole tree.
        whole_tree = top.parent_id is None
        if whole_tree:
            counts["documents"] = await documents.count_tree_documents(conn, namespace, top.id)
        if dry_run:
            return DeleteResult(deleted=False, session_ids=ids, counts=counts)
        for row in tree:
            if row.id in active and row.blueprint is not None:
                fresh = await flow.lock_session(tx, row.id)
                await flow.stop_session(tx, fresh, "deleted")
        await conn.execute(delete(CB).where(in_tree))
        await conn.execute(delete(R).where(R.c.session_id.in_(ids)))
        for row in sorted(tree, key=lambda r: r.depth, reverse=True):
            await conn.execute(delete(S).where(S.c.id == row.id))
        if whole_tree:
            await documents.delete_tree_documents(conn, namespace, top.id)
        tx.emit(
            namespace,
            ev.SESSION_DELETED,
            {
                "session_id": session_id,
                "session_ids": ids,
                "counts": counts,
                "forced": bool(active),
            },
            session_id=session_id,
        )
        await tx.flush(self.journal.append_in)
        return DeleteResult(deleted=True, session_ids=ids, counts=counts)
