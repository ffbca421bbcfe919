"""`verify`'s checks of the stored Merkle tree (`merkle_nodes`) against the recomputed one."""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from roundtable.journal.audit_checks import Damaged
from roundtable.journal.models import Damage
from roundtable.store import tables
from roundtable.store.engine import Database

M = tables.merkle_nodes


async def compare_nodes(
    db: Database, project_id: int, completed: list[tuple[int, int, bytes]]
) -> None:
    """Compare recomputed inner nodes (level, idx, hash) with the stored ones, in one query.

    Raises `Damaged` for the leftmost node that is wrong or missing.
    """
    if not completed:
        return
    ranges: dict[int, tuple[int, int]] = {}
    for level, idx, _ in completed:
        lo, hi = ranges.get(level, (idx, idx))
        ranges[level] = (min(lo, idx), max(hi, idx))
    query = select(M.c.level, M.c.idx, M.c.hash).where(
        M.c.project_id == project_id,
        or_(*(and_(M.c.level == lv, M.c.idx.between(lo, hi)) for lv, (lo, hi) in ranges.items())),
    )
    async with db.read() as conn:
        stored = {(r.level, r.idx): bytes(r.hash) for r in await conn.execute(query)}
    for level, idx, digest in sorted(completed, key=lambda n: n[1] << n[0]):
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


async def first_stray_node(
    db: Database, project_id: int, head_seq: int
) -> tuple[int, int, int] | None:
    """A stored node covering leaves past the head, as (level, idx, end of its leaves), if any.

    Such a node belongs to no tree: someone wrote it (appends overwrite it, but until then it is
    damage, unless the head has moved past `end` meanwhile)."""
    levels = max(head_seq.bit_length(), 1)
    stray = or_(
        M.c.level < 1,
        M.c.level > levels,
        *(and_(M.c.level == lv, M.c.idx >= head_seq >> lv) for lv in range(1, levels + 1)),
    )
    async with db.read() as conn:
        found = (
            await conn.execute(
                select(M.c.level, M.c.idx)
                .where(M.c.project_id == project_id, stray)
                .order_by(M.c.level, M.c.idx)
                .limit(1)
            )
        ).first()
    if found is None:
        return None
    level, idx = int(found.level), int(found.idx)
    end = (idx + 1) << level if 0 <= level < 64 else head_seq + 1
    return level, idx, end
