"""Typed links between documents: parent-child (cascading delete, no cycles), related,
predecessor-successor; each end must be visible to whoever links or lists them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, text, update

from roundtable.documents.models import Relation, RelationKind
from roundtable.documents.scope import View
from roundtable.errors import InvalidInput
from roundtable.ids import utcnow
from roundtable.store import tables
from roundtable.store.dialect import backend_of
from roundtable.store.engine import Conn

R = tables.document_relations
D = tables.documents
PARENT = RelationKind.PARENT_CHILD.value


#: PostgreSQL advisory-lock key serialising link changes (SQLite's single writer already does).
_LINK_LOCK = 0x52540011


async def lock_links(conn: Conn) -> None:
    """Serialise link changes, so two links racing cannot close a cycle between them (each
    checks the other's absence) nor deadlock on each other's two row locks."""
    if backend_of(conn) == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LINK_LOCK})


async def descendants(conn: Conn, roots: list[str]) -> list[str]:
    """Every document below `roots` through parent-child links (roots excluded)."""
    seen: set[str] = set(roots)
    found: list[str] = []
    frontier = list(roots)
    while frontier:
        rows = await conn.execute(
            select(R.c.to_id).where(R.c.kind == PARENT, R.c.from_id.in_(frontier))
        )
        frontier = [child for child in rows.scalars() if child not in seen]
        seen.update(frontier)
        found.extend(frontier)
    return found


async def link(
    conn: Conn,
    namespace: str,
    first: str,
    second: str,
    kind: RelationKind,
    note: str,
    reverse_note: str,
    actor: str,
) -> None:
    """Link `first` to `second` (parent → child, predecessor → successor); both already
    checked visible. Linking again replaces the notes."""
    if first == second:
        raise InvalidInput("a document cannot be related to itself", field="other")
    if kind == RelationKind.PARENT_CHILD and first in await descendants(conn, [second]):
        raise InvalidInput(
            "this parent-child link would make a cycle: the parent is below the child",
            field="other",
        )
    if kind == RelationKind.RELATED and second < first:  # stored once, smaller id first
        first, second, note, reverse_note = second, first, reverse_note, note
    key = (R.c.from_id == first, R.c.to_id == second, R.c.kind == kind.value)
    done = await conn.execute(update(R).where(*key).values(note=note, reverse_note=reverse_note))
    if not done.rowcount:
        await conn.execute(
            R.insert().values(
                from_id=first,
                to_id=second,
                kind=kind.value,
                namespace=namespace,
                note=note,
                reverse_note=reverse_note,
                created_at=utcnow(),
                created_by=actor,
            )
        )


def _seen_from(document_id: str, row: Any) -> Relation:
    outgoing = row.from_id == document_id
    kind = RelationKind(row.kind)
    if kind == RelationKind.PARENT_CHILD:
        role = "child" if outgoing else "parent"
    elif kind == RelationKind.PREDECESSOR_SUCCESSOR:
        role = "successor" if outgoing else "predecessor"
    else:
        role = "related"
    return Relation(
        kind=kind,
        role=role,
        other=row.to_id if outgoing else row.from_id,
        note=row.note if outgoing else row.reverse_note,
        reverse_note=row.reverse_note if outgoing else row.note,
        created_at=row.created_at,
        created_by=row.created_by,
    )


async def listing(conn: Conn, view: View, document_id: str) -> list[Relation]:
    """The links of a (visible) document whose other end the caller can see too."""
    outgoing = await conn.execute(
        select(R)
        .join(D, D.c.id == R.c.to_id)
        .where(R.c.from_id == document_id, view.predicate(D.c.root_session))
    )
    incoming = await conn.execute(
        select(R)
        .join(D, D.c.id == R.c.from_id)
        .where(R.c.to_id == document_id, view.predicate(D.c.root_session))
    )
    found = [_seen_from(document_id, row) for row in [*outgoing, *incoming]]
    return sorted(found, key=lambda r: (r.kind, r.role, r.other))


async def unlink_all(conn: Conn, ids: list[str]) -> None:
    if ids:
        await conn.execute(delete(R).where(or_(R.c.from_id.in_(ids), R.c.to_id.in_(ids))))
