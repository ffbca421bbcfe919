"""Finding a document by id or name among those the caller may see (CONTEXT-002).

A document the caller cannot see is `NotFound`, exactly like a missing one, so nothing leaks
across session trees.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, select

from roundtable.documents.rules import UUID_RE
from roundtable.documents.scope import NAMESPACE, View
from roundtable.errors import NotFound
from roundtable.store import tables
from roundtable.store.engine import Conn
from roundtable.validation import check_text

D = tables.documents


async def find_visible(conn: Conn, v: View, ref: str, *, lock: bool = False) -> Row[Any]:
    """The visible document `ref`: an id, or a name in the caller's tree, else the namespace's."""
    check_text("document", ref)
    query = select(D).where(D.c.namespace == v.namespace)
    if UUID_RE.fullmatch(ref):
        query = query.where(D.c.id == ref)
    else:
        candidates = [r for r in (v.tree, NAMESPACE) if r is not None and v.sees(r)]
        query = query.where(D.c.name == ref, D.c.root_session.in_(candidates))
    if lock:
        query = query.with_for_update()
    rows = [row for row in await conn.execute(query) if v.sees(row.root_session)]
    if not rows:
        raise NotFound(f"no document {ref!r} here", document=ref)
    rows.sort(key=lambda row: row.root_session == NAMESPACE)  # the tree's first
    return rows[0]
