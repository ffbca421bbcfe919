"""Who may see or act on which session tree (D7: the token bounds, parameters narrow)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from roundtable.auth.tokens import Principal
from roundtable.errors import NotFound, PermissionDenied
from roundtable.store import tables
from roundtable.store.engine import Conn
from roundtable.validation import check_text

S = tables.sessions


async def load(conn: Conn, namespace: str, session_id: str, *, lock: bool = False) -> Any:
    check_text("session_id", session_id)
    query = select(S).where(S.c.id == session_id, S.c.namespace == namespace)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound(f"no session {session_id} in namespace {namespace!r}", session_id=session_id)
    return row


async def authorize(conn: Conn, principal: Principal, session: Any) -> None:
    """A run token reaches only its own tree; an agent token only trees its agent started;
    the admin any tree of the namespace. Refusals change nothing."""
    if principal.admin:
        return
    if principal.scope is not None:
        if session.root_id != principal.scope.root_id:
            raise PermissionDenied(
                f"session {session.id} is outside this run token's session tree "
                f"(root {principal.scope.root_id})",
                session_id=session.id,
            )
        return
    root = (
        await conn.execute(select(S.c.agent, S.c.metadata).where(S.c.id == session.root_id))
    ).first()
    owner = root.agent if root is not None else None
    starter = (root.metadata or {}).get("started_by") if root is not None else None
    if principal.agent not in (owner, starter):
        raise PermissionDenied(
            f"session {session.id} belongs to a tree started by {owner!r}, not {principal.agent!r}",
            session_id=session.id,
        )
