"""`query_entries`' text filter on both backends: what people type is words, never query
syntax; the index drives paging newest and oldest first; restored and pruned entries are
searched (or not) like appended ones, and SQLite's FTS5 index stays consistent with the table."""

from __future__ import annotations

import contextlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from roundtable.config import Settings
from roundtable.journal import text_index
from roundtable.journal.models import EntryInput, QueryFilter
from roundtable.runtime import Roundtable
from roundtable.store.dialect import backend_of
from roundtable.transfer.export import export_namespace
from roundtable.transfer.restore import restore
from tests.conftest import BACKENDS, scratch_database
from tests.services.util import query_all

MESSAGES = [
    'she said "hello world" near the door',  # 0
    "wildcard star* and OR logic",  # 1
    "minus -x and col:umn",  # 2
    "plain hello",  # 3
    "NEAR(a b) is FTS5 syntax",  # 4
    "it's five o'clock; AND NOT done",  # 5
    "100% sure {braces} [brackets] ^caret $dollar",  # 6
]


async def matches(core: Roundtable, query: str) -> list[int]:
    got = await query_all(core, "default", QueryFilter(text=query, order="oldest", limit=500))
    return [MESSAGES.index(e.message) for e in got]


async def test_typed_query_syntax_is_plain_words(core: Roundtable) -> None:
    await core.journal.create_project("default", "setup", "p")
    await core.journal.append("default", "a", "p", [EntryInput(message=m) for m in MESSAGES])
    expectations = {
        '"hello world"': [0],  # both words, not a phrase operator
        '"hello': [0, 3],  # an unbalanced quote is not an error
        "hello*": [0, 3],  # `*` is no prefix operator: the word `hello`
        "star*": [1],
        "sta*": [],
        "NEAR": [0, 4],  # a word, case-insensitive, not the NEAR operator
        "NEAR(a b)": [4],
        "hello OR nothing": [],  # OR is a word that must occur too
        "OR": [1],
        "AND NOT": [5],
        "-x": [2],  # no negation
        "col:umn": [2],  # no column filter
        "o'clock": [5],
        "it's": [5],
        "100% {braces} [brackets]": [6],
        "^caret $dollar": [6],
    }
    for query, expected in expectations.items():
        assert await matches(core, query) == expected, query


async def test_text_pages_by_cursor_in_both_orders(core: Roundtable) -> None:
    """A common word over two projects and two agents, in pages of 7, newest and oldest
    first, alone and with a second filter: every match once, in id order."""
    for project in ("a", "b"):
        await core.journal.create_project("default", "setup", project)
    for i in range(0, 60, 10):
        for project in ("a", "b"):
            agent = "x" if i % 20 else "y"
            batch = [EntryInput(message=f"common word {j} {project}") for j in range(i, i + 10)]
            batch[3] = EntryInput(message=f"rare {i} {project}")
            await core.journal.append("default", agent, project, batch)
    everything = await query_all(core, "default", QueryFilter(order="oldest", limit=500))
    for extra in ({}, {"agent": "x"}, {"projects": ["b"]}):
        expected = [
            (e.project, e.seq)
            for e in everything
            if "common" in e.message.split()
            and e.agent == extra.get("agent", e.agent)
            and e.project in extra.get("projects", [e.project])
        ]
        for order in ("oldest", "newest"):
            f = QueryFilter.model_validate({"text": "common", "order": order, "limit": 7, **extra})
            got = [(e.project, e.seq) for e in await query_all(core, "default", f)]
            assert got == (expected if order == "oldest" else expected[::-1]), (extra, order)


async def fts_consistent(core: Roundtable) -> None:
    """SQLite: FTS5's integrity check compares the index with the entries table (once the
    entries not indexed yet are: the check counts them as missing)."""
    async with core.db.write() as conn:
        if backend_of(conn) == "sqlite":
            await text_index.catch_up(conn)
            await conn.execute(
                text("INSERT INTO entries_fts(entries_fts, rank) VALUES ('integrity-check', 1)")
            )


@pytest.fixture
async def fresh(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Roundtable]:
    """An empty Roundtable on the other backend when both are tested (else SQLite)."""
    async with contextlib.AsyncExitStack() as stack:
        url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        if backend == "sqlite" and "postgresql" in BACKENDS:
            url = await stack.enter_async_context(
                scratch_database(request.getfixturevalue("pg_server"))
            )
        other = Settings(data_dir=tmp_path / "fresh-data", database_url=url)
        yield await stack.enter_async_context(Roundtable.open(other, sweeper=False))


async def test_restored_entries_are_searchable(core: Roundtable, fresh: Roundtable) -> None:
    await core.journal.create_project("team", "setup", "p")
    await core.journal.append(
        "team", "a", "p", [EntryInput(message=m) for m in ("restored needle", "other")]
    )
    out = io.StringIO()
    await export_namespace(core, "team", out.write)
    await restore(fresh, out.getvalue().splitlines())
    async with fresh.db.read() as conn:  # the restore indexed its entries in its transaction
        if backend_of(conn) == "sqlite":
            unindexed = text(
                "SELECT count(*) FROM entries WHERE id > "
                "(SELECT value FROM markers WHERE name = 'entries_fts_upto')"
            )
            assert (await conn.execute(unindexed)).scalar() == 0
    page = await fresh.journal.query("team", QueryFilter(text="needle"))
    assert [e.message for e in page.entries] == ["restored needle"]
    await fts_consistent(fresh)
