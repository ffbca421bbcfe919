"""Prometheus metrics: the named metric objects every area records into, and their exposition.

Areas import the object they need and call it (`metrics.JOURNAL_ENTRIES.inc(n)`); nothing here
knows about the services. Label values are always drawn from small fixed sets (route
templates, tool names, error codes, backends): never an agent, session or entry id, so a
thousand agents add no series. The per-journal gauges are computed at scrape time from the
database (`roundtable.observe.journals`), one series per journal.

Several processes: each process counts in its own memory and serves its own numbers at
`/metrics`, unless `PROMETHEUS_MULTIPROC_DIR` names a directory shared by all of them (set
before they start, emptied before the first starts): then prometheus-client keeps the values
in files there and any process's `/metrics` serves the sum (`render`).
"""

from __future__ import annotations

import functools
import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from roundtable.errors import RoundtableError

__all__ = ["CONTENT_TYPE_LATEST", "render"]

#: Request and tool latency buckets: sub-millisecond to the long-poll ceiling.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
#: Database buckets: a write transaction is usually well under a millisecond to a few ms.
DB_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5)

HTTP_REQUEST_SECONDS = Histogram(
    "roundtable_http_request_duration_seconds",
    "HTTP request latency by route template (e.g. /api/v1/namespaces/{namespace}/projects).",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
MCP_TOOL_SECONDS = Histogram(
    "roundtable_mcp_tool_duration_seconds",
    "MCP tool call latency; outcome is ok, a domain error code, or internal_error.",
    ["tool", "transport", "outcome"],
    buckets=LATENCY_BUCKETS,
)
JOURNAL_APPENDS = Counter(
    "roundtable_journal_appends_total", "Committed append calls (one batch counts once)."
)
JOURNAL_ENTRIES = Counter(
    "roundtable_journal_entries_appended_total", "Journal entries committed by appends."
)
CONFLICTS = Counter(
    "roundtable_conflicts_total", "Conflict errors returned to callers (version, rotation, ...)."
)
LEASE_EXPIRED_REFUSALS = Counter(
    "roundtable_lease_expired_refusals_total",
    "Calls refused because the session's lease had run out or the session had ended.",
)
SESSIONS_EXPIRED = Counter(
    "roundtable_sessions_expired_total", "Sessions the sweeper marked expired (lease ran out)."
)
RATE_LIMITED = Counter(
    "roundtable_rate_limited_total",
    "Calls refused by a limit: write_rate, max_sessions_per_agent, max_sessions_per_namespace.",
    ["limit"],
)
EVENT_BUS_LAG_SECONDS = Histogram(
    "roundtable_event_bus_lag_seconds",
    "Time from an event's commit timestamp to its fan-out to this process's subscribers.",
    buckets=LATENCY_BUCKETS,
)
EVENT_SUBSCRIBERS = Gauge(
    "roundtable_event_subscribers",
    "Live event subscribers (SSE streams, long-polls) in this process.",
    multiprocess_mode="livesum",
)
EVENT_SUBSCRIBERS_DROPPED = Counter(
    "roundtable_event_subscribers_dropped_total",
    "Subscribers dropped because they fell behind their bounded queue.",
)
DB_TRANSACTION_SECONDS = Histogram(
    "roundtable_db_write_transaction_duration_seconds",
    "Write transaction time from acquiring the write lock to the end of COMMIT (SQLite: the "
    "end of its group's shared COMMIT).",
    ["backend"],
    buckets=DB_BUCKETS,
)
DB_GROUP_COMMIT_WRITES = Histogram(
    "roundtable_db_group_commit_writes",
    "Write transactions carried by one SQLite COMMIT (group commit: one fsync for them all).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
DB_WRITE_LOCK_WAIT_SECONDS = Histogram(
    "roundtable_db_write_lock_wait_seconds",
    "Time a write transaction waited to start: SQLite's writer lock (in-process queue and "
    "BEGIN IMMEDIATE across processes); on PostgreSQL a pooled connection and BEGIN.",
    ["backend"],
    buckets=DB_BUCKETS,
)
JOURNAL_HEAD_LOCK_WAIT_SECONDS = Histogram(
    "roundtable_journal_head_lock_wait_seconds",
    "Time an append waited for its journal's chain-head row lock (PostgreSQL: concurrent "
    "appenders of one journal queue here; SQLite: already serialised by the writer lock).",
    ["backend"],
    buckets=DB_BUCKETS,
)

# -- orchestration (issue 9/17): counted when the transition's transaction commits -----------
RUNS_ENDED = Counter(
    "roundtable_runs_ended_total",
    "Runs that ended, by status: completed, failed (including queue timeouts, exhausted "
    "attempts and invalid structured output), stopped.",
    ["status"],
)
RUNS_REQUEUED = Counter(
    "roundtable_runs_requeued_total",
    "Held runs put back in the queue (attempt + 1), by cause: lease_lapsed, runner_gone, "
    "runner_left, retryable_failure.",
    ["cause"],
)
RUNS_TIMED_OUT = Counter(
    "roundtable_runs_timed_out_total",
    "Runs whose time ran out, by timeout: queue (no runner claimed it in time: it fails) or "
    "lease (its runner went silent: it is requeued, or fails once attempts are used up).",
    ["timeout"],
)
RUN_CLAIM_LATENCY_SECONDS = Histogram(
    "roundtable_run_claim_latency_seconds",
    "Time a run waited in the queue, from being queued (or requeued) to its claim.",
    ["executor"],
    buckets=LATENCY_BUCKETS,
)

#: Every limit name a `RateLimited` can carry; anything else is counted as `other`.
_LIMITS = frozenset({"write_rate", "max_sessions_per_agent", "max_sessions_per_namespace"})


@functools.lru_cache(maxsize=4096)
def labelled(metric: Any, *values: str) -> Any:
    """`metric.labels(*values)`, remembered: the hot paths (every request, tool call and write
    transaction) skip prometheus-client's label validation after the first time. Label values
    are bounded by design, so the cache is too."""
    return metric.labels(*values)


def count_refusal(error: RoundtableError) -> None:
    """Count a domain error as it is handed to a caller (HTTP problem, MCP error result)."""
    code = error.code
    if code == "conflict":
        CONFLICTS.inc()
    elif code == "lease_expired":
        LEASE_EXPIRED_REFUSALS.inc()
    elif code == "rate_limited":
        limit = str(error.data.get("limit", "write_rate"))
        labelled(RATE_LIMITED, limit if limit in _LIMITS else "other").inc()


def multiprocess_dir() -> str | None:
    """The shared directory of multiprocess mode, if the environment sets one."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render(extra: CollectorRegistry | None = None) -> bytes:
    """The text exposition: this process's (or, in multiprocess mode, all processes') metrics,
    then `extra`'s (scrape-time gauges read from the database)."""
    if multiprocess_dir() is not None:
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    return text + (generate_latest(extra) if extra is not None else b"")


class _Silent:
    """Stands for a metric nobody can read: takes every call a metric takes, records nothing."""

    def labels(self, *values: str, **named: str) -> _Silent:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


def silence() -> None:
    """Replace this module's metric objects with ones that record nothing.

    For `roundtable mcp` without `PROMETHEUS_MULTIPROC_DIR`: its in-memory numbers are served by
    no endpoint and shared with no other process, and updating them (a lock per counter, a
    bucket search per histogram) was a visible share of each stdio append (issue 16).
    """
    for name, value in list(globals().items()):
        if isinstance(value, Counter | Gauge | Histogram):
            globals()[name] = _Silent()
    labelled.cache_clear()


def mark_process_dead(pid: int) -> None:
    """Drop an exiting process's live gauges from the shared directory (multiprocess mode)."""
    if multiprocess_dir() is not None:
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
