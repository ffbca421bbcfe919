"""The orchestration passes of the background sweeper (every `sweep_interval_seconds`).

Each is idempotent and works in bounded batches, so any instance may run it at any time:
runners whose lease lapsed are retired (their runs requeued), held runs whose lease lapsed are
requeued, pending runs past their queue deadline fail (and say why), children of ended parents
follow `on_parent_exit`, and callbacks waiting for an idle parent are delivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select

from roundtable import metrics
from roundtable.config import Settings
from roundtable.ids import utcnow
from roundtable.journal.service import JournalService
from roundtable.orchestration import flow
from roundtable.orchestration.models import BUSY, ENDED, HELD, OnParentExit, RunStatus, TreeStatus
from roundtable.orchestration.runners import ONLINE, RunnerService
from roundtable.store import tables
from roundtable.store.engine import Conn, Database

R = tables.runs
S = tables.sessions
RN = tables.runners
CB = tables.callbacks
BATCH = 200


class Sweeper:
    def __init__(
        self, db: Database, settings: Settings, journal: JournalService, runners: RunnerService
    ) -> None:
        self.db = db
        self.settings = settings
        self.journal = journal
        self.runners = runners

    async def sweep(self, now: datetime | None = None) -> dict[str, int]:
        """Run every pass once; returns how many rows each touched."""
        now = now or utcnow()
        return {
            "runners_gone": await self._batches(self._lost_runners, now),
            "runs_lease_lapsed": await self._batches(self._lapsed_runs, now),
            "runs_queue_timeout": await self._batches(self._queue_timeouts, now),
            "orphans_stopped": await self._batches(self._orphans, now),
            "callbacks_delivered": await self._batches(self._callbacks, now),
        }

    async def _batches(self, step: Callable[[flow.Tx], Awaitable[int]], now: datetime) -> int:
        total = 0

        async def batch(conn: Conn) -> int:
            tx = flow.Tx(conn, now, self.settings)
            done = await step(tx)
            await tx.flush(self.journal.append_in)
            return done

        while True:
            done = await self.db.retrying(batch)
            total += done
            if done < BATCH:
                return total

    async def _lost_runners(self, tx: flow.Tx) -> int:
        rows = (
            await tx.conn.execute(
                select(RN)
                .where(RN.c.state == ONLINE, RN.c.lease_expires_at <= tx.now)
                .order_by(RN.c.id)
                .limit(BATCH)
                .with_for_update()
            )
        ).all()
        for runner in rows:
            await self.runners.retire(tx, runner, "lease")
        return len(rows)

    async def _lapsed_runs(self, tx: flow.Tx) -> int:
        due = (R.c.status.in_(HELD), R.c.lease_expires_at <= tx.now)
        ids = await self._due(tx, *due)
        for run in await flow.lock_runs(tx, ids):  # all locked first, in global order
            if run.status in HELD and run.lease_expires_at <= tx.now:
                flow.count(metrics.RUNS_TIMED_OUT, "lease")
                await flow.requeue(
                    tx, run, "run lease lapsed (runner silent)", cause="lease_lapsed"
                )
        return len(ids)

    async def _queue_timeouts(self, tx: flow.Tx) -> int:
        due = (R.c.status == RunStatus.PENDING.value, R.c.queue_deadline <= tx.now)
        ids = await self._due(tx, *due)
        for run in await flow.lock_runs(tx, ids):  # all locked first, in global order
            if run.status != RunStatus.PENDING.value or run.queue_deadline > tx.now:
                continue
            demands = ", ".join(run.demands) or "none"
            flow.count(metrics.RUNS_TIMED_OUT, "queue")
            await flow.finish_run(
                tx,
                run,
                RunStatus.FAILED.value,
                error={
                    "code": "queue_timeout",
                    "message": f"no runner with executor {run.executor!r} and tags covering "
                    f"the demands ({demands}) claimed this run within "
                    f"{self.settings.run_queue_timeout:g}s",
                },
            )
        return len(ids)

    async def _due(self, tx: flow.Tx, *where: Any) -> list[str]:
        query = select(R.c.id).where(*where).order_by(R.c.id).limit(BATCH)
        return list((await tx.conn.execute(query)).scalars())

    async def _orphans(self, tx: flow.Tx) -> int:
        """Children still live whose parent ended (a plain parent that ended or expired too)."""
        parent = S.alias("parent")
        ended = or_(
            parent.c.status.in_(ENDED),
            and_(parent.c.status == "active", parent.c.lease_expires_at <= tx.now),
        )
        rows = (
            await tx.conn.execute(
                select(S)
                .join(parent, parent.c.id == S.c.parent_id)
                .where(
                    S.c.blueprint.is_not(None),
                    S.c.status.in_(BUSY),
                    S.c.on_parent_exit == OnParentExit.STOP.value,
                    ended,
                )
                .order_by(S.c.id)
                .limit(BATCH)
            )
        ).all()
        for row in rows:
            fresh = await flow.lock_session(tx, row.id)
            if fresh is not None:
                await flow.stop_session(tx, fresh, "parent ended")
        return len(rows)

    async def _callbacks(self, tx: flow.Tx) -> int:
        parents = (
            (
                await tx.conn.execute(
                    select(CB.c.parent_id)
                    .join(S, S.c.id == CB.c.parent_id)
                    .where(CB.c.run_id.is_(None), S.c.status == TreeStatus.IDLE.value)
                    .group_by(CB.c.parent_id)
                    .limit(BATCH)
                )
            )
            .scalars()
            .all()
        )
        for parent_id in parents:
            parent = await flow.lock_session(tx, parent_id)
            if parent is not None:
                await flow.deliver(tx, parent)
        return len(parents)
