"""Read-only views over many sessions for people (the dashboard): a page of session trees,
counts by status, agents seen. Visibility is the tree rule of `access.authorize` (D7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select

from roundtable.auth.tokens import Principal
from roundtable.ids import utcnow
from roundtable.orchestration.models import AgentSession
from roundtable.orchestration.trees import agent_session
from roundtable.sessions.models import SessionStatus
from roundtable.store import tables
from roundtable.store.engine import Database
from roundtable.validation import check_text

S = tables.sessions
A = tables.agents
#: A tree page shows at most this many sessions below its roots (the rest: open the root).
MAX_DESCENDANTS = 1000


@dataclass
class TreePage:
    roots: list[AgentSession]
    children: dict[str, list[AgentSession]] = field(default_factory=dict)
    next_after: str | None = None
    truncated: bool = False


def _visible(principal: Principal, root: Any) -> bool:
    if principal.admin:
        return True
    if principal.scope is not None:
        return bool(root.root_id == principal.scope.root_id)
    if principal.root_session is not None and root.root_id != principal.root_session:
        return False
    return principal.agent in (root.agent, (root.metadata or {}).get("started_by"))


async def tree_page(
    db: Database,
    principal: Principal,
    namespace: str,
    *,
    agent: str | None = None,
    status: SessionStatus | None = None,
    project: str | None = None,
    before: str | None = None,
    limit: int = 50,
) -> TreePage:
    """Root sessions newest first (ids below `before`), each with its whole subtree.

    Filters select trees by their root. `next_after` is the id to pass as `before` next.
    """
    query = select(S).where(S.c.namespace == namespace, S.c.parent_id.is_(None))
    if agent:
        query = query.where(S.c.agent == check_text("agent", agent))
    if project:
        query = query.where(S.c.project == check_text("project", project))
    if status is not None:
        query = query.where(S.c.status == SessionStatus(status).value)
        if status == SessionStatus.ACTIVE:
            query = query.where(S.c.lease_expires_at > utcnow())
    if before:
        query = query.where(S.c.id < check_text("cursor", before))
    if not principal.admin and principal.scope is None and principal.root_session is None:
        # Trees the agent started itself, or (orchestrated roots) had started for it.
        query = query.where(or_(S.c.agent == principal.agent, S.c.blueprint.is_not(None)))
    elif principal.scope is not None or principal.root_session is not None:
        root = principal.scope.root_id if principal.scope else principal.root_session
        query = query.where(S.c.id == root)
    async with db.read() as conn:
        rows = list(await conn.execute(query.order_by(S.c.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        roots = [row for row in rows if _visible(principal, row)]
        page = TreePage(
            roots=[agent_session(row) for row in roots],
            next_after=rows[-1].id if more and rows else None,
        )
        if roots:
            below = await conn.execute(
                select(S)
                .where(
                    S.c.root_id.in_([row.id for row in roots]),
                    S.c.parent_id.is_not(None),
                )
                .order_by(S.c.depth, S.c.id)
                .limit(MAX_DESCENDANTS + 1)
            )
            descendants = list(below)
            page.truncated = len(descendants) > MAX_DESCENDANTS
            for row in descendants[:MAX_DESCENDANTS]:
                page.children.setdefault(row.parent_id, []).append(agent_session(row))
    return page


async def counts_by_status(db: Database, namespace: str) -> dict[str, int]:
    """Sessions per status; `active` counts live leases only (a lapsed one shows as expired)."""
    now = utcnow()
    lapsed = and_(S.c.status == SessionStatus.ACTIVE.value, S.c.lease_expires_at <= now)
    async with db.read() as conn:
        rows = await conn.execute(
            select(S.c.status, func.count()).where(S.c.namespace == namespace).group_by(S.c.status)
        )
        counts = {row[0]: int(row[1]) for row in rows}
        stale = int(
            await conn.scalar(
                select(func.count()).select_from(S).where(S.c.namespace == namespace, lapsed)
            )
            or 0
        )
    if stale:
        counts[SessionStatus.ACTIVE.value] = counts.get(SessionStatus.ACTIVE.value, 0) - stale
        counts[SessionStatus.EXPIRED.value] = counts.get(SessionStatus.EXPIRED.value, 0) + stale
    return {k: v for k, v in sorted(counts.items()) if v}


@dataclass
class AgentSeen:
    name: str
    first_seen: datetime
    last_seen: datetime
    blueprint: str | None


async def agents_seen(
    db: Database, namespace: str, *, after: str | None = None, limit: int = 50
) -> tuple[list[AgentSeen], str | None]:
    """Agents of the namespace by name (`after` pages on), with when they were last seen."""
    query = select(A).where(A.c.namespace == namespace)
    if after:
        query = query.where(A.c.name > after)
    async with db.read() as conn:
        rows = list(await conn.execute(query.order_by(A.c.name).limit(limit + 1)))
    seen = [AgentSeen(r.name, r.first_seen, r.last_seen, r.blueprint) for r in rows[:limit]]
    return seen, (seen[-1].name if len(rows) > limit else None)


@dataclass
class CallbackView:
    key: str
    child_id: str
    run_id: str | None
    created_at: datetime
    envelope: Any


async def callbacks(db: Database, namespace: str, parent_id: str) -> list[CallbackView]:
    """Callbacks waiting for delivery to `parent_id` (children's outcomes not yet delivered).

    The caller must already have passed the tree check for `parent_id`.
    """
    cb = tables.callbacks
    async with db.read() as conn:
        rows = await conn.execute(
            select(cb)
            .where(cb.c.namespace == namespace, cb.c.parent_id == parent_id)
            .order_by(cb.c.id)
            .limit(MAX_DESCENDANTS)
        )
        return [CallbackView(r.key, r.child_id, r.run_id, r.created_at, r.envelope) for r in rows]
