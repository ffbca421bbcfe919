from __future__ import annotations

import pytest

from roundtable.errors import ConflictError, NotFound
from roundtable.journal.models import EntryInput, QueryFilter
from roundtable.runtime import Roundtable


async def test_core_flow(core: Roundtable) -> None:
    s = await core.sessions.start("default", "alice", {"tool": "test"})
    ctx = await core.context.set("default", "alice", "web", create=True, session_id=s.id)
    assert ctx.version == 1 and ctx.project == "web"
    with pytest.raises(ConflictError) as err:
        await core.context.set("default", "alice", "web", expected_version=0)
    assert err.value.data["current_version"] == 1
    res = await core.journal.append(
        "default",
        "alice",
        "web",
        [EntryInput(message="hello world", meta={"k": "v", "n": 1}), EntryInput(message="second")],
        session_id=s.id,
    )
    assert (res.first_seq, res.last_seq) == (1, 2)
    page = await core.journal.read_recent("default", "web", limit=1)
    assert page.entries[0].seq == 2 and page.next_cursor
    page2 = await core.journal.read_recent("default", "web", limit=1, cursor_=page.next_cursor)
    assert page2.entries[0].seq == 1 and page2.next_cursor is None
    q = await core_query(core, QueryFilter(text="hello"))
    assert [e.seq for e in q.entries] == [1]
    q = await core_query(core, QueryFilter(meta={"n": 1}))
    assert [e.seq for e in q.entries] == [1]
    q = await core_query(core, QueryFilter(meta={"n": "1"}))
    assert q.entries == []
    q = await core_query(core, QueryFilter(regex=r"^sec"))
    assert [e.seq for e in q.entries] == [2]
    report = await core.journal.verify("default", "web")
    assert report.ok and report.checked == 2
    with pytest.raises(NotFound):
        await core.context.set("default", "alice", "nope")
    ended = await core.sessions.end("default", "alice", s.id)
    assert ended.status == "finished"


async def core_query(core: Roundtable, f: QueryFilter):  # type: ignore[no-untyped-def]
    from roundtable.journal.query import query_entries

    return await query_entries(core.db, core.settings, "default", f)
