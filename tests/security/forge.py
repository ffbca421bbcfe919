"""An attacker with write access to the database and nothing else (issue 15, defect 1).

`rechain` rewrites a journal with the public algorithm so that everything the database holds
agrees with itself again: entry hashes and links, leaf hashes, every Merkle node, the head and
the frontier; the project's checkpoints are deleted. Only what lies outside the database (the
anchor file, witnesses, what clients remember) can tell."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from roundtable.journal import merkle
from roundtable.journal.hashing import GENESIS, canonical_entry, entry_hash
from roundtable.store import tables

E, P, M, C, S = (
    tables.entries,
    tables.projects,
    tables.merkle_nodes,
    tables.checkpoints,
    tables.segments,
)

Rewrite = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


async def rechain(conn: AsyncConnection, namespace: str, project: str, rewrite: Rewrite) -> None:
    pid = await conn.scalar(select(P.c.id).where(P.c.namespace == namespace, P.c.name == project))
    rows = [
        dict(r)
        for r in (
            await conn.execute(select(E).where(E.c.project_id == pid).order_by(E.c.seq))
        ).mappings()
    ]
    rows = rewrite(rows)
    prev, stack, leaves_bytes = GENESIS, [], 0
    nodes: list[tuple[int, int, bytes]] = []
    for seq, row in enumerate(rows, start=1):
        fields = {
            "seq": seq,
            "ts": row["ts"],
            "agent": row["agent"],
            "session_id": row["session_id"],
            "status": row["status"],
            "kind": row["kind"],
            "message": row["message"],
            "meta": row["meta"],
            "prev_hash": prev,
        }
        canonical = canonical_entry(namespace=namespace, project=project, **fields)
        leaf = merkle.leaf_hash(canonical)
        stack, done = merkle.append_leaves(stack, seq - 1, [leaf])
        nodes.extend(done)
        leaves_bytes += len(canonical)
        row.update(fields, hash=entry_hash(canonical), leaf_hash=leaf.hex())
        row.pop("id", None)
        prev = row["hash"]
    await conn.execute(delete(E).where(E.c.project_id == pid))
    await conn.execute(delete(M).where(M.c.project_id == pid))
    await conn.execute(delete(C).where(C.c.project_id == pid))
    if rows:
        await conn.execute(insert(E), rows)
    if nodes:
        await conn.execute(
            insert(M), [{"project_id": pid, "level": lv, "idx": i, "hash": h} for lv, i, h in nodes]
        )
    await conn.execute(
        update(P)
        .where(P.c.id == pid)
        .values(
            head_seq=len(rows),
            head_hash=prev,
            tree_frontier=[h.hex() for h in stack],
            segment_bytes=leaves_bytes,
        )
    )


def edit(seq: int, message: str) -> Rewrite:
    def rewrite(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows[seq - 1]["message"] = message
        return rows

    return rewrite


def truncate(size: int) -> Rewrite:
    return lambda rows: rows[:size]


def drop(seq: int) -> Rewrite:
    return lambda rows: rows[: seq - 1] + rows[seq:]


async def drop_segment(conn: AsyncConnection, project: str, number: int) -> int:
    """Delete a sealed segment's row; returns its rotation entry's seq (for `drop`)."""
    pid = await conn.scalar(select(P.c.id).where(P.c.name == project))
    where = (S.c.project_id == pid) & (S.c.number == number)
    seq = await conn.scalar(select(S.c.rotation_seq).where(where))
    await conn.execute(delete(S).where(where))
    return int(seq)
