"""The hot path's statements, built once with bind parameters.

Building a SQLAlchemy statement and its cache key costs more CPU than SQLite takes to run a
primary-key update, and every run is created, claimed and ended by a handful of them. The
statements here are built once per process (per set of columns for the updates) and executed
with plain parameter dicts, as the journal does for its appends.

A `None` for a JSON column is stored as the JSON text `null` here, exactly as `values()`
given `None` stores it: rows read and filter the same whichever way they were written.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, Update, bindparam, func, literal, select, update

from roundtable.orchestration.models import HELD
from roundtable.store import tables
from roundtable.store.engine import write_rows

S = tables.sessions
R = tables.runs
CB = tables.callbacks
RN = tables.runners

#: A session row by id, locked (`FOR UPDATE` on PostgreSQL; SQLite's writer lock serialises).
LOCK_SESSION = select(S).where(S.c.id == bindparam("b_id")).with_for_update()
#: A session row by id (a read).
SESSION = select(S).where(S.c.id == bindparam("b_id"))
#: Session rows by id (expanding `b_ids`).
SESSIONS = select(S).where(S.c.id.in_(bindparam("b_ids", expanding=True)))
#: A run row by id, and the same locked.
RUN = select(R).where(R.c.id == bindparam("b_id"))
LOCK_RUN = RUN.with_for_update()
#: A run's session row, locked (found and locked in one statement).
LOCK_SESSION_OF_RUN = (
    select(S)
    .where(S.c.id == select(R.c.session_id).where(R.c.id == bindparam("b_id")).scalar_subquery())
    .with_for_update()
)
#: The sessions of runs (expanding `b_ids`) locked children first (deeper first, then by id),
#: and then the runs by id: the global lock order (`flow.lock_runs`).
LOCK_SESSIONS_OF_RUNS = (
    select(S.c.id)
    .where(S.c.id.in_(select(R.c.session_id).where(R.c.id.in_(bindparam("b_ids", expanding=True)))))
    .order_by(S.c.depth.desc(), S.c.id)
    .with_for_update()
)
LOCK_RUNS = (
    select(R)
    .where(R.c.id.in_(bindparam("b_ids", expanding=True)))
    .order_by(R.c.id)
    .with_for_update()
)
#: The status of runs (expanding `b_ids`).
RUN_STATUSES = select(R.c.id, R.c.status).where(R.c.id.in_(bindparam("b_ids", expanding=True)))
#: A parent's undelivered callbacks, oldest first.
UNDELIVERED = (
    select(CB.c.id, CB.c.envelope)
    .where(CB.c.parent_id == bindparam("b_parent_id"), CB.c.run_id.is_(None))
    .order_by(CB.c.id)
)


#: A runner's row by id, and the same locked.
RUNNER = select(RN).where(RN.c.id == bindparam("b_id"))
LOCK_RUNNER = RUNNER.with_for_update()
#: How many runs a runner holds (claimed or running).
HELD_BY = select(func.count()).where(
    R.c.runner_id == bindparam("b_id"), R.c.status.in_([literal(status) for status in HELD])
)
#: A runner's id, if it is there (an existence check).
RUNNER_EXISTS = select(RN.c.id).where(RN.c.id == bindparam("b_id"))
#: A runner's row with how many runs it holds (`held`), locked: a claim's first read on SQLite,
#: whose writer lock serialises claims (PostgreSQL counts after the lock, in a fresh snapshot).
LOCK_RUNNER_HELD = (
    select(RN, HELD_BY.scalar_subquery().label("held"))
    .where(RN.c.id == bindparam("b_id"))
    .with_for_update(of=RN)
)
#: Sessions by id (expanding `b_ids`), locked.
LOCK_SESSIONS = select(S).where(S.c.id.in_(bindparam("b_ids", expanding=True))).with_for_update()


@cache
def update_in(table: Table, names: frozenset[str]) -> Update:
    """`UPDATE table SET name = :b_name, ... WHERE id IN (:b_ids)`, one per set of columns."""
    return (
        update(table)
        .where(table.c.id.in_(bindparam("b_ids", expanding=True)))
        .values({name: bindparam(f"b_{name}") for name in sorted(names)})
    )


async def update_rows(conn: Any, table: Table, ids: list[Any], values: dict[str, Any]) -> None:
    """Set `values` on the rows `ids` of `table` with a prebuilt statement."""
    if len(ids) == 1:  # `=` rather than an `IN` list, which is rendered on every execution
        await update_row(conn, table, ids[0], values)
        return
    bound = params(table, None, values)
    del bound["b_id"]
    bound["b_ids"] = ids
    await conn.execute(update_in(table, frozenset(values)), bound)


#: Inserts of whole rows, given as parameter dicts (column name: value).
INSERT_SESSION = S.insert()
INSERT_RUN = R.insert()
#: Every session column unset: with the inserted values, the row as the database holds it.
EMPTY_SESSION: dict[str, Any] = {column.name: None for column in S.columns}


@cache
def update_by_id(table: Table, names: frozenset[str]) -> Update:
    """`UPDATE table SET name = :b_name, ... WHERE id = :b_id`, one per set of columns."""
    return (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in sorted(names)})
    )


def params(table: Table, row_id: Any, values: dict[str, Any]) -> dict[str, Any]:
    """The parameters of `update_by_id(table, frozenset(values))` for the row `row_id`."""
    bound = {f"b_{name}": value for name, value in values.items()}
    bound["b_id"] = row_id
    return bound


async def update_row(conn: Any, table: Table, row_id: Any, values: dict[str, Any]) -> None:
    """Set `values` on the row `row_id` of `table` with a prebuilt statement (on the SQLite
    writer straight on its cursor: `store.direct`)."""
    await write_rows(conn, update_by_id(table, frozenset(values)), params(table, row_id, values))
