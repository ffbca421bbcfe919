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
from pathlib import Path
from typing import Any

from sqlalchemy import select

from roundtable.auth.keyring import Anchors, PublicKey, load_keys
from roundtable.journal import merkle, projects
from roundtable.journal.anchors import Anchor, AnchorError, AnchorLog
from roundtable.journal.audit_checks import (
    ArchiveReader,
    CheckedCheckpoint,
    Damaged,
    check_checkpoint,
    check_keys,
    check_rotation_meta,
)
from roundtable.journal.checkpoint_coverage import check_expected_checkpoints
from roundtable.journal.hashing import GENESIS, stored_canonical
from roundtable.journal.models import Damage, VerifyReport
from roundtable.journal.verify_pages import PAGE, Unreadable, read_page
from roundtable.journal.verify_tree import compare_nodes, first_stray_node
from roundtable.store import tables
from roundtable.store.engine import Database

E = tables.entries
C = tables.checkpoints
S = tables.segments

#: Called with (entries checked, entries to check) after every page.
Progress = Callable[[int, int], None]


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
        anchor_records: list[Anchor] | None = None,
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
        # What this data directory signed (journal.anchors): the trust anchors outside the db.
        self.anchors = sorted(anchor_records or [], key=lambda a: (a.size, a.line))
        self.anchor_i = 0
        self.missing: Damaged | None = None
        self.signed_rows = {(int(r["size"]), str(r["root"])) for r in checkpoint_rows}
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
        while self.anchor_i < len(self.anchors) and self.anchors[self.anchor_i].size <= size:
            anchor = self.anchors[self.anchor_i]
            if anchor.root != merkle.root_from_frontier(self.stack).hex():
                since = self.anchors[self.anchor_i - 1].size if self.anchor_i else 0
                raise Damaged(
                    since + 1,
                    Damage.CHECKPOINT_MISMATCH,
                    f"this server signed a checkpoint at size {anchor.size} (anchor file, line "
                    f"{anchor.line}) with another root: entries {since + 1}..{anchor.size} were "
                    "rewritten in the database",
                    upto=anchor.size,
                )
            if (anchor.size, anchor.root) not in self.signed_rows and self.missing is None:
                # Reported once the walk is done: a rewrite it finds says more.
                self.missing = Damaged(
                    anchor.size,
                    Damage.MISSING_CHECKPOINT,
                    f"the checkpoint this server signed at size {anchor.size} (anchor file, "
                    f"line {anchor.line}) was deleted from the database",
                )
            self.report.anchors_checked += 1
            self.anchor_i += 1

    @property
    def last_signed(self) -> int:
        """The size of the newest checkpoint already verified (0 if none)."""
        return int(self.checkpoints[self.cp_i - 1]["size"]) if self.cp_i else 0

    async def compare_nodes(self) -> None:
        """Compare the inner nodes completed so far with `merkle_nodes` (one query)."""
        await compare_nodes(self.db, self.head.id, self.completed)
        self.report.tree_nodes_checked += len(self.completed)
        self.completed = []

    # -- the walk --------------------------------------------------------------------------

    async def run(self) -> None:
        """Walk the pages; the next page is fetched while this one is checked."""
        self.checkpoints_at(0)
        head_seq = int(self.head.head_seq)
        expected = 1
        pending: asyncio.Task[list[Any]] | None = asyncio.create_task(
            read_page(self.db, self.head.id, 1, head_seq)
        )
        try:
            while pending is not None:
                rows = await pending
                pending = None
                if not rows:
                    break
                if (
                    len(rows) == PAGE
                    and not isinstance(rows[-1], Unreadable)
                    and rows[-1]["seq"] < head_seq
                ):
                    pending = asyncio.create_task(
                        read_page(self.db, self.head.id, rows[-1]["seq"] + 1, head_seq)
                    )
                try:
                    for row in rows:
                        if isinstance(row, Unreadable):
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
        for anchor in self.anchors[self.anchor_i :]:
            if not await self.moved_past(anchor.size):
                raise Damaged(
                    head_seq + 1,
                    Damage.TRUNCATED,
                    f"this server signed size {anchor.size} (anchor file, line {anchor.line}) "
                    f"but the journal ends at {head_seq}",
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
        """A stored Merkle node over leaves past the head is damage (see `first_stray_node`)."""
        stray = await first_stray_node(self.db, self.head.id, head_seq)
        if stray is not None and not await self.moved_past(stray[2]):
            level, idx, _ = stray
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
    checkpoint_every: int | None = None,
    max_batch: int = 1,
) -> VerifyReport:
    """Verify one journal; `anchors` says which keys this server's checkpoints may carry.

    The data directory's anchor file (`journal.anchors`) is checked too, and with
    `checkpoint_every` the checkpoints every interval and rotation must sign (`max_batch`: the
    largest append, by which a crossing checkpoint may overshoot its multiple)."""
    async with db.read() as conn:
        head = await projects.require(conn, namespace, project)
        keys = await load_keys(conn)
        checkpoint_rows = list(
            (await conn.execute(select(C).where(C.c.project_id == head.id))).mappings()
        )
        segment_rows = list(
            (await conn.execute(select(S).where(S.c.project_id == head.id))).mappings()
        )
    try:
        anchor_records = AnchorLog(data_dir).records(namespace, project)
    except AnchorError as exc:
        return _damaged_report(head, namespace, project, len(keys), str(exc))
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
        anchor_records,
    )
    try:
        await walk.run()
        check_keys(keys, anchors)
        if walk.missing is not None:
            raise walk.missing
        if checkpoint_every is not None:
            local = anchors.trusted - anchors.foreign
            check_expected_checkpoints(
                walk.checkpoints,
                walk.rotations,
                walk.anchors,
                int(head.head_seq),
                every=checkpoint_every,
                slack=max_batch,
                local=local,
            )
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


def _damaged_report(
    head: Any, namespace: str, project: str, keys: int, detail: str
) -> VerifyReport:
    return VerifyReport(
        namespace=namespace,
        project=project,
        ok=False,
        checked=0,
        size=head.head_seq,
        head_hash=head.head_hash,
        keys_checked=keys,
        problem=Damage.CHECKPOINT_MISMATCH,
        detail=f"the anchor file is damaged: {detail}",
    )
