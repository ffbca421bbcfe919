"""Relations: roles and notes per direction, cascade of parent-child deletes, and racing links
that would close a cycle (exactly one wins, on both backends)."""

from __future__ import annotations

import asyncio

from roundtable.auth.tokens import ADMIN
from roundtable.errors import InvalidInput
from roundtable.runtime import Roundtable

NS = "default"


async def test_links_roles_cascade_and_races(core: Roundtable) -> None:
    docs = core.documents
    ids = {}
    for name in ("spec", "design", "impl", "notes", "v2"):
        ids[name] = (await docs.put(ADMIN, NS, name=name, content=name, actor=None)).id
    await docs.relate(
        ADMIN,
        NS,
        "spec",
        "design",
        "parent-child",
        actor=None,
        note="its design",
        reverse_note="its spec",
    )
    await docs.relate(ADMIN, NS, "design", "impl", "parent-child", actor=None)
    await docs.relate(
        ADMIN, NS, "v2", "spec", "related", actor=None, note="older", reverse_note="newer"
    )
    await docs.relate(ADMIN, NS, "spec", "v2", "predecessor-successor", actor=None)
    seen = {
        (r.role, r.other, r.note, r.reverse_note)
        for r in (await docs.relations(ADMIN, NS, "spec")).relations
    }
    assert seen == {
        ("child", ids["design"], "its design", "its spec"),
        ("related", ids["v2"], "newer", "older"),
        ("successor", ids["v2"], "", ""),
    }
    design = (await docs.relations(ADMIN, NS, "design")).relations
    assert {(r.role, r.other) for r in design} == {("parent", ids["spec"]), ("child", ids["impl"])}
    # Two links racing to close a cycle: one wins, the other is refused.
    results = await asyncio.gather(
        docs.relate(ADMIN, NS, "impl", "notes", "parent-child", actor=None),
        docs.relate(ADMIN, NS, "notes", "spec", "parent-child", actor=None),
        return_exceptions=True,
    )
    assert sum(isinstance(r, InvalidInput) for r in results) == 1, results
    deleted = await docs.delete(ADMIN, NS, "spec", actor=None)
    remaining = {d.name for d in (await docs.list_documents(ADMIN, NS)).documents}
    assert set(deleted.deleted) >= {ids["spec"], ids["design"], ids["impl"]}
    assert "v2" in remaining and not remaining & {"spec", "design", "impl"}
    assert (await docs.relations(ADMIN, NS, "v2")).relations == []
