"""The run queue: atomic claims (long-polled), and the tokens a runner gets for runs it holds.

The `runs` table is the queue; nothing in memory is authoritative. A claim is one write
transaction: on PostgreSQL the candidate rows are taken `FOR UPDATE SKIP LOCKED` (concurrent
claimers on any instance skip each other's rows), on SQLite the transaction holds the database
writer lock (`BEGIN IMMEDIATE`). Which runs match a runner is `matching`; the runner's free
capacity bounds how many it gets. The runner's reports on its runs are `reports.RunReports`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from roundtable import metrics
from roundtable.auth.tokens import AUDIENCE, Principal, RunScope, TokenService
from roundtable.config import Settings
from roundtable.errors import PermissionDenied
from roundtable.events.filters import EventFilter
from roundtable.events.service import EventService
from roundtable.ids import utcnow
from roundtable.journal.service import JournalService
from roundtable.orchestration import events as ev
from roundtable.orchestration import flow, mcp_servers
from roundtable.orchestration import statements as st
from roundtable.orchestration.matching import MAX_CLAIM, RunnerShape, candidates, probe
from roundtable.orchestration.models import (
    HELD,
    BlueprintSpec,
    ClaimedBlueprint,
    ClaimedRun,
    RunStatus,
    TreeStatus,
)
from roundtable.orchestration.reports import RunReports
from roundtable.orchestration.runners import DEREGISTERED, GONE, ONLINE, own_runner
from roundtable.store import tables
from roundtable.store.dialect import backend_of
from roundtable.store.engine import Conn, Database
from roundtable.structured import outputs
from roundtable.validation import check_text

R = tables.runs
S = tables.sessions
RN = tables.runners
#: Runners whose shape (namespace, executors, tags, capacity) is cached, and parsed blueprint
#: versions; each cache is cleared when full.
SHAPES = 10_000
#: A long-polling claim checks this often (seconds) whether its client is still there.
DISCONNECT_CHECK = 1.0


def renewal_interval(settings: Settings) -> timedelta:
    """How stale a runner's renewal may be before a claim rewrites it: its heartbeat interval
    (at most a third of the run lease, as `roundtable runner` paces its heartbeats)."""
    return timedelta(seconds=min(settings.runner_heartbeat_seconds, settings.run_lease_seconds / 3))


class QueueService(RunReports):
    """Claims, and upstream tokens for the runs a runner holds; its reports are `RunReports`."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        tokens: TokenService,
        journal: JournalService,
        events: EventService,
    ) -> None:
        self.db = db
        self.settings = settings
        self.tokens = tokens
        self.journal = journal
        self.events = events
        self._shapes: dict[str, RunnerShape] = {}
        self._specs: dict[tuple[str, str, int], BlueprintSpec] = {}
        #: Runners whose last claim got every run it asked for (see `_try_claim`).
        self._served_in_full: set[str] = set()

    async def claim(
        self,
        principal: Principal,
        runner_id: str,
        max_runs: int,
        wait: float,
        disconnected: Callable[[], Awaitable[bool]] | None = None,
        *,
        start: bool = False,
    ) -> list[ClaimedRun]:
        """Claim up to `max_runs` matching runs; long-poll up to `wait` seconds for the first.

        The waiter subscribes to `run.queued`/`run.requeued` events BEFORE each attempt, so a
        run queued between an empty attempt and the wait still wakes it (locally through the
        commit hook, across instances through NOTIFY or SQLite's data_version). The wait ends
        when `disconnected()` says the client hung up: no attempt is made for a caller that is
        no longer there (it could not receive the runs, which would sit until their lease lapsed).

        With `start` the runs are marked `running` in the claim's own transaction (the runner
        starts every run it claims at once), which spares the `started` report's round trip
        and write transaction: the claim's answer says all that report's answer would.
        """
        max_runs = max(1, min(max_runs, MAX_CLAIM))
        wait = min(max(wait, 0.0), self.settings.max_wait_seconds)
        namespace = (await self._shape(principal, runner_id)).namespace
        deadline = time.monotonic() + wait
        if wait == 0:
            return await self._try_claim(principal, runner_id, max_runs, start)
        wanted = EventFilter.build(namespace=namespace, types=list(ev.CLAIMABLE))
        async with self.events.subscribe(wanted) as sub:
            while True:
                if disconnected is not None and await disconnected():
                    return []
                claimed = await self._try_claim(principal, runner_id, max_runs, start)
                remaining = deadline - time.monotonic()
                if claimed or remaining <= 0:
                    return claimed
                try:
                    # wake at least every second to notice a client that hung up
                    await sub.next(
                        min(remaining, self.settings.event_fallback_poll_seconds, DISCONNECT_CHECK)
                    )
                    # take what else arrived at once: one claim then serves a burst
                    while await sub.next(0) is not None:
                        pass
                except StopAsyncIteration:
                    await asyncio.sleep(min(remaining, self.settings.event_poll_seconds))

    async def _try_claim(
        self, principal: Principal, runner_id: str, max_runs: int, start: bool = False
    ) -> list[ClaimedRun]:
        # After a claim served in full the queue had at least as many runs as were asked for:
        # the pre-check would most likely say "claim" and only cost a read, so skip it once.
        full = self._served_in_full
        if runner_id not in full and not await self._worth_claiming(principal, runner_id):
            return []
        claimed = await self.db.retrying(
            lambda conn: self._claim_in(conn, principal, runner_id, max_runs, start)
        )
        if len(claimed) < max_runs:
            full.discard(runner_id)
        else:
            if len(full) >= SHAPES:
                full.clear()
            full.add(runner_id)
        return claimed

    async def _shape(self, principal: Principal, runner_id: str) -> RunnerShape:
        """What never changes about a runner after it registered (cached): no read per claim."""
        if not principal.admin and principal.runner_id != runner_id:
            raise PermissionDenied("only the runner's own token (or the admin) may act for it")
        shape = self._shapes.get(runner_id)
        if shape is None:
            async with self.db.read() as conn:
                runner = await own_runner(conn, principal, runner_id, live=True)
            shape = RunnerShape(
                runner.namespace, list(runner.executors), list(runner.tags), int(runner.capacity)
            )
            if len(self._shapes) >= SHAPES:
                self._shapes.clear()
            self._shapes[runner_id] = shape
        return shape

    async def _worth_claiming(self, principal: Principal, runner_id: str) -> bool:
        """One read (no write lock, no write transaction) that rules out claims that would find
        nothing: no pending run this runner matches, or no free capacity. Every waiting runner
        wakes on every queued run, and most of those attempts are empty; only the others take
        the writer. The claim transaction re-checks everything it relies on."""
        shape = await self._shape(principal, runner_id)
        async with self.db.read() as conn:
            query = probe(
                backend_of(conn), shape.namespace, tuple(shape.executors), tuple(shape.tags)
            )
            row = (await conn.execute(query, {"b_runner_id": runner_id})).first()
            if row is None or row.state == DEREGISTERED:
                await own_runner(conn, principal, runner_id, live=True)  # raises its error
        assert row is not None
        if row.state != ONLINE:
            return True  # the claim revives a runner the sweeper declared gone
        return bool(row.pending) and int(row.held or 0) < shape.capacity

    async def _claim_in(
        self, conn: Conn, principal: Principal, runner_id: str, max_runs: int, start: bool
    ) -> list[ClaimedRun]:
        tx = flow.Tx(conn, utcnow(), self.settings)
        # A deregistered runner is refused here, inside the claim's transaction: a long-poll
        # that outlived its runner's DELETE must never revive it or hand it runs.
        if backend_of(conn) == "sqlite":  # the writer lock serialises claims: one statement
            runner = await own_runner(conn, principal, runner_id, live=True, held=True)
            held = runner.held
        else:
            runner = await own_runner(conn, principal, runner_id, lock=True, live=True)
            # counted after the lock: a fresh snapshot sees what the lock's holder committed
            held = await conn.scalar(st.HELD_BY, {"b_id": runner_id})
        if runner.state == GONE or self._renewal_due(runner, tx.now):
            renewed: dict[str, Any] = {
                "last_heartbeat": tx.now,
                "lease_expires_at": tx.now + self.lease,
            }
            if runner.state == GONE:
                # Declared gone by the sweeper, yet claiming: its runs were requeued; go on.
                renewed["state"] = ONLINE
            await st.update_row(conn, RN, runner_id, renewed)
        free = min(max_runs, runner.capacity - int(held or 0))
        if free <= 0:
            return []
        tags = set(runner.tags)
        rows = (await conn.execute(candidates(conn, runner, free))).all()
        chosen = [row for row in rows if set(row.demands) <= tags]  # as the SQL filtered
        if chosen and backend_of(conn) == "postgresql":
            # Never wait for a session another transaction holds (a stop, a report): that
            # one may be waiting for these run rows. Its runs are claimed next time.
            free_sessions = set(
                (
                    await conn.execute(
                        select(S.c.id)
                        .where(S.c.id.in_({row.session_id for row in chosen}))
                        .with_for_update(skip_locked=True)
                    )
                ).scalars()
            )
            chosen = [row for row in chosen if row.session_id in free_sessions]
        if not chosen:
            return []
        ids = [row.id for row in chosen]
        queued_for = timedelta(seconds=self.settings.run_queue_timeout)
        for row in chosen:  # pending since: its (re)queueing set the deadline from then
            flow.observe(
                metrics.RUN_CLAIM_LATENCY_SECONDS,
                max(0.0, (tx.now - (row.queue_deadline - queued_for)).total_seconds()),
                row.executor,
            )
        updated: dict[str, Any] = {
            "status": RunStatus.CLAIMED.value,
            "runner_id": runner_id,
            "claimed_at": tx.now,
            "lease_expires_at": tx.now + self.lease,
        }
        if start:
            updated.update(status=RunStatus.RUNNING.value, started_at=tx.now)
        await st.update_rows(conn, R, ids, updated)
        # The sessions in one statement (locked already on PostgreSQL), and the pending ones
        # moved to running in one more; each still gets its `session.status` event.
        session_ids = sorted({row.session_id for row in chosen})
        sessions = {
            session.id: session
            for session in await conn.execute(
                *(
                    (st.LOCK_SESSION, {"b_id": session_ids[0]})
                    if len(session_ids) == 1
                    else (st.LOCK_SESSIONS, {"b_ids": session_ids})
                )
            )
        }
        starting = {sid for sid, s in sessions.items() if s.status == TreeStatus.PENDING.value}
        if starting:
            await st.update_rows(conn, S, sorted(starting), {"status": TreeStatus.RUNNING.value})
        claimed: list[ClaimedRun] = []
        for row in chosen:
            session = sessions[row.session_id]
            if session.id in starting:
                starting.discard(session.id)
                flow.status_event(tx, session, TreeStatus.RUNNING.value, "claimed")
            tx.emit(
                row.namespace,
                ev.RUN_CLAIMED,
                {
                    "run_id": row.id,
                    "session_id": row.session_id,
                    "runner_id": runner_id,
                    "attempt": row.attempt,
                },
                agent=session.agent,
                session_id=session.id,
            )
            if start:
                tx.emit(
                    row.namespace,
                    ev.RUN_STARTED,
                    {"run_id": row.id, "session_id": row.session_id, "runner_id": runner_id},
                    session_id=row.session_id,
                )
            # the row as the UPDATE above left it, without reading it back
            fresh = {**row._mapping, **updated}
            flow.audit(tx, session, SimpleNamespace(**fresh), RunStatus.CLAIMED.value, None)
            claimed.append(await self._claimed(conn, fresh, session))
        await tx.flush(self.journal.append_in)
        return claimed

    def _renewal_due(self, runner: Any, now: datetime) -> bool:
        """Whether a claim rewrites its runner's row (last heartbeat, lease): only when the
        last renewal is older than one heartbeat interval (`renewal_interval`), so a runner
        claiming back to back writes its row at most as often as its heartbeat does. The
        stored lease is the only one: the sweeper retires the runner at that time, whatever
        claims skipped the rewrite; after any claim it has at least TTL - interval left."""
        every = renewal_interval(self.settings)
        return bool(
            now - runner.last_heartbeat >= every
            or runner.lease_expires_at - now < self.lease - every
        )

    async def _claimed(
        self,
        conn: Conn,
        run: dict[str, Any],
        session: Any,
    ) -> ClaimedRun:
        # a blueprint version never changes once written (numbers are never reused)
        key = (session.namespace, session.blueprint, session.blueprint_version)
        spec = self._specs.get(key)
        if spec is None:
            spec = await flow.blueprint_version(conn, *key)
            if len(self._specs) >= SHAPES:
                self._specs.clear()
            self._specs[key] = spec
        token = self.tokens.mint_run(
            session.agent,
            session.namespace,
            RunScope(root_id=session.root_id, session_id=session.id, run_id=run["id"]),
            timedelta(seconds=self.settings.run_token_ttl_seconds),
        )
        return ClaimedRun.model_validate(
            {
                **run,
                "blueprint": ClaimedBlueprint(
                    name=spec.name,
                    version=session.blueprint_version,
                    instructions=spec.instructions,
                    executor=spec.executor,
                    output_schema=run["output_schema"],  # resolved for this run (issue 10)
                    mcp_servers=spec.mcp_servers,
                ),
                "output_instructions": (
                    outputs.instructions(run["output_schema_ref"], run["output_schema"])
                    if run["output_schema_ref"] is not None
                    else None
                ),
                "run_token": token,
                # issue 12: the registry entries of the blueprint's servers (names, no secrets)
                "mcp_registry": await mcp_servers.resolve(
                    conn, session.namespace, spec.mcp_servers
                ),
                "root_id": session.root_id,
                "parent_id": session.parent_id,
                "agent": session.agent,
                "project": session.project,
            }
        )

    # -- tokens for held runs -----------------------------------------------------------------

    async def upstream_token(
        self, principal: Principal, runner_id: str, run_id: str, audience: str
    ) -> str:
        """A JWT for an upstream MCP server with `roundtable` auth (D12): the run's identity and
        scope, audience = that server, so it is useless here and at any other upstream. Only for
        a run this runner holds, and only for an audience one of its blueprint's registry
        entries declares."""
        check_text("audience", audience)
        async with self.db.write() as conn:
            tx = flow.Tx(conn, utcnow(), self.settings)
            session, run = await self._held(tx, principal, runner_id, run_id)
            if run.runner_id != runner_id or run.status not in HELD:
                raise self._not_held(run, runner_id)
            spec = await flow.blueprint_version(
                conn, session.namespace, session.blueprint, session.blueprint_version
            )
            entries = await mcp_servers.resolve(conn, session.namespace, spec.mcp_servers)
        audiences = {
            (e.get("auth") or {}).get("audience") or e["name"]
            for e in entries
            if (e.get("auth") or {}).get("kind") == "roundtable"
        }
        if audience not in audiences or audience == AUDIENCE:
            raise PermissionDenied(
                f"no MCP server of this run's blueprint takes roundtable tokens for {audience!r}"
            )
        return self.tokens.mint(
            session.agent,
            session.namespace,
            timedelta(seconds=self.settings.run_token_ttl_seconds),
            {"rtk": "upstream", "root": session.root_id, "sid": session.id, "run": run_id},
            audience=audience,
        )
