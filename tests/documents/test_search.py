"""Ranked search: pages follow each other without gaps or repeats (documents of many chunks
included), scores never increase, filters and scope apply, snippets mark the hits."""

from __future__ import annotations

import pytest

from roundtable.auth.tokens import ADMIN, Principal
from roundtable.documents import chunks
from roundtable.documents.search import Filters
from roundtable.errors import InvalidInput
from roundtable.runtime import Roundtable

NS = "default"


async def test_pages_cover_every_match_once(
    core: Roundtable, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chunks, "CHUNK_CHARS", 64)  # long documents span many chunks
    root = await core.sessions.start(NS, "lead")
    expected = set()
    for i in range(40):
        body = " ".join(["filler"] * (i % 7 * 10) + ["needle"] * (1 + i % 5) + ["tail"] * i)
        scope = "namespace" if i % 3 else None
        session = None if i % 3 else root.id
        doc = await core.documents.put(
            ADMIN,
            NS,
            name=f"d{i}",
            content=body,
            actor=None,
            scope=scope,
            session_id=session,
            tags=["even"] if i % 2 == 0 else [],
        )
        expected.add(doc.id)
    await core.documents.put(ADMIN, NS, name="other", content="nothing here", actor=None)
    seen: list[str] = []
    scores: list[float] = []
    cursor = None
    while True:
        page = await core.documents.search(ADMIN, NS, "needle", limit=7, cursor=cursor)
        seen += [h.document.id for h in page.hits]
        scores += [h.score for h in page.hits]
        assert all("[needle]" in h.snippet for h in page.hits)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 40 and set(seen) == expected
    assert scores == sorted(scores, reverse=True)
    even = await core.documents.search(
        ADMIN, NS, "needle", filters=Filters(tags=["even"]), limit=50
    )
    assert len(even.hits) == 20
    tree = Principal(admin=False, agent="w", namespace=NS, root_session=root.id)
    narrowed = await core.documents.search(tree, NS, "needle", scope="tree", limit=50)
    assert {h.document.root_session for h in narrowed.hits} == {root.id}
    assert len(narrowed.hits) == 14  # i % 3 == 0
    with pytest.raises(InvalidInput, match="no words"):
        await core.documents.search(ADMIN, NS, "  ...  ")
    with pytest.raises(InvalidInput, match="cursor"):
        await core.documents.search(ADMIN, NS, "needle", cursor="garbage")
