"""Document search on SQLite: FTS5 over the chunks, ranked by bm25 (lower is better there).

FTS5 ranks matching chunks fast on its own, but joining every match to its document (for the
scope and filters) costs far more than the ranking. So the chunks are ranked alone, best first,
in a window of `k` rows; only the window is joined and filtered, and documents are taken in the
order of their best chunk. If the window holds too few visible documents it grows (x4) until
the page is full or the matches run out. A document's score is its best chunk's (negated, so
higher is better). The cursor's hint `n` (how deep the last page reached) sizes the next
window, so later pages do not start over small.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, TextClause, column, literal_column, select, table, text

from roundtable.documents.keyset import Cursor, is_after
from roundtable.store import tables
from roundtable.store.engine import Conn

C = tables.document_chunks
D = tables.documents
FTS = table("document_chunks_fts", column("rowid"))
#: Ids per IN (...) when joining a window back to its documents.
_BATCH = 5_000


def _fts(words: list[str]) -> str:
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def _match(words: list[str]) -> TextClause:
    return text("document_chunks_fts MATCH :fts").bindparams(fts=_fts(words))


_WINDOW = text(
    "SELECT rowid AS id, bm25(document_chunks_fts) AS r FROM document_chunks_fts "
    "WHERE document_chunks_fts MATCH :fts ORDER BY r LIMIT :k"
)


async def _visible(conn: Conn, ids: list[int], where: ColumnElement[bool]) -> dict[int, str]:
    """Chunk id -> document id, for the chunks whose document passes `where` (built with
    `Filters.predicates(by_id=True)`, so both lookups go by primary key)."""
    found: dict[int, str] = {}
    for start in range(0, len(ids), _BATCH):
        owners = {
            row.id: row.document_id
            for row in await conn.execute(
                select(C.c.id, C.c.document_id).where(C.c.id.in_(ids[start : start + _BATCH]))
            )
        }
        kept = set(
            (
                await conn.execute(select(D.c.id).where(D.c.id.in_(set(owners.values())), where))
            ).scalars()
        )
        found.update({chunk: doc for chunk, doc in owners.items() if doc in kept})
    return found


async def rank(
    conn: Conn, words: list[str], where: ColumnElement[bool], after: Cursor | None, limit: int
) -> list[tuple[str, float, int]]:
    """Up to `limit` `(document id, score, depth)` after the cursor, best first."""
    k = (after.n if after else 0) + 4 * limit
    while True:
        window = (await conn.execute(_WINDOW, {"fts": _fts(words), "k": k})).all()
        full = len(window) == k
        visible = await _visible(conn, [row.id for row in window], where)
        edge = window[-1].r if full else None
        seen: set[str] = set()
        found: list[tuple[str, float, int]] = []
        for depth, row in enumerate(window, start=1):
            if edge is not None and row.r == edge:
                break  # rows tied with the window's last may continue beyond it
            doc = visible.get(row.id)
            if doc is None or doc in seen:
                continue
            seen.add(doc)  # its first chunk is its best: later ones never count again
            if is_after(-row.r, doc, after):
                found.append((doc, -row.r, depth))
        found.sort(key=lambda hit: (-hit[1], hit[0]))
        if len(found) >= limit or not full:
            return found[:limit]
        k *= 4


async def snippets(conn: Conn, words: list[str], ids: list[str]) -> dict[str, str]:
    """Each document's best-matching passage, hits in [brackets]. The chunks are found by
    document first, so FTS5 cuts snippets for them only (by rowid), not for every match."""
    owners = {
        row.id: row.document_id
        for row in await conn.execute(
            select(C.c.id, C.c.document_id).where(C.c.document_id.in_(ids))
        )
    }
    if not owners:
        return {}
    rows = await conn.execute(
        select(
            FTS.c.rowid,
            literal_column("snippet(document_chunks_fts, 0, '[', ']', '…', 24)").label("s"),
        )
        .select_from(FTS)
        .where(_match(words), FTS.c.rowid.in_(list(owners)))
        .order_by(literal_column("bm25(document_chunks_fts)"))
    )
    out: dict[str, str] = {}
    for row in rows:
        out.setdefault(owners[row.rowid], row.s)
    return out
