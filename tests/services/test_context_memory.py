"""`set_project` remembers namespaces and projects (issue 16) only once a transaction that saw
them has committed: a creation that rolls back is never taken for an existing row."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from roundtable.errors import NotFound
from roundtable.runtime import Roundtable
from tests.services.util import events_of

# A real database failure late in the write (the event insert, after the namespace, the context
# row and the project were created in the same transaction), for one project name only.
SQLITE_TRIGGER = """
CREATE TRIGGER doom BEFORE INSERT ON events
WHEN NEW.type = 'context.changed' AND json_extract(NEW.payload, '$.new_project') = 'doomed'
BEGIN SELECT RAISE(ABORT, 'doomed'); END
"""
PG_FUNCTION = """
CREATE FUNCTION doom() RETURNS trigger AS $$
BEGIN
  IF NEW.type = 'context.changed' AND NEW.payload->>'new_project' = 'doomed' THEN
    RAISE EXCEPTION 'doomed';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql
"""
PG_TRIGGER = "CREATE TRIGGER doom BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION doom()"


async def _doom(core: Roundtable) -> None:
    async with core.db.write() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text(PG_FUNCTION))
            await conn.execute(text(PG_TRIGGER))
        else:
            await conn.execute(text(SQLITE_TRIGGER))


async def _namespace_rows(core: Roundtable, name: str) -> int:
    async with core.db.read() as conn:
        query = text("SELECT count(*) FROM namespaces WHERE name = :n")
        return int((await conn.execute(query, {"n": name})).scalar_one())


async def test_a_rolled_back_creation_is_not_remembered(core: Roundtable) -> None:
    await _doom(core)
    with pytest.raises(DBAPIError):
        await core.context.set("fresh", "agent", "doomed", create=True)
    assert await _namespace_rows(core, "fresh") == 0  # the whole write rolled back

    # Neither the namespace nor the project is taken for existing: the next call inserts the
    # namespace again and finds no project (a remembered one would fail on a foreign key or
    # point the context at a row that does not exist); refused, it changes nothing.
    with pytest.raises(NotFound):
        await core.context.set("fresh", "agent", "doomed")
    assert await _namespace_rows(core, "fresh") == 0
    info = await core.context.get("fresh", "agent")
    assert (info.project, info.version) == (None, 0)

    # A project committed afterwards under the same name is found, and named in the events.
    await core.journal.create_project("fresh", "setup", "doomed")
    await core.journal.create_project("fresh", "setup", "other")
    with pytest.raises(DBAPIError):  # the trigger still refuses a switch *to* it
        await core.context.set("fresh", "agent", "doomed")
    first = await core.context.set("fresh", "agent", "other")
    second = await core.context.set("fresh", "agent", "other", expected_version=1)
    assert (first.version, second.version) == (1, 2)
    changed = await events_of(core.db, "context.changed", agent="agent")
    assert [(e.payload["old_project"], e.payload["new_project"]) for e in changed] == [
        (None, "other"),
        ("other", "other"),
    ]


async def test_remembered_projects_stay_exact_across_switches(core: Roundtable) -> None:
    for name in ("a", "b", "c"):
        await core.journal.create_project("default", "setup", name)
    order = ["a", "b", "a", "c", "c", "b"]
    for i, name in enumerate(order):
        info = await core.context.set("default", "walker", name, expected_version=i)
        assert (info.project, info.version) == (name, i + 1)
    changed = await events_of(core.db, "context.changed", agent="walker")
    assert [(e.payload["old_project"], e.payload["new_project"]) for e in changed] == list(
        zip([None, *order[:-1]], order, strict=True)
    )
    with pytest.raises(NotFound):
        await core.context.set("default", "walker", "missing")
