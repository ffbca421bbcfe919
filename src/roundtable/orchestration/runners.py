"""Runners: registration, heartbeats (which renew their runs' leases and carry stop requests),
graceful shutdown, and the list with online/stale/gone state."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from pydantic import Field
from sqlalchemy import func, select, update

from roundtable.auth.perms import require_runner_registration
from roundtable.auth.tokens import Principal, TokenService
from roundtable.config import Settings
from roundtable.errors import InvalidInput, NotFound, PermissionDenied
from roundtable.ids import utcnow, uuid7
from roundtable.journal.service import JournalService
from roundtable.orchestration import events as ev
from roundtable.orchestration import flow
from roundtable.orchestration import statements as st
from roundtable.orchestration.models import (
    HELD,
    HeartbeatReply,
    RunnerInfo,
    RunnerRegistration,
    Strict,
)
from roundtable.sessions.registry import Registry
from roundtable.store import tables
from roundtable.store.engine import Conn, Database, row_exists
from roundtable.validation import check_name, check_text

RN = tables.runners
R = tables.runs
ONLINE, GONE = "online", "gone"
#: Gone by its own `DELETE`: final. A runner declared gone by the sweeper (lease lapsed) may
#: come back (heartbeat or claim); a deregistered one must register again.
DEREGISTERED = "deregistered"
TAG = r"^[A-Za-z0-9][A-Za-z0-9._:=-]{0,63}$"
#: Runner tokens live long: a runner re-registers when its token expires or it is declared gone.
RUNNER_TOKEN_TTL = timedelta(days=30)


class RegisterRunner(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")
    hostname: str = Field(default="", max_length=255)
    namespace: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=64)
    executors: list[str] = Field(min_length=1, max_length=32)
    capacity: int = Field(default=1, ge=1, le=1024)


class RunnerService:
    def __init__(
        self, db: Database, settings: Settings, tokens: TokenService, journal: JournalService
    ) -> None:
        self.db = db
        self.settings = settings
        self.tokens = tokens
        self.journal = journal
        self.registry = Registry()

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.settings.run_lease_seconds)

    async def register(self, principal: Principal, body: RegisterRunner) -> RunnerRegistration:
        """Register a runner (admin, or a token granted `runners:register`); returns its token."""
        if principal.scope is not None or principal.runner_id is not None:
            raise PermissionDenied("run and runner tokens cannot register runners")
        require_runner_registration(principal)
        namespace = principal.namespace_for(body.namespace, self.settings.namespace)
        for tag in body.tags:
            _check_tag(tag, "tags")
        for kind in body.executors:
            _check_tag(kind, "executors")
        now = utcnow()
        runner_id = uuid7()
        async with self.db.write() as conn:
            await self.registry.ensure_namespace(conn, namespace, now)
            await conn.execute(
                RN.insert().values(
                    id=runner_id,
                    namespace=namespace,
                    name=body.name,
                    hostname=body.hostname,
                    tags=sorted(set(body.tags)),
                    executors=sorted(set(body.executors)),
                    capacity=body.capacity,
                    state=ONLINE,
                    registered_at=now,
                    last_heartbeat=now,
                    lease_expires_at=now + self.lease,
                )
            )
            tx = flow.Tx(conn, now, self.settings)
            tx.emit(
                namespace,
                ev.RUNNER_REGISTERED,
                {
                    "runner_id": runner_id,
                    "name": body.name,
                    "hostname": body.hostname,
                    "tags": sorted(set(body.tags)),
                    "executors": sorted(set(body.executors)),
                    "capacity": body.capacity,
                },
            )
            await tx.flush(self.journal.append_in)
        return RunnerRegistration(
            id=runner_id,
            token=self.tokens.mint_runner(runner_id, namespace, RUNNER_TOKEN_TTL),
            heartbeat_seconds=self.settings.runner_heartbeat_seconds,
            run_lease_seconds=self.settings.run_lease_seconds,
        )

    async def heartbeat(
        self, principal: Principal, runner_id: str, running: list[str]
    ) -> HeartbeatReply:
        """Renew the runner and the leases of the runs it holds; tell it which to stop (runs
        asked to stop, and runs it reports that are no longer its own)."""
        for run_id in running:
            check_text("running", run_id)

        async def work(conn: Conn) -> HeartbeatReply:
            now = utcnow()
            await own_runner(conn, principal, runner_id, lock=True, live=True)
            await conn.execute(
                update(RN)
                .where(RN.c.id == runner_id)
                .values(state=ONLINE, last_heartbeat=now, lease_expires_at=now + self.lease)
            )
            held = (
                await conn.execute(
                    select(R.c.id, R.c.stop_requested).where(
                        R.c.runner_id == runner_id, R.c.status.in_(HELD)
                    )
                )
            ).all()
            mine = {row.id for row in held}
            renew = sorted(mine & set(running))
            # Rows in the global lock order (sessions, then runs): a bare multi-row UPDATE
            # would lock the runs in whatever order it meets them and can deadlock a report.
            tx = flow.Tx(conn, now, self.settings)
            locked = await flow.lock_runs(tx, renew)
            renew = [run.id for run in locked if run.runner_id == runner_id and run.status in HELD]
            if renew:
                await conn.execute(
                    update(R).where(R.c.id.in_(renew)).values(lease_expires_at=now + self.lease)
                )
            stop = sorted({row.id for row in held if row.stop_requested} | (set(running) - mine))
            return HeartbeatReply(stop=stop, runs_renewed=renew)

        return await self.db.retrying(work)

    async def deregister(self, principal: Principal, runner_id: str) -> None:
        """Graceful shutdown: the runner is gone and its unfinished runs go back to the queue."""

        async def work(conn: Conn) -> None:
            tx = flow.Tx(conn, utcnow(), self.settings)
            runner = await own_runner(conn, principal, runner_id, lock=True)
            await self.retire(tx, runner, "shutdown", state=DEREGISTERED)
            await tx.flush(self.journal.append_in)

        await self.db.retrying(work)

    async def retire(self, tx: flow.Tx, runner: Any, reason: str, state: str = GONE) -> None:
        """Mark a runner gone and requeue (attempt + 1, bounded) the runs it held."""
        await tx.conn.execute(update(RN).where(RN.c.id == runner.id).values(state=state))
        held = (
            await tx.conn.execute(
                select(R.c.id)
                .where(R.c.runner_id == runner.id, R.c.status.in_(HELD))
                .order_by(R.c.id)
            )
        ).scalars()
        requeued = []
        for run in await flow.lock_runs(tx, list(held)):  # all locked first, in global order
            if run.runner_id != runner.id or run.status not in HELD:
                continue
            cause = "runner_left" if reason == "shutdown" else "runner_gone"
            if await flow.requeue(tx, run, f"runner {reason}", cause=cause):
                requeued.append(run.id)
        tx.emit(
            runner.namespace,
            ev.RUNNER_GONE,
            {"runner_id": runner.id, "reason": reason, "requeued": requeued},
        )

    async def list(self, namespace: str) -> list[RunnerInfo]:
        now = utcnow()
        stale_after = timedelta(seconds=3 * self.settings.runner_heartbeat_seconds)
        async with self.db.read() as conn:
            counts: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(R.c.runner_id, func.count())
                        .where(R.c.namespace == namespace, R.c.status.in_(HELD))
                        .group_by(R.c.runner_id)
                    )
                ).all()
            )
            rows = await conn.execute(
                select(RN).where(RN.c.namespace == namespace).order_by(RN.c.name, RN.c.id)
            )
            out = []
            for row in rows:
                if row.state in (GONE, DEREGISTERED) or row.lease_expires_at <= now:
                    state = "gone"
                elif now - row.last_heartbeat > stale_after:
                    state = "stale"
                else:
                    state = "online"
                out.append(
                    RunnerInfo(
                        id=row.id,
                        name=row.name,
                        hostname=row.hostname,
                        namespace=row.namespace,
                        tags=row.tags,
                        executors=row.executors,
                        capacity=row.capacity,
                        running=int(counts.get(row.id, 0)),
                        state=state,
                        last_heartbeat=row.last_heartbeat,
                    )
                )
            return out


def _check_tag(value: str, field: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(TAG, value):
        raise InvalidInput(
            f"invalid {field} entry {value!r}: 1-64 of letters, digits and ._:=-", field=field
        )


async def own_runner(
    conn: Conn,
    principal: Principal,
    runner_id: str,
    *,
    lock: bool = False,
    live: bool = False,
    held: bool = False,
) -> Any:
    """The runner row, if the caller is that runner (or the admin). With `live`, a runner that
    deregistered is refused (404: it registers again): nothing may revive it or give it work,
    e.g. a long-poll that outlived its `DELETE`. With `held` the row is locked and also says
    how many runs the runner holds (`held`; in the same statement: SQLite only, see
    `statements.LOCK_RUNNER_HELD`)."""
    _check_caller(principal, runner_id)
    query = st.LOCK_RUNNER_HELD if held else st.LOCK_RUNNER if lock else st.RUNNER
    row = (await conn.execute(query, {"b_id": runner_id})).first()
    if row is None:
        raise NotFound(f"no runner {runner_id}", runner_id=runner_id)
    if live and row.state == DEREGISTERED:
        raise NotFound(f"runner {runner_id} deregistered: register again", runner_id=runner_id)
    check_name("namespace", row.namespace)
    return row


async def check_runner(conn: Conn, principal: Principal, runner_id: str) -> None:
    """`own_runner`'s checks and errors for a caller that needs only to know the runner is
    there and is the caller's (a report: the run row says whose it is); its row is not read."""
    _check_caller(principal, runner_id)
    if not await row_exists(conn, st.RUNNER_EXISTS, {"b_id": runner_id}):
        raise NotFound(f"no runner {runner_id}", runner_id=runner_id)


def _check_caller(principal: Principal, runner_id: str) -> None:
    if not principal.admin and principal.runner_id != runner_id:
        raise PermissionDenied("only the runner's own token (or the admin) may act for it")
    check_text("runner_id", runner_id)
