"""Rotation (D5): seal a journal's open segment into a verifiable archive.

`rotate` seals seqs [first_seq, last_seq] (first_seq: one past the previous segment, last_seq:
the head when it starts), in this order:

1. stream the entries into `segment-NNNNNN.jsonl.gz` and `.md` temp files, checking each
   entry's hash, chain link and leaf hash on the way (a damaged range is never sealed) and
   computing the segment's own Merkle root; fsync; rename into place; fsync the directory;
2. in ONE write transaction: append the rotation entry (kind `rotation`, meta `segment,
   first_seq, last_seq, root, tree_root, archive, archive_sha256`) through the journal's normal
   append path (chained, in the tree), insert the `segments` row, subtract the sealed bytes
   from `projects.segment_bytes`, record `journal.rotated`, sign a checkpoint of the new head;
3. after the commit, bring the project's Markdown mirror (if any) into the new segment.

Crash safety: before the commit the database is untouched and the archive files are just
files no segment row names (a rerun rewrites them, byte-identical if no entry was appended
meanwhile); after it, the mirror catches up on its next sync. Rotations of one project are
serialised by an `flock` on `archives/NS/P/.rotate.lock` (processes sharing the data directory)
and, in the transaction, by the project row lock and a check that the segment number is still
free (any other instance): exactly one wins, the others get a `ConflictError`. Appends that
commit while a rotation runs get seqs past last_seq: they belong to the next segment.

`ROUNDTABLE_FAULT=rotate:<step>` kills the process with SIGKILL at that step. It is a test
hook for the crash tests only (steps: after_archive_temp, after_archive, before_commit,
after_commit); never set it in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import case, insert, select, update

from roundtable.config import Settings
from roundtable.errors import ConflictError
from roundtable.events import log as events
from roundtable.ids import utcnow
from roundtable.journal import archive, checkpoints, filelock, merkle, mirror, projects, tree
from roundtable.journal.hashing import GENESIS, entry_hash, stored_canonical
from roundtable.journal.mirror_service import MirrorService
from roundtable.journal.models import EntryInput, Status
from roundtable.journal.models import RotationResult as RotationResult  # where it was defined
from roundtable.journal.service import JournalService
from roundtable.store import tables
from roundtable.store.engine import Database
from roundtable.validation import check_name

E = tables.entries
P = tables.projects
S = tables.segments

#: The agent rotation entries are written as.
SYSTEM_AGENT = "roundtable"
JOURNAL_ROTATED = "journal.rotated"
#: Entries read (and archived) per chunk.
CHUNK = 5_000

Progress = Callable[[int, int], None]


def fault(step: str) -> None:
    """Test-only crash hook: SIGKILL this process at `step` if ROUNDTABLE_FAULT names it."""
    if os.environ.get("ROUNDTABLE_FAULT") == f"rotate:{step}":
        os.kill(os.getpid(), signal.SIGKILL)


class _RangeRoot:
    """MTH of a stream of leaves (RFC 9162), kept as a frontier: O(log n) memory."""

    def __init__(self) -> None:
        self.frontier: list[bytes] = []
        self.size = 0

    def add(self, leaf: bytes) -> None:
        self.frontier, _ = merkle.append_leaves(self.frontier, self.size, [leaf])
        self.size += 1

    def root(self) -> bytes:
        return merkle.root_from_frontier(self.frontier)


@dataclass
class _Sealer:
    """Checks and archives one segment's entries chunk by chunk (runs in a worker thread)."""

    namespace: str
    project: str
    writer: archive.SegmentWriter
    prev: str
    expected: int
    roots: _RangeRoot = field(default_factory=_RangeRoot)
    sealed_bytes: int = 0

    def _canonical(self, row: Any) -> bytes:
        """The entry's RFC 8785 bytes, checked against its stored hash (a damaged entry is
        never sealed)."""
        canonical = stored_canonical(
            self.namespace,
            self.project,
            row,
            seq=row["seq"],
            prev_hash=row["prev_hash"],
            expect=row["hash"],
        )
        if entry_hash(canonical) != row["hash"]:
            raise ConflictError(
                f"entry {row['seq']} does not match its hash: not sealing it (run verify)",
                seq=row["seq"],
            )
        return canonical

    def add_chunk(self, rows: list[Any]) -> None:
        for row in rows:
            seq = int(row["seq"])
            if seq != self.expected:
                raise ConflictError(
                    f"entry {self.expected} is missing: not sealing a damaged range (run verify)",
                    seq=self.expected,
                )
            if row["pruned"]:
                raise ConflictError(f"entry {seq} has no body to archive", seq=seq)
            canonical = self._canonical(row)
            leaf = merkle.leaf_hash(canonical)
            if row["prev_hash"] != self.prev or (
                row["leaf_hash"] and row["leaf_hash"] != leaf.hex()
            ):
                raise ConflictError(
                    f"entry {seq} does not match its hashes: not sealing it (run verify)",
                    seq=seq,
                )
            self.roots.add(leaf)
            self.writer.add(canonical, mirror.row_line(row, self.project))
            self.sealed_bytes += len(canonical)
            self.prev = row["hash"]
            self.expected += 1


class RotationService:
    """Manual and automatic rotation of journals (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        journal: JournalService,
        signer: checkpoints.CheckpointSigner,
        mirrors: MirrorService,
    ) -> None:
        self.db = db
        self.settings = settings
        self.journal = journal
        self.signer = signer
        self.mirrors = mirrors

    @contextlib.asynccontextmanager
    async def _serialised(self, namespace: str, project: str) -> AsyncIterator[Path]:
        directory = archive.archive_dir(self.settings.data_dir, namespace, project)
        directory.mkdir(parents=True, exist_ok=True)
        async with filelock.locked(directory / ".rotate.lock"):
            yield directory

    async def rotate(
        self, namespace: str, project: str, *, progress: Progress | None = None
    ) -> RotationResult:
        """Seal the open segment; `ConflictError` if it is empty or another rotation won."""
        check_name("namespace", namespace)
        check_name("project", project)
        async with self._serialised(namespace, project) as directory:
            try:
                result = await self._rotate_locked(namespace, project, directory, progress)
            except ConflictError:
                # Already sealed (e.g. a rerun after a crash past the commit): still finish
                # moving the mirror to the new segment, then report the conflict.
                await self.mirrors.sync_project(namespace, project)
                raise
            fault("after_commit")
            await self.mirrors.sync_project(namespace, project)
            return result

    async def _rotate_locked(
        self, namespace: str, project: str, directory: Path, progress: Progress | None
    ) -> RotationResult:
        async with self.db.read() as conn:
            head = await projects.require(conn, namespace, project)
            previous = (
                await conn.execute(
                    select(S).where(S.c.project_id == head.id).order_by(S.c.number.desc()).limit(1)
                )
            ).mappings().first()  # fmt: skip
            prev_hash = GENESIS
            first = 1 if previous is None else int(previous["last_seq"]) + 1
            if first > 1:
                prev_hash = str(
                    await conn.scalar(
                        select(E.c.hash).where(E.c.project_id == head.id, E.c.seq == first - 1)
                    )
                )
        number = 1 if previous is None else int(previous["number"]) + 1
        last = int(head.head_seq)
        opened_by = 0 if previous is None else int(previous["rotation_seq"])
        if last <= opened_by:
            raise ConflictError(
                f"nothing to rotate: segment {number} of {project!r} holds no entries yet"
                + (f" besides the rotation entry of segment {number - 1}" if opened_by else ""),
                project=project,
                segment=number,
                size=last,
            )
        rel = Path("archives") / namespace / project
        sealer = _Sealer(
            namespace,
            project,
            archive.SegmentWriter(
                directory,
                number,
                f"# Journal {namespace}/{project}, segment {number}\n\n"
                f"Entries {first}–{last}, sealed by rotation. The archive "
                f"`{archive.archive_name(number)}` holds their canonical form.\n\n",
            ),
            prev_hash,
            first,
        )
        try:
            after = first - 1
            while after < last:
                async with self.db.read() as conn:
                    rows = (
                        await conn.execute(
                            select(E)
                            .where(E.c.project_id == head.id, E.c.seq > after, E.c.seq <= last)
                            .order_by(E.c.seq)
                            .limit(CHUNK)
                        )
                    ).mappings().all()  # fmt: skip
                if not rows:
                    break
                await asyncio.to_thread(sealer.add_chunk, list(rows))
                after = int(rows[-1]["seq"])
                if progress is not None:
                    progress(after - first + 1, last - first + 1)
            if sealer.expected != last + 1:
                raise ConflictError(
                    f"entries {sealer.expected}..{last} are missing: not sealing (run verify)",
                    seq=sealer.expected,
                )
            root = sealer.roots.root().hex()
            digest = await asyncio.to_thread(sealer.writer.close)
        except BaseException:
            sealer.writer.abort()
            raise
        fault("after_archive_temp")
        await asyncio.to_thread(sealer.writer.publish)
        fault("after_archive")
        async with self.db.read() as conn:
            tree_root = (await tree.root_at(conn, head.id, last)).hex()
        segment = {
            "segment": number,
            "first_seq": first,
            "last_seq": last,
            "root": root,
            "tree_root": tree_root,
            "archive": str(rel / archive.archive_name(number)),
            "archive_sha256": digest,
        }
        return await self._commit(namespace, project, segment, sealer.sealed_bytes, rel)

    async def _commit(
        self,
        namespace: str,
        project: str,
        segment: dict[str, Any],
        sealed_bytes: int,
        rel: Path,
    ) -> RotationResult:
        number, first, last = segment["segment"], segment["first_seq"], segment["last_seq"]
        now = utcnow()
        async with self.db.write() as conn:
            head = await projects.require(conn, namespace, project, lock=True)
            taken = await conn.scalar(
                select(S.c.number).where(S.c.project_id == head.id, S.c.number >= number).limit(1)
            )
            if taken is not None:
                raise ConflictError(
                    f"segment {number} of {project!r} was sealed by another rotation meanwhile",
                    project=project,
                    segment=number,
                )
            entry = EntryInput(
                message=f"rotated segment {number} (seq {first}–{last})",
                status=Status.INFO,
                kind="rotation",
                meta=segment,
            )
            appended, appended_event = await self.journal.append_in(
                conn, namespace, SYSTEM_AGENT, head, [entry], now
            )
            rotation_seq = appended.last_seq
            markdown = str(rel / archive.markdown_name(number))
            await conn.execute(
                insert(S).values(
                    project_id=head.id,
                    number=number,
                    first_seq=first,
                    last_seq=last,
                    root=segment["root"],
                    tree_root=segment["tree_root"],
                    archive=segment["archive"],
                    archive_sha256=segment["archive_sha256"],
                    markdown=markdown,
                    rotation_seq=rotation_seq,
                    created_at=now,
                )
            )
            await conn.execute(
                update(P)
                .where(P.c.id == head.id)
                .values(
                    segment_bytes=case(
                        (P.c.segment_bytes > sealed_bytes, P.c.segment_bytes - sealed_bytes),
                        else_=0,
                    )
                )
            )
            rotated = events.event_row(
                now,
                namespace,
                JOURNAL_ROTATED,
                {
                    "project": project,
                    "segment": number,
                    "first_seq": first,
                    "last_seq": last,
                    "root": segment["root"],
                    "archive": segment["archive"],
                    "archive_sha256": segment["archive_sha256"],
                    "rotation_seq": rotation_seq,
                },
                project=project,
            )
            await events.record(conn, appended_event, rotated)
            new_head = await projects.require(conn, namespace, project)
            signed = await checkpoints.sign_head(conn, self.signer, self.settings, new_head, now)
            fault("before_commit")
        return RotationResult(
            namespace=namespace,
            project=project,
            **segment,  # the rotation entry's meta: segment, range, roots and archive
            markdown=markdown,
            rotation_seq=rotation_seq,
            checkpoint_size=signed.size,
        )
