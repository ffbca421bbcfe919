"""Recompute a project's hash chain and name the first entry that does not fit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from roundtable.journal import projects
from roundtable.journal.hashing import GENESIS, canonical_entry, entry_hash
from roundtable.journal.models import VerifyReport
from roundtable.store import tables
from roundtable.store.engine import Database

E = tables.entries
_CHUNK = 2_000


async def verify_chain(db: Database, namespace: str, project: str) -> VerifyReport:
    """Walk the chain in seq order, recomputing every hash, then compare with the project head.

    Reads in chunks, each in its own snapshot; entries are append-only, so a concurrent append
    can only add entries past the head read at the start, which are left for the next run.
    """
    async with db.read() as conn:
        head = await projects.require(conn, namespace, project)
    report = VerifyReport(
        namespace=namespace,
        project=project,
        ok=True,
        checked=0,
        size=head.head_seq,
        head_hash=head.head_hash,
    )

    def fail(seq: int, problem: str, detail: str) -> VerifyReport:
        return report.model_copy(
            update={"ok": False, "first_bad_seq": seq, "problem": problem, "detail": detail}
        )

    expected_seq, prev = 1, GENESIS
    last_seq = 0
    while True:
        async with db.read() as conn:
            rows = (
                (
                    await conn.execute(
                        select(E)
                        .where(E.c.project_id == head.id, E.c.seq >= expected_seq)
                        .where(E.c.seq <= head.head_seq)
                        .order_by(E.c.seq, E.c.id)
                        .limit(_CHUNK)
                    )
                )
                .mappings()
                .all()
            )
        for row in rows:
            seq = row["seq"]
            if seq > expected_seq:
                return fail(expected_seq, "missing", f"entry {expected_seq} is missing")
            if seq < expected_seq:
                return fail(seq, "unexpected", f"a second entry claims seq {seq}")
            problem = _check(row, namespace, project, prev)
            if problem is not None:
                return fail(seq, *problem)
            prev = row["hash"]
            expected_seq += 1
            last_seq = seq
            report.checked += 1
        if len(rows) < _CHUNK:
            break
    if last_seq != head.head_seq:
        return fail(last_seq + 1, "missing", f"entries {last_seq + 1}..{head.head_seq} are missing")
    if prev != head.head_hash:
        return fail(last_seq, "head_mismatch", "the project's recorded head hash differs")
    async with db.read() as conn:
        beyond = await conn.scalar(
            select(E.c.seq).where(E.c.project_id == head.id, E.c.seq > head.head_seq).limit(1)
        )
    if beyond is not None and not await _is_concurrent_append(db, head.id, head.head_seq):
        return fail(beyond, "unexpected", f"entry {beyond} lies beyond the recorded head")
    return report


async def _is_concurrent_append(db: Database, project_id: int, verified_size: int) -> bool:
    """True if the project's head has since moved past `verified_size` (an honest append)."""
    async with db.read() as conn:
        current = await conn.scalar(
            select(tables.projects.c.head_seq).where(tables.projects.c.id == project_id)
        )
    return (current or 0) > verified_size


def _check(row: Any, namespace: str, project: str, prev: str) -> tuple[str, str] | None:
    if row["prev_hash"] != prev:
        return "chain_broken", "prev_hash does not match the previous entry's hash"
    digest = entry_hash(
        canonical_entry(
            namespace=namespace,
            project=project,
            seq=row["seq"],
            ts=row["ts"],
            agent=row["agent"],
            session_id=row["session_id"],
            status=row["status"],
            kind=row["kind"],
            message=row["message"],
            meta=row["meta"],
            prev_hash=row["prev_hash"],
        )
    )
    if digest != row["hash"]:
        return "hash_mismatch", "the entry's content does not match its hash (edited)"
    return None
