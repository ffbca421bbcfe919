"""The MCP server registry (D11): named upstreams per namespace that blueprints refer to.

Entries hold where a server is, how the runner authenticates (secret *names* only), and which
tools a run may use. Changes are versioned like blueprints (an identical apply is a no-op) and
recorded as events. A claimed run carries the entries its blueprint names (`resolve`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from roundtable.errors import NotFound
from roundtable.events import log as events
from roundtable.ids import utcnow
from roundtable.orchestration import versioned
from roundtable.orchestration.events import MCP_SERVER_APPLIED, MCP_SERVER_DELETED
from roundtable.orchestration.mcp_models import McpServerInfo, McpServerSpec
from roundtable.sessions.registry import Registry
from roundtable.store import tables
from roundtable.store.engine import Conn, Database
from roundtable.validation import check_name, check_text

M = tables.mcp_servers


def _info(row: Any, changed: bool = False) -> McpServerInfo:
    return versioned.info_from_row(McpServerInfo, row, changed)


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
            versioned.check_expected_version(f"MCP server {spec.name!r}", current, expected_version)
            if row is not None and row.spec == body:
                return _info(row), False
            values = {"version": current + 1, "spec": body, "updated_at": now}
            await versioned.store(
                conn, M, namespace, spec.name, exists=row is not None, values=values, now=now
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
        return await versioned.find_row(conn, M, namespace, name, lock=lock)

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
            versioned.check_expected_version(f"MCP server {name!r}", row.version, expected_version)
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
