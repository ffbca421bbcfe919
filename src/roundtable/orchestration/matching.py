"""Which pending runs a runner may claim, as SQL: the claim and its cheap pre-check share it.

A run matches a runner when it is pending in the runner's namespace, its executor kind is one
the runner offers, and its demands are a subset of the runner's tags. Order: priority (high
first), then FIFO.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from roundtable.orchestration.models import HELD
from roundtable.store import tables
from roundtable.store.dialect import backend_of
from roundtable.store.engine import Conn

R = tables.runs
RN = tables.runners
#: Prebuilt statements kept per runner shape (least recently used dropped beyond this).
STATEMENTS = 1024
#: The most runs one claim hands out (and one batch of reports may end).
MAX_CLAIM = 64


@dataclass(frozen=True)
class RunnerShape:
    """A runner's registration, which never changes (a new registration is a new runner)."""

    namespace: str
    executors: list[str]
    tags: list[str]
    capacity: int


def demands_met(backend: str, tags: list[str]) -> ColumnElement[bool]:
    """A run's demands are a subset of `tags`, in SQL: a claim filters by demands in the
    database, so runs no runner matches never hide matchable ones queued behind them."""
    if backend == "postgresql":
        return R.c.demands.op("<@")(bindparam(None, sorted(tags), type_=JSONB))
    each = func.json_each(R.c.demands).table_valued("value")
    unmet = select(literal(1)).select_from(each)
    if tags:  # without tags, any demand is unmet
        unmet = unmet.where(each.c.value.notin_(listed(tags)))
    return ~exists(unmet)


def listed(values: list[str]) -> list[Any]:
    """`values` as one bound parameter each: an `IN` over them is rendered once, where a list
    of plain values is one "expanding" parameter that SQLAlchemy re-renders every execution."""
    return [literal(value) for value in sorted(values)]


def pending_for(backend: str, namespace: str, executors: list[str], tags: list[str]) -> Any:
    """The conditions of a pending run a runner with these executors and tags may claim."""
    return (
        R.c.namespace == namespace,
        # A literal, not a parameter, so PostgreSQL's generic plans still match the
        # partial index `ix_runs_queue` (WHERE status = 'pending').
        R.c.status == literal_column("'pending'"),
        R.c.executor.in_(listed(executors)),
        demands_met(backend, tags),
    )


def candidates(conn: Conn, runner: Any, limit: int) -> Select[Any]:
    """The oldest `limit` runs of the highest priority this runner matches (executor and
    demands), locked so concurrent claimers skip them (PostgreSQL); SQLite's writer lock
    already makes the whole claim exclusive. Built once per runner shape and limit."""
    return _candidates(
        backend_of(conn), runner.namespace, tuple(runner.executors), tuple(runner.tags), limit
    )


@lru_cache(maxsize=STATEMENTS)
def _candidates(
    backend: str, namespace: str, executors: tuple[str, ...], tags: tuple[str, ...], limit: int
) -> Select[Any]:
    query = (
        select(R)
        .where(*pending_for(backend, namespace, list(executors), list(tags)))
        .order_by(R.c.priority.desc(), R.c.created_at, R.c.id)
        .limit(limit)
    )
    if backend == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


@lru_cache(maxsize=STATEMENTS)
def probe(
    backend: str, namespace: str, executors: tuple[str, ...], tags: tuple[str, ...]
) -> Select[Any]:
    """The claim's cheap pre-check for the runner `:b_runner_id` of this shape: its state,
    whether a run it matches is pending, and how many runs it holds."""
    pending = exists(
        select(R.c.id).where(*pending_for(backend, namespace, list(executors), list(tags)))
    )
    held = (
        select(func.count())
        .where(R.c.runner_id == bindparam("b_runner_id"), R.c.status.in_(listed(list(HELD))))
        .scalar_subquery()
    )
    return select(RN.c.state, pending.label("pending"), held.label("held")).where(
        RN.c.id == bindparam("b_runner_id")
    )
