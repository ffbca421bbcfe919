"""Namespaces and agents come into being the first time they are used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from roundtable.store import tables
from roundtable.store.dialect import insert_ignore


async def touch_agent(conn: AsyncConnection, namespace: str, agent: str, now: datetime) -> None:
    """Ensure the namespace and agent rows exist and record that the agent was seen now."""
    await conn.execute(insert_ignore(conn, tables.namespaces, name=namespace, created_at=now))
    inserted = await conn.execute(
        insert_ignore(
            conn, tables.agents, namespace=namespace, name=agent, first_seen=now, last_seen=now
        )
    )
    if inserted.rowcount == 0:
        await conn.execute(
            update(tables.agents)
            .where(tables.agents.c.namespace == namespace, tables.agents.c.name == agent)
            .values(last_seen=now)
        )
