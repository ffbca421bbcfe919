"""Blueprints: namespaced, versioned agent definitions (D2 optimistic versions)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from roundtable.errors import InvalidInput, NotFound
from roundtable.events import log as events
from roundtable.ids import utcnow
from roundtable.orchestration import parameters, versioned
from roundtable.orchestration.events import BLUEPRINT_APPLIED, BLUEPRINT_DELETED
from roundtable.orchestration.models import BlueprintInfo, BlueprintSpec
from roundtable.sessions.registry import Registry
from roundtable.store import tables
from roundtable.store.engine import Conn, Database
from roundtable.structured import outputs
from roundtable.validation import check_name, check_text

B = tables.blueprints
BV = tables.blueprint_versions


def _info(row: Any, changed: bool = False) -> BlueprintInfo:
    return versioned.info_from_row(BlueprintInfo, row, changed)


#: Parsed blueprint versions kept per service (a version never changes once written).
SPECS = 1024


class BlueprintService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.registry = Registry()
        self._specs: dict[tuple[str, str, int], BlueprintSpec] = {}

    async def apply(
        self, namespace: str, spec: BlueprintSpec, expected_version: int | None = None
    ) -> tuple[BlueprintInfo, bool]:
        """Create or update; identical content is a no-op. Returns (info, created)."""
        check_name("namespace", namespace)
        parameters.check_schema(spec.parameters_schema, "parameters_schema")
        outputs.check_blueprint_schema(spec.output_schema)  # issue 10
        body = spec.model_dump(mode="json")
        now = utcnow()
        async with self.db.write() as conn:
            await self.registry.ensure_namespace(conn, namespace, now)
            if spec.output_schema is not None:  # issue 10: registry references must exist
                await outputs.resolve_schema(conn, namespace, spec.output_schema)
            row = await versioned.find_row(conn, B, namespace, spec.name, lock=True)
            current = row.version if row is not None else 0
            versioned.check_expected_version(f"blueprint {spec.name!r}", current, expected_version)
            if row is not None and row.spec == body:
                return _info(row), False
            last = await conn.scalar(
                select(func.max(BV.c.version)).where(
                    BV.c.namespace == namespace, BV.c.name == spec.name
                )
            )
            version = int(last or 0) + 1
            values = {"version": version, "status": spec.status, "spec": body, "updated_at": now}
            await versioned.store(
                conn, B, namespace, spec.name, exists=row is not None, values=values, now=now
            )
            await conn.execute(
                BV.insert().values(
                    namespace=namespace, name=spec.name, version=version, spec=body, created_at=now
                )
            )
            await events.record(
                conn,
                events.event_row(
                    now,
                    namespace,
                    BLUEPRINT_APPLIED,
                    {"name": spec.name, "version": version, "status": spec.status},
                ),
            )
            row = await versioned.find_row(conn, B, namespace, spec.name)
        return _info(row, changed=True), current == 0

    async def get(self, namespace: str, name: str) -> BlueprintInfo:
        async with self.db.read() as conn:
            return _info(await self.row(conn, namespace, name))

    async def row(self, conn: Conn, namespace: str, name: str) -> Any:
        if not isinstance(name, str) or not name:
            raise InvalidInput("name a blueprint", field="blueprint")
        check_text("blueprint", name)
        row = await versioned.find_row(conn, B, namespace, name)
        if row is None:
            raise NotFound(f"no blueprint {name!r} in namespace {namespace!r}", blueprint=name)
        return row

    async def version(self, conn: Conn, namespace: str, name: str, version: int) -> BlueprintSpec:
        """The spec a session was started with (kept after later edits and deletion). A
        version is immutable (numbers are never reused), so its parsed spec is cached."""
        key = (namespace, name, version)
        cached = self._specs.get(key)
        if cached is not None:
            return cached
        spec = await conn.scalar(
            select(BV.c.spec).where(
                BV.c.namespace == namespace, BV.c.name == name, BV.c.version == version
            )
        )
        if spec is None:
            raise NotFound(f"no version {version} of blueprint {name!r}", blueprint=name)
        parsed = BlueprintSpec.model_validate(spec)
        if len(self._specs) >= SPECS:
            self._specs.clear()
        self._specs[key] = parsed
        return parsed

    async def list(self, namespace: str) -> list[BlueprintInfo]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(B).where(B.c.namespace == namespace).order_by(B.c.name)
            )
            return [_info(row) for row in rows]

    async def delete(self, namespace: str, name: str, expected_version: int | None = None) -> None:
        """Remove a blueprint; sessions started from it keep running on their version."""
        now = utcnow()
        async with self.db.write() as conn:
            row = await self.row(conn, namespace, name)
            versioned.check_expected_version(f"blueprint {name!r}", row.version, expected_version)
            await conn.execute(delete(B).where(B.c.namespace == namespace, B.c.name == name))
            await events.record(
                conn,
                events.event_row(
                    now, namespace, BLUEPRINT_DELETED, {"name": name, "version": row.version}
                ),
            )
