"""Document search on SQLite: FTS5 over the chunks, ranked by bm25 (lower is better there).

bm25() may not appear inside an aggregate, so the matching chunks are ranked in a
MATERIALIZED common table expression and grouped per document outside it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, TextClause, column, func, literal_column, select, table, text

from roundtable.documents.keyset import Cursor, after_clause
from roundtable.store import tables
from roundtable.store.engine import Conn

C = tables.document_chunks
D = tables.documents
FTS = table("document_chunks_fts", column("rowid"))


def _match(words: list[str]) -> TextClause:
    fts = " ".join('"' + w.replace('"', '""') + '"' for w in words)
    return text("document_chunks_fts MATCH :fts").bindparams(fts=fts)


async def rank(
    conn: Conn, words: list[str], where: ColumnElement[bool], after: Cursor | None, limit: int
) -> list[tuple[str, float]]:
    matched = (
        select(C.c.document_id.label("doc"), literal_column("bm25(document_chunks_fts)").label("r"))
        .select_from(FTS.join(C, C.c.id == FTS.c.rowid).join(D, D.c.id == C.c.document_id))
        .where(_match(words), where)
        .cte("matched")
        .prefix_with("MATERIALIZED")
    )
    per_doc = (
        select(matched.c.doc, (-func.min(matched.c.r)).label("score"))
        .group_by(matched.c.doc)
        .subquery()
    )
    query = (
        select(per_doc.c.doc, per_doc.c.score)
        .where(*after_clause(per_doc.c.score, per_doc.c.doc, after))
        .order_by(per_doc.c.score.desc(), per_doc.c.doc)
        .limit(limit)
    )
    return [(row.doc, float(row.score)) for row in await conn.execute(query)]


async def snippets(conn: Conn, words: list[str], ids: list[str]) -> dict[str, str]:
    """Each document's best-matching passage, hits in [brackets]."""
    rows = await conn.execute(
        select(
            C.c.document_id,
            literal_column("snippet(document_chunks_fts, 0, '[', ']', '…', 24)").label("s"),
        )
        .select_from(FTS.join(C, C.c.id == FTS.c.rowid))
        .where(_match(words), C.c.document_id.in_(ids))
        .order_by(literal_column("bm25(document_chunks_fts)"))
    )
    out: dict[str, str] = {}
    for row in rows:
        out.setdefault(row.document_id, row.s)
    return out
