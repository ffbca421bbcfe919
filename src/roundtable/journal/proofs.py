"""Tree heads and RFC 9162 proofs for a project, with their sizes checked against the head.

Each answer is read in one snapshot, so the root and the path belong to the same tree. Sizes
default to the journal's current head; anything outside it is refused with a message that says
what the valid range is, so a client never gets a proof it could not check.
"""

from __future__ import annotations

from roundtable.errors import InvalidInput, NotFound
from roundtable.journal import projects, tree
from roundtable.journal.models import ConsistencyProof, InclusionProof, TreeHead
from roundtable.store.engine import Database


def _size(size: int | None, head: int, field: str, *, minimum: int = 0) -> int:
    if size is None:
        size = head
    if size < minimum:
        what = "an empty journal" if head == 0 and minimum else f"{field}={size}"
        raise InvalidInput(
            f"no tree of size {size} to prove against ({what}); sizes run from {minimum} "
            f"to the head, {head}",
            field=field,
            head=head,
        )
    if size > head:
        raise InvalidInput(
            f"{field}={size} is beyond the journal's head: it has {head} entries",
            field=field,
            head=head,
        )
    return size


async def tree_head(db: Database, namespace: str, project: str, size: int | None) -> TreeHead:
    async with db.read() as conn:
        head = await projects.require(conn, namespace, project)
        n = _size(size, head.head_seq, "size")
        root = await tree.root_at(conn, head.id, n)
    return TreeHead(namespace=namespace, project=project, size=n, root=root.hex())


async def inclusion(
    db: Database, namespace: str, project: str, seq: int, size: int | None
) -> InclusionProof:
    if seq < 1:
        raise InvalidInput(f"seq must be at least 1, not {seq}", field="seq")
    async with db.read() as conn:
        head = await projects.require(conn, namespace, project)
        if seq > head.head_seq:
            raise NotFound(
                f"no entry {seq} in project {project!r}: it has {head.head_seq} entries",
                project=project,
                seq=seq,
                head=head.head_seq,
            )
        n = _size(size, head.head_seq, "size", minimum=1)
        if seq > n:
            raise InvalidInput(
                f"entry {seq} is not in the tree of size {n}: ask for size >= {seq}",
                field="size",
            )
        leaf, path, root = await tree.inclusion_bundle(conn, head.id, seq - 1, n)
    return InclusionProof(
        namespace=namespace,
        project=project,
        seq=seq,
        leaf_index=seq - 1,
        tree_size=n,
        leaf_hash=leaf.hex(),
        root=root.hex(),
        path=[h.hex() for h in path],
    )


async def consistency(
    db: Database, namespace: str, project: str, old: int, new: int | None
) -> ConsistencyProof:
    async with db.read() as conn:
        head = await projects.require(conn, namespace, project)
        n = _size(new, head.head_seq, "new_size", minimum=1)
        m = _size(old, head.head_seq, "old_size", minimum=1)
        if m > n:
            raise InvalidInput(
                f"old_size={m} is larger than new_size={n}: a tree only grows", field="old_size"
            )
        path, old_root, new_root = await tree.consistency_bundle(conn, head.id, m, n)
    return ConsistencyProof(
        namespace=namespace,
        project=project,
        old_size=m,
        new_size=n,
        old_root=old_root.hex(),
        new_root=new_root.hex(),
        path=[h.hex() for h in path],
    )
