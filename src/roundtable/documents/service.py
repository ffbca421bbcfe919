"""The context store's one service: every adapter (HTTP, MCP, CLI) calls these methods.

Each method first settles what the caller may reach (`scope.view`: the token's scope AND the
request's filters), then works inside one transaction. A document the caller cannot see is
reported exactly like one that does not exist (404), so nothing leaks across trees. Writes that
name `expected_version` fail with 409 and the current version if it moved (D2); without it
they are last-write-wins, and the event says so.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from roundtable.auth.tokens import Principal
from roundtable.config import Settings
from roundtable.documents import chunks, edits, keyset, lifecycle, relations, search
from roundtable.documents import events as doc_events
from roundtable.documents.info import ValuesRow, info_from_row
from roundtable.documents.lookup import find_visible
from roundtable.documents.models import (
    DeleteResult,
    Document,
    DocumentInfo,
    DocumentPage,
    EditOp,
    EditResult,
    Lifecycle,
    Origin,
    RelationKind,
    RelationList,
    ScopeName,
    SearchHit,
    SearchPage,
)
from roundtable.documents.rules import (
    check_content,
    check_content_type,
    check_name,
    check_note,
    check_tags,
    check_version,
    is_json,
    write_mode,
)
from roundtable.documents.scope import NAMESPACE, READ, WRITE, View, view
from roundtable.documents.search import Filters
from roundtable.errors import ConflictError, InvalidInput
from roundtable.events import log as events
from roundtable.ids import utcnow, uuid7
from roundtable.sessions.limits import RateLimiter
from roundtable.sessions.registry import Registry
from roundtable.store import tables
from roundtable.store.engine import Conn, Database
from roundtable.validation import check_meta, check_text

D = tables.documents
TAGS = tables.document_tags


class DocumentService:
    def __init__(
        self, db: Database, settings: Settings, limiter: RateLimiter | None = None
    ) -> None:
        self.db = db
        self.settings = settings
        self.limiter = limiter
        self.registry = Registry()

    def _spend(self, namespace: str, actor: str | None) -> None:
        """An agent's writes share its write rate (D3) with its other calls; people's do not."""
        if self.limiter is not None and actor is not None:
            self.limiter.take(namespace, actor)

    # -- checks -----------------------------------------------------------------------------

    def _content(self, content: str, content_type: str) -> int:
        """Validate content; returns its size in UTF-8 bytes."""
        return check_content(content, content_type, self.settings.document_max_bytes)

    async def _set_tags(self, conn: Conn, document_id: str, tags: list[str]) -> None:
        await conn.execute(TAGS.delete().where(TAGS.c.document_id == document_id))
        if tags:
            await conn.execute(
                TAGS.insert(), [{"document_id": document_id, "tag": t} for t in tags]
            )

    # -- writes -----------------------------------------------------------------------------

    async def put(
        self,
        principal: Principal,
        namespace: str,
        *,
        name: str,
        content: str,
        actor: str | None,
        content_type: str = "text/markdown",
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        lifecycle: Lifecycle | None = None,
        scope: ScopeName | None = None,
        session_id: str | None = None,
        expected_version: int | None = None,
    ) -> DocumentInfo:
        """Create the document `name` in its scope, or replace its content (a new version).

        Scope and lifecycle default by origin (D6): from inside a session tree (`session_id`,
        or a tree-scoped token) the tree and `temporal`; otherwise the namespace and
        `persistent`. `actor` is the acting agent; None means a person (admin token, CLI).
        """
        check_name(name)
        check_content_type(content_type)
        size = self._content(content, content_type)
        tag_list = check_tags(tags)
        meta = check_meta(metadata, self.settings.max_meta_bytes)
        if expected_version is not None and expected_version < 0:
            raise InvalidInput("expected_version must be 0 or more", field="expected_version")
        now = utcnow()
        self._spend(namespace, actor)
        try:
            async with self.db.write() as conn:
                v = await view(conn, principal, namespace, WRITE, session_id=session_id)
                root = self._target(v, scope)
                life = lifecycle or (Lifecycle.TEMPORAL if root else Lifecycle.PERSISTENT)
                if life == Lifecycle.TEMPORAL and not root:
                    raise InvalidInput(
                        "a temporal document needs a session tree to end with: pass "
                        "session_id, or make it persistent",
                        field="lifecycle",
                    )
                existing = (
                    await conn.execute(
                        select(D)
                        .where(
                            D.c.namespace == namespace, D.c.root_session == root, D.c.name == name
                        )
                        .with_for_update()
                    )
                ).first()
                if existing is None:
                    if expected_version not in (None, 0):
                        raise ConflictError(
                            f"document {name!r} does not exist (version 0)",
                            current_version=0,
                            expected_version=expected_version,
                        )
                    await self.registry.ensure_namespace(conn, namespace, now)
                    row: dict[str, Any] = {
                        "id": uuid7(),
                        "namespace": namespace,
                        "root_session": root,
                        "name": name,
                        "content_type": content_type,
                        "tags": tag_list,
                        "metadata": meta,
                        "lifecycle": life.value,
                        "length": len(content),
                        "size_bytes": size,
                        "version": 1,
                        "created_by": actor or "admin",
                        "created_origin": (Origin.PERSON if actor is None else Origin.AGENT).value,
                        "created_session": session_id,
                        "created_at": now,
                        "updated_at": now,
                        "updated_by": actor or "admin",
                    }
                    await conn.execute(D.insert().values(**row))
                    event = doc_events.row(
                        namespace,
                        doc_events.CREATED,
                        {
                            "document_id": row["id"],
                            "version": 1,
                            "lifecycle": life.value,
                            "root_session": root or None,
                        },
                        agent=actor,
                        session_id=session_id,
                    )
                else:
                    check_version(existing, expected_version)
                    row = dict(existing._mapping) | {
                        "content_type": content_type,
                        "tags": tag_list,
                        "metadata": meta,
                        "lifecycle": (lifecycle or Lifecycle(existing.lifecycle)).value,
                        "length": len(content),
                        "size_bytes": size,
                        "version": existing.version + 1,
                        "updated_at": now,
                        "updated_by": actor or "admin",
                    }
                    await conn.execute(update(D).where(D.c.id == existing.id).values(**row))
                    event = doc_events.row(
                        namespace,
                        doc_events.UPDATED,
                        {
                            "document_id": existing.id,
                            "version": row["version"],
                            "change": "content",
                            "mode": write_mode(expected_version),
                        },
                        agent=actor,
                        session_id=session_id,
                    )
                await chunks.write_all(conn, row["id"], content)
                await self._set_tags(conn, row["id"], tag_list)
                await events.record(conn, event)
        except IntegrityError:  # a concurrent put created the same name first
            raise ConflictError(
                f"document {name!r} was created concurrently; read it and retry",
                current_version=1,
                expected_version=expected_version,
            ) from None
        return info_from_row(ValuesRow(row))

    @staticmethod
    def _target(v: View, scope: ScopeName | None) -> str:
        """Where a new document goes: the scope asked for, else the caller's tree if any."""
        if scope == "namespace":
            return NAMESPACE
        if scope == "tree" and v.tree is None:
            raise InvalidInput(
                "scope=tree needs a session tree: pass session_id (or use a tree-scoped token)",
                field="scope",
            )
        if scope not in (None, "tree"):
            raise InvalidInput("scope must be namespace or tree", field="scope")
        return v.tree or NAMESPACE

    async def edit(
        self,
        principal: Principal,
        namespace: str,
        ref: str,
        op: EditOp,
        *,
        actor: str | None,
        expected_version: int | None = None,
        session_id: str | None = None,
    ) -> EditResult:
        """One partial edit as one versioned write; only the touched chunks are rewritten."""
        if op.old is not None:
            check_text("old", op.old)
        check_text("new", op.new)
        self._spend(namespace, actor)
        async with self.db.write() as conn:
            v = await view(conn, principal, namespace, WRITE, session_id=session_id)
            row = await find_visible(conn, v, ref, lock=True)
            check_version(row, expected_version)
            text = await chunks.read_all(conn, row.id) if edits.needs_text(op) else None
            splices = edits.splices(op, row.length, text)
            if is_json(row.content_type):
                full = text if text is not None else await chunks.read_all(conn, row.id)
                self._content(edits.apply(full, splices), row.content_type)
            d_chars, d_bytes = await chunks.splice(conn, row.id, splices)
            size = row.size_bytes + d_bytes
            if size > self.settings.document_max_bytes:
                raise InvalidInput(
                    f"the edit would make the content {size} bytes; the limit is "
                    f"{self.settings.document_max_bytes}",
                    field="new",
                    size_bytes=size,
                    limit=self.settings.document_max_bytes,
                )
            changes = {
                "length": row.length + d_chars,
                "size_bytes": size,
                "version": row.version + 1,
                "updated_at": utcnow(),
                "updated_by": actor or "admin",
            }
            await conn.execute(update(D).where(D.c.id == row.id).values(**changes))
            await events.record(
                conn,
                doc_events.row(
                    namespace,
                    doc_events.UPDATED,
                    {
                        "document_id": row.id,
                        "version": changes["version"],
                        "change": "edit",
                        "mode": write_mode(expected_version),
                    },
                    agent=actor,
                    session_id=session_id,
                ),
            )
        return EditResult(
            document=info_from_row(ValuesRow(dict(row._mapping) | changes)), replaced=len(splices)
        )

    async def set_lifecycle(
        self,
        principal: Principal,
        namespace: str,
        ref: str,
        life: Lifecycle,
        *,
        actor: str | None,
        expected_version: int | None = None,
        session_id: str | None = None,
    ) -> DocumentInfo:
        """Promote (to persistent) or demote (to temporal, tree documents only); a document
        already there is returned unchanged."""
        self._spend(namespace, actor)
        async with self.db.write() as conn:
            v = await view(conn, principal, namespace, WRITE, session_id=session_id)
            row = await find_visible(conn, v, ref, lock=True)
            check_version(row, expected_version)
            if row.lifecycle == life.value:
                return info_from_row(row)
            if life == Lifecycle.TEMPORAL and row.root_session == NAMESPACE:
                raise InvalidInput(
                    "only a document of a session tree can be temporal", field="lifecycle"
                )
            changes = {
                "lifecycle": life.value,
                "version": row.version + 1,
                "updated_at": utcnow(),
                "updated_by": actor or "admin",
            }
            await conn.execute(update(D).where(D.c.id == row.id).values(**changes))
            payload: dict[str, Any] = {"document_id": row.id, "version": changes["version"]}
            if life == Lifecycle.PERSISTENT:
                kind, payload["lifecycle"] = doc_events.PROMOTED, life.value
            else:
                kind = doc_events.UPDATED
                payload |= {"change": "lifecycle", "mode": write_mode(expected_version)}
            await events.record(
                conn, doc_events.row(namespace, kind, payload, agent=actor, session_id=session_id)
            )
        return info_from_row(ValuesRow(dict(row._mapping) | changes))

    async def delete(
        self,
        principal: Principal,
        namespace: str,
        ref: str,
        *,
        actor: str | None,
        expected_version: int | None = None,
        session_id: str | None = None,
    ) -> DeleteResult:
        """Delete a document and, through parent-child links, everything below it."""
        self._spend(namespace, actor)
        async with self.db.write() as conn:
            v = await view(conn, principal, namespace, WRITE, session_id=session_id)
            row = await find_visible(conn, v, ref, lock=True)
            check_version(row, expected_version)
            below = await relations.descendants(conn, [row.id])
            roots: dict[str, str] = {
                r.id: r.root_session
                for r in await conn.execute(
                    select(D.c.id, D.c.root_session).where(D.c.id.in_(below))
                )
            }
            ids = [row.id, *below]
            await lifecycle.remove(conn, ids)
            await events.record(
                conn,
                doc_events.row(
                    namespace,
                    doc_events.DELETED,
                    {"document_ids": ids, "count": len(ids), "reason": "deleted"},
                    agent=actor,
                    session_id=session_id,
                ),
            )
        # Children in scopes the caller cannot see are deleted too (the link said so) but
        # not named to it.
        return DeleteResult(deleted=[row.id, *[i for i in below if v.sees(roots[i])]])

    async def relate(
        self,
        principal: Principal,
        namespace: str,
        ref: str,
        other: str,
        kind: RelationKind,
        *,
        actor: str | None,
        note: str = "",
        reverse_note: str = "",
        session_id: str | None = None,
    ) -> RelationList:
        """Link `ref` to `other` (`ref` is the parent / predecessor); both must be visible."""
        check_note("note", note)
        check_note("reverse_note", reverse_note)
        kind = RelationKind(kind)
        self._spend(namespace, actor)
        async with self.db.write() as conn:
            await relations.lock_links(conn)
            v = await view(conn, principal, namespace, WRITE, session_id=session_id)
            first = await find_visible(conn, v, ref, lock=True)
            second = await find_visible(conn, v, other, lock=True)
            await relations.link(
                conn, namespace, first.id, second.id, kind, note, reverse_note, actor or "admin"
            )
            listed = await relations.listing(conn, v, first.id)
        return RelationList(document_id=first.id, relations=listed)

    # -- reads ------------------------------------------------------------------------------

    async def get(
        self,
        principal: Principal,
        namespace: str,
        ref: str,
        *,
        offset: int = 0,
        limit: int | None = None,
        session_id: str | None = None,
        root_session: str | None = None,
    ) -> Document:
        """A document with its content, or the characters [offset, offset + limit) of it."""
        if offset < 0 or (limit is not None and limit < 0):
            raise InvalidInput("offset and limit must be 0 or more", field="offset")
        async with self.db.read() as conn:
            v = await view(
                conn, principal, namespace, READ, session_id=session_id, root_session=root_session
            )
            row = await find_visible(conn, v, ref)
            if offset > row.length:
                raise InvalidInput(
                    f"offset {offset} is past the end ({row.length} characters)",
                    field="offset",
                    length=row.length,
                )
            content = await chunks.read_range(conn, row.id, offset, limit)
        return Document(
            **info_from_row(row).model_dump(),
            content=content,
            offset=offset,
            truncated=offset + len(content) < row.length,
        )

    async def relations(
        self, principal: Principal, namespace: str, ref: str, *, session_id: str | None = None
    ) -> RelationList:
        async with self.db.read() as conn:
            v = await view(conn, principal, namespace, READ, session_id=session_id)
            row = await find_visible(conn, v, ref)
            return RelationList(
                document_id=row.id, relations=await relations.listing(conn, v, row.id)
            )

    def _listing_filters(
        self, filters: Filters | None, limit: int, query: str | None = None
    ) -> Filters:
        """Check a listing's page size (and search words) and tags; the filters to apply."""
        if not 1 <= limit <= self.settings.max_page_size:
            raise InvalidInput(f"limit must be 1-{self.settings.max_page_size}", field="limit")
        if query is not None:
            check_text("query", query)
        filters = filters or Filters()
        check_tags(filters.tags)
        return filters

    @staticmethod
    async def _listing_view(
        conn: Conn,
        principal: Principal,
        namespace: str,
        *,
        session_id: str | None,
        scope: ScopeName | None,
        root_session: str | None,
    ) -> View:
        return await view(
            conn,
            principal,
            namespace,
            READ,
            session_id=session_id,
            scope=scope,
            root_session=root_session,
        )

    async def list_documents(
        self,
        principal: Principal,
        namespace: str,
        *,
        filters: Filters | None = None,
        scope: ScopeName | None = None,
        session_id: str | None = None,
        root_session: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> DocumentPage:
        """Documents oldest first (ids are time-ordered); follow `next_cursor`."""
        filters = self._listing_filters(filters, limit)
        after = keyset.decode_cursor(cursor)
        async with self.db.read() as conn:
            v = await self._listing_view(
                conn,
                principal,
                namespace,
                session_id=session_id,
                scope=scope,
                root_session=root_session,
            )
            query = select(D).where(*filters.predicates(v))
            if after is not None:
                query = query.where(D.c.id > after[1])
            rows = (await conn.execute(query.order_by(D.c.id).limit(limit + 1))).all()
        page = rows[:limit]
        return DocumentPage(
            documents=[info_from_row(r) for r in page],
            next_cursor=keyset.encode_cursor(0, page[-1].id) if len(rows) > limit else None,
        )

    async def search(
        self,
        principal: Principal,
        namespace: str,
        query: str,
        *,
        filters: Filters | None = None,
        scope: ScopeName | None = None,
        session_id: str | None = None,
        root_session: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> SearchPage:
        """Ranked full-text search (every word must occur), best first, with snippets."""
        filters = self._listing_filters(filters, limit, query)
        async with self.db.read() as conn:
            v = await self._listing_view(
                conn,
                principal,
                namespace,
                session_id=session_id,
                scope=scope,
                root_session=root_session,
            )
            hits, next_cursor = await search.ranked(conn, v, query, filters, limit, cursor)
            infos = {
                row.id: info_from_row(row)
                for row in await conn.execute(
                    select(D).where(D.c.id.in_([doc for doc, _, _ in hits]))
                )
            }
        return SearchPage(
            hits=[
                SearchHit(document=infos[doc], score=score, snippet=snippet)
                for doc, score, snippet in hits
                if doc in infos
            ],
            next_cursor=next_cursor,
        )

    # -- lifecycle (D6) ---------------------------------------------------------------------

    @staticmethod
    async def delete_tree_documents(conn: Conn, namespace: str, root_session_id: str) -> list[str]:
        """Remove a deleted tree's temporal documents inside the caller's transaction.

        For orchestration's delete of a session subtree (D8): call it with the root of the
        deleted subtree's tree when the whole tree goes. Persistent documents stay.
        """
        return await lifecycle.delete_tree_documents(conn, namespace, root_session_id)

    async def expire(self) -> int:
        """The sweeper's pass: temporal documents past retention after their root ended."""
        return await lifecycle.expire(
            self.db,
            timedelta(seconds=self.settings.document_retention_seconds),
            self.settings.document_sweep_batch,
            utcnow(),
        )
