"""Agent sessions: start, resume, inspect, wait for and stop the sessions of a tree.

A session started from a blueprint has a parent (or is a root), a depth and a queue of runs;
its status follows its runs (pending -> running -> idle, or failed/stopped). Limits (D8):
a tree never grows past the namespace's or any ancestor blueprint's max depth, nor a session
past its max children.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select

from roundtable.auth.tokens import Principal
from roundtable.config import Settings
from roundtable.errors import ConflictError, InvalidInput, NotFound, PermissionDenied
from roundtable.events.filters import EventFilter
from roundtable.events.service import Event, EventService, Subscription
from roundtable.ids import utcnow, uuid7
from roundtable.journal import projects
from roundtable.journal.service import JournalService
from roundtable.orchestration import access, flow, parameters
from roundtable.orchestration import events as ev
from roundtable.orchestration import statements as st
from roundtable.orchestration.blueprints import BlueprintService
from roundtable.orchestration.loader import SessionLoader
from roundtable.orchestration.models import (
    BUSY,
    ENDED,
    AgentSession,
    Mode,
    OnParentExit,
    Run,
    SessionResult,
    TreeStatus,
    WaitResult,
)
from roundtable.sessions.registry import Registry
from roundtable.store import tables
from roundtable.store.engine import Conn, Database, after_commit, write_rows
from roundtable.structured.outputs import OutputRequest, validation_summary
from roundtable.validation import check_name, check_text

S = tables.sessions
R = tables.runs
ACTIVE = "active"
MAX_PRIORITY = 1000
#: Namespaces remembered as existing (the set is cleared when full).
KNOWN_NAMESPACES = 10_000


def agent_session(row: Any, **extra: Any) -> AgentSession:
    return AgentSession.model_validate({**flow.row_dict(row), **extra})


def run_model(row: Any) -> Run:
    return Run.model_validate(dict(row._mapping))


class TreeService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        blueprints: BlueprintService,
        journal: JournalService,
        events: EventService,
    ) -> None:
        self.db = db
        self.settings = settings
        self.blueprints = blueprints
        self.journal = journal
        self.events = events
        self.registry = Registry()
        self.loader = SessionLoader(db)
        #: Namespaces whose row this process saw committed (a namespace is never deleted).
        self._namespaces: set[str] = set()

    def tx(self, conn: Conn) -> flow.Tx:
        return flow.Tx(conn, utcnow(), self.settings)

    async def commit(self, tx: flow.Tx) -> None:
        await tx.flush(self.journal.append_in)

    # -- start -------------------------------------------------------------------------------

    async def start(
        self,
        namespace: str,
        principal: Principal,
        blueprint: str,
        params: Any,
        *,
        mode: Mode = Mode.ASYNC_POLL,
        parent_session_id: str | None = None,
        project: str | None = None,
        on_parent_exit: OnParentExit | None = None,
        priority: int = 0,
        wait_seconds: float = 60.0,
        output: OutputRequest | None = None,
    ) -> AgentSession:
        """Start a session from `blueprint` with its first run queued; `sync` also waits."""
        check_name("namespace", namespace)
        mode = Mode(mode)
        if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
            raise InvalidInput(
                f"priority must be -{MAX_PRIORITY}..{MAX_PRIORITY}", field="priority"
            )
        if principal.scope is not None:
            if parent_session_id not in (None, principal.scope.session_id):
                raise PermissionDenied(
                    "a run token starts children of its own session only",
                    parent_session_id=parent_session_id,
                )
            parent_session_id = principal.scope.session_id
        if project is not None:
            check_name("project", project)
        session_id = uuid7()
        async with contextlib.AsyncExitStack() as stack:
            # `sync` subscribes to the session's status BEFORE it exists, so the wait needs no
            # read until an event says it is no longer busy (nothing can be missed meanwhile).
            sub = (
                await stack.enter_async_context(
                    self.events.subscribe(self._status_filter(namespace, session_id))
                )
                if mode == Mode.SYNC
                else None
            )
            session = await self._create(
                namespace,
                principal,
                blueprint,
                params,
                session_id,
                mode=mode,
                parent_session_id=parent_session_id,
                project=project,
                on_parent_exit=on_parent_exit,
                priority=priority,
                output=output,
            )
            if sub is not None:
                return await self.wait_one(namespace, session_id, wait_seconds, sub=sub)
        return agent_session(session)

    async def _create(
        self,
        namespace: str,
        principal: Principal,
        blueprint: str,
        params: Any,
        session_id: str,
        *,
        mode: Mode,
        parent_session_id: str | None,
        project: str | None,
        on_parent_exit: OnParentExit | None,
        priority: int,
        output: OutputRequest | None,
    ) -> Any:
        """The session row and its first run, queued, in one write transaction."""
        async with self.db.write() as conn:
            tx = self.tx(conn)
            row = await self.blueprints.row(conn, namespace, blueprint)
            if row.status != "active":
                raise InvalidInput(
                    f"blueprint {blueprint!r} is disabled; enable it to start sessions",
                    field="blueprint",
                    blueprint=blueprint,
                )
            spec = await self.blueprints.version(conn, namespace, blueprint, row.version)
            params = parameters.validate(spec.parameters_schema, params, blueprint)
            parent = None
            depth, root_id = 0, session_id
            if parent_session_id is not None:
                parent = await access.load(conn, namespace, parent_session_id, lock=True)
                await access.authorize(conn, principal, parent)
                await self._check_parent(conn, parent, mode)
                depth, root_id = parent.depth + 1, parent.root_id
                project = project if project is not None else parent.project
            elif mode == Mode.ASYNC_CALLBACK:
                raise InvalidInput(
                    "async_callback needs a parent session to call back", field="mode"
                )
            if project is not None:
                await projects.require(conn, namespace, project)
            if namespace not in self._namespaces:
                await self.registry.ensure_namespace(conn, namespace, tx.now)
                after_commit(lambda: self._known(namespace))
            await self.registry.seen(conn, namespace, spec.name, tx.now)
            values = {
                "id": session_id,
                "namespace": namespace,
                "agent": spec.name,
                "parent_id": parent_session_id,
                "root_id": root_id,
                "status": TreeStatus.PENDING.value,
                # Who started a root tree with an agent token: that agent may see the tree.
                "metadata": {"started_by": principal.agent} if principal.agent else {},
                "created_at": tx.now,
                "lease_expires_at": tx.now,
                "depth": depth,
                "blueprint": spec.name,
                "blueprint_version": row.version,
                "mode": mode.value,
                "project": project,
                "on_parent_exit": (on_parent_exit or spec.on_parent_exit).value,
            }
            await write_rows(conn, st.INSERT_SESSION, values)
            tx.emit(
                namespace,
                ev.SESSION_CREATED,
                {
                    "session_id": session_id,
                    "parent_id": parent_session_id,
                    "root_id": root_id,
                    "depth": depth,
                    "blueprint": spec.name,
                    "blueprint_version": row.version,
                    "mode": mode.value,
                },
                agent=spec.name,
                session_id=session_id,
                project=project,
            )
            # the row as inserted, without reading it back (no column has a server default
            # that `values` leaves to the database)
            session = SimpleNamespace(**{**st.EMPTY_SESSION, **values})
            await flow.enqueue(tx, session, spec, "start", params, priority, request=output)
            await self.commit(tx)
        return session

    def _known(self, namespace: str) -> None:
        if len(self._namespaces) >= KNOWN_NAMESPACES:
            self._namespaces.clear()
        self._namespaces.add(namespace)

    async def _check_parent(self, conn: Conn, parent: Any, mode: Mode) -> None:
        """The tree limits (depth, children) and a parent able to have children."""
        if parent.blueprint is None and parent.status != ACTIVE:
            raise ConflictError(
                f"parent session {parent.id} is {parent.status}; it cannot start children",
                session_id=parent.id,
                status=parent.status,
            )
        if parent.blueprint is not None and parent.status in ENDED:
            raise ConflictError(
                f"parent session {parent.id} has ended ({parent.status})",
                session_id=parent.id,
                status=parent.status,
            )
        if mode == Mode.ASYNC_CALLBACK and parent.blueprint is None:
            raise InvalidInput(
                "async_callback needs a parent started from a blueprint (something must run the "
                "callback); use async_poll or sync with wait_for_children",
                field="mode",
            )
        depth = parent.depth + 1
        if depth > self.settings.max_tree_depth:
            raise InvalidInput(
                f"the tree would reach depth {depth}; the namespace allows "
                f"{self.settings.max_tree_depth} (ROUNDTABLE_MAX_TREE_DEPTH)",
                field="parent_session_id",
                limit="max_tree_depth",
                depth=depth,
            )
        max_children = self.settings.max_children
        ancestor: Any = parent
        while ancestor is not None:
            if ancestor.blueprint is not None:
                spec = await flow.blueprint_version(
                    conn, ancestor.namespace, ancestor.blueprint, ancestor.blueprint_version
                )
                if depth - ancestor.depth > spec.limits.max_depth:
                    raise InvalidInput(
                        f"blueprint {spec.name!r} allows {spec.limits.max_depth} levels below its "
                        f"sessions; session {ancestor.id} is at depth {ancestor.depth} and the new "
                        f"one would be at {depth}",
                        field="parent_session_id",
                        limit="max_depth",
                        blueprint=spec.name,
                    )
                if ancestor is parent:
                    max_children = min(max_children, spec.limits.max_children)
            if ancestor.parent_id is None:
                break
            ancestor = (await conn.execute(select(S).where(S.c.id == ancestor.parent_id))).first()
        live = await conn.scalar(
            select(func.count()).where(S.c.parent_id == parent.id, S.c.status.notin_(ENDED))
        )
        if (live or 0) >= max_children:
            raise InvalidInput(
                f"session {parent.id} already has {live} live children (limit {max_children})",
                field="parent_session_id",
                limit="max_children",
            )

    # -- resume / stop -------------------------------------------------------------------------

    async def resume(
        self,
        namespace: str,
        principal: Principal,
        session_id: str,
        params: Any = None,
        prompt: str | None = None,
        mode: Mode | None = None,
        wait_seconds: float = 60.0,
        output: OutputRequest | None = None,
    ) -> AgentSession:
        """Queue a `resume` run for an idle session."""
        if (params is None) == (prompt is None):
            raise InvalidInput("give either parameters or prompt", field="parameters")
        if params is None:
            params = {"prompt": prompt}
        async with self.db.write() as conn:
            tx = self.tx(conn)
            session = await access.load(conn, namespace, session_id, lock=True)
            await access.authorize(conn, principal, session)
            if session.blueprint is None:
                raise InvalidInput(f"session {session_id} was not started from a blueprint")
            if session.status != TreeStatus.IDLE.value:
                raise ConflictError(
                    f"session {session_id} is {session.status}; only an idle session resumes",
                    session_id=session_id,
                    status=session.status,
                )
            spec = await flow.blueprint_version(
                conn, namespace, session.blueprint, session.blueprint_version
            )
            params = parameters.validate(spec.parameters_schema, params, spec.name)
            await flow.enqueue(tx, session, spec, "resume", params, request=output)
            extra = {"mode": Mode(mode).value} if mode is not None else {}
            await flow.set_status(tx, session, TreeStatus.PENDING.value, "resume", **extra)
            await self.commit(tx)
            session = (await conn.execute(select(S).where(S.c.id == session_id))).one()
        if mode == Mode.SYNC:
            return await self.wait_one(namespace, session_id, wait_seconds)
        return agent_session(session)

    async def stop(self, namespace: str, principal: Principal, session_id: str) -> AgentSession:
        """Stop a session and (per `on_parent_exit`) its running children."""
        async with self.db.write() as conn:
            tx = self.tx(conn)
            session = await access.load(conn, namespace, session_id, lock=True)
            await access.authorize(conn, principal, session)
            if session.blueprint is None:
                raise InvalidInput(
                    f"session {session_id} is a plain session: end it with end_session",
                    field="session_id",
                )
            await flow.stop_session(tx, session, "stopped by request")
            await self.commit(tx)
            row = (await conn.execute(select(S).where(S.c.id == session_id))).one()
        return agent_session(row)

    # -- read ----------------------------------------------------------------------------------

    async def get(self, namespace: str, principal: Principal, session_id: str) -> AgentSession:
        async with self.db.read() as conn:
            row = await access.load(conn, namespace, session_id)
            await access.authorize(conn, principal, row)
            return agent_session(row)

    async def peek(self, namespace: str, principal: Principal, session_id: str) -> AgentSession:
        """Any session of the namespace (as `GET /sessions/{id}` always allowed), but a run
        token still only within its tree."""
        async with self.db.read() as conn:
            row = await access.load(conn, namespace, session_id)
            if principal.scope is not None:
                await access.authorize(conn, principal, row)
            return agent_session(row)

    async def result(self, namespace: str, principal: Principal, session_id: str) -> SessionResult:
        async with self.db.read() as conn:
            row = await access.load(conn, namespace, session_id)
            await access.authorize(conn, principal, row)
            last = (
                await conn.execute(
                    select(R.c.id, R.c.output_schema_ref, R.c.validation)
                    .where(R.c.session_id == session_id)
                    .order_by(R.c.created_at.desc(), R.c.id.desc())
                    .limit(1)
                )
            ).first()
        run_id = last.id if last is not None else None
        return SessionResult(
            session_id=row.id,
            status=row.status,
            result_text=row.result_text,
            result_data=row.result_data,
            error=row.error,
            run_id=run_id,
            validation=validation_summary(last),  # issue 10
        )

    async def children(
        self, namespace: str, principal: Principal, session_id: str
    ) -> list[AgentSession]:
        async with self.db.read() as conn:
            row = await access.load(conn, namespace, session_id)
            await access.authorize(conn, principal, row)
            rows = await conn.execute(select(S).where(S.c.parent_id == session_id).order_by(S.c.id))
            return [agent_session(r) for r in rows]

    async def runs(self, namespace: str, principal: Principal, session_id: str) -> list[Run]:
        async with self.db.read() as conn:
            row = await access.load(conn, namespace, session_id)
            await access.authorize(conn, principal, row)
            rows = await conn.execute(
                select(R).where(R.c.session_id == session_id).order_by(R.c.created_at, R.c.id)
            )
            return [run_model(r) for r in rows]

    async def run(self, namespace: str, principal: Principal, run_id: str) -> Run:
        check_text("run_id", run_id)
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(R).where(R.c.id == run_id, R.c.namespace == namespace))
            ).first()
            if row is None:
                raise NotFound(f"no run {run_id} in namespace {namespace!r}", run_id=run_id)
            session = await access.load(conn, namespace, row.session_id)
            await access.authorize(conn, principal, session)
            return run_model(row)

    # -- waiting -------------------------------------------------------------------------------

    def _status_filter(self, namespace: str, session_id: str | None) -> EventFilter:
        return EventFilter.build(
            namespace=namespace,
            types=[ev.SESSION_STATUS, ev.SESSION_CREATED],
            session_id=session_id,
        )

    async def wait_one(
        self,
        namespace: str,
        session_id: str,
        timeout: float,  # noqa: ASYNC109
        *,
        sub: Subscription | None = None,
    ) -> AgentSession:
        """The session once it left pending/running, or as it is after `timeout`. `sub`: a
        subscription taken before the session was queued (it is known busy until an event)."""

        def relevant(event: Event) -> bool:  # a move into a busy status cannot end the wait
            return event.type == ev.SESSION_STATUS and event.payload.get("status") not in BUSY

        async def fetch() -> list[Any]:
            row = await self.loader.get(session_id)
            return [] if row is None else [row]

        done, rows = await self._wait(
            namespace,
            fetch,
            timeout,
            session_id=session_id,
            relevant=relevant,
            sub=sub,
        )
        if not rows:
            raise NotFound(
                f"session {session_id} was deleted while waited for", session_id=session_id
            )
        return agent_session(rows[0], timed_out=not done)

    async def wait_children(
        self,
        namespace: str,
        principal: Principal,
        session_id: str,
        children: list[str] | None,
        timeout: float,  # noqa: ASYNC109 - a join barrier's bound is part of the request
    ) -> WaitResult:
        """Join barrier: done when every named child (default: all) is no longer busy."""
        async with self.db.read() as conn:
            parent = await access.load(conn, namespace, session_id)
            await access.authorize(conn, principal, parent)
            if children is not None:
                for child in children:
                    check_text("children", child)
                found = set(
                    (
                        await conn.execute(
                            select(S.c.id).where(S.c.parent_id == session_id, S.c.id.in_(children))
                        )
                    ).scalars()
                )
                missing = sorted(set(children) - found)
                if missing:
                    raise InvalidInput(
                        f"not children of session {session_id}: {', '.join(missing)}",
                        field="children",
                        missing=missing,
                    )

        async def rows(conn: Conn) -> list[Any]:
            query = select(S).where(S.c.parent_id == session_id)
            if children is not None:
                query = query.where(S.c.id.in_(children))
            return list(await conn.execute(query.order_by(S.c.id)))

        known: set[str] = set(children or ())

        async def read() -> list[Any]:
            async with self.db.read() as conn:
                found = await rows(conn)
            known.update(row.id for row in found)
            return found

        def relevant(event: Event) -> bool:
            if event.type == ev.SESSION_CREATED:  # a new child joins an "all children" barrier
                return children is None and event.payload.get("parent_id") == session_id
            return event.session_id in known

        done, found_rows = await self._wait(namespace, read, timeout, relevant=relevant)
        return WaitResult(done=done, sessions=[agent_session(r) for r in found_rows])

    async def _wait(
        self,
        namespace: str,
        read: Callable[[], Awaitable[list[Any]]],
        timeout: float,  # noqa: ASYNC109
        *,
        session_id: str | None = None,
        relevant: Callable[[Event], bool] | None = None,
        sub: Subscription | None = None,
    ) -> tuple[bool, list[Any]]:
        """Re-read when a relevant `session.status` event arrives, until no row is busy.

        Events are matched in memory first (the bus filters by `session_id`; `relevant` looks
        at the rest), so many waiters do not each re-read the table on every status change.
        """
        timeout = min(max(timeout, 0.0), self.settings.max_wait_seconds)
        deadline = time.monotonic() + timeout
        async with contextlib.AsyncExitStack() as stack:
            # a subscription given by the caller predates the rows: they are busy until an event
            stale = sub is None
            if sub is None:
                wanted = self._status_filter(namespace, session_id)
                sub = await stack.enter_async_context(self.events.subscribe(wanted))
            rows: list[Any] = []
            done = fresh = False
            while True:
                remaining = deadline - time.monotonic()
                if stale or (not fresh and remaining <= 0):
                    rows = await read()
                    fresh = True
                    done = all(r.status not in BUSY for r in rows)
                if done or remaining <= 0:
                    return done, rows
                try:
                    item = await sub.next(min(remaining, self.settings.event_fallback_poll_seconds))
                except StopAsyncIteration:
                    await asyncio.sleep(min(remaining, self.settings.event_poll_seconds))
                    item = None
                # A timeout (None), a resync or a drop: read again to be safe.
                stale = not isinstance(item, Event) or relevant is None or relevant(item)
