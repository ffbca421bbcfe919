"""Lifecycle (D6): temporal documents go with their tree and after retention; persistent ones
stay; a promoted document survives its tree. Defaults by origin."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from roundtable.auth.tokens import ADMIN, Principal
from roundtable.documents import lifecycle
from roundtable.documents.models import Lifecycle
from roundtable.events.catalogue import parse_payload
from roundtable.ids import utcnow
from roundtable.runtime import Roundtable
from roundtable.store import tables
from tests.events.util import all_events

NS = "default"


def agent(root: str | None = None) -> Principal:
    return Principal(admin=False, agent="worker", namespace=NS, root_session=root)


async def count(core: Roundtable, table: str) -> int:
    async with core.db.read() as conn:
        return int(
            (
                await conn.execute(select(func.count()).select_from(tables.metadata.tables[table]))
            ).scalar_one()
        )


async def test_defaults_by_origin(core: Roundtable) -> None:
    root = await core.sessions.start(NS, "lead")
    child = await core.sessions.start(NS, "lead", parent_id=root.id)
    docs = core.documents
    person = await docs.put(ADMIN, NS, name="handbook", content="read me", actor=None)
    assert (person.lifecycle, person.scope, person.created_origin) == (
        "persistent",
        "namespace",
        "person",
    )
    by_session = await docs.put(
        agent(), NS, name="notes", content="x", actor="worker", session_id=child.id
    )
    assert (by_session.lifecycle, by_session.root_session) == ("temporal", root.id)
    by_token = await docs.put(agent(root.id), NS, name="plan", content="y", actor="worker")
    assert (by_token.lifecycle, by_token.root_session, by_token.created_origin) == (
        "temporal",
        root.id,
        "agent",
    )
    shared = await docs.put(
        agent(root.id), NS, name="shared", content="z", actor="worker", scope="namespace"
    )
    assert (shared.lifecycle, shared.scope) == ("persistent", "namespace")


async def test_tree_deletion_removes_only_temporal(core: Roundtable) -> None:
    root = await core.sessions.start(NS, "lead")
    docs = core.documents
    tmp = await docs.put(agent(root.id), NS, name="scratch", content="temp words", actor="worker")
    kept = await docs.put(agent(root.id), NS, name="result", content="keep words", actor="worker")
    await docs.set_lifecycle(agent(root.id), NS, kept.id, Lifecycle.PERSISTENT, actor="worker")
    other = await docs.put(ADMIN, NS, name="ns", content="namespace words", actor=None)
    await docs.relate(agent(root.id), NS, kept.id, tmp.id, "parent-child", actor="worker")
    async with core.db.write() as conn:
        gone = await docs.delete_tree_documents(conn, NS, root.id)
    assert gone == [tmp.id]
    listed = await docs.list_documents(ADMIN, NS)
    assert {d.id for d in listed.documents} == {kept.id, other.id}
    assert (await docs.relations(ADMIN, NS, kept.id)).relations == []
    assert await count(core, "document_chunks") == 2
    hits = await docs.search(ADMIN, NS, "words")
    assert {h.document.id for h in hits.hits} == {kept.id, other.id}
    deleted = [e for e in await all_events(core) if e.type == "document.deleted"]
    assert deleted[-1].payload == {"document_ids": [tmp.id], "count": 1, "reason": "tree_deleted"}


async def test_retention_after_root_ends(core: Roundtable) -> None:
    root = await core.sessions.start(NS, "lead")
    live = await core.sessions.start(NS, "other")
    docs = core.documents
    old = await docs.put(agent(root.id), NS, name="a", content="a", actor="worker")
    promoted = await docs.put(agent(root.id), NS, name="b", content="b", actor="worker")
    await docs.set_lifecycle(ADMIN, NS, promoted.id, Lifecycle.PERSISTENT, actor=None)
    running = await docs.put(agent(live.id), NS, name="c", content="c", actor="worker")
    assert await lifecycle.expire(core.db, timedelta(days=7), 1, utcnow()) == 0
    await core.sessions.end(NS, "lead", root.id)
    assert await lifecycle.expire(core.db, timedelta(days=7), 1, utcnow()) == 0
    later = utcnow() + timedelta(days=7, seconds=1)
    assert await lifecycle.expire(core.db, timedelta(days=7), 1, later) == 1
    ids = {d.id for d in (await docs.list_documents(ADMIN, NS)).documents}
    assert ids == {promoted.id, running.id} and old.id not in ids
    stored = await all_events(core)
    for event in stored:  # every document event matches its catalogue model
        if event.type.startswith("document."):
            parse_payload(event.type, event.payload)
    assert {e.type for e in stored} >= {"document.created", "document.promoted"}
    expired = [e for e in stored if e.type == "document.expired"]
    assert [e.payload for e in expired] == [
        {"root_session": root.id, "document_ids": [old.id], "count": 1}
    ]
