"""Namespaces and agents come into being the first time they are used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from roundtable.store import tables
from roundtable.store.dialect import backend_of, insert_ignore


async def touch_agent(conn: AsyncConnection, namespace: str, agent: str, now: datetime) -> None:
    """Ensure the namespace and agent rows exist and record that the agent was seen now."""
    await conn.execute(insert_ignore(conn, tables.namespaces, name=namespace, created_at=now))
    insert = postgresql.insert if backend_of(conn) == "postgresql" else sqlite.insert
    statement = insert(tables.agents).values(
        namespace=namespace, name=agent, first_seen=now, last_seen=now
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["namespace", "name"], set_={"last_seen": statement.excluded.last_seen}
        )
    )
