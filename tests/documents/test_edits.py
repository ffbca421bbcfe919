"""Partial reads and edits: a Hypothesis model test against a plain string, 16 concurrent
editors with expected_version (no lost update), and the chunk store's cheap large edits."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roundtable.auth.tokens import ADMIN
from roundtable.documents import chunks, edits
from roundtable.documents.models import EditOp
from roundtable.errors import ConflictError, InvalidInput
from roundtable.runtime import Roundtable
from tests.events.util import all_events

NS = "default"
_names = itertools.count()

words = st.sampled_from(["ab", "cd", " ", "\n", "é", "xy z", "ab cd", "∑"])
texts = st.lists(words, max_size=12).map("".join)


@st.composite
def edit_ops(draw: Any) -> dict[str, Any]:
    """An edit description; offsets are fractions resolved against the current length."""
    if draw(st.booleans()):
        return {"old": draw(words), "new": draw(texts), "replace_all": draw(st.booleans())}
    return {"at": draw(st.floats(0, 1)), "span": draw(st.floats(0, 1)), "new": draw(texts)}


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 8 characters, so edits cross, split and merge chunks all the time."""
    monkeypatch.setattr(chunks, "CHUNK_CHARS", 8)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(initial=texts, ops=st.lists(edit_ops(), min_size=1, max_size=8))
async def test_edits_match_a_string_model(
    core: Roundtable, small_chunks: None, initial: str, ops: list[dict[str, Any]]
) -> None:
    name = f"model-{next(_names)}"
    info = await core.documents.put(ADMIN, NS, name=name, content=initial, actor=None)
    model, version = initial, info.version
    for spec in ops:
        if "old" in spec:
            op = EditOp(old=spec["old"], new=spec["new"], replace_all=spec["replace_all"])
        else:
            at = int(spec["at"] * len(model))
            op = EditOp(offset=at, length=int(spec["span"] * (len(model) - at)), new=spec["new"])
        try:
            expected = edits.apply(model, edits.splices(op, len(model), model))
        except InvalidInput:
            expected = None
        try:
            result = await core.documents.edit(
                ADMIN, NS, info.id, op, actor=None, expected_version=version
            )
        except InvalidInput:
            assert expected is None, (model, op)
        else:
            assert expected is not None, (model, op)
            model, version = expected, version + 1
            assert result.document.version == version
            assert result.document.length == len(model)
            assert result.document.size_bytes == len(model.encode())
        doc = await core.documents.get(ADMIN, NS, info.id)
        assert (doc.content, doc.version) == (model, version)
    # Partial reads agree with slicing the model.
    for offset in {0, len(model) // 3, len(model)}:
        part = await core.documents.get(ADMIN, NS, info.id, offset=offset, limit=5)
        assert part.content == model[offset : offset + 5]
        assert part.truncated == (offset + 5 < len(model))


async def test_sixteen_editors_lose_nothing(core: Roundtable) -> None:
    info = await core.documents.put(ADMIN, NS, name="shared", content="start\n", actor=None)
    rounds = 5

    async def editor(n: int) -> int:
        conflicts = 0
        for k in range(rounds):
            while True:
                doc = await core.documents.get(ADMIN, NS, info.id, offset=0, limit=0)
                op = EditOp(offset=doc.length, new=f"[{n}.{k}]")
                try:
                    await core.documents.edit(
                        ADMIN, NS, info.id, op, actor=f"agent-{n}", expected_version=doc.version
                    )
                    break
                except ConflictError as conflict:
                    assert conflict.data["current_version"] > doc.version
                    conflicts += 1
        return conflicts

    await asyncio.gather(*(editor(n) for n in range(16)))
    doc = await core.documents.get(ADMIN, NS, info.id)
    assert doc.version == 1 + 16 * rounds
    for n in range(16):
        for k in range(rounds):
            assert doc.content.count(f"[{n}.{k}]") == 1
    updates = [e for e in await all_events(core) if e.type == "document.updated"]
    assert sorted(e.payload["version"] for e in updates) == list(range(2, 2 + 16 * rounds))


async def test_unversioned_concurrent_edits_all_land(core: Roundtable) -> None:
    info = await core.documents.put(ADMIN, NS, name="lww", content="", actor=None)
    await asyncio.gather(
        *(
            core.documents.edit(ADMIN, NS, info.id, EditOp(offset=0, new=f"<{n}>"), actor=None)
            for n in range(16)
        )
    )
    doc = await core.documents.get(ADMIN, NS, info.id)
    assert doc.version == 17 and all(f"<{n}>" in doc.content for n in range(16))


async def test_large_document_edit_touches_few_chunks(core: Roundtable) -> None:
    """A 1 MB document: an edit in the middle keeps the others' chunk rows as they were."""
    text = ("lorem ipsum dolor sit amet " * 40_000)[:1_000_000]
    info = await core.documents.put(ADMIN, NS, name="big", content=text, actor=None)
    async with core.db.read() as conn:
        before = await chunks.layout(conn, info.id)
    op = EditOp(offset=500_000, length=5, new=" EDITED ")
    await core.documents.edit(ADMIN, NS, info.id, op, actor=None, expected_version=1)
    async with core.db.read() as conn:
        after = await chunks.layout(conn, info.id)
    assert len({c.id for c in before} ^ {c.id for c in after}) <= 2
    part = await core.documents.get(ADMIN, NS, info.id, offset=499_990, limit=30)
    assert part.content == text[499_990:500_000] + " EDITED " + text[500_005:500_017]
    hits = await core.documents.search(ADMIN, NS, "edited")
    assert [h.document.id for h in hits.hits] == [info.id] and "[EDITED]" in hits.hits[0].snippet


async def test_string_edit_must_be_unique(core: Roundtable) -> None:
    info = await core.documents.put(ADMIN, NS, name="u", content="a b a", actor=None)
    with pytest.raises(InvalidInput, match="more than once"):
        await core.documents.edit(ADMIN, NS, info.id, EditOp(old="a", new="c"), actor=None)
    with pytest.raises(InvalidInput, match="does not occur"):
        await core.documents.edit(ADMIN, NS, info.id, EditOp(old="z", new="c"), actor=None)
    done = await core.documents.edit(
        ADMIN, NS, info.id, EditOp(old="a", new="c", replace_all=True), actor=None
    )
    assert done.replaced == 2 and done.document.version == 2
    with pytest.raises(ConflictError) as stale:
        await core.documents.edit(
            ADMIN, NS, info.id, EditOp(old="b", new="d"), actor=None, expected_version=1
        )
    assert stale.value.data["current_version"] == 2
    assert (await core.documents.get(ADMIN, NS, info.id)).content == "c b c"
