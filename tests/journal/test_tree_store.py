"""The Merkle tree as appends store it, on both backends: leaves, nodes, roots, proofs, bad input."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from roundtable.errors import InvalidInput, NotFound
from roundtable.journal import merkle, tree
from roundtable.journal.models import Entry, EntryInput
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.journal import independent

NS = "default"


async def fill(core: Roundtable, project: str, n: int) -> list[Entry]:
    """Append n entries in batches of varying size (1, 2, 3, ... 9, 1, ...)."""
    await core.journal.create_project(NS, "alice", project)
    entries: list[Entry] = []
    batch = 1
    while len(entries) < n:
        items = [
            EntryInput(message=f"entry {len(entries) + i + 1}", meta={"i": len(entries) + i})
            for i in range(min(batch, n - len(entries)))
        ]
        entries += (await core.journal.append(NS, "alice", project, items)).entries
        batch = batch % 9 + 1
    return entries


async def test_leaves_nodes_and_frontier_as_stored(core: Roundtable) -> None:
    entries = await fill(core, "p", 45)
    leaves = [independent.leaf(e.canonical()) for e in entries]
    async with core.db.read() as conn:
        pid, frontier, seg = (
            await conn.execute(
                select(
                    tables.projects.c.id,
                    tables.projects.c.tree_frontier,
                    tables.projects.c.segment_bytes,
                ).where(tables.projects.c.name == "p")
            )
        ).one()
        stored = (
            await conn.execute(
                select(tables.entries.c.leaf_hash)
                .where(tables.entries.c.project_id == pid)
                .order_by(tables.entries.c.seq)
            )
        ).scalars()
        assert [bytes.fromhex(h) for h in stored] == leaves
        nodes = await conn.scalar(
            select(func.count())
            .select_from(tables.merkle_nodes)
            .where(tables.merkle_nodes.c.project_id == pid)
        )
    # A tree of n leaves has n - popcount(n) complete inner nodes: each stored exactly once.
    assert nodes == 45 - (45).bit_count()
    assert len(frontier) == (45).bit_count()
    assert merkle.root_from_frontier([bytes.fromhex(h) for h in frontier]) == independent.mth(
        leaves
    )
    assert seg == sum(len(e.canonical()) for e in entries)
    # The chain hash is still SHA-256 of the same canonical bytes.
    assert all(e.hash == hashlib.sha256(e.canonical()).hexdigest() for e in entries)


async def test_every_root_and_proof_up_to_70_entries(core: Roundtable) -> None:
    entries = await fill(core, "p", 70)
    leaves = [independent.leaf(e.canonical()) for e in entries]
    roots = [independent.mth(leaves[:n]) for n in range(71)]
    async with core.db.read() as conn:
        pid = await conn.scalar(select(tables.projects.c.id).where(tables.projects.c.name == "p"))
        assert pid is not None
        for n in range(0, 71):
            assert await tree.root_at(conn, pid, n) == roots[n]
        for n in range(1, 71):
            for i in range(n):
                p = await tree.inclusion_proof(conn, pid, i, n)
                assert independent.verify_inclusion(leaves[i], i, n, p, roots[n]), (i, n)
            for m in range(1, n + 1):
                c = await tree.consistency_proof(conn, pid, m, n)
                assert independent.verify_consistency(m, n, roots[m], roots[n], c), (m, n)


async def test_service_answers_verify(core: Roundtable) -> None:
    entries = await fill(core, "p", 23)
    leaves = [independent.leaf(e.canonical()) for e in entries]
    head = await core.journal.tree_head(NS, "p")
    assert (head.size, head.root) == (23, independent.mth(leaves).hex())
    assert (await core.journal.tree_head(NS, "p", 5)).root == independent.mth(leaves[:5]).hex()
    proof = await core.journal.inclusion_proof(NS, "p", 7)
    assert (proof.seq, proof.leaf_index, proof.tree_size) == (7, 6, 23)
    assert proof.leaf_hash == leaves[6].hex() and proof.root == head.root
    path = [bytes.fromhex(h) for h in proof.path]
    assert independent.verify_inclusion(leaves[6], 6, 23, path, bytes.fromhex(proof.root))
    proof = await core.journal.inclusion_proof(NS, "p", 7, size=7)
    assert proof.root == independent.mth(leaves[:7]).hex()
    cons = await core.journal.consistency_proof(NS, "p", 9)
    assert (cons.old_size, cons.new_size) == (9, 23)
    assert cons.old_root == independent.mth(leaves[:9]).hex() and cons.new_root == head.root
    assert independent.verify_consistency(
        9,
        23,
        bytes.fromhex(cons.old_root),
        bytes.fromhex(cons.new_root),
        [bytes.fromhex(h) for h in cons.path],
    )
    same = await core.journal.consistency_proof(NS, "p", 23, 23)
    assert same.path == [] and same.old_root == same.new_root


async def test_empty_journal(core: Roundtable) -> None:
    await core.journal.create_project(NS, "alice", "empty")
    head = await core.journal.tree_head(NS, "empty")
    assert (head.size, head.root) == (0, merkle.EMPTY_ROOT.hex())
    with pytest.raises(InvalidInput, match="empty journal"):
        await core.journal.consistency_proof(NS, "empty", 1)
    with pytest.raises(NotFound, match="has 0 entries"):
        await core.journal.inclusion_proof(NS, "empty", 1)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (("tree_head", 6), InvalidInput, "beyond the journal's head: it has 5 entries"),
        (("tree_head", -1), InvalidInput, "sizes run from 0"),
        (("inclusion_proof", 0), InvalidInput, "seq must be at least 1"),
        (("inclusion_proof", 6), NotFound, "no entry 6 in project 'p': it has 5 entries"),
        (("inclusion_proof", 3, 0), InvalidInput, "sizes run from 1"),
        (("inclusion_proof", 3, 2), InvalidInput, "entry 3 is not in the tree of size 2"),
        (("inclusion_proof", 3, 9), InvalidInput, "size=9 is beyond the journal's head"),
        (("consistency_proof", 0), InvalidInput, "sizes run from 1"),
        (("consistency_proof", 4, 3), InvalidInput, "old_size=4 is larger than new_size=3"),
        (("consistency_proof", 6), InvalidInput, "old_size=6 is beyond the journal's head"),
        (("consistency_proof", 2, 6), InvalidInput, "new_size=6 is beyond the journal's head"),
    ],
)
async def test_bad_sizes_are_refused_clearly(
    core: Roundtable, call: tuple[object, ...], error: type[Exception], match: str
) -> None:
    await fill(core, "p", 5)
    name, *args = call
    with pytest.raises(error, match=match):
        await getattr(core.journal, str(name))(NS, "p", *args)


async def test_unknown_project(core: Roundtable) -> None:
    with pytest.raises(NotFound):
        await core.journal.tree_head(NS, "nope")
