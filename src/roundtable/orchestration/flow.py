"""The state machine of runs and orchestrated sessions, inside one write transaction.

Every transition (queue, claim, settle, stop, requeue, callback delivery) is a function of a
`Tx`: the connection, the transaction's clock and the events it will record last. Services open
the transaction, call these, then `tx.flush()`. Rows that several instances may change at once
(a parent collecting callbacks, a run a runner reports on) are locked first (`FOR UPDATE` on
PostgreSQL; SQLite's single writer already serialises).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, update

from roundtable import metrics, tracing
from roundtable.config import Settings
from roundtable.errors import NotFound
from roundtable.events import log as events
from roundtable.ids import uuid7
from roundtable.journal import projects
from roundtable.journal.models import EntryInput, Status
from roundtable.orchestration import events as ev
from roundtable.orchestration import statements as st
from roundtable.orchestration.models import (
    BUSY,
    ENDED,
    HELD,
    BlueprintSpec,
    Mode,
    OnParentExit,
    RunStatus,
    TreeStatus,
)
from roundtable.store import tables
from roundtable.store.dialect import backend_of, insert_ignore
from roundtable.store.engine import Conn, after_commit, write_rows

S = tables.sessions
R = tables.runs
CB = tables.callbacks


@dataclass
class Tx:
    conn: Conn
    now: datetime
    settings: Settings
    events: list[dict[str, Any]] = field(default_factory=list)
    #: Journal audit entries to append before the events: (namespace, project, agent, entry).
    audit: list[tuple[str, str, str, str | None, EntryInput]] = field(default_factory=list)
    #: Sessions stopped in this transaction (their runs, other than the one acted on, changed).
    stops: int = 0

    def emit(
        self,
        namespace: str,
        type_: str,
        payload: dict[str, Any],
        *,
        agent: str | None = None,
        session_id: str | None = None,
        project: str | None = None,
    ) -> None:
        self.events.append(
            events.event_row(
                self.now,
                namespace,
                type_,
                payload,
                agent=agent,
                session_id=session_id,
                project=project,
            )
        )

    async def flush(self, journal_append: Any) -> None:
        """Append the audit entries, then record the events (always the last step)."""
        for namespace, project, agent, session_id, entry in self.audit:
            try:
                head = await projects.require(self.conn, namespace, project, lock=True)
            except NotFound:  # projects are checked at start; never block the queue on one
                continue
            _, event = await journal_append(
                self.conn, namespace, agent, head, [entry], self.now, session_id=session_id
            )
            self.events.append(event)
        await events.record(self.conn, *self.events)
        self.events.clear()
        self.audit.clear()


def count(metric: Any, *labels: str, amount: float = 1.0) -> None:
    """Count a transition once its transaction commits (a rolled-back one counts nothing)."""
    child = metrics.labelled(metric, *labels) if labels else metric
    after_commit(lambda: child.inc(amount))


def observe(metric: Any, amount: float, *labels: str) -> None:
    """Observe a histogram value once the transaction commits."""
    child = metrics.labelled(metric, *labels) if labels else metric
    after_commit(lambda: child.observe(amount))


async def trace_context(tx: Tx, session: Any) -> dict[str, str | None]:
    """The W3C trace context a new run of `session` carries: the current span's (the tool call
    or request that queues it, or the runner's report that triggered a callback or retry),
    else the session's latest traced run's (a callback delivered by the sweeper). Nothing
    when tracing is off."""
    if not tracing.enabled():
        return {}
    carrier = tracing.inject()
    if "traceparent" in carrier:
        return {"traceparent": carrier["traceparent"], "tracestate": carrier.get("tracestate")}
    inherited = (
        await tx.conn.execute(
            select(R.c.traceparent, R.c.tracestate)
            .where(R.c.session_id == session.id, R.c.traceparent.is_not(None))
            .order_by(R.c.created_at.desc(), R.c.id.desc())
            .limit(1)
        )
    ).first()
    if inherited is None:
        return {}
    return {"traceparent": inherited.traceparent, "tracestate": inherited.tracestate}


async def lock_session(tx: Tx, session_id: str) -> Any:
    return (await tx.conn.execute(st.LOCK_SESSION, {"b_id": session_id})).first()


async def lock_run(tx: Tx, run_id: str) -> tuple[Any, Any] | None:
    """Lock a run's session, then the run: every transaction takes them in that order (a
    stop holds the session and then its runs), so two never wait for each other. Returns
    (session, run) as locked, None when the run is gone."""
    # one statement: the run's session found and locked together
    session = (await tx.conn.execute(st.LOCK_SESSION_OF_RUN, {"b_id": run_id})).first()
    if session is None:
        return None
    run = (await tx.conn.execute(st.LOCK_RUN, {"b_id": run_id})).first()
    return None if run is None else (session, run)


async def lock_runs(tx: Tx, run_ids: list[str]) -> list[Any]:
    """Lock several runs in the global order: their sessions first, children before parents
    (deeper first, then by id: the order a report locks a child then its parent, and a
    deletion its subtree), then the runs by id. Returns the runs still there."""
    if not run_ids:
        return []
    await tx.conn.execute(st.LOCK_SESSIONS_OF_RUNS, {"b_ids": run_ids})
    return list((await tx.conn.execute(st.LOCK_RUNS, {"b_ids": run_ids})).all())


async def set_status(
    tx: Tx, session: Any, status: str, reason: str | None = None, **values: Any
) -> None:
    """Move a session to `status` (and set `values`), with a `session.status` event."""
    extra: dict[str, Any] = dict(values)
    if status in ENDED:
        extra.setdefault("ended_at", tx.now)
    await st.update_row(tx.conn, S, session.id, {"status": status, **extra})
    if status != session.status:
        status_event(tx, session, status, reason)


def status_event(tx: Tx, session: Any, status: str, reason: str | None) -> None:
    """The `session.status` event of `session` (the row before the change) moving to `status`."""
    tx.emit(
        session.namespace,
        ev.SESSION_STATUS,
        {
            "session_id": session.id,
            "status": status,
            "previous": session.status,
            "reason": reason,
        },
        agent=session.agent,
        session_id=session.id,
        project=session.project,
    )


async def enqueue(
    tx: Tx,
    session: Any,
    spec: BlueprintSpec,
    kind: str,
    input_: dict[str, Any],
    priority: int = 0,
    *,
    output: dict[str, Any] | None = None,
    request: Any = None,
) -> str:
    """Queue a run for `session` (executor and demands from its blueprint version)."""
    run_id = uuid7()
    if output is None:  # structured output (issue 10): resolve and record the run's schema
        from roundtable.structured.outputs import columns

        output = await columns(
            tx.conn,
            session.namespace,
            spec,
            request,
            tx.settings.output_retries_default,
            tx.settings.output_retries_max,
        )
    values = {
        "id": run_id,
        "namespace": session.namespace,
        "session_id": session.id,
        "kind": kind,
        "status": RunStatus.PENDING.value,
        "attempt": 1,
        "max_attempts": tx.settings.run_max_attempts,
        "priority": priority,
        "executor": spec.executor.kind,
        "demands": sorted(set(spec.demands)),
        "input": input_,
        "created_at": tx.now,
        "queue_deadline": tx.now + timedelta(seconds=tx.settings.run_queue_timeout),
        **output,
        **await trace_context(tx, session),
    }
    await write_rows(tx.conn, st.INSERT_RUN, values)
    tx.emit(
        session.namespace,
        ev.RUN_QUEUED,
        {
            "run_id": run_id,
            "session_id": session.id,
            "kind": kind,
            "attempt": 1,
            "executor": spec.executor.kind,
            "demands": sorted(set(spec.demands)),
            "priority": priority,
        },
        agent=session.agent,
        session_id=session.id,
    )
    return run_id


def _duration(run: Any, now: datetime) -> float | None:
    start = run.started_at or run.claimed_at
    return round((now - start).total_seconds(), 6) if start is not None else None


def audit(tx: Tx, session: Any, run: Any, status: str, duration: float | None) -> None:
    """A journal entry for a run's start or end, in the session's project (if it has one)."""
    if session.project is None:
        return
    verb = "started" if status == RunStatus.CLAIMED.value else status
    entry = EntryInput(
        message=f"run {run.id} of {session.agent} ({session.blueprint}) {verb}",
        status=Status.ERROR if status == RunStatus.FAILED.value else Status.INFO,
        kind="orchestration.run",
        meta={
            "agent": session.agent,
            "blueprint": session.blueprint,
            "blueprint_version": session.blueprint_version,
            "session_id": session.id,
            "run_id": run.id,
            "run_kind": run.kind,
            "attempt": run.attempt,
            "status": status,
            "duration_seconds": duration,
            # structured output (issue 10): every attempt's validation
            **({"validation": run.validation} if getattr(run, "validation", None) else {}),
        },
    )
    tx.audit.append((session.namespace, session.project, session.agent, session.id, entry))


async def finish_run(
    tx: Tx,
    run: Any,
    status: str,
    *,
    result_text: str | None = None,
    result_data: Any = None,
    error: dict[str, Any] | None = None,
    usage: dict[str, Any] | None = None,
    session: Any = None,
) -> dict[str, Any]:
    """End a run (completed | failed | stopped) and settle its session. Returns the run's
    columns as this left them (settling never touches the run again). `session`: the run's
    session row if the caller locked it already in this transaction (and nothing changed it
    since), else it is locked here."""
    duration = _duration(run, tx.now)
    ended = {
        "status": status,
        "result_text": result_text,
        "result_data": result_data,
        "error": error,
        "usage": usage,
        "finished_at": tx.now,
        "lease_expires_at": None,
    }
    await st.update_row(tx.conn, R, run.id, ended)
    after = {**row_dict(run), **ended}
    count(metrics.RUNS_ENDED, status)
    event_type = {
        RunStatus.COMPLETED.value: ev.RUN_COMPLETED,
        RunStatus.FAILED.value: ev.RUN_FAILED,
        RunStatus.STOPPED.value: ev.RUN_STOPPED,
    }[status]
    if session is None:
        session = await lock_session(tx, run.session_id)
    tx.emit(
        run.namespace,
        event_type,
        {
            "run_id": run.id,
            "session_id": run.session_id,
            "status": status,
            "attempt": run.attempt,
            "runner_id": run.runner_id,
            "duration_seconds": duration,
            "error": error,
        },
        agent=session.agent if session is not None else None,
        session_id=run.session_id,
    )
    if session is None:
        return after
    audit(tx, session, run, status, duration)
    await settle(tx, session, run.id, status, result_text, result_data, error)
    return after


async def settle(
    tx: Tx,
    session: Any,
    run_id: str | None,
    run_status: str,
    result_text: str | None,
    result_data: Any,
    error: dict[str, Any] | None,
) -> None:
    """A session's run ended: idle (resumable) on success, else failed or stopped; then tell
    the parent (callback) and hand this session any callbacks that waited for it to be idle."""
    if session.status in ENDED:
        return  # stopped (or failed) while the run was out: that end was already reported
    if run_status == RunStatus.COMPLETED.value:
        new = TreeStatus.IDLE.value
    elif run_status == RunStatus.FAILED.value:
        new = TreeStatus.FAILED.value
    else:
        new = TreeStatus.STOPPED.value
    reason = (error or {}).get("code") if error else None
    values = {"result_text": result_text, "result_data": result_data, "error": error}
    await set_status(tx, session, new, reason, **values)
    if new in ENDED:
        await _children_follow(tx, session, f"parent {new}")
    await notify_parent(tx, session, new, f"run:{run_id}" if run_id else None)
    if new == TreeStatus.IDLE.value:
        # the row as `set_status` left it (locked already): nothing since touched it
        await deliver(tx, SimpleNamespace(**{**row_dict(session), **values, "status": new}))


def row_dict(row: Any) -> dict[str, Any]:
    """A row's columns as a dict (a database row, or one rebuilt as a namespace)."""
    mapping = getattr(row, "_mapping", None)
    return dict(mapping) if mapping is not None else dict(vars(row))


def envelope(session: Any, status: str) -> dict[str, Any]:
    """What a parent's callback run receives about a child: data, never spliced text (D13)."""
    return {
        "child_session_id": session.id,
        "blueprint": session.blueprint,
        "status": status,
        "result_data": session.result_data,
        "result_text": session.result_text,
        "error": session.error,
    }


async def notify_parent(tx: Tx, child: Any, status: str, key: str | None) -> None:
    """Queue a callback for the parent of an `async_callback` child, then try to deliver it."""
    if child.parent_id is None or child.mode != Mode.ASYNC_CALLBACK.value:
        return
    # Lock the parent BEFORE inserting: the insert's foreign key takes a KEY SHARE lock on the
    # parent row, and two children each holding one while asking for FOR UPDATE deadlock.
    parent = await lock_session(tx, child.parent_id)
    fresh = (await tx.conn.execute(st.SESSION, {"b_id": child.id})).one()
    body = envelope(fresh, status)
    key = key or f"end:{child.id}:{status}"
    result = await tx.conn.execute(
        insert_ignore(
            tx.conn,
            CB,
            key=key,
            namespace=child.namespace,
            parent_id=child.parent_id,
            child_id=child.id,
            envelope=body,
            created_at=tx.now,
        ).returning(CB.c.id)
    )
    callback_id = result.scalar()
    if callback_id is None:
        return  # this end was already queued (a retried report): exactly once
    tx.emit(
        child.namespace,
        ev.CALLBACK_QUEUED,
        {
            "callback_id": int(callback_id),
            "parent_id": child.parent_id,
            "child_id": child.id,
            "status": status,
        },
        session_id=child.parent_id,
    )
    if parent is not None:
        await deliver(tx, parent)


async def deliver(tx: Tx, parent: Any) -> str | None:
    """If `parent` is idle and has undelivered callbacks, queue ONE callback run carrying all
    of them (aggregated), marking them delivered in this transaction. The parent row is locked
    by the caller, so two instances never deliver the same callbacks."""
    if parent.status != TreeStatus.IDLE.value or parent.blueprint is None:
        return None
    rows = (await tx.conn.execute(st.UNDELIVERED, {"b_parent_id": parent.id})).all()
    if not rows:
        return None
    spec = await blueprint_version(
        tx.conn, parent.namespace, parent.blueprint, parent.blueprint_version
    )
    run_id = await enqueue(
        tx, parent, spec, "callback", {"callbacks": [row.envelope for row in rows]}
    )
    ids = [int(row.id) for row in rows]
    await tx.conn.execute(update(CB).where(CB.c.id.in_(ids)).values(run_id=run_id))
    await set_status(tx, parent, TreeStatus.PENDING.value, "callback")
    tx.emit(
        parent.namespace,
        ev.CALLBACK_DELIVERED,
        {"run_id": run_id, "parent_id": parent.id, "callback_ids": ids},
        agent=parent.agent,
        session_id=parent.id,
    )
    return run_id


async def blueprint_version(conn: Conn, namespace: str, name: str, version: int) -> BlueprintSpec:
    BV = tables.blueprint_versions
    spec = await conn.scalar(
        select(BV.c.spec).where(
            BV.c.namespace == namespace, BV.c.name == name, BV.c.version == version
        )
    )
    if spec is None:
        raise LookupError(f"blueprint {name!r} version {version} is missing")
    return BlueprintSpec.model_validate(spec)


async def stop_session(tx: Tx, session: Any, reason: str) -> list[str]:
    """Stop a session: pending runs end at once, held ones are asked to stop (the runner hears
    it on its next heartbeat or report); children follow their `on_parent_exit`. Returns the
    ids of the sessions stopped."""
    if session.status in ENDED:
        return []
    tx.stops += 1
    stopped = [session.id]
    runs = (
        await tx.conn.execute(
            select(R)
            .where(
                R.c.session_id == session.id,
                R.c.status.notin_(
                    (RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.STOPPED.value)
                ),
            )
            .with_for_update()
        )
    ).all()
    for run in runs:
        if run.status == RunStatus.PENDING.value:
            await tx.conn.execute(
                update(R)
                .where(R.c.id == run.id)
                .values(status=RunStatus.STOPPED.value, finished_at=tx.now)
            )
            count(metrics.RUNS_ENDED, RunStatus.STOPPED.value)
            tx.emit(
                run.namespace,
                ev.RUN_STOPPED,
                {
                    "run_id": run.id,
                    "session_id": run.session_id,
                    "status": RunStatus.STOPPED.value,
                    "attempt": run.attempt,
                    "runner_id": None,
                    "duration_seconds": None,
                    "error": None,
                },
                agent=session.agent,
                session_id=session.id,
            )
        elif run.status in HELD:
            await tx.conn.execute(update(R).where(R.c.id == run.id).values(stop_requested=True))
    if session.blueprint is None:
        return stopped  # a plain session's own life is its agent's; only its children follow
    await set_status(tx, session, TreeStatus.STOPPED.value, reason)
    stopped += await _children_follow(tx, session, "parent stopped")
    await notify_parent(tx, session, TreeStatus.STOPPED.value, None)
    return stopped


async def _children_follow(tx: Tx, parent: Any, reason: str) -> list[str]:
    """Running children of an ended parent: `stop` ones are stopped (recursively), `continue`
    ones run on. Idle children have no work under way and stay as they are."""
    # SKIP LOCKED: a child busy in another transaction (e.g. reporting its own end, which
    # then locks this parent) is left to the sweeper's orphan pass instead of deadlocking.
    children = (
        await tx.conn.execute(
            select(S)
            .where(S.c.parent_id == parent.id, S.c.status.in_(BUSY))
            .where(S.c.blueprint.is_not(None))
            .order_by(S.c.id)
            .with_for_update(skip_locked=backend_of(tx.conn) == "postgresql")
        )
    ).all()
    stopped: list[str] = []
    for child in children:
        if (child.on_parent_exit or OnParentExit.STOP.value) == OnParentExit.STOP.value:
            stopped += await stop_session(tx, child, reason)
    return stopped


#: Why a held run goes back to the queue: the bounded label of `roundtable_runs_requeued_total`.
REQUEUE_CAUSES = frozenset({"lease_lapsed", "runner_gone", "runner_left", "retryable_failure"})


async def requeue(tx: Tx, run: Any, reason: str, *, cause: str) -> bool:
    """Put a held run back in the queue (attempt + 1), or fail it once attempts are used up.
    Returns True when requeued. `reason` is for people (events, errors); `cause` (one of
    `REQUEUE_CAUSES`) is for the metrics."""
    if run.attempt >= run.max_attempts:
        await finish_run(
            tx,
            run,
            RunStatus.FAILED.value,
            error={
                "code": "attempts_exhausted",
                "message": f"{reason}; gave up after {run.attempt} attempts",
            },
        )
        return False
    if run.stop_requested:
        await finish_run(tx, run, RunStatus.STOPPED.value)
        return False
    await tx.conn.execute(
        update(R)
        .where(R.c.id == run.id)
        .values(
            status=RunStatus.PENDING.value,
            attempt=run.attempt + 1,
            runner_id=None,
            claimed_at=None,
            started_at=None,
            lease_expires_at=None,
            queue_deadline=tx.now + timedelta(seconds=tx.settings.run_queue_timeout),
        )
    )
    count(metrics.RUNS_REQUEUED, cause if cause in REQUEUE_CAUSES else "other")
    session = await lock_session(tx, run.session_id)
    if session is not None and session.status in BUSY:
        await set_status(tx, session, TreeStatus.PENDING.value, "requeued")
    tx.emit(
        run.namespace,
        ev.RUN_REQUEUED,
        {
            "run_id": run.id,
            "session_id": run.session_id,
            "attempt": run.attempt + 1,
            "reason": reason,
        },
        session_id=run.session_id,
    )
    return True
