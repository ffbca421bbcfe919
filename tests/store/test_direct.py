"""`write_rows`: the SQLite writer runs prebuilt INSERTs and UPDATEs straight on its cursor, and
stores exactly what SQLAlchemy would (same SQL, same converted values); `first_row` reads back
what SQLAlchemy would; errors are SQLAlchemy's;
what it cannot run the same way goes through SQLAlchemy. Also run on PostgreSQL, where it is
plain `execute`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from roundtable.ids import utcnow
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import direct, tables
from roundtable.store.engine import first_row, row_exists, write_rows

EV = tables.events
N = tables.namespaces
_INSERT_EVENT = insert(EV)


def event(i: int) -> dict[str, Any]:
    return {
        "ts": utcnow(),
        "namespace": "fast",
        "type": "test.event",
        "payload": {"i": i, "nested": {"list": [1, 2.5, "x", None, True]}, "text": "é ☃"},
        "project": None if i % 2 else "p",
        "agent": "a",
        "session_id": None,
    }


async def stored(core: Roundtable) -> list[dict[str, Any]]:
    async with core.db.read() as conn:
        rows = await conn.execute(select(EV).where(EV.c.namespace == "fast").order_by(EV.c.id))
        return [{k: v for k, v in row._mapping.items() if k != "id"} for row in rows]


async def test_rows_written_directly_read_back_as_sqlalchemy_wrote_them(core: Roundtable) -> None:
    async with core.db.write() as conn:
        await conn.execute(insert(N).values(name="fast", created_at=utcnow()))
    one, many = event(1), [event(2), event(3), event(4)]
    async with core.db.write() as conn:
        await write_rows(conn, _INSERT_EVENT, one)
        await write_rows(conn, _INSERT_EVENT, many)
    straight = await stored(core)
    async with core.db.write() as conn:
        await conn.execute(EV.delete().where(EV.c.namespace == "fast"))
        await conn.execute(_INSERT_EVENT, one)
        await conn.execute(_INSERT_EVENT, many)
    assert straight == await stored(core)
    assert [row["payload"]["i"] for row in straight] == [1, 2, 3, 4]
    if core.db.backend == "sqlite":  # the direct path ran
        plans = [plan for plan in direct._PLANS.values() if plan is not None]
        assert any(plan.statement is _INSERT_EVENT for plan in plans)


async def test_an_update_with_bound_parameters(core: Roundtable) -> None:
    statement = update(N).where(N.c.name == "renamed-from").values(name="renamed-to")
    async with core.db.write() as conn:
        await conn.execute(insert(N).values(name="renamed-from", created_at=utcnow()))
        await write_rows(conn, statement, {})
    async with core.db.read() as conn:
        names = set((await conn.execute(select(N.c.name))).scalars())
    assert "renamed-to" in names and "renamed-from" not in names


async def test_a_constraint_violation_is_sqlalchemys_error_and_rolls_back(
    core: Roundtable,
) -> None:
    row = {"name": "twice", "created_at": utcnow()}
    async with core.db.write() as conn:
        await write_rows(conn, insert(N), row)
    with pytest.raises(IntegrityError):
        async with core.db.write() as conn:
            await write_rows(conn, insert(N), {"name": "once-more", "created_at": utcnow()})
            await write_rows(conn, insert(N), row)
    async with core.db.read() as conn:
        names = set((await conn.execute(select(N.c.name))).scalars())
    assert "twice" in names and "once-more" not in names


@pytest.mark.only_backend("sqlite")
async def test_what_it_cannot_run_alike_goes_through_sqlalchemy(core: Roundtable) -> None:
    async with core.db.write() as conn:
        dialect = conn.dialect
    returning = insert(N).returning(N.c.name)
    defaults = insert(tables.projects)  # Python-side defaults (description, head_seq)
    assert not direct._plain(returning.compile(dialect=dialect, column_keys=["name"]))
    assert not direct._plain(
        defaults.compile(dialect=dialect, column_keys=["namespace", "name", "created_at"])
    )
    assert direct._plain(_INSERT_EVENT.compile(dialect=dialect, column_keys=sorted(event(0))))


async def test_row_exists_binds_as_sqlalchemy_does(core: Roundtable) -> None:
    """A SELECT with bound parameters of converted types (a datetime) finds its row or not."""
    created = utcnow()
    query = select(N.c.name).where(
        N.c.name == bindparam("b_name"), N.c.created_at >= bindparam("b_since")
    )
    async with core.db.write() as conn:
        await conn.execute(insert(N).values(name="exists", created_at=created))
        assert await row_exists(conn, query, {"b_name": "exists", "b_since": created})
        later = created + timedelta(seconds=1)
        assert not await row_exists(conn, query, {"b_name": "exists", "b_since": later})
        assert not await row_exists(conn, query, {"b_name": "absent", "b_since": created})


async def test_first_row_reads_a_row_as_sqlalchemy_does(core: Roundtable) -> None:
    """The journal head an append locks: dates, JSON and integers converted as SQLAlchemy
    converts them, in a real `Row` (attributes and `_mapping`); None when nothing matches."""
    from roundtable.journal.projects import _FIND_LOCKED

    await core.journal.create_project("default", "a", "first-row")
    await core.journal.append("default", "a", "first-row", [EntryInput(message="one")])
    keys = {"b_namespace": "default", "b_name": "first-row"}
    async with core.db.write() as conn:
        straight = await first_row(conn, _FIND_LOCKED, keys)
        through = (await conn.execute(_FIND_LOCKED, keys)).first()
        missing = await first_row(conn, _FIND_LOCKED, {**keys, "b_name": "absent"})
    assert straight is not None and through is not None and missing is None
    assert straight == through and straight._mapping == through._mapping
    assert straight.head_seq == 1 and isinstance(straight.tree_frontier, list)
    assert straight.created_at == through.created_at and straight.created_at.tzinfo is not None
    if core.db.backend == "sqlite":  # the direct path ran
        plans = [plan for plan in direct._PLANS.values() if plan is not None]
        assert any(plan.statement is _FIND_LOCKED and plan.make_row for plan in plans)


async def test_constants_and_expressions_bound_as_sqlalchemy_binds_them(
    core: Roundtable,
) -> None:
    """Values fixed in the statement (a constant, `column + 1`) next to the row's own."""
    statement = (
        update(tables.projects)
        .where(tables.projects.c.name == bindparam("b_name"))
        .values(head_seq=tables.projects.c.head_seq + 1, description="fixed")
    )
    await core.journal.create_project("default", "a", "constants")
    async with core.db.write() as conn:
        await write_rows(conn, statement, {"b_name": "constants"})
        await write_rows(conn, statement, {"b_name": "constants"})
    info = await core.journal.get_project("default", "constants")
    assert (info.size, info.description) == (2, "fixed")


async def test_a_missing_parameter_is_an_error_not_a_null(core: Roundtable) -> None:
    statement = update(N).where(N.c.name == bindparam("b_name")).values(name="renamed")
    with pytest.raises(SQLAlchemyError, match="b_name"):
        async with core.db.write() as conn:
            await write_rows(conn, statement, {"other": 1})
