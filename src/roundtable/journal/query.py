"""`query_entries`: filtered, cursor-paginated search across one or all projects of a namespace.

The regex filter runs in Python (the `regex` module) over rows the SQL filters let through, and
every call's work is bounded three ways: each match has a timeout (a pattern that is slow on one
message is refused); matching runs in a worker thread with the GIL released (`concurrent=True`),
so the event loop keeps serving other requests; and a call stops after `regex_scan_limit` rows or
`regex_budget_seconds` of matching, whichever comes first, ending the page early with a cursor to
continue from (`scanned` says how far it got).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import regex
from sqlalchemy import Select, false, select

from roundtable.config import Settings
from roundtable.errors import InvalidInput
from roundtable.journal import cursor, text_index
from roundtable.journal.models import EntryPage, QueryFilter
from roundtable.journal.retention import archived_ranges
from roundtable.journal.rows import ENTRY_COLUMNS, entry_from_row
from roundtable.store import tables
from roundtable.store.dialect import meta_equals, plan_each_query, search_words, text_search
from roundtable.store.engine import Conn, Database
from roundtable.validation import check_name, check_text

E = tables.entries
P = tables.projects

MAX_REGEX_CHARS = 256
REGEX_TIMEOUT_SECONDS = 0.25  # per message; the call as a whole has `regex_budget_seconds`
_CHUNK = 500


def _compile(pattern: str) -> Any:
    if len(pattern) > MAX_REGEX_CHARS:
        raise InvalidInput(f"regex longer than {MAX_REGEX_CHARS} characters", field="regex")
    try:
        return regex.compile(pattern)
    except regex.error as exc:
        raise InvalidInput(f"invalid regex: {exc}", field="regex") from None


def _base_query(conn: Conn, namespace: str, f: QueryFilter) -> tuple[Select[Any], Any]:
    """The filtered query and the id column to order and page it by (the full-text index's
    own on SQLite, so the index drives the scan newest or oldest first)."""
    source: Any = E.join(P, E.c.project_id == P.c.id)
    order_key: Any = E.c.id
    match = None
    if f.text is not None:
        if not search_words(f.text):  # FTS5 would fail on an empty match expression
            raise InvalidInput("text filter has no words to search for", field="text")
        match = text_search(conn, f.text)
        order_key = match.key
        if match.join is not None:
            source = match.join.join(E, E.c.id == match.key).join(P, E.c.project_id == P.c.id)
    query = (
        select(*ENTRY_COLUMNS)
        .select_from(source)
        .where(P.c.namespace == namespace)
        .where(E.c.pruned == false())  # bodies moved to archives: listed in `archived` instead
    )
    if f.projects is not None:
        query = query.where(P.c.name.in_([check_name("project", p) for p in f.projects]))
    if f.agent is not None:
        query = query.where(E.c.agent == check_text("agent", f.agent))
    if f.session_id is not None:
        query = query.where(E.c.session_id == check_text("session_id", f.session_id))
    if f.status:
        query = query.where(E.c.status.in_([s.value for s in f.status]))
    if f.kind is not None:
        query = query.where(E.c.kind == check_text("kind", f.kind))
    if match is not None:
        query = query.where(match.condition)
    for key, value in (f.meta or {}).items():
        if isinstance(value, str):
            check_text("meta", value)  # PostgreSQL cannot even compare with a NUL
        query = query.where(meta_equals(conn, check_name("meta key", key), value))
    if f.since is not None:
        query = query.where(E.c.ts >= f.since)
    if f.until is not None:
        query = query.where(E.c.ts < f.until)
    if f.seq_min is not None:
        query = query.where(E.c.seq >= f.seq_min)
    if f.seq_max is not None:
        query = query.where(E.c.seq <= f.seq_max)
    return query, order_key


async def query_entries(
    db: Database, settings: Settings, namespace: str, f: QueryFilter
) -> EntryPage:
    if f.limit > settings.max_page_size:
        raise InvalidInput(f"limit must be at most {settings.max_page_size}", field="limit")
    for moment in (f.since, f.until):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput("since/until need a timezone (e.g. ...Z)", field="since")
    pattern = _compile(f.regex) if f.regex is not None else None
    position = cursor.decode(f.cursor)
    newest = f.order == "newest"
    found: list[Any] = []
    scan = _Scan(settings.regex_scan_limit, settings.regex_budget_seconds)
    searching = f.text is not None and bool(search_words(f.text))
    async with text_index.search_snapshot(db, searching) as conn:
        base, key = _base_query(conn, namespace, f)
        if f.text is not None:
            await plan_each_query(conn)
        base = base.order_by(key.desc() if newest else key.asc())
        while True:
            query = base
            after = scan.last_id if scan.last_id is not None else position
            if after is not None:
                query = query.where(key < after if newest else key > after)
            chunk_size = _CHUNK if pattern is not None else f.limit + 1
            rows = (await conn.execute(query.limit(chunk_size))).mappings().all()
            if pattern is None:
                found.extend(rows)
                break
            wanted = f.limit + 1 - len(found)
            loop = asyncio.get_running_loop()
            found.extend(await loop.run_in_executor(_matcher(), scan.run, pattern, rows, wanted))
            if len(found) > f.limit or len(rows) < chunk_size or scan.stopped:
                break
        archived = await archived_ranges(
            conn, settings, namespace, f.projects, f.seq_min, f.seq_max
        )
    has_more = len(found) > f.limit
    page = found[: f.limit]
    next_cursor: str | None = None
    if has_more:
        next_cursor = cursor.encode(page[-1]["id"])
    elif scan.stopped and scan.last_id is not None:
        next_cursor = cursor.encode(scan.last_id)  # bound reached: continue scanning from here
    return EntryPage(
        entries=[entry_from_row(row) for row in page],
        next_cursor=next_cursor,
        scanned=scan.scanned if pattern is not None else None,
        archived=archived,
    )


class _Scan:
    """Regex matching over chunks of rows within one call's bounds (run in a worker thread)."""

    def __init__(self, limit: int, budget: float) -> None:
        self.limit, self.budget = limit, budget
        self.deadline: float | None = None  # set when matching starts (not while queued)
        self.scanned = 0
        self.last_id: int | None = None  # the last row examined: where a continuation starts
        self.stopped = False  # a bound was reached before the rows ran out

    def run(self, pattern: Any, rows: Any, wanted: int) -> list[Any]:
        matched: list[Any] = []
        if self.deadline is None:
            self.deadline = time.monotonic() + self.budget
        for row in rows:
            if self.scanned >= self.limit:
                self.stopped = True
                break
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.stopped = True
                break
            try:
                hit = _matches(pattern, row["message"], min(REGEX_TIMEOUT_SECONDS, remaining))
            except _OutOfBudget:
                self.stopped = True  # this row is examined again by the continuation
                break
            self.scanned += 1
            self.last_id = row["id"]
            if hit:
                matched.append(row)
                if len(matched) >= wanted:
                    break
        return matched


_MATCHER: ThreadPoolExecutor | None = None


def _matcher() -> ThreadPoolExecutor:
    """The threads regex matching runs in: fewer than the CPUs, at a lower scheduling priority,
    so however many regex queries run, the event loop's thread still gets a core."""
    global _MATCHER
    if _MATCHER is None:
        workers = max(1, (os.cpu_count() or 2) - 1)
        _MATCHER = ThreadPoolExecutor(workers, "roundtable-regex", initializer=_lower_priority)
    return _MATCHER


def _lower_priority() -> None:
    """Linux schedules threads individually: nice this one (best effort elsewhere)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


class _OutOfBudget(Exception):
    """The call's time budget, not the per-match timeout, cut a match short."""


def _matches(pattern: Any, message: str, timeout: float) -> bool:
    try:
        return pattern.search(message, timeout=timeout, concurrent=True) is not None
    except TimeoutError:
        if timeout < REGEX_TIMEOUT_SECONDS:
            raise _OutOfBudget from None
        raise InvalidInput(
            "regex took too long on one message; simplify it", field="regex"
        ) from None
