"""Optimistic concurrency on agent context (D2): races, conflict events, and a model check."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roundtable.errors import ConflictError, InvalidInput
from roundtable.runtime import Roundtable
from roundtable.sessions.models import ContextInfo
from tests.services.util import events_of, row_counts

RACERS = 20


async def test_twenty_racers_with_one_expected_version_one_wins(core: Roundtable) -> None:
    start = await core.context.set("default", "racer", "base", create=True)
    assert start.version == 1
    for i in range(RACERS):
        await core.journal.create_project("default", "setup", f"p{i}")

    results = await asyncio.gather(
        *(core.context.set("default", "racer", f"p{i}", expected_version=1) for i in range(RACERS)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, ContextInfo)]
    losers = [r for r in results if isinstance(r, ConflictError)]
    assert len(winners) == 1 and len(losers) == RACERS - 1, results
    winner = winners[0]
    assert winner.version == 2
    for loser in losers:
        assert loser.data["current_version"] == 2
        assert loser.data["current_project"] == winner.project
        assert loser.data["expected_version"] == 1
    current = await core.context.get("default", "racer")
    assert (current.project, current.version) == (winner.project, 2)

    conflicts = await events_of(core.db, "context.conflict", agent="racer")
    assert len(conflicts) == RACERS - 1
    assert all(e.payload["current_version"] == 2 for e in conflicts)
    assert all(e.payload["current_project"] == winner.project for e in conflicts)
    requested = sorted(e.payload["requested_project"] for e in conflicts)
    assert requested == sorted(f"p{i}" for i in range(RACERS) if f"p{i}" != winner.project)
    changed = await events_of(core.db, "context.changed", agent="racer")
    assert [(e.payload["new_version"], e.payload["mode"]) for e in changed] == [
        (1, "last_write_wins"),
        (2, "versioned"),
    ]


async def test_unversioned_racers_all_succeed_and_each_is_counted(core: Roundtable) -> None:
    for i in range(RACERS):
        await core.journal.create_project("default", "setup", f"p{i}")
    results = await asyncio.gather(
        *(core.context.set("default", "lww", f"p{i}") for i in range(RACERS))
    )
    assert sorted(r.version for r in results) == list(range(1, RACERS + 1))
    last = max(results, key=lambda r: r.version)
    assert (await core.context.get("default", "lww")).project == last.project
    changed = await events_of(core.db, "context.changed", agent="lww")
    assert [e.payload["new_version"] for e in changed] == list(range(1, RACERS + 1))
    assert {e.payload["mode"] for e in changed} == {"last_write_wins"}


async def test_negative_expected_version_is_refused_without_writing(core: Roundtable) -> None:
    await core.journal.create_project("default", "setup", "web")
    before = await row_counts(core.db)
    with pytest.raises(InvalidInput) as err:
        await core.context.set("default", "alice", "web", expected_version=-1)
    assert err.value.data["field"] == "expected_version"
    assert await row_counts(core.db) == before


# --- Hypothesis: a model of versioned and unversioned updates ------------------------------


@dataclass(frozen=True)
class SetOp:
    project: str
    #: None: last write wins; "current": the model's current version; int: that version.
    expected: int | str | None


ops_strategy = st.lists(
    st.builds(
        SetOp,
        project=st.sampled_from(["alpha", "beta", "gamma"]),
        expected=st.one_of(st.none(), st.just("current"), st.integers(min_value=0, max_value=6)),
    ),
    min_size=1,
    max_size=12,
)

_agents = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=ops_strategy)
async def test_context_matches_the_version_model(core: Roundtable, ops: list[SetOp]) -> None:
    agent = f"model-{next(_agents)}"  # a fresh agent per example; the database is shared
    version, project = 0, None
    successes, conflicts = [], 0
    for op in ops:
        expected = version if op.expected == "current" else op.expected
        assert expected is None or isinstance(expected, int)
        try:
            info = await core.context.set(
                "default", agent, op.project, expected_version=expected, create=True
            )
        except ConflictError as conflict:
            assert expected is not None and expected != version, (op, version)
            assert conflict.data["current_version"] == version
            assert conflict.data["current_project"] == project
            conflicts += 1
        else:
            assert expected is None or expected == version, (op, version)
            version, project = version + 1, op.project
            assert (info.version, info.project) == (version, project)
            successes.append("last_write_wins" if expected is None else "versioned")
        current = await core.context.get("default", agent)
        assert (current.version, current.project) == (version, project)

    changed = await events_of(core.db, "context.changed", agent=agent)
    assert [e.payload["new_version"] for e in changed] == list(range(1, version + 1))
    assert [e.payload["mode"] for e in changed] == successes
    assert len(await events_of(core.db, "context.conflict", agent=agent)) == conflicts
