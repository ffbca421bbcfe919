"""Document search on PostgreSQL: the chunks' generated tsvector (GIN index), ts_rank."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, literal, literal_column, select

from roundtable.documents.keyset import Cursor, after_clause
from roundtable.store import tables
from roundtable.store.engine import Conn

C = tables.document_chunks
D = tables.documents
TSV: ColumnElement[object] = literal_column("document_chunks.tsv")


def _query(words: list[str]) -> ColumnElement[object]:
    return func.to_tsquery("simple", literal(" & ".join(words)))


async def rank(
    conn: Conn, words: list[str], where: ColumnElement[bool], after: Cursor | None, limit: int
) -> list[tuple[str, float, int]]:
    tsquery = _query(words)
    per_doc = (
        select(
            C.c.document_id.label("doc"),
            func.max(func.ts_rank(TSV, tsquery)).label("score"),
        )
        .select_from(C.join(D, D.c.id == C.c.document_id))
        .where(TSV.op("@@")(tsquery), where)
        .group_by(C.c.document_id)
        .subquery()
    )
    query = (
        select(per_doc.c.doc, per_doc.c.score)
        .where(*after_clause(per_doc.c.score, per_doc.c.doc, after))
        .order_by(per_doc.c.score.desc(), per_doc.c.doc)
        .limit(limit)
    )
    return [(row.doc, float(row.score), 0) for row in await conn.execute(query)]


async def snippets(conn: Conn, words: list[str], ids: list[str]) -> dict[str, str]:
    """Each document's best-matching chunk, cut by ts_headline with hits in [brackets]."""
    tsquery = _query(words)
    ranked = (
        select(
            C.c.document_id,
            C.c.body,
            func.row_number()
            .over(partition_by=C.c.document_id, order_by=func.ts_rank(TSV, tsquery).desc())
            .label("n"),
        )
        .where(C.c.document_id.in_(ids), TSV.op("@@")(tsquery))
        .subquery()
    )
    best = select(ranked.c.document_id, ranked.c.body).where(ranked.c.n == 1).subquery()
    headline = func.ts_headline(
        "simple",
        best.c.body,
        tsquery,
        "StartSel=[, StopSel=], MaxWords=24, MinWords=8, ShortWord=0",
    )
    rows = await conn.execute(select(best.c.document_id, headline.label("s")))
    return {row.document_id: row.s for row in rows}
