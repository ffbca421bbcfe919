"""Scribe MCP import (D14) on both backends, from a Scribe installation built on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from roundtable.errors import InvalidInput
from roundtable.journal.models import Entry
from roundtable.runtime import Roundtable
from roundtable.transfer.scribe_import import ScribeReport, import_scribe
from roundtable.transfer.scribe_source import read_installation
from tests.transfer import scribe_fixture
from tests.transfer.scribe_fixture import Expected


@pytest.fixture
def scribe(tmp_path: Path) -> Expected:
    return scribe_fixture.build(tmp_path / "scribe-install")


async def run(core: Roundtable, path: Path, **kw: bool) -> ScribeReport:
    return await import_scribe(core, read_installation(path), "default", **kw)


async def all_entries(core: Roundtable, project: str) -> list[Entry]:
    page = await core.journal.read_recent("default", project, limit=500)
    return page.entries[::-1]


async def test_import_projects_entries_and_context(core: Roundtable, scribe: Expected) -> None:
    report = await run(core, scribe.root)

    projects = {p.name: p for p in await core.journal.list_projects("default")}
    assert set(projects) == set(scribe.entries)
    assert "Scribe Registry Upgrade" in projects["Scribe-Registry-Upgrade"].description
    for name, expected in scribe.entries.items():
        entries = await all_entries(core, name)
        got = [(e.meta["source"], e.message, e.status.value) for e in entries]
        assert got == expected, name
        assert all(e.kind == "scribe" for e in entries)
        assert len({e.meta["source_id"] for e in entries}) == len(entries)
        verified = await core.journal.verify("default", name)
        assert verified.ok and verified.checked == len(expected)
    assert report.imported == sum(len(v) for v in scribe.entries.values())

    web = {e.message: e for e in await all_entries(core, "web")}
    kickoff = web["Kickoff web build"]
    assert kickoff.meta["occurred_at"] == "2025-10-24T12:00:00Z"
    assert kickoff.meta["source_id"] == scribe.db_ids["Kickoff web build"]
    assert kickoff.meta["scribe_emoji"] == "🧭"  # plan: kept as info, the mark preserved
    assert kickoff.meta["phase"] == "bootstrap" and kickoff.agent == "Scribe"
    boot = web["Bootstrapped skeleton"]
    assert boot.meta["files"] == 3 and boot.meta["scribe_confidence"] == 0.9
    assert "scribe_emoji" not in boot.meta
    flaky = web["Flaky test in CI"]  # a Scribe meta key named like ours is kept, renamed
    assert flaky.meta["source"] == "scribe-db" and flaky.meta["scribe_source"] == "ci"
    assert flaky.agent == "Claude-Code" and flaky.meta["scribe_agent"] == "Claude Code"
    assert web["Found off-by-one"].meta["scribe_emoji"] == "🐛"
    assert web["Found off-by-one"].meta["scribe_log_type"] == "bug"
    cafe = web["Café déployé — 世界 🌍"]
    assert cafe.meta["source"] == "scribe-md" and cafe.meta["lang"] == "fr"
    assert cafe.meta["source_id"].startswith("md:") and cafe.agent == "A2"
    assert web["Race in cache"].meta["reasoning"] == "why; how"
    sweep = (await all_entries(core, "Scribe-Registry-Upgrade"))[1]
    assert sweep.agent == "Scribe" and sweep.meta["scribe_emoji"] == "🤖"
    assert sweep.meta["scribe_agent"] is None
    notes = await all_entries(core, "notes")
    assert notes[1].meta["occurred_at"] == "2025-12-01T08:05:00Z"

    # Unparsable lines and the oversized row are reported with where and why.
    where = {p.where: p.reason for p in report.problems}
    for location in scribe.unparsable:
        assert location in where and "not a Scribe entry" in where[location]
    for row_id in scribe.rejected:
        reason = where[f"scribe_entries id={row_id}"]
        assert "meta is" in reason and "limit" in reason

    context = await core.context.get("default", "Scribe")
    assert context.project == "Scribe-Registry-Upgrade" and context.version == 1
    assert report.context_changed


async def test_rerun_imports_nothing_new_then_only_new(core: Roundtable, scribe: Expected) -> None:
    first = await run(core, scribe.root)
    sizes = {p.name: p.size for p in await core.journal.list_projects("default")}

    again = await run(core, scribe.root / ".scribe")  # pointing at the .scribe dir works too
    assert again.imported == 0 and again.already == first.imported
    assert not again.context_changed
    assert {p.name: p.size for p in await core.journal.list_projects("default")} == sizes
    assert (await core.context.get("default", "Scribe")).version == 1

    scribe_fixture.append_more(scribe)
    third = await run(core, scribe.root)
    assert third.imported == 1
    last = (await all_entries(core, "web"))[-1]
    assert last.message == "Shipped v1" and last.meta["occurred_at"] == "2025-10-25T08:00:00Z"
    assert (await core.journal.verify("default", "web")).ok


async def test_dry_run_writes_nothing(core: Roundtable, scribe: Expected) -> None:
    report = await run(core, scribe.root, dry_run=True)
    assert report.imported == sum(len(v) for v in scribe.entries.values())
    assert await core.journal.list_projects("default") == []
    assert (await core.context.get("default", "Scribe")).version == 0


async def test_strict_refuses_before_writing(core: Roundtable, scribe: Expected) -> None:
    with pytest.raises(InvalidInput) as err:
        await run(core, scribe.root, strict=True)
    assert "cannot be imported" in err.value.message
    assert await core.journal.list_projects("default") == []


async def test_path_forms_and_missing_installation(tmp_path: Path, scribe: Expected) -> None:
    for path in (scribe.root, scribe.root / ".scribe", scribe.state, scribe.db):
        install = read_installation(path)
        assert install.db_path == scribe.db.resolve()
        assert install.current_project == "Scribe Registry Upgrade" or path == scribe.db
    with pytest.raises(InvalidInput, match="no Scribe installation"):
        read_installation(tmp_path)
    with pytest.raises(InvalidInput, match="does not exist"):
        read_installation(tmp_path / "nowhere")
    bogus = tmp_path / "other.db"
    bogus.write_bytes(b"not sqlite at all, just bytes" * 10)
    with pytest.raises(InvalidInput):
        read_installation(bogus)


async def test_rerun_after_rotation_and_pruning(core: Roundtable, scribe: Expected) -> None:
    """Pruned bodies (and their source ids) come back from the archive: still nothing new."""
    from sqlalchemy import select

    from roundtable.journal import retention
    from roundtable.store import tables

    first = await run(core, scribe.root)
    await core.rotation.rotate("default", "web")
    S, P = tables.segments, tables.projects
    async with core.db.read() as conn:
        seg = (
            (
                await conn.execute(
                    select(S, P.c.namespace, P.c.name.label("project"))
                    .join(P, P.c.id == S.c.project_id)
                    .where(P.c.name == "web")
                )
            )
            .mappings()
            .one()
        )
    await retention.prune_segment(core.db, seg)
    again = await run(core, scribe.root)
    assert again.imported == 0 and again.already == first.imported
