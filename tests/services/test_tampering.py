"""Tampering (D4): every edit, deletion, insertion or reordering made directly in the database
is detected by `verify`, which names the first bad sequence number and the kind of problem."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roundtable.journal.hashing import canonical_entry, entry_hash
from roundtable.journal.merkle import leaf_hash
from roundtable.journal.models import EntryInput
from roundtable.journal.verify_pages import PAGE
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


def shift_seqs(t: Target, first: int, by: int) -> list[tuple[int, int]]:
    """(row id, new seq) moving entries `first`.. by `by`, as an attacker renumbering would."""
    return [(t.id(seq), seq + by) for seq in sorted(t.rows) if seq >= first]


async def renumber(conn: AsyncConnection, moves: list[tuple[int, int]]) -> None:
    for row_id, _ in moves:  # through negative seqs, so the unique (project, seq) never clashes
        await conn.execute(update(E).where(E.c.id == row_id).values(seq=-row_id))
    for row_id, seq in moves:
        await conn.execute(update(E).where(E.c.id == row_id).values(seq=seq))


async def duplicate_5(conn: AsyncConnection, t: Target) -> None:
    await renumber(conn, shift_seqs(t, 6, 1))
    copy = {k: v for k, v in t.rows[5].items() if k != "id"}
    await conn.execute(insert(E).values(**{**copy, "seq": 6}))


async def insert_forged_6(conn: AsyncConnection, t: Target) -> None:
    """A well-formed entry (hash, link, leaf hash all right) slipped in at seq 6."""
    await renumber(conn, shift_seqs(t, 6, 1))
    forged = rehash(t, t.rows[6], message="forged", prev_hash=t.rows[5]["hash"])
    canonical = canonical_entry(
        namespace="default", project=t.project, **{k: v for k, v in forged.items() if k != "hash"}
    )
    await conn.execute(
        insert(E).values(project_id=t.project_id, leaf_hash=leaf_hash(canonical).hex(), **forged)
    )


async def delete_5_and_renumber(conn: AsyncConnection, t: Target) -> None:
    await conn.execute(delete(E).where(E.c.id == t.id(5)))
    await renumber(conn, shift_seqs(t, 6, -1))


async def edit_rehash_and_releaf(conn: AsyncConnection, t: Target) -> None:
    values = rehash(t, t.rows[5], message="entry 5 (rewritten history)")
    canonical = canonical_entry(
        namespace="default", project=t.project, **{k: v for k, v in values.items() if k != "hash"}
    )
    values["leaf_hash"] = leaf_hash(canonical).hex()
    await conn.execute(update(E).where(E.c.id == t.id(5)).values(**values))


async def edit_merkle_node(conn: AsyncConnection, t: Target) -> None:
    M = tables.merkle_nodes
    node = (M.c.project_id == t.project_id) & (M.c.level == 1) & (M.c.idx == 1)
    await conn.execute(update(M).where(node).values(hash=b"\x07" * 32))


async def edit_frontier(conn: AsyncConnection, t: Target) -> None:
    await conn.execute(
        update(P).where(P.c.id == t.project_id).values(tree_frontier=["ab" * 32, "cd" * 32])
    )


CASES: dict[str, tuple[Tamper, int, set[str]]] = {
    "message": (edit(5, message="entry 5, but edited"), 5, {"edited"}),
    "message-first": (edit(1, message="entry one"), 1, {"edited"}),
    "message-last": (edit(SIZE, message="the end"), SIZE, {"edited"}),
    "meta-value": (edit(5, meta={"i": 6, "tags": ["a", "b"]}), 5, {"edited"}),
    "meta-type": (edit(5, meta={"i": "5", "tags": ["a", "b"]}), 5, {"edited"}),
    "meta-key-added": (edit(5, meta={"i": 5, "tags": ["a", "b"], "x": None}), 5, {"edited"}),
    "status": (edit(5, status="error"), 5, {"edited"}),
    "kind": (edit(5, kind="decision"), 5, {"edited"}),
    "agent": (edit(5, agent="mallory"), 5, {"edited"}),
    "session": (edit(5, session_id=None), 5, {"edited"}),
    "ts-microsecond": (edit(5, ts=shift_ts(timedelta(microseconds=1))), 5, {"edited"}),
    "ts-hour-back": (edit(5, ts=shift_ts(timedelta(hours=-1))), 5, {"edited"}),
    "hash": (edit(5, hash="0" * 64), 5, {"edited"}),
    "prev-hash": (edit(5, prev_hash="1" * 64), 5, {"edited"}),
    "leaf-hash": (edit(5, leaf_hash="2" * 64), 5, {"bad_leaf_hash"}),
    "edit-and-rehash": (edit_and_rehash, 5, {"bad_leaf_hash"}),
    "edit-rehash-and-releaf": (edit_rehash_and_releaf, 5, {"edited"}),
    "delete-middle": (remove(5), 5, {"deleted"}),
    "delete-first": (remove(1), 1, {"deleted"}),
    "delete-last": (remove(SIZE), SIZE, {"deleted"}),
    "delete-and-renumber": (delete_5_and_renumber, 5, {"deleted"}),
    "delete-last-fix-head-seq": (truncate_tail_and_head_seq, SIZE - 1, {"head_mismatch"}),
    "insert-beyond-head": (append_beyond_head, SIZE + 1, {"inserted"}),
    "insert-middle": (insert_forged_6, 6, {"inserted"}),
    "duplicate": (duplicate_5, 6, {"duplicated"}),
    "swap-seqs": (swap_3_and_4, 3, {"reordered"}),
    "head-hash": (edit_head_hash, SIZE, {"head_mismatch"}),
    "merkle-node": (edit_merkle_node, 3, {"tree_mismatch"}),
    "frontier": (edit_frontier, SIZE, {"tree_mismatch"}),
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


@pytest.mark.slow
async def test_tampering_across_verify_chunks(core: Roundtable) -> None:
    size = 2 * PAGE + 100  # more than two of verify's pages
    await core.journal.create_project("default", "setup", "big")
    for start in range(1, size + 1, 1_000):
        batch = [EntryInput(message=f"e{i}") for i in range(start, min(start + 1_000, size + 1))]
        await core.journal.append("default", "alice", "big", batch)
    assert (await core.journal.verify("default", "big")).checked == size

    async with core.db.write() as conn:
        big = await target(conn, "big")
        await conn.execute(update(E).where(E.c.id == big.id(2 * PAGE + 1)).values(message="x"))
    report = await core.journal.verify("default", "big")
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 2 * PAGE + 1, "edited")
    assert report.checked == 2 * PAGE

    async with core.db.write() as conn:
        await conn.execute(delete(E).where(E.c.id == big.id(PAGE)))
    report = await core.journal.verify("default", "big")
    assert (report.ok, report.first_bad_seq, report.problem) == (False, PAGE, "deleted")
