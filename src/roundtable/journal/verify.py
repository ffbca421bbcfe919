"""`verify` (D4, D5): recompute a journal from its entries and check everything derived from them.

One pass over the entries in seq order, in pages (bounded memory at any size), recomputes:
- the hash chain: every entry's canonical hash and its link to the previous one;
- the Merkle tree: every leaf hash, every stored inner node (`merkle_nodes`) and the frontier;
- every signed checkpoint: its note's signature by a registered key this server holds (or trusts),
  its origin, and its root against the tree recomputed at its size;
- every sealed segment: its archive file's SHA-256 against the segment row and the rotation entry
  (which the chain covers), each archived line against its entry's hash, the segment's root;
  entries whose bodies retention pruned are recomputed from their archive lines.
It stops at the first damage and names its sequence number and kind (`Damage`). Checks are made
in seq order, so the report's `first_bad_seq` is the lowest one found.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_, select

from roundtable.auth.keyring import Anchors, PublicKey, load_keys
from roundtable.journal import merkle, projects
from roundtable.journal.audit_checks import (
    ArchiveReader,
    CheckedCheckpoint,
    Damaged,
    check_checkpoint,
    check_keys,
    check_rotation_meta,
)
from roundtable.journal.hashing import GENESIS, stored_canonical
from roundtable.journal.models import Damage, VerifyReport
from roundtable.store import tables
from roundtable.store.engine import Database

E = tables.entries
C = tables.checkpoints
S = tables.segments
M = tables.merkle_nodes

#: Called with (entries checked, entries to check) after every page.
Progress = Callable[[int, int], None]
PAGE = 5_000
_COLUMNS = (
    E.c.seq,
    E.c.ts,
    E.c.agent,
    E.c.session_id,
    E.c.status,
    E.c.kind,
    E.c.message,
    E.c.meta,
    E.c.prev_hash,
    E.c.hash,
    E.c.leaf_hash,
    E.c.pruned,
)


#: What decoding a hand-edited row raises (bad JSON, an unparsable or out-of-range timestamp).
UNREADABLE = (ValueError, TypeError, OverflowError, AssertionError)


@dataclass(frozen=True)
class _Unreadable:
    """A row at `seq` whose columns do not decode; verify reports it as edited."""

    seq: int
    error: str


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Walk:
    """State of one verification: the chain, the tree, and what is still to be compared."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        namespace: str,
        project: str,
        head: Any,
        keys: dict[str, PublicKey],
        trusted: set[str],
        checkpoint_rows: list[Any],
        segment_rows: list[Any],
        report: VerifyReport,
        progress: Progress | None,
    ) -> None:
        self.db, self.data_dir = db, data_dir
        self.namespace, self.project, self.head = namespace, project, head
        self.keys, self.trusted = keys, trusted
        self.checkpoints = sorted(checkpoint_rows, key=lambda r: (r["size"], r["id"]))
        self.segments = sorted(segment_rows, key=lambda r: r["first_seq"])
        self.rotations = {int(s["rotation_seq"]): s for s in segment_rows}
        self.report, self.progress = report, progress
        self.prev, self.prev2 = GENESIS, ""
        self.stack: list[bytes] = []  # the recomputed tree's frontier
        self.size = 0
        self.completed: list[tuple[int, int, bytes]] = []  # inner nodes not yet compared
        self.cp_i = self.seg_i = 0
        self.archive: ArchiveReader | None = None
        self.seg_stack: list[bytes] = []
        self.seg_size = 0

    # -- entries ---------------------------------------------------------------------------

    def canonical(self, row: Any, seq: int, prev_hash: str, expect: str | None = None) -> bytes:
        """The entry's canonical bytes (fast when they hash to `expect`, the stored hash; see
        `hashing.stored_canonical`). Without `expect`, always the full RFC 8785 encoder."""
        return stored_canonical(
            self.namespace, self.project, row, seq=seq, prev_hash=prev_hash, expect=expect or ""
        )

    async def next_hash(self, seq: int) -> str | None:
        async with self.db.read() as conn:
            found = await conn.scalar(
                select(E.c.hash).where(E.c.project_id == self.head.id, E.c.seq == seq + 1)
            )
        return None if found is None else str(found)

    async def classify(self, row: Any, seq: int, digest: str) -> Damaged:
        """Name what happened to the entry at `seq`, whose hash or link does not fit."""
        if row["hash"] == self.prev and seq > 1:
            return Damaged(seq, Damage.DUPLICATED, f"entry {seq} is a copy of entry {seq - 1}")
        if row["prev_hash"] != self.prev:
            if self.prev2 and row["prev_hash"] == self.prev2:
                return Damaged(
                    seq - 1, Damage.INSERTED, f"entry {seq - 1} was inserted before entry {seq}"
                )
            if await self.next_hash(seq) == row["prev_hash"]:
                return Damaged(
                    seq, Damage.REORDERED, f"entries {seq} and {seq + 1} are out of order"
                )
            renumbered = _sha(self.canonical(row, seq + 1, row["prev_hash"])) == row["hash"]
            if renumbered and not row["pruned"]:
                return Damaged(
                    seq, Damage.DELETED, f"entry {seq} was removed and later ones renumbered"
                )
            if digest == row["hash"]:
                return Damaged(
                    seq - 1,
                    Damage.EDITED,
                    f"entry {seq - 1} was rewritten (and rehashed): entry {seq} links elsewhere",
                )
            return Damaged(seq, Damage.EDITED, f"entry {seq}'s link to entry {seq - 1} was changed")
        return Damaged(seq, Damage.EDITED, f"entry {seq}'s content does not match its hash")

    async def entry(self, row: Any, seq: int) -> None:
        self.open_segment(seq)
        line = self.archive.line(seq) if self.archive is not None else None
        if row["pruned"]:
            if line is None:
                raise Damaged(
                    seq,
                    Damage.ARCHIVE_MISSING,
                    f"entry {seq}'s body was pruned but no segment holds it",
                )
            canonical = line
            if _sha(line) != row["hash"]:
                raise Damaged(
                    seq, Damage.ARCHIVE_CONTENT, f"archived entry {seq} does not match its hash"
                )
            try:
                parsed = json.loads(line)
            except ValueError:
                parsed = None
            if (
                not isinstance(parsed, dict)
                or parsed.get("seq") != seq
                or parsed.get("prev_hash") != row["prev_hash"]
            ):
                raise Damaged(seq, Damage.ARCHIVE_CONTENT, f"archived entry {seq} is misplaced")
            meta = parsed.get("meta") or {}
        else:
            canonical = self.canonical(row, seq, row["prev_hash"], row["hash"])
            meta = row["meta"]
        digest = _sha(canonical)
        if digest != row["hash"] or row["prev_hash"] != self.prev or row["hash"] == self.prev:
            raise await self.classify(row, seq, digest)
        if line is not None and _sha(line) != row["hash"]:
            raise Damaged(seq, Damage.ARCHIVE_CONTENT, f"archived entry {seq} differs from it")
        leaf = merkle.leaf_hash(canonical)
        if leaf.hex() != row["leaf_hash"]:
            raise Damaged(seq, Damage.BAD_LEAF_HASH, f"entry {seq}'s stored leaf hash is wrong")
        self.stack, done = merkle.append_leaves(self.stack, self.size, [leaf])
        self.completed.extend(done)
        self.size += 1
        self.prev2, self.prev = self.prev, row["hash"]
        if self.archive is not None:
            self.seg_stack, _ = merkle.append_leaves(self.seg_stack, self.seg_size, [leaf])
            self.seg_size += 1
            self.close_segment(seq)
        if seq in self.rotations:
            check_rotation_meta(seq, meta if isinstance(meta, dict) else {}, self.rotations[seq])
        self.checkpoints_at(seq)

    # -- segments --------------------------------------------------------------------------

    def open_segment(self, seq: int) -> None:
        while self.seg_i < len(self.segments) and self.segments[self.seg_i]["last_seq"] < seq:
            self.seg_i += 1  # a segment we are past (only if it was empty)
        if self.archive is None and self.seg_i < len(self.segments):
            segment = self.segments[self.seg_i]
            if segment["first_seq"] == seq:
                self.archive = ArchiveReader(self.data_dir, segment)
                self.seg_stack, self.seg_size = [], 0

    def close_segment(self, seq: int) -> None:
        assert self.archive is not None
        segment = self.archive.segment
        if seq != segment["last_seq"]:
            return
        self.archive.finish(seq)
        self.archive = None
        self.seg_i += 1
        number = segment["number"]
        if merkle.root_from_frontier(self.seg_stack).hex() != segment["root"]:
            raise Damaged(seq, Damage.SEGMENT_MISMATCH, f"segment {number}'s root is wrong")
        if merkle.root_from_frontier(self.stack).hex() != segment["tree_root"]:
            raise Damaged(seq, Damage.SEGMENT_MISMATCH, f"segment {number}'s tree root is wrong")
        self.report.segments_checked += 1
        self.report.archived_checked += self.seg_size

    # -- checkpoints and the stored tree ---------------------------------------------------

    def checkpoints_at(self, size: int) -> None:
        """Check every checkpoint of exactly this size against the recomputed tree."""
        while self.cp_i < len(self.checkpoints) and self.checkpoints[self.cp_i]["size"] <= size:
            row = self.checkpoints[self.cp_i]
            checked: CheckedCheckpoint = check_checkpoint(
                row, self.keys, self.trusted, self.namespace, self.project
            )
            if checked.root != merkle.root_from_frontier(self.stack):
                raise Damaged(
                    self.last_signed + 1,
                    Damage.CHECKPOINT_MISMATCH,
                    f"the checkpoint signed at size {size} has another root: entries "
                    f"{self.last_signed + 1}..{size} differ from what was signed",
                )
            self.report.checkpoints_checked += 1
            self.cp_i += 1

    @property
    def last_signed(self) -> int:
        """The size of the newest checkpoint already verified (0 if none)."""
        return int(self.checkpoints[self.cp_i - 1]["size"]) if self.cp_i else 0

    async def compare_nodes(self) -> None:
        """Compare the inner nodes completed so far with `merkle_nodes` (one query)."""
        if not self.completed:
            return
        ranges: dict[int, tuple[int, int]] = {}
        for level, idx, _ in self.completed:
            lo, hi = ranges.get(level, (idx, idx))
            ranges[level] = (min(lo, idx), max(hi, idx))
        query = select(M.c.level, M.c.idx, M.c.hash).where(
            M.c.project_id == self.head.id,
            or_(
                *(and_(M.c.level == lv, M.c.idx.between(lo, hi)) for lv, (lo, hi) in ranges.items())
            ),
        )
        async with self.db.read() as conn:
            stored = {(r.level, r.idx): bytes(r.hash) for r in await conn.execute(query)}
        for level, idx, digest in sorted(self.completed, key=lambda n: n[1] << n[0]):
            if stored.get((level, idx)) != digest:
                first = (idx << level) + 1
                state = "wrong" if (level, idx) in stored else "missing"
                raise Damaged(
                    first,
                    Damage.TREE_MISMATCH,
                    f"Merkle node (level {level}, index {idx}) over entries "
                    f"{first}..{(idx + 1) << level} is {state}",
                    upto=(idx + 1) << level,
                )
        self.report.tree_nodes_checked += len(self.completed)
        self.completed = []

    # -- the walk --------------------------------------------------------------------------

    async def page(self, start: int, head_seq: int) -> list[Any]:
        """Up to PAGE rows from `start`. A row the database holds but that cannot be decoded
        (meta that is not JSON, a timestamp that does not parse: only a hand-edited SQLite row)
        ends the page there, with an `_Unreadable` marker naming its seq."""
        query = (
            select(*_COLUMNS)
            .where(E.c.project_id == self.head.id)
            .where(E.c.seq >= start, E.c.seq <= head_seq)
            .order_by(E.c.seq)
        )
        async with self.db.read() as conn:
            try:
                return list((await conn.execute(query.limit(PAGE))).mappings().all())
            except UNREADABLE:
                pass
            seqs = list(
                await conn.scalars(
                    select(E.c.seq)
                    .where(E.c.project_id == self.head.id)
                    .where(E.c.seq >= start, E.c.seq <= head_seq)
                    .order_by(E.c.seq)
                    .limit(PAGE)
                )
            )
            rows: list[Any] = []
            for seq in seqs:
                try:
                    one = (await conn.execute(query.where(E.c.seq == seq))).mappings().one()
                except UNREADABLE as exc:
                    rows.append(_Unreadable(int(seq), f"{type(exc).__name__}: {exc}"))
                    break
                rows.append(one)
            return rows

    async def run(self) -> None:
        """Walk the pages; the next page is fetched while this one is checked."""
        self.checkpoints_at(0)
        head_seq = int(self.head.head_seq)
        expected = 1
        pending: asyncio.Task[list[Any]] | None = asyncio.create_task(self.page(1, head_seq))
        try:
            while pending is not None:
                rows = await pending
                pending = None
                if not rows:
                    break
                if (
                    len(rows) == PAGE
                    and not isinstance(rows[-1], _Unreadable)
                    and rows[-1]["seq"] < head_seq
                ):
                    pending = asyncio.create_task(self.page(rows[-1]["seq"] + 1, head_seq))
                try:
                    for row in rows:
                        if isinstance(row, _Unreadable):
                            raise Damaged(
                                row.seq,
                                Damage.EDITED,
                                f"entry {row.seq}'s stored row cannot be read ({row.error}): "
                                "it was edited in the database",
                            )
                        if row["seq"] > expected:
                            raise Damaged(expected, Damage.DELETED, f"entry {expected} is missing")
                        await self.entry(row, expected)
                        expected += 1
                        self.report.checked += 1
                except Damaged as damage:
                    await self.first_of(damage)
                await self.compare_nodes()
                if self.progress is not None:
                    self.progress(self.report.checked, head_seq)
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pending
        if expected <= head_seq:
            raise Damaged(expected, Damage.DELETED, f"entries {expected}..{head_seq} are missing")
        await self.finish(head_seq)

    async def first_of(self, damage: Damaged) -> None:
        """Raise the earlier damage: a tree node completed earlier in this page may be bad.

        A node wins only if it lies wholly before the entry found bad; otherwise the entry's
        damage explains it (a node over an edited leaf is wrong too).
        """
        try:
            await self.compare_nodes()
        except Damaged as earlier:
            if damage.seq is None or (earlier.upto is not None and earlier.upto < damage.seq):
                raise earlier from None
        raise damage

    async def finish(self, head_seq: int) -> None:
        if self.prev != self.head.head_hash:
            raise Damaged(
                head_seq, Damage.HEAD_MISMATCH, "the project's recorded head hash differs"
            )
        if [h.hex() for h in self.stack] != list(self.head.tree_frontier):
            raise Damaged(head_seq, Damage.TREE_MISMATCH, "the stored tree frontier is wrong")
        if self.archive is not None:
            last = int(self.archive.segment["last_seq"])
            self.archive.close()
            self.archive = None
            if not await self.moved_past(last):  # else sealed after we read the head
                raise Damaged(
                    head_seq + 1, Damage.TRUNCATED, "a sealed segment reaches beyond the head"
                )
        for row in self.checkpoints[self.cp_i :]:
            check_checkpoint(row, self.keys, self.trusted, self.namespace, self.project)
            if not await self.moved_past(int(row["size"])):
                raise Damaged(
                    head_seq + 1,
                    Damage.TRUNCATED,
                    f"a checkpoint signed size {row['size']} but the journal ends at {head_seq}",
                )
        async with self.db.read() as conn:
            beyond = await conn.scalar(
                select(E.c.seq)
                .where(E.c.project_id == self.head.id, E.c.seq > head_seq)
                .order_by(E.c.seq)
                .limit(1)
            )
        if beyond is not None and not await self.moved_past(int(beyond)):
            raise Damaged(beyond, Damage.INSERTED, f"entry {beyond} lies beyond the recorded head")
        await self.stray_nodes(head_seq)

    async def stray_nodes(self, head_seq: int) -> None:
        """A stored Merkle node that covers leaves past the head belongs to no tree: someone
        wrote it (appends overwrite it, but until then it is damage)."""
        levels = max(head_seq.bit_length(), 1)
        stray = or_(
            M.c.level < 1,
            M.c.level > levels,
            *(and_(M.c.level == lv, M.c.idx >= head_seq >> lv) for lv in range(1, levels + 1)),
        )
        async with self.db.read() as conn:
            found = (
                await conn.execute(
                    select(M.c.level, M.c.idx)
                    .where(M.c.project_id == self.head.id, stray)
                    .order_by(M.c.level, M.c.idx)
                    .limit(1)
                )
            ).first()
        if found is None:
            return
        level, idx = int(found.level), int(found.idx)
        end = (idx + 1) << level if 0 <= level < 64 else head_seq + 1
        if not await self.moved_past(end):
            raise Damaged(
                head_seq + 1,
                Damage.TREE_MISMATCH,
                f"a stray Merkle node (level {level}, index {idx}) lies beyond the head "
                f"({head_seq} entries)",
            )

    async def moved_past(self, size: int) -> bool:
        """True if the head has since reached `size` (an honest concurrent append)."""
        async with self.db.read() as conn:
            current = await conn.scalar(
                select(tables.projects.c.head_seq).where(tables.projects.c.id == self.head.id)
            )
        return int(current or 0) >= size


async def verify_journal(
    db: Database,
    data_dir: Path,
    namespace: str,
    project: str,
    anchors: Anchors,
    *,
    progress: Progress | None = None,
) -> VerifyReport:
    """Verify one journal; `anchors` says which keys this server's checkpoints may carry."""
    async with db.read() as conn:
        head = await projects.require(conn, namespace, project)
        keys = await load_keys(conn)
        checkpoint_rows = list(
            (await conn.execute(select(C).where(C.c.project_id == head.id))).mappings()
        )
        segment_rows = list(
            (await conn.execute(select(S).where(S.c.project_id == head.id))).mappings()
        )
    report = VerifyReport(
        namespace=namespace,
        project=project,
        ok=True,
        checked=0,
        size=head.head_seq,
        head_hash=head.head_hash,
        keys_checked=len(keys),
    )
    walk = _Walk(
        db,
        data_dir,
        namespace,
        project,
        head,
        keys,
        anchors.trusted,
        checkpoint_rows,
        segment_rows,
        report,
        progress,
    )
    try:
        await walk.run()
        check_keys(keys, anchors)
    except Damaged as damage:
        return report.model_copy(
            update={
                "ok": False,
                "first_bad_seq": damage.seq,
                "problem": damage.damage,
                "detail": damage.detail,
            }
        )
    finally:
        if walk.archive is not None:
            walk.archive.close()
    return report
