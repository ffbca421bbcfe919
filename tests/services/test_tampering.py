"""Tampering (D4): every edit, deletion, insertion or reordering made directly in the database
is detected by `verify`, which names the first bad sequence number and the kind of problem."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roundtable.journal.hashing import canonical_entry, entry_hash
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import tables

E = tables.entries
P = tables.projects
SIZE = 10

Rows = dict[int, Any]
#: Edits the journal of the project named in `Target` directly in the database.
Tamper = Callable[[AsyncConnection, "Target"], Awaitable[None]]


class Target:
    def __init__(self, project: str, project_id: int, rows: Rows) -> None:
        self.project = project
        self.project_id = project_id
        self.rows = rows

    def id(self, seq: int) -> int:
        return int(self.rows[seq]["id"])


async def fill(core: Roundtable, project: str = "web", size: int = SIZE) -> None:
    await core.journal.create_project("default", "setup", project)
    s = await core.sessions.start("default", "alice")
    for start in range(1, size + 1, 4):  # a few batches, so timestamps differ
        batch = [
            EntryInput(message=f"entry {i}", meta={"i": i, "tags": ["a", "b"]})
            for i in range(start, min(start + 4, size + 1))
        ]
        await core.journal.append("default", "alice", project, batch, session_id=s.id)
    await core.sessions.end("default", "alice", s.id)


async def target(conn: AsyncConnection, project: str) -> Target:
    pid = await conn.scalar(select(P.c.id).where(P.c.name == project))
    assert pid is not None
    rows = (await conn.execute(select(E).where(E.c.project_id == pid))).mappings().all()
    return Target(project, pid, {row["seq"]: row for row in rows})


def edit(seq: int, **values: Any) -> Tamper:
    async def tamper(conn: AsyncConnection, t: Target) -> None:
        resolved = {k: v(t.rows[seq]) if callable(v) else v for k, v in values.items()}
        await conn.execute(update(E).where(E.c.id == t.id(seq)).values(**resolved))

    return tamper


def remove(seq: int) -> Tamper:
    async def tamper(conn: AsyncConnection, t: Target) -> None:
        await conn.execute(delete(E).where(E.c.id == t.id(seq)))

    return tamper


def rehash(t: Target, row: Any, **changes: Any) -> dict[str, Any]:
    """The row's fields with `changes` applied and a hash recomputed as an attacker would."""
    fields = {
        k: row[k] for k in ("seq", "ts", "agent", "session_id", "status", "kind", "message", "meta")
    }
    fields.update(prev_hash=row["prev_hash"])
    fields.update(changes)
    digest = entry_hash(canonical_entry(namespace="default", project=t.project, **fields))
    return {**fields, "hash": digest}


async def edit_and_rehash(conn: AsyncConnection, t: Target) -> None:
    values = rehash(t, t.rows[5], message="entry 5 (rewritten history)")
    await conn.execute(update(E).where(E.c.id == t.id(5)).values(**values))


async def truncate_tail_and_head_seq(conn: AsyncConnection, t: Target) -> None:
    await conn.execute(delete(E).where(E.c.id == t.id(SIZE)))
    await conn.execute(update(P).where(P.c.id == t.project_id).values(head_seq=SIZE - 1))


async def append_beyond_head(conn: AsyncConnection, t: Target) -> None:
    last = t.rows[SIZE]
    forged = rehash(t, last, seq=SIZE + 1, message="forged", prev_hash=last["hash"])
    await conn.execute(insert(E).values(project_id=t.project_id, **forged))


async def swap_3_and_4(conn: AsyncConnection, t: Target) -> None:
    await conn.execute(update(E).where(E.c.id == t.id(3)).values(seq=-3))
    await conn.execute(update(E).where(E.c.id == t.id(4)).values(seq=3))
    await conn.execute(update(E).where(E.c.id == t.id(3)).values(seq=4))


async def edit_head_hash(conn: AsyncConnection, t: Target) -> None:
    await conn.execute(update(P).where(P.c.id == t.project_id).values(head_hash="f" * 64))


def shift_ts(delta: timedelta) -> Callable[[Any], Any]:
    return lambda row: row["ts"] + delta


CASES: dict[str, tuple[Tamper, int, set[str]]] = {
    "message": (edit(5, message="entry 5, but edited"), 5, {"hash_mismatch"}),
    "message-first": (edit(1, message="entry one"), 1, {"hash_mismatch"}),
    "message-last": (edit(SIZE, message="the end"), SIZE, {"hash_mismatch"}),
    "meta-value": (edit(5, meta={"i": 6, "tags": ["a", "b"]}), 5, {"hash_mismatch"}),
    "meta-type": (edit(5, meta={"i": "5", "tags": ["a", "b"]}), 5, {"hash_mismatch"}),
    "meta-key-added": (edit(5, meta={"i": 5, "tags": ["a", "b"], "x": None}), 5, {"hash_mismatch"}),
    "status": (edit(5, status="error"), 5, {"hash_mismatch"}),
    "kind": (edit(5, kind="decision"), 5, {"hash_mismatch"}),
    "agent": (edit(5, agent="mallory"), 5, {"hash_mismatch"}),
    "session": (edit(5, session_id=None), 5, {"hash_mismatch"}),
    "ts-microsecond": (edit(5, ts=shift_ts(timedelta(microseconds=1))), 5, {"hash_mismatch"}),
    "ts-hour-back": (edit(5, ts=shift_ts(timedelta(hours=-1))), 5, {"hash_mismatch"}),
    "hash": (edit(5, hash="0" * 64), 5, {"hash_mismatch", "chain_broken"}),
    "prev-hash": (edit(5, prev_hash="1" * 64), 5, {"chain_broken"}),
    "edit-and-rehash": (edit_and_rehash, 6, {"chain_broken"}),
    "delete-middle": (remove(5), 5, {"missing"}),
    "delete-first": (remove(1), 1, {"missing"}),
    "delete-last": (remove(SIZE), SIZE, {"missing", "head_mismatch"}),
    "delete-last-fix-head-seq": (truncate_tail_and_head_seq, SIZE - 1, {"head_mismatch"}),
    "insert-beyond-head": (append_beyond_head, SIZE + 1, {"unexpected"}),
    "swap-seqs": (swap_3_and_4, 3, {"chain_broken"}),
    "head-hash": (edit_head_hash, SIZE, {"head_mismatch"}),
}


async def test_untampered_journal_verifies(core: Roundtable) -> None:
    await fill(core)
    report = await core.journal.verify("default", "web")
    assert report.ok and report.checked == SIZE and report.size == SIZE
    assert report.first_bad_seq is None and report.problem is None


async def test_every_kind_of_tampering_is_detected(core: Roundtable) -> None:
    """Each case tampers with its own project (one database per backend keeps this fast)."""
    await fill(core, "bystander")
    for case in CASES:
        await fill(core, case)
    for case, (tamper, _, _) in CASES.items():
        async with core.db.write() as conn:
            await tamper(conn, await target(conn, case))
    wrong = []
    for case, (_, bad_seq, problems) in CASES.items():
        report = await core.journal.verify("default", case)
        if report.ok or report.first_bad_seq != bad_seq or report.problem not in problems:
            wrong.append((case, report.first_bad_seq, report.problem, report.detail))
        assert report.detail or report.ok
    assert wrong == [], "tampering missed or misreported"
    # A journal nobody touched still verifies.
    assert (await core.journal.verify("default", "bystander")).ok


async def test_tampering_across_verify_chunks(core: Roundtable) -> None:
    size = 4_100  # more than two of verify's 2,000-row chunks
    await core.journal.create_project("default", "setup", "big")
    for start in range(1, size + 1, 1_000):
        batch = [EntryInput(message=f"e{i}") for i in range(start, min(start + 1_000, size + 1))]
        await core.journal.append("default", "alice", "big", batch)
    assert (await core.journal.verify("default", "big")).checked == size

    async with core.db.write() as conn:
        big = await target(conn, "big")
        await conn.execute(update(E).where(E.c.id == big.id(4_001)).values(message="x"))
    report = await core.journal.verify("default", "big")
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 4_001, "hash_mismatch")
    assert report.checked == 4_000

    async with core.db.write() as conn:
        await conn.execute(delete(E).where(E.c.id == big.id(2_000)))
    report = await core.journal.verify("default", "big")
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 2_000, "missing")
