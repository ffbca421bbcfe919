"""Orchestration gauges read from the database at scrape time (`/metrics`).

The queue, the runners and the callback backlog live in tables, not in any process's memory,
so each scrape counts them afresh (every instance reports the same numbers). Labels are
bounded: run statuses, runner states and executor kinds (named by blueprints), never an id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import func, select

from roundtable.config import Settings
from roundtable.ids import utcnow
from roundtable.orchestration.models import ENDED, RunStatus
from roundtable.orchestration.runners import GONE
from roundtable.store import tables
from roundtable.store.engine import Database

R = tables.runs
RN = tables.runners
S = tables.sessions
CB = tables.callbacks
RUNNER_STATES = ("online", "stale", "gone")


@dataclass
class QueueHealth:
    runs: dict[str, int] = field(default_factory=dict)  # status -> runs
    depth: dict[str, int] = field(default_factory=dict)  # executor -> pending runs
    oldest: dict[str, float] = field(default_factory=dict)  # executor -> seconds pending
    runners: dict[str, int] = field(default_factory=dict)  # online | stale | gone -> runners
    callbacks_pending: int = 0


async def queue_health(
    db: Database, settings: Settings, now: datetime | None = None
) -> QueueHealth:
    """Count runs by status, the queue per executor kind, runners by state, and callbacks
    not yet delivered to their parent. A pending run has waited since its (re)queueing, which
    set its queue deadline `run_queue_timeout` seconds ahead."""
    now = now or utcnow()
    queued_for = timedelta(seconds=settings.run_queue_timeout)
    stale_after = timedelta(seconds=3 * settings.runner_heartbeat_seconds)
    health = QueueHealth(runs={status.value: 0 for status in RunStatus})
    async with db.read() as conn:
        for status, n in await conn.execute(select(R.c.status, func.count()).group_by(R.c.status)):
            health.runs[status] = int(n)
        pending = (
            select(R.c.executor, func.count(), func.min(R.c.queue_deadline))
            .where(R.c.status == RunStatus.PENDING.value)
            .group_by(R.c.executor)
        )
        for executor, n, deadline in await conn.execute(pending):
            health.depth[executor] = int(n)
            health.oldest[executor] = max(0.0, (now - (deadline - queued_for)).total_seconds())
        health.runners = dict.fromkeys(RUNNER_STATES, 0)
        query = select(RN.c.state, RN.c.lease_expires_at, RN.c.last_heartbeat)
        for state, lease_expires_at, last_heartbeat in await conn.execute(query):
            if state == GONE or lease_expires_at <= now:
                health.runners["gone"] += 1
            elif now - last_heartbeat > stale_after:
                health.runners["stale"] += 1
            else:
                health.runners["online"] += 1
        backlog = (  # an ended parent never takes its callbacks: not a backlog any more
            select(func.count())
            .select_from(CB.join(S, S.c.id == CB.c.parent_id))
            .where(CB.c.run_id.is_(None), S.c.status.notin_(ENDED))
        )
        health.callbacks_pending = int(await conn.scalar(backlog) or 0)
    return health


def register(health: QueueHealth, registry: CollectorRegistry) -> None:
    """Set the orchestration gauges of one scrape in `registry`."""
    runs = Gauge("roundtable_runs", "Runs by status, now.", ["status"], registry=registry)
    for status, n in health.runs.items():
        runs.labels(status).set(n)
    depth = Gauge(
        "roundtable_run_queue_depth",
        "Pending runs by executor kind.",
        ["executor"],
        registry=registry,
    )
    oldest = Gauge(
        "roundtable_run_queue_oldest_age_seconds",
        "Seconds the oldest pending run of each executor kind has waited since it was queued.",
        ["executor"],
        registry=registry,
    )
    for executor, n in health.depth.items():
        depth.labels(executor).set(n)
        oldest.labels(executor).set(health.oldest[executor])
    runners = Gauge(
        "roundtable_runners",
        "Registered runners by state: online, stale (missed three heartbeats), gone.",
        ["state"],
        registry=registry,
    )
    for state, n in health.runners.items():
        runners.labels(state).set(n)
    Gauge(
        "roundtable_callbacks_pending",
        "Callbacks from async_callback children waiting for their (busy, not ended) parent.",
        registry=registry,
    ).set(health.callbacks_pending)
