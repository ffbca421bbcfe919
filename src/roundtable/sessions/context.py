"""Agent-scoped context (D2): each agent's current project per namespace, versioned.

A write naming `expected_version` succeeds only if the stored version still equals it; otherwise
it fails with `ConflictError` carrying the current version and project, and a `context.conflict`
event records the attempt. A write without it is an explicit last-write-wins, recorded as such.

A project's id and name never change and a project is never deleted, so the service remembers
both directions of that mapping once a transaction that read it has committed: a steady-state
`set_project` then runs three statements (lock the context row, update it, record the event)
instead of five (issue 16).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from roundtable.config import Settings
from roundtable.errors import ConflictError, InvalidInput
from roundtable.events import log as events
from roundtable.events.log import EventTypes
from roundtable.ids import utcnow
from roundtable.journal import projects
from roundtable.sessions.leases import SessionService
from roundtable.sessions.models import ContextInfo
from roundtable.store import tables
from roundtable.store.dialect import backend_of
from roundtable.store.engine import Conn, Database, after_commit
from roundtable.validation import check_name

C = tables.agent_context
P = tables.projects

# Built once with bind parameters, as on the append path: `set_project` runs six statements, and
# building each per call cost more CPU than the database spends running it (issue 16).
_MATCH = (C.c.namespace == bindparam("b_namespace"), C.c.agent == bindparam("b_agent"))
_CREATE = {
    name: dialect.insert(C)
    .values(
        namespace=bindparam("b_namespace"),
        agent=bindparam("b_agent"),
        project_id=None,
        version=0,
        updated_at=bindparam("b_now"),
    )
    .on_conflict_do_nothing()
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}
_GET = (
    select(C, P.c.name.label("project"))
    .select_from(C.outerjoin(P, C.c.project_id == P.c.id))
    .where(*_MATCH)
)
_LOCK = select(C.c.version, C.c.project_id).where(*_MATCH).with_for_update()
_PROJECT_NAME = select(P.c.name).where(P.c.id == bindparam("b_project_id"))
_SET = (
    update(C)
    .where(*_MATCH)
    .values(
        project_id=bindparam("b_project_id"),
        version=C.c.version + 1,
        updated_at=bindparam("b_now"),
        updated_by_session=bindparam("b_session_id"),
    )
    .returning(*C.c)
)


#: Projects remembered per direction; past this the memory starts over (it is only a shortcut).
_MAX_REMEMBERED = 100_000


class ContextService:
    def __init__(self, db: Database, settings: Settings, sessions: SessionService) -> None:
        self.db = db
        self.settings = settings
        self.sessions = sessions
        #: (namespace, project name) -> project id, and id -> name, of committed projects.
        self._project_ids: dict[tuple[str, str], int] = {}
        self._project_names: dict[int, str] = {}

    def _remember(self, namespace: str | None, name: str, project_id: int) -> None:
        """Remember a project (its id by name too if `namespace` is given) once the transaction
        that read it has committed: a project created in one that rolls back must not be
        remembered, as its id may be used again."""

        def remember() -> None:
            if len(self._project_names) >= _MAX_REMEMBERED:
                self._project_ids.clear()
                self._project_names.clear()
            self._project_names[project_id] = name
            if namespace is not None:
                self._project_ids[(namespace, name)] = project_id

        after_commit(remember)

    async def _target(
        self, conn: Conn, namespace: str, name: str, agent: str, now: datetime, create: bool
    ) -> tuple[int, list[dict[str, Any]]]:
        """The id of the project to switch to (created first with `create`), and the events
        of its creation to record (none if it existed)."""
        known = self._project_ids.get((namespace, name))
        if known is not None:
            return known, []
        created: list[dict[str, Any]] = []
        if create:
            target, created = await projects.create(
                conn, namespace, name, agent, now, exist_ok=True
            )
        else:
            target = await projects.require(conn, namespace, name)
        self._remember(namespace, name, target.id)
        return target.id, created

    async def get(self, namespace: str, agent: str) -> ContextInfo:
        check_name("agent", agent)
        async with self.db.read() as conn:
            row = (await conn.execute(_GET, {"b_namespace": namespace, "b_agent": agent})).first()
        if row is None:
            return ContextInfo(namespace=namespace, agent=agent, project=None, version=0)
        return _context(row._mapping)

    async def set(
        self,
        namespace: str,
        agent: str,
        project: str,
        *,
        expected_version: int | None = None,
        create: bool = False,
        session_id: str | None = None,
    ) -> ContextInfo:
        check_name("namespace", namespace)
        check_name("agent", agent)
        check_name("project", project)
        if expected_version is not None and expected_version < 0:
            raise InvalidInput("expected_version must be >= 0", field="expected_version")
        self.sessions.limiter.take(namespace, agent)
        now = utcnow()
        conflict: ConflictError | None = None
        async with self.db.write() as conn:
            if session_id is not None:
                await self.sessions.hold(conn, namespace, agent, session_id, now)
            await self.sessions.registry.ensure_namespace(conn, namespace, now)
            await self.sessions.registry.seen(conn, namespace, agent, now)
            old_version, old_project = await self._lock(conn, namespace, agent, now)
            if expected_version is not None and expected_version != old_version:
                # Checked before the project is resolved: a refused write creates nothing.
                conflict = ConflictError(
                    f"context of agent {agent!r} is at version {old_version}, "
                    f"not {expected_version}",
                    current_version=old_version,
                    current_project=old_project,
                    expected_version=expected_version,
                )
                await events.record(
                    conn,
                    events.event_row(
                        now,
                        namespace,
                        EventTypes.CONTEXT_CONFLICT,
                        {**conflict.data, "requested_project": project},
                        project=project,
                        agent=agent,
                        session_id=session_id,
                    ),
                )
            else:
                target_id, created = await self._target(
                    conn, namespace, project, agent, now, create
                )
                row = (
                    await conn.execute(
                        _SET,
                        {
                            "b_namespace": namespace,
                            "b_agent": agent,
                            "b_project_id": target_id,
                            "b_now": now,
                            "b_session_id": session_id,
                        },
                    )
                ).one()
                info = _context({**row._mapping, "project": project})
                await events.record(
                    conn,
                    *created,
                    events.event_row(
                        now,
                        namespace,
                        EventTypes.CONTEXT_CHANGED,
                        {
                            "old_project": old_project,
                            "new_project": project,
                            "old_version": old_version,
                            "new_version": info.version,
                            "mode": "versioned"
                            if expected_version is not None
                            else "last_write_wins",
                        },
                        project=project,
                        agent=agent,
                        session_id=session_id,
                    ),
                )
        if conflict is not None:
            raise conflict  # raised after commit, so the conflict event is kept
        return info

    async def _lock(
        self, conn: Conn, namespace: str, agent: str, now: datetime
    ) -> tuple[int, str | None]:
        """Lock the agent's context row (creating it at version 0) and return its state."""
        keys = {"b_namespace": namespace, "b_agent": agent}
        # Lock the context row on its own: after waiting for a concurrent writer, PostgreSQL
        # re-reads only the locked row, so a joined project name would be the stale one. The
        # row exists after an agent's first call: it is created (and read again) only if not.
        current = (await conn.execute(_LOCK, keys)).first()
        if current is None:
            await conn.execute(_CREATE[backend_of(conn)], {**keys, "b_now": now})
            current = (await conn.execute(_LOCK, keys)).one()
        project_id = current.project_id
        if project_id is None:
            return current.version, None
        name = self._project_names.get(project_id)
        if name is None:
            name = await conn.scalar(_PROJECT_NAME, {"b_project_id": project_id})
            if name is not None:
                self._remember(None, name, project_id)
        return current.version, name

    async def current_project(self, namespace: str, agent: str) -> str:
        """The agent's current project, or a clear error when none is set."""
        info = await self.get(namespace, agent)
        if info.project is None:
            raise InvalidInput(
                f"agent {agent!r} has no current project: call set_project first or name one",
                field="project",
            )
        return info.project


def _context(m: Any) -> ContextInfo:
    return ContextInfo(
        namespace=m["namespace"],
        agent=m["agent"],
        project=m["project"],
        version=m["version"],
        updated_at=m["updated_at"],
        updated_by_session=m["updated_by_session"],
    )
