"""The MCP server registry (D11): named upstreams per namespace that blueprints refer to.

Entries hold where a server is, how the runner authenticates (secret *names* only), and which
tools a run may use. Changes are versioned like blueprints (an identical apply is a no-op) and
recorded as events. A claimed run carries the entries its blueprint names (`resolve`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from roundtable.errors import ConflictError, NotFound
from roundtable.events import log as events
from roundtable.ids import utcnow
from roundtable.orchestration.events import MCP_SERVER_APPLIED, MCP_SERVER_DELETED
from roundtable.orchestration.mcp_models import McpServerInfo, McpServerSpec
from roundtable.sessions.registry import Registry
from roundtable.store import tables
from roundtable.store.engine import Conn, Database
from roundtable.validation import check_name, check_text

M = tables.mcp_servers


def _info(row: Any, changed: bool = False) -> McpServerInfo:
    return McpServerInfo.model_validate(
        {
            **row.spec,
            "version": row.version,
            "created_at": row.created_at,
            "updated_at": row.updated_at,
            "changed": changed,
        }
    )


class McpServerService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.registry = Registry()

    async def apply(
        self, namespace: str, spec: McpServerSpec, expected_version: int | None = None
    ) -> tuple[McpServerInfo, bool]:
        """Create or replace an entry; identical content is a no-op. Returns (info, created)."""
        check_name("namespace", namespace)
        body = spec.model_dump(mode="json")
        now = utcnow()
        async with self.db.write() as conn:
            await self.registry.ensure_namespace(conn, namespace, now)
            row = await self._row(conn, namespace, spec.name, lock=True)
            current = row.version if row is not None else 0
            if expected_version is not None and expected_version != current:
                raise ConflictError(
                    f"MCP server {spec.name!r} is at version {current}, not {expected_version}",
                    current_version=current,
                )
            if row is not None and row.spec == body:
                return _info(row), False
            values = {"version": current + 1, "spec": body, "updated_at": now}
            if row is None:
                await conn.execute(
                    M.insert().values(namespace=namespace, name=spec.name, created_at=now, **values)
                )
            else:
                await conn.execute(
                    update(M)
                    .where(M.c.namespace == namespace, M.c.name == spec.name)
                    .values(**values)
                )
            await events.record(
                conn,
                events.event_row(
                    now,
                    namespace,
                    MCP_SERVER_APPLIED,
                    {
                        "name": spec.name,
                        "version": current + 1,
                        "transport": spec.transport,
                        "auth": spec.auth.kind,
                    },
                ),
            )
            row = await self._row(conn, namespace, spec.name)
        return _info(row, changed=True), current == 0

    async def _row(self, conn: Conn, namespace: str, name: str, lock: bool = False) -> Any:
        query = select(M).where(M.c.namespace == namespace, M.c.name == name)
        if lock:
            query = query.with_for_update()
        return (await conn.execute(query)).first()

    async def get(self, namespace: str, name: str) -> McpServerInfo:
        check_text("name", name)
        async with self.db.read() as conn:
            row = await self._row(conn, namespace, name)
        if row is None:
            raise NotFound(f"no MCP server {name!r} in namespace {namespace!r}", name=name)
        return _info(row)

    async def list(self, namespace: str) -> list[McpServerInfo]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(M).where(M.c.namespace == namespace).order_by(M.c.name)
            )
            return [_info(row) for row in rows]

    async def delete(self, namespace: str, name: str, expected_version: int | None = None) -> None:
        """Remove an entry; blueprints naming it fall back to a runner-local entry or fail
        their runs with a clear error at the runner."""
        check_text("name", name)
        now = utcnow()
        async with self.db.write() as conn:
            row = await self._row(conn, namespace, name, lock=True)
            if row is None:
                raise NotFound(f"no MCP server {name!r} in namespace {namespace!r}", name=name)
            if expected_version is not None and expected_version != row.version:
                raise ConflictError(
                    f"MCP server {name!r} is at version {row.version}, not {expected_version}",
                    current_version=row.version,
                )
            await conn.execute(delete(M).where(M.c.namespace == namespace, M.c.name == name))
            await events.record(
                conn,
                events.event_row(
                    now, namespace, MCP_SERVER_DELETED, {"name": name, "version": row.version}
                ),
            )


async def resolve(conn: Conn, namespace: str, names: list[str]) -> list[dict[str, Any]]:
    """The registry entries (specs, no secret values) of the servers a blueprint names, in its
    order; names not in the registry are left to the runner's local file."""
    if not names:
        return []
    rows = await conn.execute(select(M).where(M.c.namespace == namespace, M.c.name.in_(names)))
    found = {row.name: dict(row.spec) for row in rows}
    return [found[name] for name in names if name in found]
