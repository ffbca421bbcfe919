"""A project's Merkle tree in the database (RFC 9162; the pure maths is in `journal.merkle`).

Leaves are `entries.leaf_hash` (hex, leaf index = seq - 1); complete inner nodes are rows of
`merkle_nodes` (level >= 1, idx, 32-byte hash); the right edge is `projects.tree_frontier`.

- `extend(conn, project_id, frontier, size, leaves) -> new_frontier`: append leaf hashes (bytes)
  to a tree of `size` leaves whose frontier is `frontier` (hex list); inserts the completed
  nodes in one executemany, in the caller's transaction; the caller stores the returned frontier.
- `root_at(conn, project_id, size) -> bytes`: the root for any size <= head, O(log n) reads.
- `inclusion_proof(conn, project_id, index, size) -> list[bytes]` (audit path, leaf index).
- `consistency_proof(conn, project_id, old, new) -> list[bytes]`.
- `inclusion_bundle` / `consistency_bundle`: a proof with its root(s) from one node fetch
  (what `journal.proofs` answers with); `fetch_nodes`: the hashes of given (level, idx) nodes.
Sizes and indexes are checked by the caller against the head; a node missing for a size within
the head means the stored tree is damaged, and is reported, never recomputed around.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Insert, TextClause, text
from sqlalchemy.dialects import postgresql, sqlite

from roundtable.errors import NotFound
from roundtable.journal import merkle
from roundtable.store import tables
from roundtable.store.dialect import backend_of
from roundtable.store.engine import Conn, write_rows

E = tables.entries
M = tables.merkle_nodes


async def extend(
    conn: Conn, project_id: int, frontier: Sequence[str], size: int, leaves: Sequence[bytes]
) -> list[str]:
    stack, completed = merkle.append_leaves([bytes.fromhex(h) for h in frontier], size, leaves)
    if completed:
        nodes = [
            {"project_id": project_id, "level": level, "idx": idx, "hash": digest}
            for level, idx, digest in completed
        ]
        await write_rows(conn, _upsert(conn), nodes[0] if len(nodes) == 1 else nodes)
    return [h.hex() for h in stack]


def _upsert(conn: Conn) -> Insert:
    """Insert completed nodes; a row already there (a stray written beyond the head by someone
    with database access) is overwritten with the node the chain gives, so appends never fail on
    it. `verify` reports strays (`tree_mismatch`) while they exist."""
    return _UPSERT[backend_of(conn)]


def _build_upsert(insert_: Any) -> Insert:
    stmt = insert_(M)
    result: Insert = stmt.on_conflict_do_update(
        index_elements=[M.c.project_id, M.c.level, M.c.idx], set_={"hash": stmt.excluded.hash}
    )
    return result


_UPSERT = {
    "postgresql": _build_upsert(postgresql.insert),
    "sqlite": _build_upsert(sqlite.insert),
}


@functools.lru_cache(maxsize=1024)
def _fetch_sql(leaves: int, inner: int) -> TextClause:
    """Point lookups of `leaves` leaf hashes and `inner` inner nodes, as one statement.

    Plain text, cached by shape: building it as an expression tree on every call cost more CPU
    than the database spends answering it. `project_id` sits inside every OR term so SQLite
    looks each node up by its primary key (MULTI-INDEX OR) instead of scanning the project's
    nodes.
    """
    parts: list[str] = []
    if leaves:
        seqs = ", ".join(f":s{i}" for i in range(leaves))
        parts.append(
            "SELECT 0 AS level, seq - 1 AS idx, leaf_hash, NULL AS hash FROM entries "
            f"WHERE project_id = :p AND seq IN ({seqs})"
        )
    if inner:
        terms = " OR ".join(
            f"(project_id = :p AND level = :l{i} AND idx = :i{i})" for i in range(inner)
        )
        parts.append(f"SELECT level, idx, NULL AS leaf_hash, hash FROM merkle_nodes WHERE {terms}")
    return text(" UNION ALL ".join(parts))


async def fetch_nodes(
    conn: Conn, project_id: int, nodes: set[merkle.Node]
) -> dict[merkle.Node, bytes]:
    """The hashes of these nodes (level 0 from `entries`, the rest from `merkle_nodes`), in one
    round trip of primary-key lookups."""
    params: dict[str, int] = {"p": project_id}
    leaves = [idx + 1 for level, idx in nodes if level == 0]
    inner = [(level, idx) for level, idx in nodes if level > 0]
    for i, seq in enumerate(leaves):
        params[f"s{i}"] = seq
    for i, (level, idx) in enumerate(inner):
        params[f"l{i}"], params[f"i{i}"] = level, idx
    found: dict[merkle.Node, bytes] = {}
    if nodes:
        rows = await conn.execute(_fetch_sql(len(leaves), len(inner)), params)
        for level, idx, leaf, digest in rows:
            if level == 0:
                if leaf:  # '' until migration 0002 backfilled it: reported as missing
                    found[(0, idx)] = bytes.fromhex(leaf)
            else:
                found[(level, idx)] = bytes(digest)
    missing = nodes - found.keys()
    if missing:
        raise NotFound(
            f"Merkle tree node(s) {sorted(missing)[:4]} of project id {project_id} are missing: "
            "the size is beyond the head, or the stored tree is damaged",
            nodes=[list(n) for n in sorted(missing)],
        )
    return found


async def root_at(conn: Conn, project_id: int, size: int) -> bytes:
    if size == 0:
        return merkle.EMPTY_ROOT
    nodes = merkle.subtrees(0, size)
    return merkle.fold(nodes, await fetch_nodes(conn, project_id, set(nodes)))


async def _prove(conn: Conn, project_id: int, ranges: list[merkle.Range]) -> list[bytes]:
    p = merkle.plan(ranges)
    return merkle.assemble(p, await fetch_nodes(conn, project_id, merkle.needed_nodes([p])))


async def inclusion_proof(conn: Conn, project_id: int, index: int, size: int) -> list[bytes]:
    return await _prove(conn, project_id, merkle.inclusion_ranges(index, size))


async def consistency_proof(conn: Conn, project_id: int, old: int, new: int) -> list[bytes]:
    return await _prove(conn, project_id, merkle.consistency_ranges(old, new))


async def inclusion_bundle(
    conn: Conn, project_id: int, index: int, size: int
) -> tuple[bytes, list[bytes], bytes]:
    """(leaf hash, audit path, root) for one proof answer, from a single node fetch."""
    p = merkle.plan(merkle.inclusion_ranges(index, size))
    tops = merkle.subtrees(0, size)
    hashes = await fetch_nodes(conn, project_id, merkle.needed_nodes([p]) | {(0, index), *tops})
    return hashes[(0, index)], merkle.assemble(p, hashes), merkle.fold(tops, hashes)


async def consistency_bundle(
    conn: Conn, project_id: int, old: int, new: int
) -> tuple[list[bytes], bytes, bytes]:
    """(consistency path, old root, new root) for one proof answer, from a single node fetch."""
    p = merkle.plan(merkle.consistency_ranges(old, new))
    old_tops, new_tops = merkle.subtrees(0, old), merkle.subtrees(0, new)
    hashes = await fetch_nodes(
        conn, project_id, merkle.needed_nodes([p]) | set(old_tops) | set(new_tops)
    )
    return merkle.assemble(p, hashes), merkle.fold(old_tops, hashes), merkle.fold(new_tops, hashes)
