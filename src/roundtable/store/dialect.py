"""The few places where SQLite and PostgreSQL need different SQL, each behind one function."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal,
    literal_column,
    table,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.expression import TableClause

from roundtable.store import tables
from roundtable.store.engine import Conn

#: Advisory-lock keys (PostgreSQL only; SQLite's single writer already serialises).
_EVENT_ORDER_LOCK = 0x52540001
_MIGRATION_LOCK = 0x52540002


def backend_of(conn: Conn) -> str:
    return conn.dialect.name


def insert_ignore(conn: Conn, table: Table, **values: Any) -> Insert:
    """`INSERT ... ON CONFLICT DO NOTHING` for the given dialect."""
    if backend_of(conn) == "postgresql":
        return postgresql.insert(table).values(**values).on_conflict_do_nothing()
    return sqlite.insert(table).values(**values).on_conflict_do_nothing()


async def lock_event_order(conn: Conn) -> None:
    """Make event ids commit-ordered: hold a transaction lock from the event insert to commit.

    On PostgreSQL a sequence hands out ids at insert time, so a transaction that inserts id 11
    can commit before one that inserted id 10; a reader resuming after 11 would then miss 10.
    Serialising the (short) tail of event-writing transactions closes that window. On SQLite the
    writer lock taken by `BEGIN IMMEDIATE` already does.
    """
    if backend_of(conn) == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _EVENT_ORDER_LOCK})


async def lock_migrations(conn: Conn) -> None:
    """Let only one process run migrations at a time (SQLite: BEGIN IMMEDIATE already does)."""
    if backend_of(conn) == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})


def wildcard_match(backend: str, column: ColumnElement[str], pattern: str) -> ColumnElement[bool]:
    """`column` matches `pattern` whose `*` is any run of characters, case-sensitively.

    PostgreSQL: LIKE with `%`, `_` and `\\` escaped. SQLite's LIKE ignores ASCII case, so there
    GLOB, whose other metacharacters (`?`, `[`) are escaped as one-character classes.
    """
    parts = pattern.split("*")
    if backend == "postgresql":
        escaped = [re.sub(r"([\\%_])", r"\\\1", part) for part in parts]
        return column.like("%".join(escaped), escape="\\")
    escaped = [re.sub(r"([?\[\]])", r"[\1]", part) for part in parts]
    return column.op("GLOB", is_comparison=True)("*".join(escaped))


def json_object(conn: Conn, **fields: ColumnElement[Any]) -> ColumnElement[Any]:
    """A JSON object built by the database from column expressions (for INSERT ... SELECT)."""
    pairs: list[Any] = []
    for key, value in fields.items():
        pairs += [cast(literal(key), String), value]
    if backend_of(conn) == "postgresql":
        return func.jsonb_build_object(*pairs)
    return func.json_object(*pairs)


def iso_utc(conn: Conn, column: ColumnElement[Any]) -> ColumnElement[str]:
    """A UTC timestamp column as ISO 8601 text with microseconds (`...T12:00:00.000000+00:00`)."""
    if backend_of(conn) == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
    # SQLAlchemy stores SQLite datetimes as "YYYY-MM-DD HH:MM:SS.ffffff" (UTC, see UTCDateTime).
    return func.replace(column, " ", "T").concat("+00:00")


_WORD = re.compile(r"\w+", re.UNICODE)


def search_words(query: str) -> list[str]:
    """The words `text_search` looks for (a query without any is refused by its callers)."""
    return _WORD.findall(query)


#: The FTS5 table over `entries.message` (SQLite; kept by triggers, migration 0001).
ENTRIES_FTS = table("entries_fts", column("rowid", Integer))


@dataclass(frozen=True)
class TextMatch:
    """A word filter on `entries.message` for `query_entries`: the table to join entries to
    (None: no join), the condition, and the id column to order and page the rows by."""

    join: TableClause | None
    condition: ColumnElement[bool]
    key: ColumnElement[int]


def text_search(conn: Conn, query: str) -> TextMatch:
    """Full-text match on `entries.message`: every word of `query` must occur (AND of words).

    Words are `\\w+` runs, each searched as a quoted term, so what people type (quotes, `*`,
    `-`, `NEAR`, `OR`, `:`) is plain text, never query syntax. SQLite uses the FTS5 table
    `entries_fts`, PostgreSQL the generated `tsv` column (GIN index); both tokenise simply
    (unstemmed) so results are the same on either backend.

    On SQLite the FTS5 table drives the query, in its rowid (= entry id) order, so a page of a
    common word's newest matches reads a page of the index instead of every match (an `IN
    (SELECT rowid ...)` materialises and sorts all of them: seconds at a million).
    """
    words = search_words(query)
    entries = tables.entries
    if backend_of(conn) == "postgresql":
        tsquery = " & ".join(w.replace("'", "") for w in words)
        condition = literal_column("entries.tsv").op("@@")(func.to_tsquery("simple", tsquery))
        return TextMatch(None, condition, entries.c.id)
    fts = " ".join('"' + w.replace('"', '""') + '"' for w in words)
    condition = literal_column("entries_fts").op("MATCH", is_comparison=True)(
        bindparam("fts", fts, type_=String)
    )
    return TextMatch(ENTRIES_FTS, condition, ENTRIES_FTS.c.rowid)


async def plan_each_query(conn: Conn) -> None:
    """PostgreSQL: plan this transaction's statements for their parameters (never a cached
    generic plan). A generic plan cannot tell a word in every entry from a word in none, and
    asyncpg's prepared statements get one after five runs if it looks cheap enough: for a
    common word it reads the whole GIN posting list and sorts it (seconds at a million
    entries) where the parameter's own plan walks the newest entries and stops at a page."""
    if backend_of(conn) == "postgresql":
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def meta_equals(conn: Conn, key: str, value: Any) -> ColumnElement[bool]:
    """`meta[key] == value`, comparing JSON types exactly (the string "1" is not the number 1)."""
    meta = tables.entries.c.meta
    if backend_of(conn) == "postgresql":
        return meta.op("->")(key) == cast(literal(json.dumps(value)), postgresql.JSONB)
    path = '$."' + key.replace('"', '\\"') + '"'
    extracted = func.json_extract(meta, path)
    kind = func.json_type(meta, path)
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    if isinstance(value, int | float):
        return and_(kind.in_(("integer", "real")), extracted == value)
    if value is None:
        return kind == "null"
    return and_(kind == "text", extracted == value)
