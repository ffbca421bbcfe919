"""Ranked full-text search over documents: the shared part (filters, cursor, page assembly).

The backend part, ranking chunks and cutting snippets, lives in `search_sqlite` (FTS5, bm25)
and `search_postgres` (tsvector, ts_rank); both return `(document id, score)` best first, where
a document's score is its best chunk's, higher is better. Words are ANDed, unstemmed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, String, and_, exists, literal_column

from roundtable.documents import search_postgres, search_sqlite
from roundtable.documents.keyset import decode_cursor, encode_cursor
from roundtable.documents.models import Lifecycle
from roundtable.documents.scope import View
from roundtable.errors import InvalidInput
from roundtable.store import tables
from roundtable.store.dialect import backend_of, search_words
from roundtable.store.engine import Conn

D = tables.documents
T = tables.document_tags


@dataclass(frozen=True)
class Filters:
    """What lists and searches may narrow by, besides the scope (see `scope.View`)."""

    tags: list[str] = field(default_factory=list)
    content_type: str | None = None
    lifecycle: Lifecycle | None = None

    def predicates(self, view: View, *, by_id: bool = False) -> list[ColumnElement[bool]]:
        """The conditions on `documents`. `by_id`: the rows are looked up by id (a window of
        search hits), so keep SQLite from driving the lookup through the (namespace, scope)
        index instead, which it would otherwise prefer, scanning the whole namespace."""
        namespace: ColumnElement[str] = D.c.namespace
        root: ColumnElement[str] = D.c.root_session
        if by_id:  # a unary + makes a column unusable for an index in SQLite (and is a no-op)
            namespace = literal_column("+documents.namespace", String)
            root = literal_column("+documents.root_session", String)
        where = [namespace == view.namespace, view.predicate(root)]
        for tag in self.tags:
            where.append(exists().where(T.c.document_id == D.c.id, T.c.tag == tag))
        if self.content_type is not None:
            where.append(D.c.content_type == self.content_type)
        if self.lifecycle is not None:
            where.append(D.c.lifecycle == Lifecycle(self.lifecycle).value)
        return where


def query_words(query: str) -> list[str]:
    words = search_words(query)
    if not words:
        raise InvalidInput("the query has no words to search for", field="query")
    if len(words) > 32:
        raise InvalidInput("the query has more than 32 words", field="query")
    return words


async def ranked(
    conn: Conn, view: View, query: str, filters: Filters, limit: int, cursor: str | None
) -> tuple[list[tuple[str, float, str]], str | None]:
    """One page of `(document id, score, snippet)`, best first, and the next page's cursor."""
    words = query_words(query)
    after = decode_cursor(cursor)
    sqlite = backend_of(conn) != "postgresql"
    where = and_(*filters.predicates(view, by_id=sqlite))
    backend = search_sqlite if sqlite else search_postgres
    rows = await backend.rank(conn, words, where, after, limit + 1)
    page = rows[:limit]
    snippets = await backend.snippets(conn, words, [doc for doc, _, _ in page]) if page else {}
    hits = [(doc, score, snippets.get(doc, "")) for doc, score, _ in page]
    last = page[-1] if page else None
    next_cursor = encode_cursor(last[1], last[0], last[2]) if last and len(rows) > limit else None
    return hits, next_cursor
