"""Namespaces and agents come into being the first time they are used.

`last_seen` is kept to the minute: an agent's row is upserted at most once per
`SEEN_RESOLUTION` per process, which keeps a statement off every write's hot path. (If that
write then rolls back, the row catches up on the agent's next write after the window.)

A namespace row is never deleted, so once a transaction that saw it has committed, this process
knows it exists for good and skips the insert (issue 16: a statement off every `set_project`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite

from roundtable.store import tables
from roundtable.store.dialect import backend_of
from roundtable.store.engine import Conn, after_commit

SEEN_RESOLUTION = timedelta(seconds=60)

#: `INSERT ... ON CONFLICT DO NOTHING` of a namespace, per dialect, built once (it runs on every
#: `set_project`: building it per call cost more than running it).
_ENSURE_NAMESPACE = {
    name: dialect.insert(tables.namespaces)
    .values(name=bindparam("b_name"), created_at=bindparam("b_now"))
    .on_conflict_do_nothing()
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


class Registry:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], datetime] = {}
        #: Namespaces known to exist: remembered only once the transaction that inserted (or
        #: found) the row has committed, so a rolled-back creation is never taken for one.
        self._namespaces: set[str] = set()

    async def ensure_namespace(self, conn: Conn, namespace: str, now: datetime) -> None:
        """Create the namespace row if missing (before anything that references it)."""
        if namespace in self._namespaces:
            return
        await conn.execute(_ENSURE_NAMESPACE[backend_of(conn)], {"b_name": namespace, "b_now": now})
        after_commit(lambda: self._namespaces.add(namespace))

    async def seen(self, conn: Conn, namespace: str, agent: str, now: datetime) -> None:
        """Record the agent (creating its row) unless this process did so within the window.

        The namespace row is ensured first: an append to a project of a namespace nobody has
        used yet must fail as "project not found", not on the agents table's foreign key.
        """
        last = self._seen.get((namespace, agent))
        if last is not None and now - last < SEEN_RESOLUTION:
            return
        await self.ensure_namespace(conn, namespace, now)
        insert = postgresql.insert if backend_of(conn) == "postgresql" else sqlite.insert
        statement = insert(tables.agents).values(
            namespace=namespace, name=agent, first_seen=now, last_seen=now
        )
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["namespace", "name"],
                set_={"last_seen": statement.excluded.last_seen},
            )
        )
        self._seen[(namespace, agent)] = now
