"""Every event the services write matches its catalogue model, and the docs list every type."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from roundtable.errors import ConflictError, InvalidInput
from roundtable.events import catalogue
from roundtable.events.catalogue import CATALOGUE, CATALOGUE_VERSION, parse_payload
from roundtable.ids import utcnow
from roundtable.journal import checkpoints
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable  # also registers every area's event types
from tests.events.util import all_events
from tests.services.util import expire_lease

#: The types `workload` produces (rotation has its own test; others belong to other areas).
WRITTEN_BY_WORKLOAD = {
    "session.started",
    "session.heartbeat",
    "session.ended",
    "session.expired",
    "session.superseded",
    "context.changed",
    "context.conflict",
    "project.created",
    "journal.appended",
    "checkpoint.signed",
}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"


async def workload(core: Roundtable) -> None:
    """Touch every state change the core offers, including refusals that leave an event."""
    ns = "default"
    first = await core.sessions.start(ns, "alice", metadata={"role": "writer"})
    await core.sessions.heartbeat(ns, "alice", first.id)
    child = await core.sessions.start(ns, "bob", parent_id=first.id, foreign_parent=True)
    await core.context.set(ns, "alice", "web", create=True, session_id=first.id)
    await core.context.set(ns, "alice", "web", expected_version=1, session_id=first.id)
    with pytest.raises(ConflictError):
        await core.context.set(ns, "alice", "api", expected_version=0, create=True)
    await core.journal.append(ns, "alice", "web", [EntryInput(message="hello")])
    await core.journal.append(
        ns,
        "alice",
        "web",
        [EntryInput(message="a", status="success"), EntryInput(message="b", status="error")],
        session_id=first.id,
    )
    await core.sessions.end(ns, "bob", child.id)
    # A lapsed session, expired by the sweeper, then superseded by the agent's next start.
    lapsed = await core.sessions.start(ns, "carol")
    await core.sessions.sweep(now=utcnow() + timedelta(days=1))
    stale = await core.sessions.start(ns, "dave")
    await expire_lease(core.db, stale.id)
    await core.sessions.start(ns, "dave")
    assert lapsed.id
    await checkpoints.sign_due(core.db, core.signer, core.settings, utcnow() + timedelta(days=1))


async def test_every_stored_event_matches_its_model(core: Roundtable) -> None:
    await workload(core)
    events = await all_events(core)
    seen = set()
    for event in events:
        assert event.catalogue_version == CATALOGUE_VERSION
        parse_payload(event.type, event.payload)  # raises on drift
        seen.add(event.type)
    assert seen >= WRITTEN_BY_WORKLOAD, WRITTEN_BY_WORKLOAD - seen
    modes = {e.payload["mode"] for e in events if e.type == "context.changed"}
    assert modes == {"versioned", "last_write_wins"}
    changed = [e for e in events if e.type == "context.changed"]
    assert changed[0].payload["old_project"] is None and changed[0].payload["old_version"] == 0
    assert changed[1].payload["old_version"] == 1 and changed[1].payload["new_version"] == 2


async def test_rotation_event_matches_its_model(core: Roundtable) -> None:
    await core.journal.create_project("default", "alice", "web")
    await core.journal.append("default", "alice", "web", [EntryInput(message="x")])
    await core.rotation.rotate("default", "web")
    rotated = [e for e in await all_events(core) if e.type == "journal.rotated"]
    assert len(rotated) == 1
    parse_payload("journal.rotated", rotated[0].payload)


def test_bad_payloads_and_unknown_types_are_refused() -> None:
    with pytest.raises(InvalidInput):
        parse_payload("no.such", {})
    with pytest.raises(InvalidInput):
        parse_payload("session.ended", {"session_id": "s", "status": "vanished"})
    with pytest.raises(InvalidInput):  # drift: an undocumented field
        parse_payload("session.ended", {"session_id": "s", "status": "failed", "extra": 1})
    with pytest.raises(ValueError):
        catalogue.register("session.ended", catalogue.SessionStarted)


def test_docs_describe_every_type_and_field() -> None:
    text = DOCS.read_text()
    assert f"Catalogue version: **{CATALOGUE_VERSION}**" in text
    for name, model in CATALOGUE.items():
        row = re.search(rf"^\| `{re.escape(name)}` \|(.*)$", text, re.MULTILINE)
        assert row is not None, f"{name} missing from docs/events.md"
        for field in model.model_fields:
            assert f"`{field}`" in row.group(1), f"{name}.{field} missing from docs/events.md"
