"""One filter, two evaluators: `matches` (live events) and SQL (backlog and pages) must agree."""

from __future__ import annotations

import pytest

from roundtable.auth.tokens import ADMIN, Principal
from roundtable.errors import InvalidInput, PermissionDenied
from roundtable.events.filters import EventFilter
from roundtable.events.log import Event
from roundtable.ids import utcnow
from roundtable.runtime import Roundtable
from tests.events.util import all_events, insert_raw

#: Types chosen to trip a careless translation: LIKE's `_` and `%`, case, dots, prefixes.
TYPES = [
    "session.started",
    "session.ended",
    "session_started",
    "sessionXstarted",
    "Session.started",
    "session.started.extra",
    "sessions.started",
    "a%b",
    "a_b",
    "axb",
    "journal.appended",
    "context.changed",
    "x*y",
]

FILTERS = [
    {},
    {"types": ["session.started"]},
    {"types": ["session.*"]},
    {"types": ["session*"]},
    {"types": ["*.started"]},
    {"types": ["*"]},
    {"types": ["a_b"]},
    {"types": ["a_*"]},
    {"types": ["*_*"]},
    {"types": ["s*n.*d"]},
    {"types": ["session.*", "journal.*"]},
    {"types": ["session.started", "*.changed"]},
    {"namespace": "ns-b"},
    {"namespace": "ns-a", "types": ["session.*"]},
    {"project": "web"},
    {"agent": "alice", "types": ["*ed"]},
    {"session_id": "s-1"},
    {"namespace": "ns-a", "project": "web", "agent": "bob", "session_id": "s-2"},
]


async def test_sql_and_memory_agree(core: Roundtable) -> None:
    now = utcnow()
    rows = []
    for i, type_ in enumerate(TYPES * 2):
        rows.append(
            {
                "ts": now,
                "namespace": "ns-a" if i % 2 else "ns-b",
                "type": type_,
                "project": ["web", "api", None][i % 3],
                "agent": ["alice", "bob", None, "carol"][i % 4],
                "session_id": ["s-1", "s-2", None][i % 3],
                "payload": {"i": i},
            }
        )
    await insert_raw(core, rows)
    everything = await all_events(core)
    assert len(everything) == len(rows)
    for spec in FILTERS:
        flt = EventFilter.build(**spec)  # type: ignore[arg-type]
        in_memory = [e.id for e in everything if flt.matches(e)]
        in_sql = [e.id for e in await all_events(core, flt)]
        assert in_sql == in_memory, spec
        assert spec == {} or len(in_memory) < len(everything) or spec["types"] == ["*"], spec


def test_wildcards_mean_any_run_of_characters() -> None:
    def types(*patterns: str) -> list[str]:
        flt = EventFilter.build(types=list(patterns))
        return [t for t in TYPES if flt.matches(_event(t))]

    assert types("session.*") == ["session.started", "session.ended", "session.started.extra"]
    assert types("a_b") == ["a_b"]  # `_` is literal, not "any character"
    assert types("*") == TYPES
    assert types("*.started") == ["session.started", "Session.started", "sessions.started"]
    assert "Session.started" not in types("session.*")  # case-sensitive
    assert EventFilter.build(types="session.*, journal.*").types == ("session.*", "journal.*")


@pytest.mark.parametrize(
    "patterns",
    [
        [""],
        ["Session.*"],
        ["a%b"],
        ["a b"],
        ["x" * 65],
        ["ok", "bad/"],
        ["?"],
        [f"t{i}" for i in range(33)],
    ],
)
def test_bad_patterns_are_refused(patterns: list[str]) -> None:
    with pytest.raises(InvalidInput) as raised:
        EventFilter.build(types=patterns)
    assert raised.value.data["field"] == "types"


def test_bad_names_are_refused() -> None:
    for spec in (
        {"namespace": "Bad NS"},
        {"project": "a/b"},
        {"agent": ""},
        {"session_id": "x" * 37},
    ):
        with pytest.raises(InvalidInput):
            EventFilter.build(**spec)  # type: ignore[arg-type]


def test_agent_tokens_are_pinned_to_their_namespace() -> None:
    agent = Principal(admin=False, agent="alice", namespace="team")
    assert EventFilter.for_principal(agent).namespace == "team"
    assert EventFilter.for_principal(agent, namespace="team").namespace == "team"
    with pytest.raises(PermissionDenied):
        EventFilter.for_principal(agent, namespace="other")
    assert EventFilter.for_principal(ADMIN).namespace is None
    assert EventFilter.for_principal(ADMIN, namespace="other").namespace == "other"


def _event(type_: str) -> Event:
    return Event(
        id=1,
        ts=utcnow(),
        namespace="n",
        type=type_,
        project=None,
        agent=None,
        session_id=None,
        payload={},
    )
