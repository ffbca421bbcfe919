"""`query_entries`: every filter, cursor pagination, and the regex scan bound, on both backends.

Expected results are computed from the full, unfiltered listing by plain Python predicates, and
the text and meta filters are also checked against hard-coded message lists, so the two
backends must agree with each other, not just with themselves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from roundtable.config import Settings
from roundtable.errors import InvalidInput
from roundtable.journal.models import Entry, EntryInput, QueryFilter, Status
from roundtable.runtime import Roundtable
from tests.services.util import query_all

# (project, agent, status, kind, message, meta)
DATA: list[tuple[str, str, str, str, str, dict[str, Any]]] = [
    ("web", "alice", "info", "progress", "Started the deploy of the web frontend", {"n": 1}),
    ("web", "alice", "success", "progress", "Deploy finished, database migrated", {"n": "1"}),
    ("api", "bob", "warn", "progress", "database connection pool is saturated", {"n": True}),
    ("api", "bob", "error", "bug", "fixed the DATABASE deploy script", {"n": 1.5}),
    ("web", "bob", "info", "decision", "We decided to deploy on Fridays never", {"n": None}),
    ("api", "alice", "bug", "bug", "fix: null pointer in the parser", {"n": 0, "team": "core"}),
    ("web", "alice", "info", "progress", "refactored the router; deploy later", {"team": "core"}),
    ("api", "bob", "success", "decision", "Use PostgreSQL for production database", {"n": 2}),
    ("web", "bob", "warn", "progress", "deployment slow: retries everywhere", {"n": False}),
    ("api", "alice", "info", "progress", "fixed flaky test in deploy pipeline", {"n": "true"}),
    ("web", "alice", "error", "progress", "frontend build broke after deploy", {"n": 1, "k": "x"}),
    ("api", "bob", "info", "note", "nothing to see here", {}),
    ("web", "alice", "info", "progress", "edited src/roundtable/api/app.py and README.md", {}),
    ("api", "bob", "info", "progress", "mailed ops@example.com about https://example.com/x", {}),
    ("web", "bob", "info", "progress", "renamed max_page_size in config; café closed", {}),
]


@pytest.fixture
async def dataset(core: Roundtable) -> dict[str, Any]:
    for project in ("web", "api"):
        await core.journal.create_project("default", "setup", project)
    sessions = {a: (await core.sessions.start("default", a)).id for a in ("alice", "bob")}
    for project, agent, status, kind, message, meta in DATA:
        await core.journal.append(
            "default",
            agent,
            project,
            [EntryInput(message=message, status=Status(status), kind=kind, meta=meta)],
            session_id=sessions[agent],
        )
    # Noise in another namespace must never show up.
    await core.journal.create_project("elsewhere", "alice", "web")
    await core.journal.append("elsewhere", "alice", "web", [EntryInput(message="deploy database")])
    everything = await query_all(core, "default", QueryFilter(order="oldest", limit=500))
    assert [e.message for e in everything] == [row[4] for row in DATA]
    return {"sessions": sessions, "all": everything}


def one_of(entries: list[Entry]) -> Callable[[Entry], bool]:
    return lambda e: e in entries


def searched_by(pattern: re.Pattern[str]) -> Callable[[Entry], bool]:
    return lambda e: pattern.search(e.message) is not None


def messages(entries: list[Entry]) -> list[str]:
    return [e.message for e in entries]


async def check(
    core: Roundtable, everything: list[Entry], f: QueryFilter, keep: Callable[[Entry], bool]
) -> list[Entry]:
    """The filter returns exactly the entries `keep` selects, in order, on every page size."""
    expected = [e for e in everything if keep(e)]
    if f.order == "newest":
        expected.reverse()
    got = await query_all(core, "default", f.model_copy(update={"limit": 500}))
    assert [(e.project, e.seq) for e in got] == [(e.project, e.seq) for e in expected], f
    for limit in (1, 2, 5):
        paged = await query_all(core, "default", f.model_copy(update={"limit": limit}))
        assert [(e.project, e.seq) for e in paged] == [(e.project, e.seq) for e in expected]
    return got


async def test_plain_filters(core: Roundtable, dataset: dict[str, Any]) -> None:
    everything: list[Entry] = dataset["all"]
    bob_session = dataset["sessions"]["bob"]
    cases: list[tuple[QueryFilter, Callable[[Entry], bool]]] = [
        (QueryFilter(), lambda e: True),
        (QueryFilter(order="oldest"), lambda e: True),
        (QueryFilter(projects=["web"]), lambda e: e.project == "web"),
        (QueryFilter(projects=["web", "api"], order="oldest"), lambda e: True),
        (QueryFilter(projects=["absent"]), lambda e: False),
        (QueryFilter(projects=[]), lambda e: False),
        (QueryFilter(agent="bob"), lambda e: e.agent == "bob"),
        (QueryFilter(agent="nobody"), lambda e: False),
        (QueryFilter(session_id=bob_session), lambda e: e.session_id == bob_session),
        (QueryFilter(status=[Status.WARN, Status.ERROR]), lambda e: e.status in ("warn", "error")),
        (QueryFilter(status=[Status.BUG]), lambda e: e.status == "bug"),
        (QueryFilter(kind="decision"), lambda e: e.kind == "decision"),
        (
            QueryFilter(projects=["api"], agent="bob", kind="decision", order="oldest"),
            lambda e: e.project == "api" and e.agent == "bob" and e.kind == "decision",
        ),
        (
            QueryFilter(projects=["web"], seq_min=2, seq_max=4),
            lambda e: e.project == "web" and 2 <= e.seq <= 4,
        ),
        (QueryFilter(seq_min=3), lambda e: e.seq >= 3),
        (QueryFilter(seq_max=1, order="oldest"), lambda e: e.seq == 1),
        (QueryFilter(seq_min=5, seq_max=4), lambda e: False),
    ]
    for f, keep in cases:
        await check(core, everything, f, keep)
    assert (await core.journal.query("default", QueryFilter(kind="decision"))).scanned is None


async def test_time_window(core: Roundtable, dataset: dict[str, Any]) -> None:
    everything: list[Entry] = dataset["all"]
    since, until = everything[3].ts, everything[8].ts
    await check(core, everything, QueryFilter(since=since), lambda e: e.ts >= since)
    await check(core, everything, QueryFilter(until=until), lambda e: e.ts < until)
    await check(
        core,
        everything,
        QueryFilter(since=since, until=until, order="oldest"),
        lambda e: since <= e.ts < until,
    )
    got = await query_all(core, "default", QueryFilter(since=since, until=until, order="oldest"))
    assert messages(got) == [row[4] for row in DATA[3:8]]  # appends are sequential here
    assert await query_all(core, "default", QueryFilter(since=until, until=since)) == []


async def test_full_text(core: Roundtable, dataset: dict[str, Any]) -> None:
    everything: list[Entry] = dataset["all"]
    expectations = {
        "deploy": [0, 1, 3, 4, 6, 9, 10],
        "DEPLOY": [0, 1, 3, 4, 6, 9, 10],
        "deploy database": [1, 3],
        "database deploy": [1, 3],
        "Deploy, database!": [1, 3],
        "deploy frontend": [0, 10],
        "deploy frontend broke": [10],
        "deployment": [8],
        "deplo": [],
        "fixed": [3, 9],
        "fix": [5],
        "database postgresql production": [7],
        "nothing here": [11],
        "absent": [],
        # Paths, addresses and identifiers split into words the same way on both backends.
        "app.py": [12],
        "app": [12],
        "roundtable api": [12],
        "readme md": [12],
        "example.com": [13],
        "example": [13],
        "ops@example.com": [13],
        "https": [13],
        "max_page_size": [14],
        "page": [14],
        "café": [14],
        "cafe": [],
    }
    for text, indexes in expectations.items():
        expected = [everything[i] for i in indexes]
        got = await check(
            core, everything, QueryFilter(text=text, order="oldest"), one_of(expected)
        )
        assert messages(got) == [DATA[i][4] for i in indexes], text
    # Text combines with the other filters.
    got = await query_all(core, "default", QueryFilter(text="deploy", agent="bob", order="oldest"))
    assert messages(got) == [DATA[3][4], DATA[4][4]]


async def test_meta_equality_is_typed(core: Roundtable, dataset: dict[str, Any]) -> None:
    everything: list[Entry] = dataset["all"]
    expectations: list[tuple[dict[str, Any], list[int]]] = [
        ({"n": 1}, [0, 10]),
        ({"n": 1.0}, [0, 10]),
        ({"n": "1"}, [1]),
        ({"n": True}, [2]),
        ({"n": "true"}, [9]),
        ({"n": False}, [8]),
        ({"n": 0}, [5]),
        ({"n": None}, [4]),
        ({"n": 1.5}, [3]),
        ({"n": 2}, [7]),
        ({"team": "core"}, [5, 6]),
        ({"team": "core", "n": 0}, [5]),
        ({"n": 1, "k": "x"}, [10]),
        ({"k": "y"}, []),
        ({"missing": None}, []),
    ]
    for meta, indexes in expectations:
        expected = [everything[i] for i in indexes]
        got = await check(
            core, everything, QueryFilter(meta=meta, order="oldest"), one_of(expected)
        )
        assert messages(got) == [DATA[i][4] for i in indexes], meta


async def test_regex(core: Roundtable, dataset: dict[str, Any]) -> None:
    everything: list[Entry] = dataset["all"]
    for pattern in (r"^fix(ed)?\b", r"(?i)database", r"deploy$", r"\d", r"^$", r"pool|pointer"):
        await check(core, everything, QueryFilter(regex=pattern), searched_by(re.compile(pattern)))
    page = await core.journal.query("default", QueryFilter(regex="database", limit=500))
    assert page.scanned == len(DATA) and page.next_cursor is None


async def test_regex_scan_is_bounded_and_resumable(settings: Settings) -> None:
    limit = 4
    async with Roundtable.open(
        settings.model_copy(update={"regex_scan_limit": limit}), sweeper=False
    ) as core:
        await core.journal.create_project("default", "setup", "web")
        total = 23
        for i in range(total):
            await core.journal.append(
                "default",
                "alice",
                "web",
                [EntryInput(message=f"{'match' if i % 3 == 0 else 'skip'} {i}")],
            )
        for order in ("newest", "oldest"):
            f = QueryFilter(regex=r"^match", order=order, limit=50)
            pages = []
            cursor: str | None = None
            while True:
                page = await core.journal.query("default", f.model_copy(update={"cursor": cursor}))
                assert page.scanned is not None and page.scanned <= limit
                pages.append(page)
                cursor = page.next_cursor
                if cursor is None:
                    break
            assert len(pages) >= total // limit  # the bound really ended pages early
            assert pages[0].scanned == limit and pages[0].next_cursor is not None
            found = [e.seq for p in pages for e in p.entries]
            expected = [i + 1 for i in range(total) if i % 3 == 0]
            assert found == (expected if order == "oldest" else expected[::-1])
        # A page limit smaller than the matches in the scan window still pages without gaps.
        found = [
            e.seq for e in await query_all(core, "default", QueryFilter(regex="^match", limit=1))
        ]
        assert found == [i + 1 for i in range(total) if i % 3 == 0][::-1]


async def test_cursor_pagination_through_many_pages(core: Roundtable) -> None:
    await core.journal.create_project("default", "setup", "a")
    await core.journal.create_project("default", "setup", "b")
    for i in range(0, 300, 50):
        await core.journal.append(
            "default", "x", "a", [EntryInput(message=f"a{j}") for j in range(i, i + 50)]
        )
        await core.journal.append(
            "default", "y", "b", [EntryInput(message=f"b{j}") for j in range(i, i + 25)]
        )
    for order in ("newest", "oldest"):
        pages = 0
        seen: list[tuple[str, int]] = []
        cursor: str | None = None
        while True:
            page = await core.journal.query(
                "default",
                QueryFilter(order=order, limit=37, cursor=cursor),
            )
            pages += 1
            assert len(page.entries) == 37 or page.next_cursor is None
            seen.extend((e.project, e.seq) for e in page.entries)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert pages == -(-450 // 37)
        assert len(seen) == len(set(seen)) == 450
        assert sorted(s for p, s in seen if p == "a") == list(range(1, 301))
        assert sorted(s for p, s in seen if p == "b") == list(range(1, 151))
    # read_recent pages one project newest-first with its own cursor.
    seqs: list[int] = []
    cursor = None
    while True:
        recent = await core.journal.read_recent("default", "b", limit=40, cursor_=cursor)
        seqs.extend(e.seq for e in recent.entries)
        cursor = recent.next_cursor
        if cursor is None:
            break
    assert seqs == list(range(150, 0, -1))


async def test_bad_filters_are_refused(core: Roundtable, dataset: dict[str, Any]) -> None:
    bad = [
        QueryFilter(limit=501),
        QueryFilter(cursor="not-a-cursor"),
        QueryFilter(cursor="eyJwIjogLTF9"),  # {"p": -1}
        QueryFilter(regex="(unclosed"),
        QueryFilter(regex="a" * 300),
        QueryFilter(text="   "),
        QueryFilter(text="!!! ..."),
        QueryFilter(projects=["not a name"]),
        QueryFilter(meta={"bad key!": 1}),
    ]
    for f in bad:
        with pytest.raises(InvalidInput):
            await core.journal.query("default", f)
