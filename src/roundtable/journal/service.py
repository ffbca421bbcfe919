"""The journal (D4): append under the project's lock, read recent entries, manage projects."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update

from roundtable import metrics
from roundtable.auth.keyring import anchors
from roundtable.config import Settings
from roundtable.errors import InvalidInput
from roundtable.events import log as events
from roundtable.events.log import EventTypes
from roundtable.ids import utcnow
from roundtable.journal import checkpoints, cursor, merkle, projects, proofs, text_index, tree
from roundtable.journal.checkpoints import CheckpointSigner
from roundtable.journal.hashing import canonical_entry, entry_hash
from roundtable.journal.models import (
    AppendResult,
    ConsistencyProof,
    EntryInput,
    EntryPage,
    InclusionProof,
    ProjectInfo,
    QueryFilter,
    TreeHead,
    VerifyReport,
)
from roundtable.journal.query import query_entries
from roundtable.journal.retention import fill_pruned
from roundtable.journal.rows import ENTRY_COLUMNS, entry_from_row
from roundtable.journal.verify import Progress, verify_journal
from roundtable.sessions.expensive import ExpensiveGate
from roundtable.sessions.leases import SessionService
from roundtable.store import tables
from roundtable.store.engine import Conn, Database, write_rows
from roundtable.validation import check_message, check_meta, check_name, check_text
from roundtable.witness.check import witnessed

E = tables.entries
P = tables.projects

# The append path's statements, built once (issue 16: building them per call cost more CPU
# than running them).
_INSERT_ENTRIES = insert(E)
_ADVANCE_HEAD = (
    update(P)
    .where(P.c.id == bindparam("b_id"))
    .values(
        head_seq=bindparam("b_head_seq"),
        head_hash=bindparam("b_head_hash"),
        tree_frontier=bindparam("b_tree_frontier"),
        segment_bytes=bindparam("b_segment_bytes"),
    )
)


class JournalService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        sessions: SessionService,
        *,
        signer: CheckpointSigner | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.sessions = sessions
        self.signer = signer
        #: Caps each caller's concurrent regex queries and verifications (bounded work).
        self.expensive = ExpensiveGate(settings.max_expensive_per_agent)
        #: Run after each append commits (mirror sync, automatic rotation; see
        #: `journal.autorotate`) with (namespace, project row before the append, result).
        #: They log their own failures: an append that committed is never reported as failed.
        self.after_commit: list[Callable[[str, Any, AppendResult], Awaitable[None]]] = []

    def _validate(self, items: Sequence[EntryInput]) -> None:
        if not items:
            raise InvalidInput("nothing to append: give at least one entry", field="entries")
        if len(items) > self.settings.max_batch_entries:
            raise InvalidInput(
                f"{len(items)} entries in one batch; the limit is {self.settings.max_batch_entries}",
                field="entries",
                limit=self.settings.max_batch_entries,
            )
        for item in items:
            check_message(item.message, self.settings.max_message_chars)
            check_name("kind", item.kind)
            check_meta(item.meta, self.settings.max_meta_bytes)

    async def append(
        self,
        namespace: str,
        agent: str,
        project: str | None,
        items: Sequence[EntryInput],
        *,
        session_id: str | None = None,
    ) -> AppendResult:
        """Append one entry or a batch, atomically: all get consecutive seqs, or none is written.

        `project=None` appends to the agent's current project, resolved in the same transaction.
        """
        check_name("namespace", namespace)
        check_name("agent", agent)
        if project is not None:
            check_name("project", project)
        self._validate(items)
        self.sessions.limiter.take(namespace, agent)
        now = utcnow()
        async with self.db.write() as conn:
            if session_id is not None:
                await self.sessions.hold(conn, namespace, agent, session_id, now)
            await self.sessions.registry.seen(conn, namespace, agent, now)
            locking = time.perf_counter()
            if project is None:
                head = await projects.require_current(conn, namespace, agent, lock=True)
            else:
                head = await projects.require(conn, namespace, project, lock=True)
            metrics.labelled(metrics.JOURNAL_HEAD_LOCK_WAIT_SECONDS, self.db.backend).observe(
                time.perf_counter() - locking
            )
            result, event = await self.append_in(
                conn, namespace, agent, head, items, now, session_id=session_id
            )
            await events.record(conn, event)
            signed = None
            if self.signer is not None:  # every N entries, in the append's transaction
                signed = await checkpoints.after_append(
                    conn,
                    self.signer,
                    self.settings,
                    namespace=namespace,
                    project=result.project,
                    project_id=head.id,
                    old_size=head.head_seq,
                    new_size=result.last_seq,
                    now=now,
                )
        metrics.JOURNAL_APPENDS.inc()
        metrics.JOURNAL_ENTRIES.inc(len(result.entries))
        if self.signer is not None:
            self.signer.anchor(signed)
        for hook in self.after_commit:
            await hook(namespace, head, result)
        return result

    async def append_in(
        self,
        conn: Conn,
        namespace: str,
        agent: str,
        head: Any,
        items: Sequence[EntryInput],
        now: datetime,
        *,
        session_id: str | None = None,
    ) -> tuple[AppendResult, dict[str, Any]]:
        """Chain `items` after `head` (the project row, locked by the caller) in the caller's
        transaction; returns the result and the `journal.appended` event for the caller to
        record last. Rotation appends its entry through here, so it is chained like any other.
        """
        project = str(head.name)
        seq, prev = head.head_seq, head.head_hash
        rows: list[dict[str, Any]] = []
        leaves: list[bytes] = []
        segment_bytes = head.segment_bytes
        for item in items:
            seq += 1
            fields = {
                "seq": seq,
                "ts": now,
                "agent": agent,
                "session_id": session_id,
                "status": item.status.value,
                "kind": item.kind,
                "message": item.message,
                "meta": item.meta,
                "prev_hash": prev,
            }
            canonical = canonical_entry(namespace=namespace, project=project, **fields)
            digest = entry_hash(canonical)
            leaf = merkle.leaf_hash(canonical)
            leaves.append(leaf)
            segment_bytes += len(canonical)
            rows.append({**fields, "project_id": head.id, "hash": digest, "leaf_hash": leaf.hex()})
            prev = digest
        await write_rows(conn, _INSERT_ENTRIES, rows[0] if len(rows) == 1 else rows)
        await text_index.appended(conn, len(rows))
        frontier = await tree.extend(conn, head.id, head.tree_frontier, head.head_seq, leaves)
        await write_rows(
            conn,
            _ADVANCE_HEAD,
            {
                "b_id": head.id,
                "b_head_seq": seq,
                "b_head_hash": prev,
                "b_tree_frontier": frontier,
                "b_segment_bytes": segment_bytes,
            },
        )
        event = events.event_row(
            now,
            namespace,
            EventTypes.JOURNAL_APPENDED,
            {
                "project": project,
                "first_seq": rows[0]["seq"],
                "last_seq": seq,
                "count": len(rows),
                "head_hash": prev,
                "statuses": sorted({r["status"] for r in rows}),
            },
            project=project,
            agent=agent,
            session_id=session_id,
        )
        entries = [
            entry_from_row({**row, "namespace": namespace, "project": project}) for row in rows
        ]
        result = AppendResult(
            project=project,
            first_seq=entries[0].seq,
            last_seq=seq,
            head_hash=prev,
            entries=entries,
        )
        return result, event

    async def read_recent(
        self, namespace: str, project: str, *, limit: int = 20, cursor_: str | None = None
    ) -> EntryPage:
        """Newest entries first; `next_cursor` pages further back."""
        self._check_limit(limit)
        before = cursor.decode(cursor_)
        async with self.db.read() as conn:
            head = await projects.require(conn, namespace, project)
            query = (
                select(*ENTRY_COLUMNS)
                .select_from(E.join(P, E.c.project_id == P.c.id))
                .where(E.c.project_id == head.id)
            )
            if before is not None:
                query = query.where(E.c.seq < before)
            rows = (await conn.execute(query.order_by(E.c.seq.desc()).limit(limit))).mappings()
            # Bodies pruned by retention are read back from their archives, checked (D5).
            found = await fill_pruned(
                conn, self.settings.data_dir, head.id, [dict(row) for row in rows]
            )
            entries = [entry_from_row(row) for row in found]
        more = len(entries) == limit and entries[-1].seq > 1
        return EntryPage(
            entries=entries, next_cursor=cursor.encode(entries[-1].seq) if more else None
        )

    def _check_limit(self, limit: int) -> None:
        if not 1 <= limit <= self.settings.max_page_size:
            raise InvalidInput(
                f"limit must be between 1 and {self.settings.max_page_size}", field="limit"
            )

    async def create_project(
        self, namespace: str, agent: str, name: str, description: str = ""
    ) -> ProjectInfo:
        check_name("namespace", namespace)
        check_name("agent", agent)
        check_text("description", description)
        now = utcnow()
        async with self.db.write() as conn:
            await self.sessions.registry.ensure_namespace(conn, namespace, now)
            await self.sessions.registry.seen(conn, namespace, agent, now)
            row, created = await projects.create(conn, namespace, name, agent, now, description)
            await events.record(conn, *created)
        return projects.project_info(row)

    async def get_project(self, namespace: str, name: str) -> ProjectInfo:
        async with self.db.read() as conn:
            return projects.project_info(await projects.require(conn, namespace, name))

    async def list_projects(self, namespace: str) -> list[ProjectInfo]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(P).where(P.c.namespace == namespace).order_by(P.c.name)
            )
            return [projects.project_info(row) for row in rows]

    async def query(self, namespace: str, filters: QueryFilter) -> EntryPage:
        """Search entries across the namespace's projects (see `journal.query`)."""
        if filters.regex is None:
            return await query_entries(self.db, self.settings, namespace, filters)
        with self.expensive.slot("regex query"):
            return await query_entries(self.db, self.settings, namespace, filters)

    async def verify(
        self,
        namespace: str,
        project: str,
        *,
        progress: Progress | None = None,
        witnesses: int = 0,
    ) -> VerifyReport:
        """Recompute the chain, tree, checkpoints and archives (see `journal.verify`)."""
        if self.signer is None:
            raise RuntimeError("verify needs the core's keyring (open it with Roundtable.open)")
        with self.expensive.slot("verify"):
            await self.signer.keyring.reload(self.db)
            report = await verify_journal(
                self.db,
                self.settings.data_dir,
                namespace,
                project,
                anchors(self.signer.keyring, self.settings.trusted_keys),
                progress=progress,
                checkpoint_every=self.settings.checkpoint_every_entries,
                max_batch=self.settings.max_batch_entries,
            )
            if witnesses and report.ok:
                report = await witnessed(self.db, self.settings, report, witnesses)
            return report

    async def tree_head(self, namespace: str, project: str, size: int | None = None) -> TreeHead:
        """The Merkle root at `size` (default: the head); see `journal.proofs`."""
        return await proofs.tree_head(self.db, namespace, project, size)

    async def inclusion_proof(
        self, namespace: str, project: str, seq: int, size: int | None = None
    ) -> InclusionProof:
        """RFC 9162 inclusion proof of entry `seq` in the tree of `size` (default: the head)."""
        return await proofs.inclusion(self.db, namespace, project, seq, size)

    async def consistency_proof(
        self, namespace: str, project: str, old_size: int, new_size: int | None = None
    ) -> ConsistencyProof:
        """RFC 9162 consistency proof from `old_size` to `new_size` (default: the head)."""
        return await proofs.consistency(self.db, namespace, project, old_size, new_size)
