"""Leased sessions (D3): start, renew, end, and the sweep that expires abandoned ones."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal, or_, select, update

from roundtable import metrics
from roundtable.config import Settings
from roundtable.errors import (
    ConflictError,
    InvalidInput,
    LeaseExpiredError,
    NotFound,
    PermissionDenied,
    RateLimited,
)
from roundtable.events import log as events
from roundtable.events.log import EventTypes
from roundtable.ids import utcnow, uuid7
from roundtable.sessions.limits import RateLimiter
from roundtable.sessions.models import EndStatus, SessionInfo, SessionStatus
from roundtable.sessions.registry import Registry
from roundtable.store import tables
from roundtable.store.dialect import iso_utc, json_object
from roundtable.store.engine import Conn, Database, row_exists
from roundtable.store.types import UTCDateTime
from roundtable.validation import check_meta, check_name, check_text

S = tables.sessions
ACTIVE = SessionStatus.ACTIVE.value
_ORCHESTRATED_LIVE = (SessionStatus.PENDING, SessionStatus.RUNNING, SessionStatus.IDLE)


#: A live session of the agent whose lease still has at least `:keep_until` on it (locked
#: FOR SHARE on PostgreSQL, so an end or stop waits for this transaction). Built once: a
#: statement built per call costs more than its execution (issue 16).
_STILL_HELD = (
    select(S.c.id)
    .where(
        S.c.id == bindparam("b_session_id"),
        S.c.namespace == bindparam("b_namespace"),
        S.c.agent == bindparam("b_agent"),
        S.c.status == ACTIVE,
        S.c.lease_expires_at >= bindparam("b_keep_until"),
    )
    .with_for_update(read=True)
)
_RENEW = (
    update(S)
    .where(
        S.c.id == bindparam("b_session_id"),
        S.c.namespace == bindparam("b_namespace"),
        S.c.agent == bindparam("b_agent"),
        S.c.status == ACTIVE,
        S.c.lease_expires_at > bindparam("b_now"),
    )
    .values(lease_expires_at=bindparam("b_expires"))
    .returning(*S.c)
)


_ACTIVE_COUNT = select(tables.session_counts.c.active).where(
    tables.session_counts.c.namespace == bindparam("b_namespace")
)


def _info(row: Any) -> SessionInfo:
    return SessionInfo.model_validate(dict(row._mapping))


class SessionService:
    def __init__(self, db: Database, settings: Settings, limiter: RateLimiter) -> None:
        self.db = db
        self.settings = settings
        self.limiter = limiter
        self.registry = Registry()

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.settings.session_ttl_seconds)

    async def start(
        self,
        namespace: str,
        agent: str,
        metadata: dict[str, Any] | None = None,
        *,
        parent_id: str | None = None,
        foreign_parent: bool = False,
    ) -> SessionInfo:
        """Open a session; the agent's expired-but-unclaimed sessions are marked superseded.

        A parent must be a session of the same agent: joining another agent's tree would put
        this session under that agent's cascade, callbacks and temporal documents. Only a
        trusted caller that spawns sessions for others (an orchestrator) passes
        `foreign_parent=True`.
        """
        check_name("namespace", namespace)
        check_name("agent", agent)
        metadata = check_meta(metadata, self.settings.max_meta_bytes)
        self.limiter.take(namespace, agent)
        now = utcnow()
        session_id = uuid7()
        async with self.db.write() as conn:
            await self.registry.ensure_namespace(conn, namespace, now)
            await self.registry.seen(conn, namespace, agent, now)
            await self._check_limits(conn, namespace, agent, now)
            root_id = session_id
            if parent_id is not None:
                parent = await self._get(conn, namespace, parent_id)
                if parent.agent != agent and not foreign_parent:
                    raise PermissionDenied(
                        f"session {parent_id} belongs to agent {parent.agent!r}: a session can "
                        "only be started under a session of the same agent",
                        parent_id=parent_id,
                    )
                root_id = parent.root_id
            superseded = await self._supersede(conn, namespace, agent, session_id, now)
            row = {
                "id": session_id,
                "namespace": namespace,
                "agent": agent,
                "parent_id": parent_id,
                "root_id": root_id,
                "status": ACTIVE,
                "metadata": metadata,
                "created_at": now,
                "lease_expires_at": now + self.ttl,
            }
            await conn.execute(S.insert().values(**row))
            await events.record(
                conn,
                *[
                    events.event_row(
                        now,
                        namespace,
                        EventTypes.SESSION_SUPERSEDED,
                        {"session_id": old, "superseded_by": session_id},
                        agent=agent,
                        session_id=old,
                    )
                    for old in superseded
                ],
                events.event_row(
                    now,
                    namespace,
                    EventTypes.SESSION_STARTED,
                    {"session_id": session_id, "parent_id": parent_id, "metadata": metadata},
                    agent=agent,
                    session_id=session_id,
                ),
            )
        return SessionInfo.model_validate(row)

    async def _check_limits(self, conn: Conn, namespace: str, agent: str, now: datetime) -> None:
        # Count under the namespace row's lock, so concurrent starts cannot all pass on the same
        # count (PostgreSQL; on SQLite the single writer already serialises them). NO KEY UPDATE
        # does not block the KEY SHARE locks that foreign keys to the namespace take.
        await conn.execute(
            select(tables.namespaces.c.name)
            .where(tables.namespaces.c.name == namespace)
            .with_for_update(key_share=True)
        )
        live = and_(S.c.namespace == namespace, S.c.status == ACTIVE, S.c.lease_expires_at > now)
        per_agent = await conn.scalar(select(func.count()).where(live, S.c.agent == agent))
        if (per_agent or 0) >= self.settings.max_sessions_per_agent:
            raise RateLimited(
                f"agent {agent!r} already has {per_agent} active sessions "
                f"(limit {self.settings.max_sessions_per_agent}); end one or let it expire",
                retry_after=self.settings.sweep_interval_seconds,
                limit="max_sessions_per_agent",
            )
        # The trigger-kept count of `active` rows bounds the live count from above (a lapsed
        # lease stays `active` until swept): below the limit, no need to count (O(n)) at all.
        limit = self.settings.max_sessions_per_namespace
        per_namespace = await conn.scalar(_ACTIVE_COUNT, {"b_namespace": namespace})
        if (per_namespace or 0) >= limit:
            per_namespace = await conn.scalar(select(func.count()).where(live))
        if (per_namespace or 0) >= limit:
            raise RateLimited(
                f"namespace {namespace!r} has {per_namespace} active sessions "
                f"(limit {self.settings.max_sessions_per_namespace})",
                retry_after=self.settings.sweep_interval_seconds,
                limit="max_sessions_per_namespace",
            )

    async def _supersede(
        self, conn: Conn, namespace: str, agent: str, new_id: str, now: datetime
    ) -> list[str]:
        lapsed = or_(
            and_(S.c.status == ACTIVE, S.c.lease_expires_at <= now),
            S.c.status == SessionStatus.EXPIRED.value,
        )
        result = await conn.execute(
            update(S)
            .where(S.c.namespace == namespace, S.c.agent == agent, S.c.superseded_by.is_(None))
            .where(lapsed)
            .values(
                status=SessionStatus.EXPIRED.value,
                superseded_by=new_id,
                ended_at=func.coalesce(S.c.ended_at, S.c.lease_expires_at),
            )
            .returning(S.c.id)
        )
        return sorted(result.scalars().all())

    async def hold(
        self, conn: Conn, namespace: str, agent: str, session_id: str, now: datetime
    ) -> None:
        """Check the session is live and owned by `agent` for a write in `conn`'s transaction;
        rewrite its lease only when less than `session_renew_fraction` of the TTL is left.

        The stored expiry is the only one there is: a call that skips the rewrite tells nobody
        a later one, and a lease that ran out is refused exactly as `renew` refuses it. After
        any successful call the lease has at least `fraction × TTL` left (docs/configuration.md).
        """
        check_text("session_id", session_id)
        margin = self.ttl * self.settings.session_renew_fraction
        if margin < self.ttl:
            held = await row_exists(
                conn,
                _STILL_HELD,
                {
                    "b_session_id": session_id,
                    "b_namespace": namespace,
                    "b_agent": agent,
                    "b_keep_until": now + margin,
                },
            )
            if held:
                return
        await self.renew(conn, namespace, agent, session_id, now)

    async def renew(
        self, conn: Conn, namespace: str, agent: str, session_id: str, now: datetime
    ) -> SessionInfo:
        """Check the session is live and owned by `agent`, and extend its lease (in `conn`'s txn)."""
        check_text("session_id", session_id)
        result = await conn.execute(
            _RENEW,
            {
                "b_session_id": session_id,
                "b_namespace": namespace,
                "b_agent": agent,
                "b_now": now,
                "b_expires": now + self.ttl,
            },
        )
        row = result.first()
        if row is not None:
            return _info(row)
        current = await self._get(conn, namespace, session_id)
        if current.agent != agent:
            raise PermissionDenied(
                f"session {session_id} belongs to agent {current.agent!r}, not {agent!r}",
                session_id=session_id,
            )
        if current.status in _ORCHESTRATED_LIVE:
            return current  # a run's session lives by its runs, not a lease (docs/orchestration.md)
        raise LeaseExpiredError(
            f"session {session_id} is {current.status.value}"
            + (" (lease ran out)" if current.status == SessionStatus.ACTIVE else "")
            + (f"; superseded by {current.superseded_by}" if current.superseded_by else "")
            + "; start a new session",
            session_id=session_id,
            status="expired" if current.status == SessionStatus.ACTIVE else current.status.value,
            superseded_by=current.superseded_by,
        )

    async def heartbeat(self, namespace: str, agent: str, session_id: str) -> SessionInfo:
        now = utcnow()
        async with self.db.write() as conn:
            info = await self.renew(conn, namespace, agent, session_id, now)
            await self.registry.seen(conn, namespace, agent, now)
            await events.record(
                conn,
                events.event_row(
                    now,
                    namespace,
                    EventTypes.SESSION_HEARTBEAT,
                    {
                        "session_id": session_id,
                        "lease_expires_at": info.lease_expires_at.isoformat(),
                    },
                    agent=agent,
                    session_id=session_id,
                ),
            )
        return info

    async def end(
        self, namespace: str, agent: str, session_id: str, status: EndStatus = EndStatus.FINISHED
    ) -> SessionInfo:
        """End a live session with `status`. Ending an expired or ended one is a LeaseExpiredError."""
        status = EndStatus(status)
        now = utcnow()
        async with self.db.write() as conn:
            current = await self.renew(conn, namespace, agent, session_id, now)
            if current.status in _ORCHESTRATED_LIVE:
                raise ConflictError(
                    f"session {session_id} is orchestrated ({current.status.value}): it ends "
                    "with its runs; stop it with stop_session",
                    session_id=session_id,
                    status=current.status.value,
                )
            result = await conn.execute(
                update(S)
                .where(S.c.id == session_id)
                .values(status=status.value, ended_at=now, lease_expires_at=now)
                .returning(*S.c)
            )
            info = _info(result.one())
            await events.record(
                conn,
                events.event_row(
                    now,
                    namespace,
                    EventTypes.SESSION_ENDED,
                    {"session_id": session_id, "status": status.value},
                    agent=agent,
                    session_id=session_id,
                ),
            )
        return info

    async def get(self, namespace: str, session_id: str) -> SessionInfo:
        async with self.db.read() as conn:
            return await self._get(conn, namespace, session_id)

    async def _get(self, conn: Conn, namespace: str, session_id: str) -> SessionInfo:
        check_text("session_id", session_id)
        row = (
            await conn.execute(select(S).where(S.c.id == session_id, S.c.namespace == namespace))
        ).first()
        if row is None:
            raise NotFound(
                f"no session {session_id} in namespace {namespace!r}", session_id=session_id
            )
        return _info(row)

    async def list(
        self,
        namespace: str,
        *,
        agent: str | None = None,
        status: SessionStatus | None = None,
        limit: int = 100,
    ) -> list[SessionInfo]:
        """Sessions newest first. `status=active` means a live lease, not merely unswept."""
        if limit < 1 or limit > self.settings.max_page_size:
            raise InvalidInput(f"limit must be 1-{self.settings.max_page_size}", field="limit")
        query = select(S).where(S.c.namespace == namespace)
        if agent is not None:
            query = query.where(S.c.agent == check_text("agent", agent))
        if status is not None:
            query = query.where(S.c.status == SessionStatus(status).value)
            if status == SessionStatus.ACTIVE:
                query = query.where(S.c.lease_expires_at > utcnow())
        async with self.db.read() as conn:
            rows = await conn.execute(query.order_by(S.c.id.desc()).limit(limit))
            return [_info(row) for row in rows]

    async def sweep(self, now: datetime | None = None, batch: int = 5_000) -> int:
        """Mark sessions whose lease ran out as expired, with one event each; returns the count.

        Works in batches, each its own transaction. The database builds the event rows itself
        (INSERT ... SELECT), so expiring 100,000 sessions costs no per-session Python work.
        """
        now = now or utcnow()
        total = 0
        while True:
            async with self.db.write() as conn:
                due = (
                    select(S.c.id)
                    .where(S.c.status == ACTIVE, S.c.lease_expires_at <= now)
                    .order_by(S.c.lease_expires_at)
                    .limit(batch)
                    .scalar_subquery()
                )
                result = await conn.execute(
                    update(S)
                    .where(S.c.id.in_(due))
                    .values(status=SessionStatus.EXPIRED.value, ended_at=S.c.lease_expires_at)
                    .returning(S.c.id)
                )
                expired = list(result.scalars())
                if expired:
                    await events.record_from(
                        conn,
                        select(
                            literal(now, UTCDateTime),
                            S.c.namespace,
                            literal(EventTypes.SESSION_EXPIRED),
                            S.c.agent,
                            S.c.id,
                            json_object(
                                conn,
                                session_id=S.c.id,
                                lease_expired_at=iso_utc(conn, S.c.lease_expires_at),
                            ),
                        )
                        .where(S.c.id.in_(expired))
                        .order_by(S.c.lease_expires_at, S.c.id),
                        columns=("ts", "namespace", "type", "agent", "session_id", "payload"),
                    )
            total += len(expired)
            metrics.SESSIONS_EXPIRED.inc(len(expired))
            if len(expired) < batch:
                return total
