"""`roundtable import jsonl`: restore an export into a namespace with no projects.

Everything happens in one write transaction, so a refused file leaves nothing behind: each line
is validated as it is read (a bad one is `InvalidInput` naming its line number), every entry is
inserted with its original seq, ts and hashes after its hash, chain link and leaf hash are
recomputed and compared, the Merkle tree is rebuilt with `tree.extend`, each checkpoint's root
is compared with the rebuilt tree, and the project heads must equal the exported ones. The
namespace is part of every hash, so a file imports only under its own namespace.

Sealed segments get their archives rewritten (gzip is deterministic, so the bytes must
reproduce the recorded SHA-256) and published only after the commit; bodies come back hot
(`pruned` false), so retention may prune them again. Events record what appeared:
`project.created` and `journal.appended` per project, `context.changed` per agent context.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, select, update

from roundtable.errors import ConflictError, InvalidInput
from roundtable.events import log as events
from roundtable.events.log import EventTypes
from roundtable.ids import utcnow
from roundtable.journal import archive, merkle, mirror, notes, text_index, tree
from roundtable.journal.hashing import FORMAT_VERSION, GENESIS, canonical_entry, entry_hash
from roundtable.journal.models import Status
from roundtable.runtime import Roundtable
from roundtable.store import tables
from roundtable.store.dialect import insert_ignore
from roundtable.store.engine import Conn
from roundtable.transfer import records as r
from roundtable.validation import check_name, check_text
from roundtable.witness.audit import read_cosigned
from roundtable.witness.cosign import Cosigner
from roundtable.witness.submit import keep_cosigned

E, P, S, C = tables.entries, tables.projects, tables.segments, tables.checkpoints
BATCH = 1_000


@dataclass
class _Project:
    record: r.ProjectRecord
    id: int
    seq: int = 0
    prev: str = GENESIS
    frontier: list[str] = field(default_factory=list)
    segment_bytes: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    leaves: list[bytes] = field(default_factory=list)
    segments: list[r.SegmentRecord] = field(default_factory=list)
    writer: archive.SegmentWriter | None = None
    statuses: set[str] = field(default_factory=set)


class Restore:
    def __init__(
        self, core: Roundtable, namespace: str | None, progress: Callable[[int], None] | None
    ):
        self.core = core
        self.wanted = namespace
        self.progress = progress
        self.namespace = ""
        self.projects: dict[str, _Project] = {}
        self.current: _Project | None = None
        self.counts: dict[str, int] = {}
        self.writers: list[archive.SegmentWriter] = []
        self.events: list[dict[str, Any]] = []
        self.now = utcnow()
        self.line = 0
        self.kids: set[str] = set()
        self.witness_keys: list[str] = []
        self.cosigned: list[tuple[str, int, str, str]] = []  # project, size, root, note

    def fail(self, message: str, **data: Any) -> InvalidInput:
        return InvalidInput(f"line {self.line}: {message}", line=self.line, **data)

    async def run(self, lines: Iterable[str]) -> dict[str, int]:
        try:
            async with self.core.db.write() as conn:
                ended = False
                for self.line, text in enumerate(lines, start=1):
                    if ended:
                        if text.strip():
                            raise self.fail("content after the end record")
                        continue
                    record = self.parse(text)
                    if self.line == 1 and not isinstance(record, r.Header):
                        raise self.fail("the first line must be the export header")
                    if isinstance(record, r.End):
                        await self.finish_project(conn)
                        self.check_end(record)
                        ended = True
                        continue
                    self.counts[record.type] = self.counts.get(record.type, 0) + 1
                    await self.apply(conn, record)
                if not ended:
                    raise InvalidInput(
                        f"the file ends after line {self.line} without its end record (truncated)",
                        line=self.line,
                    )
                await text_index.catch_up(conn)  # leave no big tail to the next search
                await events.record(conn, *self.events)
        except BaseException:
            for writer in self.writers:
                writer.abort()
            raise
        for writer in self.writers:  # files appear only once the rows they belong to committed
            writer.publish()
        for project, size, root, note in self.cosigned:
            keep_cosigned(self.core.settings.data_dir, self.namespace, project, size, root, note)
        return self.counts

    def parse(self, text: str) -> Any:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise self.fail(f"not JSON: {exc}") from None
        kind = data.get("type") if isinstance(data, dict) else None
        cls = r.RECORDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise self.fail(f"unknown record type {kind!r}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise self.fail(f"{kind} record: {where}: {first['msg']}") from None

    def check_end(self, end: r.End) -> None:
        if end.counts != self.counts:
            raise self.fail(f"the end record counts {end.counts}, the file holds {self.counts}")

    async def apply(self, conn: Conn, record: Any) -> None:
        if isinstance(record, r.Header):
            await self.header(conn, record)
        elif not self.namespace:
            raise self.fail("a second header, or records before the header")
        elif isinstance(record, r.SigningKeyRecord):
            await self.signing_key(conn, record)
        elif isinstance(record, r.ProjectRecord):
            await self.project(conn, record)
        elif isinstance(record, r.SegmentRecord):
            self.segment(record)
        elif isinstance(record, r.EntryRecord):
            await self.entry(conn, record)
        elif isinstance(record, r.CheckpointRecord):
            await self.checkpoint(conn, record)
        elif isinstance(record, r.CosignedRecord):
            await self.cosigned_checkpoint(conn, record)
        elif isinstance(record, r.WitnessKeyRecord):
            self.witness_key(record)
        elif isinstance(record, r.AgentRecord):
            await self.finish_project(conn)
            await self.agent(conn, record)
        elif isinstance(record, r.ContextRecord):
            await self.finish_project(conn)
            await self.context(conn, record)

    async def header(self, conn: Conn, h: r.Header) -> None:
        if self.line != 1:
            raise self.fail("a second header")
        if h.version != r.VERSION or h.hash_format != FORMAT_VERSION:
            raise self.fail(
                f"export version {h.version}/hash format {h.hash_format} is not supported"
            )
        check_name("namespace", h.namespace)
        if self.wanted is not None and self.wanted != h.namespace:
            raise self.fail(
                f"the export is of namespace {h.namespace!r}; every entry hash covers its namespace, "
                f"so it cannot be imported as {self.wanted!r}",
                namespace=h.namespace,
            )
        self.namespace = h.namespace
        existing = await conn.scalar(
            select(func.count()).select_from(P).where(P.c.namespace == h.namespace)
        )
        if existing:
            raise ConflictError(
                f"namespace {h.namespace!r} already has {existing} projects; import into a "
                "namespace without projects (or another database)",
                namespace=h.namespace,
                projects=existing,
            )
        await self.core.sessions.registry.ensure_namespace(conn, h.namespace, self.now)

    async def signing_key(self, conn: Conn, k: r.SigningKeyRecord) -> None:
        K = tables.signing_keys
        await conn.execute(insert_ignore(conn, K, **k.model_dump(exclude={"type"})))
        stored = await conn.scalar(select(K.c.public_key).where(K.c.kid == k.kid))
        if stored != k.public_key:
            raise ConflictError(
                f"line {self.line}: signing key {k.kid} is registered here with another public key",
                kid=k.kid,
            )

    def owner(self, project: str) -> _Project:
        if self.current is None or self.current.record.name != project:
            raise self.fail(f"record of project {project!r} outside that project's section")
        return self.current

    async def project(self, conn: Conn, p: r.ProjectRecord) -> None:
        await self.finish_project(conn)
        check_name("project", p.name)
        check_name("agent", p.created_by)
        check_text("description", p.description)
        if p.name in self.projects:
            raise self.fail(f"project {p.name!r} appears twice")
        pid = (
            await conn.execute(
                insert(P)
                .values(
                    namespace=self.namespace,
                    name=p.name,
                    description=p.description,
                    created_at=p.created_at,
                    created_by=p.created_by,
                    head_seq=0,
                    head_hash=GENESIS,
                )
                .returning(P.c.id)
            )
        ).scalar_one()
        self.current = self.projects[p.name] = _Project(p, pid)
        self.events.append(
            events.event_row(
                self.now,
                self.namespace,
                EventTypes.PROJECT_CREATED,
                {"project": p.name, "description": p.description},
                project=p.name,
                agent=p.created_by,
            )
        )

    def segment(self, seg: r.SegmentRecord) -> None:
        """Segments precede their project's entries, numbered 1, 2, ... over adjacent ranges."""
        p = self.owner(seg.project)
        if p.seq:
            raise self.fail("segment records must come before the project's entries")
        first = p.segments[-1].last_seq + 1 if p.segments else 1
        if seg.number != len(p.segments) + 1 or seg.first_seq != first:
            raise self.fail(
                f"segment {seg.number} should be {len(p.segments) + 1} from seq {first}"
            )
        if not seg.first_seq <= seg.last_seq < seg.rotation_seq <= p.record.head_seq:
            raise self.fail(f"segment {seg.number}: its seq range does not fit the journal")
        p.segments.append(seg)

    async def entry(self, conn: Conn, e: r.EntryRecord) -> None:
        p = self.owner(e.project)
        if e.seq != p.seq + 1:
            raise self.fail(f"entry {e.seq} of {e.project!r} where {p.seq + 1} was expected")
        if e.prev_hash != p.prev:
            raise self.fail(f"entry {e.seq}: prev_hash does not link to entry {p.seq}")
        check_name("agent", e.agent)
        check_name("kind", e.kind)
        check_text("message", e.message)
        if e.status not in Status.__members__.values():
            raise self.fail(f"entry {e.seq}: unknown status {e.status!r}")
        fields = e.model_dump(exclude={"type", "project", "hash", "leaf_hash"})
        canonical = canonical_entry(namespace=self.namespace, project=e.project, **fields)
        if entry_hash(canonical) != e.hash:
            raise self.fail(f"entry {e.seq}: its content does not match its hash")
        leaf = merkle.leaf_hash(canonical)
        if leaf.hex() != e.leaf_hash:
            raise self.fail(f"entry {e.seq}: leaf_hash does not match its content")
        p.seq, p.prev = e.seq, e.hash
        p.statuses.add(e.status)
        if not any(s.first_seq <= e.seq <= s.last_seq for s in p.segments):
            p.segment_bytes += len(canonical)  # the open segment's bytes, as rotation keeps it
        p.rows.append({**fields, "project_id": p.id, "hash": e.hash, "leaf_hash": e.leaf_hash})
        p.leaves.append(leaf)
        self.archive_entry(p, e, canonical)
        if len(p.rows) >= BATCH:
            await self.flush(conn, p)

    def archive_entry(self, p: _Project, e: r.EntryRecord, canonical: bytes) -> None:
        """Feed the sealed segment this entry belongs to; close and check it at its last seq."""
        seg = next((s for s in p.segments if s.first_seq <= e.seq <= s.last_seq), None)
        if seg is None:
            return
        if p.writer is None:
            directory = archive.archive_dir(self.core.settings.data_dir, self.namespace, e.project)
            header = (  # as `rotation` writes it; the .md is for people, not pinned by a digest
                f"# Journal {self.namespace}/{e.project}, segment {seg.number}\n\n"
                f"Entries {seg.first_seq}–{seg.last_seq}, sealed by rotation. The archive "
                f"`{archive.archive_name(seg.number)}` holds their canonical form.\n\n"
            )
            p.writer = archive.SegmentWriter(directory, seg.number, header)
            self.writers.append(p.writer)
        p.writer.add(
            canonical,
            mirror.entry_line(
                status=e.status,
                ts=e.ts,
                agent=e.agent,
                project=e.project,
                message=e.message,
                meta=e.meta,
            ),
        )
        if e.seq == seg.last_seq:
            digest = p.writer.close()
            if digest != seg.archive_sha256:
                raise self.fail(
                    f"segment {seg.number} of {e.project!r}: the rewritten archive's SHA-256 "
                    f"{digest} differs from the recorded {seg.archive_sha256}"
                )
            p.writer = None

    async def flush(self, conn: Conn, p: _Project) -> None:
        if not p.rows:
            return
        await conn.execute(insert(E), p.rows)
        p.frontier = await tree.extend(conn, p.id, p.frontier, p.seq - len(p.rows), p.leaves)
        if self.progress is not None:
            self.progress(len(p.rows))
        p.rows, p.leaves = [], []

    async def checkpoint(self, conn: Conn, c: r.CheckpointRecord) -> None:
        p = self.owner(c.project)
        await self.flush(conn, p)
        if c.size > p.seq:
            raise self.fail(f"checkpoint at size {c.size} is beyond the {p.seq} entries before it")
        if (await tree.root_at(conn, p.id, c.size)).hex() != c.root:
            raise self.fail(f"checkpoint at size {c.size}: its root is not the journal's root")
        values = c.model_dump(exclude={"type", "project"})
        self.kids.add(c.key_id)
        await conn.execute(insert(C).values(project_id=p.id, **values))

    def witness_key(self, w: r.WitnessKeyRecord) -> None:
        try:
            Cosigner.parse(w.key)
        except notes.NoteError as exc:
            raise self.fail(f"witness key: {exc}") from None
        self.witness_keys.append(w.key)

    async def cosigned_checkpoint(self, conn: Conn, c: r.CosignedRecord) -> None:
        """Kept with the journal (`witness.submit.cosigned_path`) once the import commits; its
        signed body must be this journal's tree. Cosignatures are checked by `verify`."""
        p = self.owner(c.project)
        await self.flush(conn, p)
        body = read_cosigned(c.note, [])
        if body is None:
            raise self.fail("cosigned checkpoint: not a signed checkpoint note")
        if body.size > p.seq:
            raise self.fail(
                f"cosigned checkpoint at size {body.size} is beyond the {p.seq} entries"
            )
        if body.size and (await tree.root_at(conn, p.id, body.size)).hex() != body.root:
            raise self.fail(f"cosigned checkpoint at size {body.size}: not the journal's root")
        self.cosigned.append((c.project, body.size, body.root, c.note))

    async def finish_project(self, conn: Conn) -> None:
        p, self.current = self.current, None
        if p is None:
            return
        await self.flush(conn, p)
        if p.writer is not None:
            raise self.fail(f"project {p.record.name!r}: a sealed segment's entries are missing")
        if (p.seq, p.prev) != (p.record.head_seq, p.record.head_hash):
            raise self.fail(
                f"project {p.record.name!r} ends at entry {p.seq}, not at its recorded head "
                f"{p.record.head_seq} (missing entries or a different head hash)"
            )
        for seg in p.segments:
            directory = f"archives/{self.namespace}/{p.record.name}"
            await conn.execute(
                insert(S).values(
                    project_id=p.id,
                    **seg.model_dump(exclude={"type", "project", "pruned_at"}),
                    archive=f"{directory}/{archive.archive_name(seg.number)}",
                    markdown=f"{directory}/{archive.markdown_name(seg.number)}",
                    pruned_at=None,
                )
            )
        await conn.execute(
            update(P)
            .where(P.c.id == p.id)
            .values(
                head_seq=p.seq,
                head_hash=p.prev,
                tree_frontier=p.frontier,
                segment_bytes=p.segment_bytes,
            )
        )
        if p.seq:
            self.events.append(
                events.event_row(
                    self.now,
                    self.namespace,
                    EventTypes.JOURNAL_APPENDED,
                    {
                        "project": p.record.name,
                        "first_seq": 1,
                        "last_seq": p.seq,
                        "count": p.seq,
                        "head_hash": p.prev,
                        "statuses": sorted(p.statuses),
                    },
                    project=p.record.name,
                )
            )

    async def agent(self, conn: Conn, a: r.AgentRecord) -> None:
        check_name("agent", a.name)
        await conn.execute(
            insert_ignore(
                conn,
                tables.agents,
                namespace=self.namespace,
                name=a.name,
                first_seen=a.first_seen,
                last_seen=a.last_seen,
                blueprint=a.blueprint,
            )
        )

    async def context(self, conn: Conn, c: r.ContextRecord) -> None:
        check_name("agent", c.agent)
        AC = tables.agent_context
        project = self.projects.get(c.project) if c.project is not None else None
        if c.project is not None and project is None:
            raise self.fail(f"context of {c.agent!r} names project {c.project!r}, not in the file")
        exists = await conn.scalar(
            select(AC.c.version).where(AC.c.namespace == self.namespace, AC.c.agent == c.agent)
        )
        if exists is not None:
            raise ConflictError(
                f"line {self.line}: agent {c.agent!r} already has a context in {self.namespace!r}",
                agent=c.agent,
            )
        await conn.execute(
            insert(AC).values(
                namespace=self.namespace,
                agent=c.agent,
                project_id=project.id if project else None,
                version=c.version,
                updated_at=c.updated_at,
                updated_by_session=None,
            )
        )
        self.events.append(
            events.event_row(
                self.now,
                self.namespace,
                EventTypes.CONTEXT_CHANGED,
                {
                    "old_project": None,
                    "new_project": c.project,
                    "old_version": 0,
                    "new_version": c.version,
                    "mode": "last_write_wins",
                },
                project=c.project,
                agent=c.agent,
            )
        )


@dataclass
class Restored:
    namespace: str
    counts: dict[str, int]
    #: Kids of the keys that signed the imported checkpoints. `verify` accepts checkpoints only
    #: from keys this server holds or `trusted_keys` names: trusting another server's key is
    #: the operator's decision, never the import's.
    signing_keys: list[str]
    #: Witness verifier keys the export names (`verify-export` checks cosignatures with them
    #: unless the auditor pins others).
    witness_keys: list[str] = field(default_factory=list)


async def restore(
    core: Roundtable,
    lines: Iterable[str],
    *,
    namespace: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Restored:
    """Import an export's lines; returns what was imported."""
    run = Restore(core, namespace, progress)
    counts = await run.run(lines)
    return Restored(run.namespace, counts, sorted(run.kids), run.witness_keys)
