"""A token bounded to one session tree (a run token) sees only that tree's events: live, on
resume (backlog) and in the paged read alike; admin and plain agent tokens keep their view."""

from __future__ import annotations

import asyncio
from typing import Any

from roundtable.auth.tokens import Principal, RunScope
from roundtable.events.filters import EventFilter
from roundtable.events.log import Event, event_row, record
from roundtable.events.subscription import Subscription
from roundtable.ids import utcnow
from roundtable.journal.models import EntryInput
from roundtable.runtime import Roundtable
from tests.events.util import all_events, until

NS = "trees"


def run_principal(root: str, session: str, projects: tuple[str, ...] | None = None) -> Principal:
    return Principal(
        admin=False,
        agent="runner-agent",
        namespace=NS,
        scope=RunScope(root_id=root, session_id=session, run_id="run-1"),
        root_session=root,
        projects=projects,
    )


class Trees:
    """Two session trees (A, B) of one namespace, each with a child, each writing a journal."""

    def __init__(self, core: Roundtable) -> None:
        self.core = core
        self.a: set[str] = set()
        self.b: set[str] = set()
        self.root_a = self.root_b = ""

    async def grow(self, tree: set[str], agent: str, parent: str | None) -> str:
        session = await self.core.sessions.start(NS, agent, parent_id=parent)
        tree.add(session.id)
        return session.id

    async def setup(self) -> None:
        self.root_a = await self.grow(self.a, "agent-a", None)
        self.root_b = await self.grow(self.b, "agent-b", None)
        await self.grow(self.a, "agent-a", self.root_a)
        await self.grow(self.b, "agent-b", self.root_b)
        await self.core.context.set(NS, "agent-a", "pa", create=True, session_id=self.root_a)
        await self.core.context.set(NS, "agent-b", "pb", create=True, session_id=self.root_b)
        await self.write()

    async def write(self) -> None:
        """Attributed entries in each tree, an unattributed one, and an event about nothing."""
        journal = self.core.journal
        for session in sorted(self.a):
            await journal.append(NS, "agent-a", "pa", [EntryInput(message="a")], session_id=session)
        for session in sorted(self.b):
            await journal.append(NS, "agent-b", "pb", [EntryInput(message="b")], session_id=session)
        await journal.append(NS, "agent-b", "pb", [EntryInput(message="no session")])
        async with self.core.db.write() as conn:
            await record(conn, event_row(utcnow(), NS, "runner.registered", {"runner_id": "x"}))

    def visible_to_a(self, event: Event, projects: tuple[str, ...] | None = None) -> bool:
        """The documented rule, written independently of EventFilter."""
        if event.namespace != NS:
            return False
        if event.session_id is not None:
            if event.session_id not in self.a:
                return False
        elif event.project is None:
            return False
        return projects is None or event.project is None or event.project in projects


async def collect(sub: Subscription, into: list[Event]) -> None:
    async for item in sub:
        assert isinstance(item, Event), item
        into.append(item)


async def test_run_token_sees_only_its_tree_live_and_on_resume(core: Roundtable) -> None:
    trees = Trees(core)
    await trees.setup()
    everything = await all_events(core)
    scoped = EventFilter.for_principal(run_principal(trees.root_a, trees.root_a))
    assert scoped.tree == trees.root_a

    # Replay (the paged read): exactly the tree's events, none of B's.
    expected = [e for e in everything if trees.visible_to_a(e)]
    assert [e.id for e in await all_events(core, scoped)] == [e.id for e in expected]
    assert any(e.session_id in trees.a for e in expected)
    assert any(e.session_id is None and e.project == "pb" for e in expected)
    assert not any(e.session_id in trees.b for e in expected)
    assert not any(e.type == "runner.registered" for e in expected)

    # Live and resumed from 0 (backlog, then live), while both trees grow new sessions: the
    # new session of A is recognised, the new session of B is not let through.
    live: list[Event] = []
    resumed: list[Event] = []
    async with (
        core.events.subscribe(scoped) as live_sub,
        core.events.subscribe(scoped, after=0) as resumed_sub,
    ):
        tasks = [
            asyncio.create_task(collect(live_sub, live)),
            asyncio.create_task(collect(resumed_sub, resumed)),
        ]
        start = everything[-1].id
        await trees.grow(trees.a, "agent-a", trees.root_a)
        await trees.grow(trees.b, "agent-b", trees.root_b)
        await trees.write()
        now = await all_events(core)
        want = [e.id for e in now if trees.visible_to_a(e)]
        await until(
            lambda: len(resumed) >= len(want) and len(live) >= len(want) - len(expected),
            "the scoped streams",
        )
        await asyncio.sleep(0.2)  # anything that should not arrive has had the chance to
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert [e.id for e in resumed] == want
    assert [e.id for e in live] == [i for i in want if i > start]
    assert not any(e.session_id in trees.b for e in [*live, *resumed])


async def test_projects_claim_narrows_unattributed_events(core: Roundtable) -> None:
    trees = Trees(core)
    await trees.setup()
    scoped = EventFilter.for_principal(run_principal(trees.root_a, trees.root_a, projects=("pa",)))
    got = await all_events(core, scoped)
    everything = await all_events(core)
    assert [e.id for e in got] == [
        e.id for e in everything if trees.visible_to_a(e, projects=("pa",))
    ]
    assert got and not any(e.project == "pb" for e in got)


async def test_admin_and_plain_agent_tokens_keep_their_view(core: Roundtable) -> None:
    trees = Trees(core)
    await trees.setup()
    everything = await all_events(core)
    agent: Any = Principal(admin=False, agent="agent-a", namespace=NS)
    for principal in (agent, Principal(admin=True)):
        flt = EventFilter.for_principal(principal)
        assert flt.tree is None
        assert [e.id for e in await all_events(core, flt)] == [
            e.id for e in everything if e.namespace == NS
        ]


async def test_deleted_subtree_tombstone_is_not_claimed_by_a_tree() -> None:
    flt = EventFilter(namespace=NS, tree="root")
    tombstone = Event(
        id=1,
        ts=utcnow(),
        namespace=NS,
        type="session.deleted",
        project=None,
        agent=None,
        session_id="s1",
        payload={},
    )
    assert not flt.matches(tombstone, "root")
    assert flt.matches(tombstone.model_copy(update={"type": "session.status"}), "root")
    assert not flt.matches(tombstone.model_copy(update={"type": "session.status"}), "other")
