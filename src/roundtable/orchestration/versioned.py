"""Namespaced, versioned resources (blueprints, MCP server entries): the shared mechanics.

Each resource is one row per (namespace, name) holding its current `spec` (JSON) and `version`;
an apply that changes the spec bumps the version (D2 optimistic versions: `expected_version`
must match or the write is a 409), an identical apply is a no-op, and every change is an event.
The services keep what differs: validation, version history, event payloads, error details.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import select, update

from roundtable.errors import ConflictError
from roundtable.store.engine import Conn

InfoT = TypeVar("InfoT", bound=BaseModel)


def info_from_row(model: type[InfoT], row: Any, changed: bool = False) -> InfoT:
    """The API view of a stored row: its spec plus version, timestamps and `changed`."""
    return model.model_validate(
        {
            **row.spec,
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "changed": changed,
        }
    )


async def find_row(
    conn: Conn, table: sa.Table, namespace: str, name: str, *, lock: bool = False
) -> Any:
    """The row of `name` in `namespace`, or None."""
    query = _find(table, lock)
    return (await conn.execute(query, {"b_namespace": namespace, "b_name": name})).first()


@cache
def _find(table: sa.Table, lock: bool) -> sa.Select[Any]:
    """Built once per table (a blueprint is looked up by every start)."""
    query = select(table).where(
        table.c.namespace == sa.bindparam("b_namespace"), table.c.name == sa.bindparam("b_name")
    )
    return query.with_for_update() if lock else query


def check_expected_version(what: str, current: int, expected: int | None) -> None:
    """409 `conflict` (with the current version) unless `expected` is None or `current`."""
    if expected is not None and expected != current:
        raise ConflictError(
            f"{what} is at version {current}, not {expected}", current_version=current
        )


async def store(
    conn: Conn,
    table: sa.Table,
    namespace: str,
    name: str,
    *,
    exists: bool,
    values: dict[str, Any],
    now: datetime,
) -> None:
    """Insert the resource (created now) or update its row with `values`."""
    if not exists:
        await conn.execute(
            table.insert().values(namespace=namespace, name=name, created_at=now, **values)
        )
    else:
        await conn.execute(
            update(table)
            .where(table.c.namespace == namespace, table.c.name == name)
            .values(**values)
        )
