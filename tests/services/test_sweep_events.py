"""The sweep's events are built by the database; their payload is the same on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta

from roundtable.events.log import read_after
from roundtable.ids import utcnow
from roundtable.runtime import Roundtable


async def test_expired_event_payload_names_session_and_exact_lapse(core: Roundtable) -> None:
    started = [await core.sessions.start("default", f"agent-{i}") for i in range(3)]
    swept = await core.sessions.sweep(now=utcnow() + timedelta(hours=1))
    assert swept == 3
    expired = [e for e in await read_after(core.db) if e.type == "session.expired"]
    assert sorted(e.session_id or "" for e in expired) == sorted(s.id for s in started)
    by_id = {s.id: s for s in started}
    for event in expired:
        session = by_id[event.payload["session_id"]]
        assert event.agent == session.agent and event.namespace == "default"
        lapsed = datetime.fromisoformat(event.payload["lease_expired_at"])
        assert lapsed == session.lease_expires_at
        assert event.payload["lease_expired_at"].endswith("+00:00")
    for session in started:
        assert (await core.sessions.get("default", session.id)).status == "expired"
