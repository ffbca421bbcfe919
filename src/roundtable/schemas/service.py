"""The schema registry: register (dedup on content), read, list, delete (refused while used).

Versions are numbered per name without gaps: registrations of a namespace are serialised on
its `namespaces` row (`FOR UPDATE` on PostgreSQL; SQLite has one writer anyway). A version is
immutable; deleting it keeps a tombstone so its number is never given to other content.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, update

from roundtable.errors import ConflictError, InvalidInput, NotFound
from roundtable.events import log as events
from roundtable.ids import utcnow
from roundtable.orchestration.models import ENDED
from roundtable.schemas import events as ev
from roundtable.schemas import refs as R
from roundtable.schemas.models import SchemaDeleted, SchemaInfo, SchemaList, SchemaSummary
from roundtable.schemas.validators import check_resolvable
from roundtable.sessions.registry import Registry
from roundtable.store import tables
from roundtable.store.engine import Conn, Database
from roundtable.validation import check_name as check_namespace

T = tables.schemas
LIVE_RUNS = ("pending", "claimed", "running")


def info(row: Any, created: bool = False) -> SchemaInfo:
    ref = f"{row.name}@{row.version}"
    return SchemaInfo(
        name=row.name,
        version=row.version,
        ref=ref,
        uri=R.PREFIX + ref,
        digest=row.digest,
        dialect=row.dialect,
        description=row.description,
        body=row.body,
        refs=list(row.refs),
        created_at=row.created_at,
        created=created,
    )


async def lookup(conn: Conn, namespace: str, ref: R.Ref, field: str = "schema") -> Any:
    """The live row `ref` names (`NAME` = its latest version); NotFound otherwise."""
    query = select(T).where(T.c.namespace == namespace, T.c.name == ref.name)
    query = query.where(T.c.deleted_at.is_(None))
    if ref.version is not None:
        query = query.where(T.c.version == ref.version)
    row = (await conn.execute(query.order_by(T.c.version.desc()).limit(1))).first()
    if row is None:
        raise NotFound(f"no schema {str(ref)!r} in namespace {namespace!r}", field=field)
    return row


async def resources(conn: Conn, namespace: str, refs: Iterable[R.Ref]) -> dict[str, Any]:
    """Every registry schema reachable from `refs` (uri -> body), for `$ref` resolution."""
    found: dict[str, Any] = {}
    pending = list(refs)
    while pending:
        ref = pending.pop()
        if ref.uri in found:
            continue
        row = await lookup(conn, namespace, ref)
        found[ref.uri] = row.body
        pending.extend(R.parse(text) for text in row.refs)
    return found


class SchemaService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.registry = Registry()

    async def register(
        self, namespace: str, name: str, body: object, description: str = ""
    ) -> SchemaInfo:
        """A new version, or the existing one with identical content (`created: false`)."""
        check_namespace("namespace", namespace)
        R.check_name(name)
        checked = R.check(body)
        now = utcnow()
        async with self.db.write() as conn:
            await self.registry.ensure_namespace(conn, namespace, now)
            await conn.execute(
                select(tables.namespaces.c.name)
                .where(tables.namespaces.c.name == namespace)
                .with_for_update()
            )
            check_resolvable(checked.body, await resources(conn, namespace, checked.refs))
            same = (
                await conn.execute(
                    select(T)
                    .where(T.c.namespace == namespace, T.c.name == name)
                    .where(T.c.digest == checked.digest, T.c.deleted_at.is_(None))
                    .order_by(T.c.version.desc())
                    .limit(1)
                )
            ).first()
            if same is not None:
                return info(same)
            last = await conn.scalar(
                select(func.max(T.c.version)).where(T.c.namespace == namespace, T.c.name == name)
            )
            version = int(last or 0) + 1
            await conn.execute(
                T.insert().values(
                    namespace=namespace,
                    name=name,
                    version=version,
                    digest=checked.digest,
                    dialect=checked.dialect,
                    body=checked.body,
                    refs=[str(ref) for ref in checked.refs],
                    description=description,
                    created_at=now,
                )
            )
            await events.record(
                conn,
                events.event_row(
                    now,
                    namespace,
                    ev.SCHEMA_REGISTERED,
                    {"name": name, "version": version, "digest": checked.digest},
                ),
            )
            row = await lookup(conn, namespace, R.Ref(name, version))
        return info(row, created=True)

    async def get(self, namespace: str, ref: str) -> SchemaInfo:
        async with self.db.read() as conn:
            return info(await lookup(conn, namespace, R.parse(ref)))

    async def list(self, namespace: str) -> SchemaList:
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(T)
                    .where(T.c.namespace == namespace, T.c.deleted_at.is_(None))
                    .order_by(T.c.name, T.c.version)
                )
            ).all()
        by_name: dict[str, builtins.list[Any]] = {}
        for row in rows:
            by_name.setdefault(row.name, []).append(row)
        return SchemaList(
            schemas=[
                SchemaSummary(
                    name=name,
                    latest=versions[-1].version,
                    versions=[row.version for row in versions],
                    digest=versions[-1].digest,
                    description=versions[-1].description,
                    updated_at=versions[-1].created_at,
                )
                for name, versions in by_name.items()
            ]
        )

    async def delete(self, namespace: str, ref_text: str) -> SchemaDeleted:
        """Delete one version (`NAME@N`) or every version (`NAME`); 409 naming what still uses
        them (blueprints, pending or running runs, other schemas)."""
        ref = R.parse(ref_text)
        now = utcnow()
        async with self.db.write() as conn:
            live = (
                await conn.execute(
                    select(T.c.version)
                    .where(T.c.namespace == namespace, T.c.name == ref.name)
                    .where(T.c.deleted_at.is_(None))
                    .order_by(T.c.version)
                    .with_for_update()
                )
            ).all()
            versions = [row.version for row in live]
            if ref.version is not None:
                if ref.version not in versions:
                    raise NotFound(f"no schema {ref_text!r} in namespace {namespace!r}")
                doomed = [ref.version]
            elif not versions:
                raise NotFound(f"no schema {ref_text!r} in namespace {namespace!r}")
            else:
                doomed = versions
            users = await self._users(conn, namespace, ref.name, doomed, versions[-1])
            if any(users.values()):
                raise ConflictError(
                    f"schema {ref_text!r} is still in use: "
                    + "; ".join(f"{kind}: {', '.join(ids)}" for kind, ids in users.items() if ids),
                    **users,
                )
            await conn.execute(
                update(T)
                .where(T.c.namespace == namespace, T.c.name == ref.name)
                .where(T.c.version.in_(doomed))
                .values(deleted_at=now)
            )
            await events.record(
                conn,
                events.event_row(
                    now, namespace, ev.SCHEMA_DELETED, {"name": ref.name, "versions": doomed}
                ),
            )
        return SchemaDeleted(name=ref.name, versions=doomed)

    async def _users(
        self, conn: Conn, namespace: str, name: str, doomed: builtins.list[int], latest: int
    ) -> dict[str, builtins.list[str]]:
        targets = {f"{name}@{v}" for v in doomed}

        def names_it(spec: Any) -> bool:
            named = (spec or {}).get("output_schema")
            if isinstance(named, dict):
                return bool(_refs_of(named) & targets)
            try:
                ref = R.parse(named)
            except InvalidInput:
                return False
            return ref.name == name and (ref.version or latest) in doomed

        B, BV, S = tables.blueprints, tables.blueprint_versions, tables.sessions
        blueprints: builtins.list[str] = [
            row.name
            for row in await conn.execute(
                select(B.c.name, B.c.spec).where(B.c.namespace == namespace)
            )
            if names_it(row.spec)
        ]
        # versions live sessions still run on (their callback runs resolve the schema again)
        in_use = (
            select(S.c.blueprint, S.c.blueprint_version)
            .where(S.c.namespace == namespace, S.c.blueprint.is_not(None))
            .where(S.c.status.notin_(ENDED))
            .distinct()
            .subquery()
        )
        for row in await conn.execute(
            select(BV.c.name, BV.c.version, BV.c.spec)
            .join(
                in_use,
                (BV.c.name == in_use.c.blueprint) & (BV.c.version == in_use.c.blueprint_version),
            )
            .where(BV.c.namespace == namespace)
        ):
            label = f"{row.name}@{row.version}"
            if names_it(row.spec) and row.name not in blueprints:
                blueprints.append(label)
        runs: builtins.list[str] = []
        RT = tables.runs
        rows = await conn.execute(
            select(RT.c.id, RT.c.output_schema_ref, RT.c.output_schema).where(
                RT.c.namespace == namespace,
                RT.c.status.in_(LIVE_RUNS),
                RT.c.output_schema_ref.is_not(None),
            )
        )
        for run in rows:
            if run.output_schema_ref in targets or _refs_of(run.output_schema) & targets:
                runs.append(run.id)
        schemas = [
            f"{row.name}@{row.version}"
            for row in await conn.execute(
                select(T.c.name, T.c.version, T.c.refs).where(
                    T.c.namespace == namespace, T.c.deleted_at.is_(None)
                )
            )
            if set(row.refs) & targets and not (row.name == name and row.version in doomed)
        ]
        return {"blueprints": sorted(blueprints), "runs": sorted(runs), "schemas": schemas}


def _refs_of(body: Any) -> set[str]:
    if not isinstance(body, dict):
        return set()
    try:
        return {str(ref) for ref in R.registry_refs(body)}
    except InvalidInput:
        return set()
